"""Map keys and values read through BTF (pybpf.elf.btf_format) and shown by the map layer.

``tests/elf/c/btf_values.c`` is compiled at test time; its ``fill`` program writes a record of
many kinds into a map, so the layout is clang's and the decoder has to find every field where
clang put it.  Synthetic BTF covers what clang does not produce: inconsistent layouts, deep
nesting, huge arrays, old-style bitfields.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pybpf.object as bpfobj
from pybpf.elf.btf import Btf, BtfKind, parse_btf
from pybpf.elf.btf_format import (
    MAX_DEPTH,
    TEXT_ITEMS,
    BtfFormat,
    EnumName,
    Pointer,
    decode_value,
    format_value,
    to_text,
)
from pybpf.errors import PybpfError
from pybpf.maps.display import MapEntry, json_ready, map_entries

from .test_btf import btf_record, build_btf, int32

C_SOURCE = Path(__file__).parent / "c" / "btf_values.c"

RECORD = {
    "total": (1 << 40) + 5,
    "delta": -123456,
    "tiny": -3,
    "ok": True,
    "origin": {"x": -1, "y": 2},
    "path": [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": -5, "y": -6}],
    "name": "pybpf",
    "raw": [97, 0, 98, 0],  # a NUL then more text: not a string
    "mac": [0, 0x11, 0x22, 0x33, 0x44, 0xFF],  # __u8 is a number, not a char
    "level": "MID",
    "odd": 7,  # not an enumerator
    "flags": 5,
    "small": -7,
    "wide": 0xABCDE,
    "u": {"word": 0x04030201, "bytes": [1, 2, 3, 4]},
    "addr4": 0x0A000001,  # members of the anonymous union appear in the record
    "half": [1, 0x0A00],
    "grid": [[1, 2, 3], [4, 5, 6]],
    "qualified": 99,
    "ptr": 0xDEAD0000,
}

RECORD_TEXT = (
    "{total: 1099511627781, delta: -123456, tiny: -3, ok: true, origin: {x: -1, y: 2}, "
    'path: [{x: 1, y: 2}, {x: 3, y: 4}, {x: -5, y: -6}], name: "pybpf", raw: [97, 0, 98, 0], '
    "mac: [0, 17, 34, 51, 68, 255], level: MID, odd: 7, flags: 5, small: -7, wide: 703710, "
    "u: {word: 67305985, bytes: [1, 2, 3, 4]}, addr4: 167772161, half: [1, 2560], "
    "grid: [[1, 2, 3], [4, 5, 6]], qualified: 99, ptr: 0xdead0000}"
)


@pytest.fixture(scope="session")
def values_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pybpf.toolchain import compile_bpf

    try:
        return compile_bpf(C_SOURCE, tmp_path_factory.mktemp("btf_values") / "btf_values.o")
    except (PybpfError, OSError) as exc:  # clang is required, as for the other BTF tests
        pytest.fail(f"cannot compile {C_SOURCE.name}: {exc}", pytrace=False)


@pytest.fixture
def filled(values_path: Path) -> bpfobj.BpfObject:
    obj = bpfobj.load(values_path, engine="interp")
    assert obj.program("fill").run(b"") == 0
    return obj


def value_type(obj: bpfobj.BpfObject, name: str) -> tuple[Btf, int]:
    fmt = obj.maps[name].spec.value_btf
    assert isinstance(fmt, BtfFormat)
    return fmt.btf, fmt.type_id


# --------------------------------------------------------------------------------------------
# Values written by clang-compiled code
# --------------------------------------------------------------------------------------------


def test_record_decodes_every_field(filled: bpfobj.BpfObject) -> None:
    raw = filled.maps["records"][0]
    btf, type_id = value_type(filled, "records")
    value = decode_value(btf, type_id, raw)
    assert value == RECORD
    assert isinstance(value, dict)
    assert type(value["level"]) is EnumName and type(value["ptr"]) is Pointer and value["ok"] is True
    assert format_value(btf, type_id, raw) == RECORD_TEXT


def test_zero_record(filled: bpfobj.BpfObject) -> None:
    btf, type_id = value_type(filled, "records")
    value = decode_value(btf, type_id, filled.maps["records"][1])
    assert isinstance(value, dict)
    # An all-zero char array is the empty string; an enum 0 that is no enumerator stays a number.
    assert (value["name"], value["raw"], value["level"], value["ok"], value["ptr"]) == ("", "", 0, False, 0)
    assert value["path"] == [{"x": 0, "y": 0}] * 3


def test_map_dump_shows_enum_keys_and_string_keys(filled: bpfobj.BpfObject) -> None:
    by_slot = filled.maps["by_slot"].dump()
    assert "btf  key enum slot  value __u64" in by_slot
    assert by_slot.splitlines()[-3:] == ["SLOT_A  0", "SLOT_B  42", "SLOT_C  0"]
    by_label = filled.maps["by_label"].dump()
    assert by_label.splitlines()[-1] == '"eth0"  -7'
    assert filled.maps["records"].dump().splitlines()[4] == f"0    {RECORD_TEXT}"


def test_global_data_is_a_record_of_its_variables(filled: bpfobj.BpfObject) -> None:
    (entry,) = map_entries(filled.maps[".bss"])
    assert entry.decoded_values() == [{"runs": 1}] and entry.value_text() == "{runs: 1}"
    assert entry.key_text() == "00000000"  # global data has no key type
    # .rodata of string literals has no DATASEC type: hex.
    assert filled.maps[".rodata.str1.1"].spec.value_btf is None


def test_per_cpu_values(filled: bpfobj.BpfObject) -> None:
    m = filled.maps["per_cpu"]
    m[0] = [struct.pack("<hh", 1, -2), struct.pack("<hh", -3, 4)]
    (entry,) = map_entries(m)
    assert entry.percpu and entry.value_text() == "cpu0: {x: 1, y: -2} | cpu1: {x: -3, y: 4}"
    assert entry.value_hex == "0100feff | fdff0400"
    assert entry.as_dict() == {
        "key_hex": "00000000",
        "value_hex": "0100feff | fdff0400",
        "key": 0,
        "values": [{"cpu": 0, "value": {"x": 1, "y": -2}}, {"cpu": 1, "value": {"x": -3, "y": 4}}],
    }
    assert m.dump().splitlines()[-1] == "0    cpu0: {x: 1, y: -2}  cpu1: {x: -3, y: 4}"


def test_entry_json_of_a_record(filled: bpfobj.BpfObject) -> None:
    (first, second) = map_entries(filled.maps["records"])
    data = first.as_dict()
    assert data["key"] == 0 and data["value"] == RECORD and data["key_hex"] == "00000000"
    assert bytes.fromhex(data["value_hex"]) == filled.maps["records"][0]
    assert type(data["value"]["level"]) is str and type(data["value"]["ptr"]) is int
    assert map_entries(filled.maps["records"], non_empty=True) == [first]
    assert second.as_dict()["value"]["name"] == ""


def test_maps_without_types_stay_hex() -> None:
    from pybpf.maps import MapSpec, MapType, create_map

    m = create_map(MapSpec("plain", MapType.HASH, key_size=4, value_size=8, max_entries=4))
    m[1] = 2
    (entry,) = map_entries(m)
    assert (entry.key_text(), entry.value_text()) == ("01000000", "0200000000000000")
    assert entry.as_dict() == {"key_hex": "01000000", "value_hex": "0200000000000000"}
    assert "btf" not in m.dump() and "01 00 00 00  02 00 00 00 00 00 00 00" in m.dump()


# --------------------------------------------------------------------------------------------
# Malformed data and hostile BTF
# --------------------------------------------------------------------------------------------


def test_wrong_length_falls_back_to_hex(filled: bpfobj.BpfObject) -> None:
    btf, type_id = value_type(filled, "records")
    raw = filled.maps["records"][0]
    for data in (raw[:-1], raw + b"\0", b""):
        assert decode_value(btf, type_id, data) == data
        assert format_value(btf, type_id, data) == (data.hex() or "-")
        assert BtfFormat(btf, type_id).decode(data) is None and BtfFormat(btf, type_id).text(data) is None
    entry = MapEntry(b"\0" * 4, raw[:10], filled.maps["records"].spec.key_btf, BtfFormat(btf, type_id))
    assert entry.value_text() == raw[:10].hex() and "value" not in entry.as_dict()


def test_types_that_cannot_be_read(filled: bpfobj.BpfObject) -> None:
    btf, _ = value_type(filled, "records")
    fill = btf.find("fill", BtfKind.FUNC)
    assert fill is not None
    for type_id in (fill, 0, len(btf), -1):  # a function, void, out of range
        assert decode_value(btf, type_id, b"\x01\x02") == b"\x01\x02"
        assert BtfFormat(btf, type_id).decode(b"\x01\x02") is None


def synthetic(records: list[bytes], strings: bytes = b"\0") -> Btf:
    return parse_btf(build_btf(records, strings))


def member(name_off: int, type_id: int, bit_offset: int, bitfield_size: int = 0) -> bytes:
    return struct.pack("<3I", name_off, type_id, bitfield_size << 24 | bit_offset)


def test_member_past_the_end_is_raw_and_the_rest_decodes() -> None:
    # struct s { int a; int b /* at byte 8 of a 4-byte struct */; int c /* at bit 4: past the end too */ };
    strings = b"\0a\0b\0c\0s\0"
    s = btf_record(7, BtfKind.STRUCT, 3, 4, member(1, 1, 0) + member(3, 1, 64) + member(5, 1, 4))
    btf = synthetic([int32(), s], strings)
    value = decode_value(btf, 2, struct.pack("<i", -9))
    assert value == {"a": -9, "b": b"", "c": b"\xf7\xff\xff\xff"}
    assert to_text(value) == "{a: -9, b: -, c: f7ffffff}"


def test_deep_nesting_stops_at_the_depth_limit() -> None:
    # struct n0 { int v; }; struct n1 { struct n0 m; }; ... 3 * MAX_DEPTH levels, one int deep inside.
    strings = b"\0m\0v\0"
    levels = 3 * MAX_DEPTH
    records = [int32(), btf_record(0, BtfKind.STRUCT, 1, 4, member(3, 1, 0))]
    records += [btf_record(0, BtfKind.STRUCT, 1, 4, member(1, i, 0)) for i in range(2, levels + 2)]
    btf = synthetic(records, strings)
    value: Any = decode_value(btf, levels + 2, struct.pack("<i", 5))
    depth = 0
    while isinstance(value, dict):
        value = value["m"]
        depth += 1
    assert value == struct.pack("<i", 5) and MAX_DEPTH - 2 <= depth <= MAX_DEPTH + 1
    assert "05000000" in format_value(btf, levels + 2, struct.pack("<i", 5))


def test_huge_arrays_are_not_walked_element_by_element() -> None:
    u8 = btf_record(0, BtfKind.INT, 0, 1, struct.pack("<I", 8))
    empty = btf_record(0, BtfKind.STRUCT, 0, 0)
    records = [
        u8,
        btf_record(0, BtfKind.ARRAY, 0, 0, struct.pack("<3I", 1, 1, 200_000)),
        empty,
        btf_record(0, BtfKind.ARRAY, 0, 0, struct.pack("<3I", 3, 1, 0xFFFFFFFF)),  # 4G empty elements
        btf_record(0, BtfKind.ARRAY, 0, 0, struct.pack("<3I", 1, 1, 100)),
    ]
    btf = synthetic(records)
    data = bytes(range(256)) * 782
    assert decode_value(btf, 2, data[:200_000]) == data[:200_000]
    assert decode_value(btf, 4, b"") == b""
    hundred = decode_value(btf, 5, data[:100])
    assert hundred == list(range(100))
    assert to_text(hundred) == "[" + ", ".join(map(str, range(TEXT_ITEMS))) + f", ... {100 - TEXT_ITEMS} more]"


def test_old_style_bitfields_floats_bools_and_enum64() -> None:
    # struct { int3 x : (INT of 3 bits); int3 y at bit 3; float f; _Bool b; enum64 e; } without kind_flag
    strings = b"\0x\0y\0f\0b\0e\0BIG\0float\0"
    int3 = btf_record(0, BtfKind.INT, 0, 4, struct.pack("<I", 1 << 24 | 3))  # signed, 3 bits
    flt = btf_record(19, BtfKind.FLOAT, 0, 4)
    boolean = btf_record(0, BtfKind.INT, 0, 1, struct.pack("<I", 4 << 24 | 8))
    enum64 = btf_record(9, BtfKind.ENUM64, 1, 8, struct.pack("<3I", 11, 0, 1))
    members = member(1, 1, 0) + member(3, 1, 3) + member(5, 2, 32) + member(7, 3, 64) + member(9, 4, 128)
    s = btf_record(0, BtfKind.STRUCT, 5, 24, members)
    btf = synthetic([int3, flt, boolean, enum64, s], strings)
    data = bytes([0b101_011, 0, 0, 0]) + struct.pack("<f", 1.5) + b"\x01" + bytes(7) + struct.pack("<Q", 1 << 32)
    value = decode_value(btf, 5, data)
    assert value == {"x": 3, "y": -3, "f": 1.5, "b": True, "e": "BIG"}
    assert to_text(value) == "{x: 3, y: -3, f: 1.5, b: true, e: BIG}"


def test_char_arrays_are_text_only_when_they_hold_text() -> None:
    strings = b"\0char\0"
    char = btf_record(1, BtfKind.INT, 0, 1, struct.pack("<I", 1 << 24 | 8))
    btf = synthetic([char, btf_record(0, BtfKind.ARRAY, 0, 0, struct.pack("<3I", 1, 1, 4))], strings)
    assert decode_value(btf, 2, b"abcd") == "abcd"  # full, no NUL: still text
    assert decode_value(btf, 2, b"ab\0\0") == "ab"
    assert decode_value(btf, 2, b"a\nb\0") == [97, 10, 98, 0]  # a control character
    assert decode_value(btf, 2, b"ab\0c") == [97, 98, 0, 99]  # text after the NUL
    assert decode_value(btf, 2, b"\xff\0\0\0") == [-1, 0, 0, 0]  # char is signed here
    assert format_value(btf, 2, b'a"\\\0') == '"a\\"\\\\"'


def test_json_ready_turns_raw_parts_into_hex() -> None:
    value = {"a": b"\x01\x02", "b": [EnumName("X"), Pointer(16)], "c": float("inf"), "d": None}
    assert json_ready(value) == {"a": "0102", "b": ["X", 16], "c": "inf", "d": None}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_type_any_bytes_never_raises(values_path: Path, data: st.DataObject) -> None:
    obj = bpfobj.open_object(values_path)
    btf = obj.elf.btf
    assert btf is not None
    type_id = data.draw(st.integers(-2, len(btf) + 2))
    size = BtfFormat(btf, type_id).size
    length = data.draw(st.sampled_from([size or 0, max(0, (size or 0) - 1), (size or 0) + 1]))
    raw = data.draw(st.binary(min_size=length, max_size=length))
    value = decode_value(btf, type_id, raw)
    assert isinstance(to_text(value), str) and isinstance(format_value(btf, type_id, raw), str)
    json_ready(value)
    if size is not None and length != size:
        assert value == raw
