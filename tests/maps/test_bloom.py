"""BLOOM_FILTER: no false negatives, kernel sizing, flags."""

from __future__ import annotations

import errno

from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.maps import BloomFilterMap, MapSpec, MapType
from pybpf.maps.bloom import bitset_geometry

from . import new


def bloom(max_entries: int = 100, value_size: int = 8, extra: int = 0) -> BloomFilterMap:
    m = new(MapSpec("bf", MapType.BLOOM_FILTER, 0, value_size, max_entries, map_extra=extra))
    assert isinstance(m, BloomFilterMap)
    return m


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(min_size=8, max_size=8), max_size=200), st.integers(0, 15))
def test_no_false_negatives(values: list[bytes], extra: int) -> None:
    m = bloom(max_entries=64, extra=extra)
    for v in values:
        assert m.push(v, 0) == 0
    for v in values:
        assert m.peek(v) == (0, v)


def test_absent_values_are_mostly_enoent() -> None:
    m = bloom(max_entries=1000)
    for i in range(1000):
        m.add(i)
    false_pos = sum(1 for i in range(1000, 11000) if m.check(i))
    assert false_pos < 500  # ~1-2% expected with 5 hash functions at this size
    assert m.peek((123456).to_bytes(8, "little"))[0] in (0, -errno.ENOENT)


def test_kernel_bit_array_sizing() -> None:
    assert bitset_geometry(1, 5) == (8, 63)  # at least BITS_PER_LONG bits
    assert bitset_geometry(100, 5) == (128, 1023)  # 100*5/5*7 = 700 -> 1024 bits
    assert bitset_geometry(1 << 30, 5) == ((0xFFFFFFFF + 7) // 8, 0xFFFFFFFF)
    assert bloom(100, extra=3)._k == 3 and bloom(100)._k == 5


def test_flags_and_unsupported_operations() -> None:
    m = bloom()
    v = bytes(8)
    assert m.push(v, 1) == -errno.EINVAL and m.push(v, 2) == -errno.EINVAL
    assert m.push(b"short", 0) == -errno.EINVAL
    assert m.peek(v)[0] == -errno.ENOENT
    assert m.pop()[0] == -errno.EOPNOTSUPP and m.delete(b"") == -errno.EOPNOTSUPP
    assert m.update(b"", v, 0) == -errno.EINVAL and m.lookup(b"") == 0
    assert m.get_next_key(None)[0] == -errno.EOPNOTSUPP
    m.add(7)
    assert 7 in m and "hash functions 5" in m.dump()
