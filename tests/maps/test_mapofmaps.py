"""ARRAY_OF_MAPS, HASH_OF_MAPS and PROG_ARRAY."""

from __future__ import annotations

import errno
import gc

import pytest

from pybpf.maps import (
    BPF_F_INNER_MAP,
    BPF_NOEXIST,
    MAX_TAIL_CALLS,
    MapError,
    MapSpec,
    MapType,
    ProgArrayMap,
    map_by_handle,
    pin,
    program_by_id,
    register_program,
)

from . import k32, new, v64

INNER = MapSpec("inner", MapType.HASH, 4, 8, 16)


def test_array_of_maps_lookup_returns_the_inner_handle() -> None:
    outer = new(MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 4, inner=INNER))
    inner = new(MapSpec("a", MapType.HASH, 4, 8, 16))
    assert outer.lookup(k32(0)) == 0
    outer[0] = inner
    handle = outer.lookup(k32(0))
    assert handle == inner.handle
    found = map_by_handle(handle)
    assert found is not None and id(found) == id(inner)
    assert found.update(k32(1), v64(5)) == 0  # a program uses the handle with map helpers
    assert inner[1] == v64(5)
    assert outer[0] is inner and len(outer) == 1 and list(outer) == [k32(0)]
    assert outer.lookup(k32(9)) == 0
    assert outer.update(k32(0), v64(0)) == -errno.EINVAL  # programs cannot update map-in-map


def test_array_of_maps_host_rules() -> None:
    outer = new(MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 2, inner=INNER))
    inner = new(MapSpec("a", MapType.HASH, 4, 8, 16))
    with pytest.raises(MapError, match="BPF_ANY only"):
        outer.update_elem(0, inner, BPF_NOEXIST)
    with pytest.raises(MapError, match="E2BIG"):
        outer[2] = inner
    with pytest.raises(MapError, match="has max_entries 8, the template has 16"):
        outer[0] = new(MapSpec("b", MapType.HASH, 4, 8, 8))
    with pytest.raises(MapError, match="has type ARRAY, the template has HASH"):
        outer[0] = new(MapSpec("c", MapType.ARRAY, 4, 8, 16))
    with pytest.raises(MapError, match="ENOENT"):
        del outer[1]
    outer[1] = inner
    del outer[1]
    assert outer.get(1) is None


def test_inner_map_kept_alive_while_referenced() -> None:
    outer = new(MapSpec("outer", MapType.HASH_OF_MAPS, 4, 4, 4, inner=INNER))
    outer[7] = new(MapSpec("tmp", MapType.HASH, 4, 8, 16))
    gc.collect()
    handle = outer.lookup(k32(7))
    assert handle and map_by_handle(handle) is not None and map_by_handle(handle).name == "tmp"  # type: ignore[union-attr]
    del outer[7]
    gc.collect()
    assert map_by_handle(handle) is None


def test_hash_of_maps_with_inner_map_flag_allows_other_sizes() -> None:
    template = MapSpec("t", MapType.ARRAY, 4, 8, 4, map_flags=BPF_F_INNER_MAP)
    outer = new(MapSpec("outer", MapType.HASH_OF_MAPS, 8, 4, 4, inner=template))
    small = new(MapSpec("s", MapType.ARRAY, 4, 8, 2, map_flags=BPF_F_INNER_MAP))
    big = new(MapSpec("b", MapType.ARRAY, 4, 8, 100, map_flags=BPF_F_INNER_MAP))
    outer[b"k1" + bytes(6)] = small
    outer[b"k2" + bytes(6)] = big
    assert outer.lookup(b"k2" + bytes(6)) == big.handle
    with pytest.raises(MapError, match="EEXIST"):
        outer.update_elem(b"k1" + bytes(6), big, BPF_NOEXIST)
    assert "map 's'" in outer.dump()
    assert outer.check_consistency() == []


def test_maps_holding_references_cannot_be_pinned(tmp_path: object) -> None:
    outer = new(MapSpec("outer", MapType.ARRAY_OF_MAPS, 4, 4, 2, inner=INNER))
    with pytest.raises(MapError, match="process-local"):
        pin(outer, f"{tmp_path}/outer")


def test_prog_array_slots_and_tail_call_targets() -> None:
    progs = new(MapSpec("jmp", MapType.PROG_ARRAY, 4, 4, 4))
    assert isinstance(progs, ProgArrayMap)
    first, second = object(), object()
    progs[0] = first
    progs[2] = second
    assert progs.get_program(0) is first and progs.get_program(2) is second
    assert progs.get_program(1) is None and progs.get_program(4) is None and progs.get_program(-1) is None
    assert progs[0] is first and sorted(progs) == [k32(0), k32(2)] and len(progs) == 2
    pid = register_program(second)
    assert register_program(second) == pid and program_by_id(pid) is second
    progs[1] = pid  # an int is a program id
    assert progs.get_program(1) is second
    with pytest.raises(MapError, match="EBADF"):
        progs[3] = 999999
    with pytest.raises(MapError, match="BPF_ANY only"):
        progs.update_elem(3, first, BPF_NOEXIST)
    with pytest.raises(MapError, match="E2BIG"):
        progs[4] = first
    del progs[0]
    with pytest.raises(MapError, match="ENOENT"):
        del progs[0]
    assert progs.lookup(k32(2)) == 0 and progs.update(k32(2), k32(pid)) == -errno.EINVAL
    assert progs.get_next_key(k32(3)) == (-errno.ENOENT, b"")
    assert MAX_TAIL_CALLS == 33
