"""Redirect maps keep the kernel's update rules and register with create_map."""

from __future__ import annotations

import errno

import pytest

from pybpf.maps import MapError, MapSpec, MapType, create_map
from pybpf.progtypes.devmap import CpuMap, DevMap, DevMapHash, XskMap


def k(i: int) -> bytes:
    return i.to_bytes(4, "little")


@pytest.mark.parametrize(
    ("map_type", "cls"),
    [(MapType.DEVMAP, DevMap), (MapType.DEVMAP_HASH, DevMapHash), (MapType.CPUMAP, CpuMap), (MapType.XSKMAP, XskMap)],
)
def test_types_are_registered(map_type: int, cls: type) -> None:
    assert isinstance(create_map(MapSpec("m", map_type, 4, 4, 8)), cls)


def test_devmap_array_rules() -> None:
    m = create_map(MapSpec("ports", MapType.DEVMAP, 4, 4, 4))
    assert isinstance(m, DevMap)
    assert m.update(k(1), k(7)) == 0 and m.target(1) == 7
    assert m.update(k(4), k(7)) == -errno.E2BIG
    assert m.update(k(1), k(8), 1) == -errno.EEXIST  # BPF_NOEXIST: every slot exists
    assert m.update(k(1), k(8), 3) == -errno.EINVAL
    assert m.update(k(1), k(0)) == 0 and m.target(1) is None  # ifindex 0 empties the slot
    assert m.delete(k(2)) == 0 and m.delete(k(9)) == -errno.EINVAL
    m[2] = 5
    m[0] = 3
    assert m.targets() == [(0, 3), (2, 5)]
    assert m.get_next_key(None) == (0, k(0)) and m.get_next_key(k(3)) == (-errno.ENOENT, b"")


def test_devmap_hash_rules() -> None:
    m = create_map(MapSpec("ports", MapType.DEVMAP_HASH, 4, 4, 4))
    assert isinstance(m, DevMapHash)
    assert m.update(k(1000), k(7)) == 0 and m.target(1000) == 7
    assert m.update(k(1000), k(8), 1) == -errno.EEXIST
    assert m.update(k(5), k(0)) == -errno.EINVAL
    assert m.delete(k(5)) == -errno.ENOENT


def test_creation_checks() -> None:
    for spec in (
        MapSpec("a", MapType.DEVMAP, 8, 4, 4),
        MapSpec("b", MapType.DEVMAP, 4, 12, 4),
        MapSpec("c", MapType.XSKMAP, 4, 8, 4),
        MapSpec("d", MapType.CPUMAP, 4, 4, 0),
        MapSpec("e", MapType.DEVMAP, 4, 4, 4, map_flags=1),
    ):
        with pytest.raises(MapError) as info:
            create_map(spec)
        assert info.value.errno == errno.EINVAL
    assert create_map(MapSpec("f", MapType.DEVMAP, 4, 8, 4)).value_size == 8  # struct bpf_devmap_val
