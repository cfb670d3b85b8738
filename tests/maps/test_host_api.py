"""The host (Python) API: dict-like access, conversions, codecs, errors, access flags, handles."""

from __future__ import annotations

import ctypes
import errno
import gc
from collections.abc import MutableMapping

import pytest

from pybpf.errors import PybpfError
from pybpf.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_RDONLY,
    BPF_F_WRONLY,
    BPF_NOEXIST,
    BpfMap,
    IntCodec,
    MapError,
    MapKeyError,
    MapSpec,
    MapType,
    MapView,
    map_by_handle,
)

from . import k32, make, new, v64


class Pair(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_uint32)]


def test_mapping_protocol_on_raw_bytes() -> None:
    m = make(MapType.HASH, 4, 8, 8, name="counters")
    m[1] = 10
    m[k32(2)] = v64(20)
    m[Pair(3, 0).a] = Pair(30, 1)
    assert m[1] == v64(10) and m[k32(2)] == v64(20)
    assert m[3] == bytes(Pair(30, 1))
    assert len(m) == 3 and set(m) == {k32(1), k32(2), k32(3)}
    assert 2 in m and 9 not in m
    assert m.get(9) is None and m.get(9, b"x") == b"x"
    assert dict(m.items())[k32(1)] == v64(10)
    del m[2]
    assert 2 not in m and len(m) == 2
    m.clear()
    assert len(m) == 0 and list(m) == []


def test_absent_key_is_keyerror_and_maperror() -> None:
    m = make(MapType.HASH, 4, 8, 8, name="counters")
    with pytest.raises(KeyError):
        m[5]
    with pytest.raises(MapKeyError) as info:
        del m[5]
    assert isinstance(info.value, PybpfError) and info.value.errno == errno.ENOENT
    assert str(info.value) == "map 'counters': delete failed: ENOENT (key does not exist)"


def test_update_with_flags_raises_with_errno_name_and_reason() -> None:
    m = make(MapType.HASH, 4, 8, 1, name="counters")
    m.update_elem(1, 1, BPF_NOEXIST)
    with pytest.raises(MapError) as info:
        m.update_elem(1, 2, BPF_NOEXIST)
    assert str(info.value) == "map 'counters': update failed: EEXIST (key exists, BPF_NOEXIST)"
    with pytest.raises(MapError, match=r"update failed: ENOENT \(key does not exist, BPF_EXIST\)"):
        m.update_elem(2, 2, BPF_EXIST)
    with pytest.raises(MapError, match=r"update failed: E2BIG \(map is full, max_entries 1\)"):
        m.update_elem(2, 2, BPF_ANY)
    with pytest.raises(MapError, match="EINVAL"):
        m.update_elem(1, 2, 3)
    assert m.lookup_elem(1) == v64(1) and m.lookup_elem(2) is None


def test_wrong_sizes_are_einval_maperrors() -> None:
    m = make(MapType.HASH, 4, 8, 4, name="m")
    with pytest.raises(MapError, match="encode key failed: EINVAL"):
        m[b"abc"] = 1
    with pytest.raises(MapError, match="encode value failed: EINVAL"):
        m[1] = b"short"
    with pytest.raises(MapError, match="does not fit"):
        m[1 << 40] = 1
    with pytest.raises(MapError):
        m[1] = "text"
    assert m.update(b"abc", v64(1)) == -errno.EINVAL  # program-facing: wrong size, no exception


def test_negative_ints_are_twos_complement() -> None:
    m = make(MapType.ARRAY, 4, 8, 4)
    m[0] = -1
    assert m[0] == b"\xff" * 8
    assert m.with_codec(int, IntCodec(signed=True))[0] == -1


def test_codecs_int_ctypes_struct() -> None:
    m = make(MapType.HASH, 4, 8, 8)
    ints: MapView = m.with_codec(key=int, value=int)
    assert isinstance(ints, MutableMapping)
    ints[7] = 99
    assert ints[7] == 99 and dict(ints) == {7: 99}
    structs = m.with_codec(key=int, value=Pair)
    structs[8] = Pair(1, 2)
    got = structs[8]
    assert isinstance(got, Pair) and (got.a, got.b) == (1, 2)
    fmt = m.with_codec(key="<I", value="<II")
    assert fmt[8] == (1, 2)
    fmt[9] = (3, 4)
    assert ints[9] == 3 | 4 << 32
    ints.update({10: 1, 11: 2})  # MutableMapping.update on the view
    assert sorted(ints) == [7, 8, 9, 10, 11]
    assert ints.pop(11) == 2 and 11 not in ints
    assert ints.next_key(None) in {7, 8, 9, 10}


def test_access_flags_refuse_host_operations_with_eperm() -> None:
    ro = make(MapType.HASH, 4, 8, 4, name="ro", map_flags=BPF_F_RDONLY)
    with pytest.raises(MapError, match="update failed: EPERM"):
        ro[1] = 1
    assert ro.update(k32(1), v64(1)) == 0  # programs may still write
    assert ro[1] == v64(1)
    wo = make(MapType.ARRAY, 4, 8, 4, name="wo", map_flags=BPF_F_WRONLY)
    wo[1] = 5
    with pytest.raises(MapError, match="lookup failed: EPERM"):
        wo[1]


def test_handles_are_unique_real_addresses_and_registered() -> None:
    a: BpfMap = make(MapType.HASH, 4, 8, 4)
    b: BpfMap = make(MapType.HASH, 4, 8, 4)
    assert a.handle != b.handle and a.handle > 0x1000
    assert map_by_handle(a.handle) is a and map_by_handle(b.handle) is b
    h = b.handle
    del b
    gc.collect()
    assert map_by_handle(h) is None
    a.close()
    assert map_by_handle(a.handle) is None


def test_dump_shows_type_sizes_and_entries_in_hex() -> None:
    m = make(MapType.HASH, 4, 8, 4, name="counters")
    m[1] = 0x2A
    text = m.dump()
    assert "map 'counters': HASH (1)  key_size 4  value_size 8  max_entries 4" in text
    assert "01 00 00 00  2a 00 00 00 00 00 00 00" in text


def test_array_host_clear_zero_fills() -> None:
    m = make(MapType.ARRAY, 4, 4, 3)
    m[1] = 5
    m.clear()
    assert m.values() == [bytes(4)] * 3 and len(m) == 3


def test_spec_dataclass_defaults() -> None:
    spec = MapSpec("x", MapType.HASH, 4, 4, 4)
    assert (spec.map_flags, spec.map_extra, spec.inner, spec.pinning, spec.spin_lock_off) == (0, 0, None, 0, -1)
    assert new(spec).spec is spec
