"""ARRAY/PERCPU_ARRAY, and programs writing map values through Memory at the addresses lookups return."""

from __future__ import annotations

import errno

import pytest

from pybpf.errors import MemoryAccessError
from pybpf.maps import BPF_F_RDONLY_PROG, BPF_F_WRONLY_PROG, MapSpec, MapType, on_cpu
from pybpf.vm.memory import Memory

from . import k32, make, new, v64


def test_array_values_live_at_fixed_addresses() -> None:
    m = make(MapType.ARRAY, 4, 12, 4)
    addrs = [m.lookup(k32(i)) for i in range(4)]
    assert addrs[1] - addrs[0] == 16  # stride round_up(value_size, 8), like the kernel
    assert all(m.region.contains(a, 12) for a in addrs)
    mem = Memory([m.region])
    mem.store(addrs[2], 4, 0xDEADBEEF)
    mem.write(addrs[3] + 4, b"xyz")
    assert m[2] == bytes.fromhex("efbeadde") + bytes(8)
    assert m[3] == bytes(4) + b"xyz" + bytes(5)
    m[2] = b"A" * 12
    assert mem.read(addrs[2], 12) == b"A" * 12


def test_program_cannot_reach_the_header_or_other_maps() -> None:
    m = make(MapType.HASH, 4, 8, 4)
    m[1] = 1
    addr = m.lookup(k32(1))
    mem = Memory([m.region])
    with pytest.raises(MemoryAccessError, match="below the live part"):
        mem.load(m.region.base, 8)  # the header: not program-visible
    with pytest.raises(MemoryAccessError):
        mem.load(m.region.lo + m.region.base - 8, 8)  # the key area just below the values
    assert mem.load(addr, 8) == 1
    handle_region = m._handle_region
    mem.add(handle_region)
    with pytest.raises(MemoryAccessError, match="not readable"):
        mem.load(m.handle, 1)


def test_rdonly_and_wronly_prog_flags_set_region_permissions() -> None:
    ro = make(MapType.ARRAY, 4, 8, 2, map_flags=BPF_F_RDONLY_PROG)
    mem = Memory([ro.region])
    ro[0] = 7
    assert mem.load(ro.lookup(k32(0)), 8) == 7
    with pytest.raises(MemoryAccessError, match="read-only"):
        mem.store(ro.lookup(k32(0)), 8, 1)
    assert ro.update(k32(0), v64(1)) == -errno.EPERM
    wo = make(MapType.ARRAY, 4, 8, 2, map_flags=BPF_F_WRONLY_PROG)
    mem.add(wo.region)
    mem.store(wo.lookup(k32(1)), 8, 3)
    assert wo[1] == v64(3)
    with pytest.raises(MemoryAccessError, match="not readable"):
        mem.load(wo.lookup(k32(1)), 8)


def test_percpu_array_slots_per_cpu() -> None:
    m = new(MapSpec("pa", MapType.PERCPU_ARRAY, 4, 4, 3), cpus=2)
    mem = Memory([m.region])
    with on_cpu(0):
        a0 = m.lookup(k32(1))
    with on_cpu(1):
        a1 = m.lookup(k32(1))
        assert m.update(k32(2), b"\x05\0\0\0") == 0
    assert a1 - a0 == 8
    mem.store(a0, 4, 11)
    mem.store(a1, 4, 22)
    assert m.with_codec(int, int)[1] == [11, 22]
    assert m.with_codec(int, int)[2] == [0, 5]
    assert m.lookup_percpu(k32(1), 1) == a1 and m.lookup_percpu(k32(1), 2) == 0
    assert m.lookup_percpu(k32(3), 0) == 0


def test_array_iteration_and_length() -> None:
    m = make(MapType.ARRAY, 4, 4, 3)
    assert len(m) == 3
    assert list(m.with_codec(int, int).items()) == [(0, 0), (1, 0), (2, 0)]
    assert m.next_key(None) == k32(0) and m.next_key(2) is None
    with pytest.raises(Exception, match="delete failed: EINVAL"):
        del m[0]


def test_array_elements_for_each() -> None:
    m = make(MapType.ARRAY, 4, 8, 3)
    m[2] = 9
    mem = Memory([m.region])
    assert [(k, mem.load(a, 8)) for k, a in m.elements()] == [(k32(0), 0), (k32(1), 0), (k32(2), 9)]
