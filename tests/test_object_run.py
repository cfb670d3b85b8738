"""Clang-built objects (v1, v3 and v4 builds) load and run with the results their C source implies."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

import pybpf.object as bpfobj

OBJECTS = Path(__file__).resolve().parent / "bpf"
VARIANTS = ["", ".v3", ".v4"]


def words(*values: int) -> bytearray:
    return bytearray(struct.pack(f"<{len(values)}I", *values))


def load(name: str, variant: str, engine: str = "interp", **kw: object) -> bpfobj.BpfObject:
    return bpfobj.load(OBJECTS / f"{name}{variant}.o", engine=engine, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("variant", VARIANTS)
def test_globals_and_subprograms(variant: str) -> None:
    obj = load("globals", variant)
    data_sum = obj.program("data_sum")
    # counter (40) + scale (3) + custom_value (1000) + hidden_table[43 & 3] (4)
    assert data_sum.run(words(6, 7)) == 1047
    # counter was incremented by the first run: 44 + 1000 + hidden_table[0]
    assert data_sum.run(words(6, 7)) == 1045
    assert obj.maps[".data"][0][:4] == (42).to_bytes(4, "little")
    assert obj.maps[".bss"][0][:4] == (43 + 44).to_bytes(4, "little")  # zeroed_total
    assert obj.maps[".bss"][0][8 + 8 * 6 : 8 + 8 * 7] == (2).to_bytes(8, "little")  # big_bss[6]
    # str_len("abcdefg") * 100 + str_len(greeting="hi") + scale * 2 * 1000
    assert obj.program("strings").run(words(0)) == 6702
    assert obj.program("read_input").run(words(6, 7)) == 42 + 1 + 1 + 2


@pytest.mark.parametrize("variant", VARIANTS)
def test_rodata_is_settable_before_load_and_read_only_after(variant: str) -> None:
    obj = load("globals", variant, scale=10)
    assert obj.program("strings").run(words(0)) == 700 + 2 + 20_000
    opened = bpfobj.open_object(OBJECTS / f"globals{variant}.o")
    opened.rodata["greeting"] = b"hello\0\0\0"
    assert opened.load(engine="interp").program("strings").run(words(0)) == 700 + 5 + 6000
    with pytest.raises(KeyError):
        opened.rodata["nope"] = 1
    assert obj.memory.region_at(obj.maps[".rodata"].region.base).writable is False


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_map_type_from_programs(variant: str, engine: str) -> None:
    obj = load("maps", variant, engine)
    run = lambda name, *v: obj.program(name).run(words(*v))  # noqa: E731
    assert [run("count_flow", 0x0A000001, 80, 100) for _ in range(3)] == [1, 2, 3]
    ((key, value),) = obj.maps["flows"].items()
    assert struct.unpack("<IHH", key) == (0x0A000001, 80, 6)
    assert struct.unpack("<QQ", value) == (3, 300)
    assert [run("bump", 2) for _ in range(2)] == [1, 2]
    assert obj.maps["counters"][2] == (2).to_bytes(8, "little")
    assert [run("lru_insert", i) for i in range(6)] == [1, 2, 3, 4, 4, 4]
    assert len(obj.maps["lru"]) == 4
    routes = obj.maps["routes"]
    routes[struct.pack("<I", 8) + bytes([10, 0, 0, 0])] = 1
    routes[struct.pack("<I", 16) + bytes([10, 1, 0, 0])] = 2
    route = lambda *addr: obj.program("route").run(bytearray(bytes(addr)))  # noqa: E731
    assert [route(10, 1, 2, 3), route(10, 2, 2, 3), route(11, 2, 2, 3) & 0xFFFFFFFF] == [2, 1, 0xFFFFFFFF]
    assert run("queue_stack", 3, 4) == 304
    assert run("emit", 9) == 0
    assert list(obj.maps["events"].consumer()) == [struct.pack("<II", 1, 9), struct.pack("<II", 2, 10)]
    assert run("bloom", 5, 6) == 10
    assert [run("map_in_map", 0, 5), run("map_in_map", 1, 7)] == [5, 1007]


@pytest.mark.parametrize("engine", ["interp", "jit"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_callbacks_tail_calls_and_pinned_maps(
    variant: str, engine: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    obj = load("control", variant, engine, pin_root=tmp_path)
    run = lambda name, *v: obj.program(name).run(words(*v))  # noqa: E731
    assert run("loop_sum", 5) == 10 * 1000 + 6  # stops at index 5, which counts
    assert run("loop_sum", 1000) == 4950 * 1000 + 100
    assert [run("dispatch", i) for i in range(5)] == [99, 1, 2, 99, 99]
    assert run("weighted", 1, 2, 3, 4) == 1 * 1 + 2 * 2 + 3 * 3 + 4 * 4
    assert [run("pin_count", 7) for _ in range(2)] == [1, 2]
    with caplog.at_level(logging.INFO, logger="pybpf.trace"):
        assert run("fmt", 7, 42) == 5 * 100 + 1
    assert "fmt made 7-42 (5)" in [r.getMessage() for r in caplog.records]
    # A second load shares the pinned map, as libbpf's LIBBPF_PIN_BY_NAME does.
    again = load("control", variant, engine, pin_root=tmp_path)
    assert again.program("pin_count").run(words(7)) == 3
    assert (tmp_path / "pinned_counts").exists()


def test_tail_call_chain_limit() -> None:
    obj = load("control", "")
    jumps = obj.maps["jumps"]
    # Make slot 3 point back at dispatch itself: each run tail-calls itself until the limit.
    jumps[3] = obj.program("dispatch")
    assert obj.program("dispatch").run(words(3)) == 99


LEGACY_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct legacy_def { unsigned int type, key_size, value_size, max_entries, map_flags; };
struct legacy_def SEC("maps") hits = { BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0 };
struct legacy_def SEC("maps") weird = { @TYPE@, 4, 8, 4, 0 };
SEC("syscall") int count(void *ctx) {
    __u32 k = 1;
    __u64 *v = bpf_map_lookup_elem(&hits, &k);
    if (!v) return -1;
    *v += 1;
    bpf_map_lookup_elem(&weird, &k);
    return (int)*v;
}
char _license[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize(("map_type", "ok"), [(2, True), (99, False)])
def test_legacy_maps_section_and_unknown_map_type(tmp_path: Path, map_type: int, ok: bool) -> None:
    from pybpf.errors import PybpfError
    from pybpf.toolchain import compile_bpf

    src = tmp_path / "legacy.c"
    src.write_text(LEGACY_C.replace("@TYPE@", str(map_type)))
    path = compile_bpf(src, tmp_path / "legacy.o")
    if ok:
        obj = bpfobj.load(path, engine="interp")
        assert [obj.program("count").run(bytearray(8)) for _ in range(2)] == [1, 2]
        assert obj.maps["hits"][1] == (2).to_bytes(8, "little")
        # A legacy definition has no BTF types: its entries stay hex everywhere.
        assert obj.maps["hits"].spec.key_btf is None and obj.maps["hits"].spec.value_btf is None
        assert "01 00 00 00  02 00 00 00 00 00 00 00" in obj.maps["hits"].dump()
        from pybpf.progtypes.pcaprun import non_empty_entries

        (entry,) = non_empty_entries(obj)["hits"]
        assert (entry.key_text(), entry.value_text()) == ("01000000", "0200000000000000")
    else:
        with pytest.raises(PybpfError) as info:
            bpfobj.load(path, engine="interp")
        assert "weird" in str(info.value) and "99" in str(info.value)


UNSAFE_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("syscall") int peek(unsigned char *in) { return in[200]; }
char _license[] SEC("license") = "GPL";
"""


def test_unsafe_program_is_refused_at_load_unless_verification_is_off(tmp_path: Path) -> None:
    from pybpf.errors import MemoryAccessError, PybpfError
    from pybpf.toolchain import compile_bpf

    src = tmp_path / "unsafe.c"
    src.write_text(UNSAFE_C)
    path = compile_bpf(src, tmp_path / "unsafe.o")
    with pytest.raises(PybpfError) as info:
        bpfobj.load(path, engine="interp")
    assert "program 'peek' rejected by the verifier" in str(info.value)
    assert "instruction" in str(info.value)
    # Without verification the run-time checks still stop the out-of-bounds read.
    obj = bpfobj.load(path, engine="interp", verify=False)
    with pytest.raises(MemoryAccessError):
        obj.program("peek").run(bytearray(8))
    # A larger declared context makes the same access provably safe.
    assert bpfobj.load(path, engine="jit", ctx_size=256).program("peek").run(bytearray(8)) == 0


@pytest.mark.parametrize("variant", VARIANTS)
def test_verified_programs_skip_checks_on_proven_accesses(variant: str) -> None:
    obj = load("maps", variant, "jit")
    engine = obj.program("count_flow").engine
    assert engine.safe, "the verifier proved no access safe"
