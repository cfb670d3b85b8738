"""Creation-time validation with the kernel's rules: errno, and a message naming the map and reason."""

from __future__ import annotations

import errno

import pytest

from pybpf.maps import (
    BPF_F_INNER_MAP,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    ENOTSUPP,
    MapError,
    MapSpec,
    MapType,
    create_map,
)
from pybpf.maps.constants import BPF_F_MMAPABLE, BPF_F_PRESERVE_ELEMS

T = MapType
INNER = MapSpec("inner", T.ARRAY, 4, 4, 8)

BAD = [
    # (spec, errno, words the reason must contain)
    (MapSpec("h", T.HASH, 0, 8, 4), errno.EINVAL, "non-zero"),
    (MapSpec("h", T.HASH, 4, 0, 4), errno.EINVAL, "non-zero"),
    (MapSpec("h", T.HASH, 4, 8, 0), errno.EINVAL, "non-zero"),
    (MapSpec("h", T.HASH, 4, 8, 4, map_flags=BPF_F_NO_COMMON_LRU), errno.EINVAL, "LRU"),
    (MapSpec("h", T.HASH, 4, 8, 4, map_flags=BPF_F_MMAPABLE), errno.EINVAL, "map_flags"),
    (MapSpec("h", T.HASH, 4, 8, 4, map_flags=BPF_F_RDONLY | BPF_F_WRONLY), errno.EINVAL, "map_flags"),
    (MapSpec("h", T.HASH, 4, 8, 4, map_flags=BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG), errno.EINVAL, "map_flags"),
    (MapSpec("h", T.HASH, 4, 1 << 22, 4), errno.E2BIG, "too large"),
    (MapSpec("h", T.PERCPU_HASH, 4, 32769, 4), errno.E2BIG, "per-CPU"),
    (MapSpec("l", T.LRU_HASH, 4, 8, 4, map_flags=BPF_F_NO_PREALLOC), ENOTSUPP, "preallocated"),
    (MapSpec("a", T.ARRAY, 8, 8, 4), errno.EINVAL, "key_size must be 4"),
    (MapSpec("a", T.ARRAY, 4, 0, 4), errno.EINVAL, "value_size"),
    (MapSpec("a", T.ARRAY, 4, 8, 0), errno.EINVAL, "max_entries"),
    (MapSpec("a", T.PERCPU_ARRAY, 4, 8, 4, map_flags=BPF_F_MMAPABLE), errno.EINVAL, "MMAPABLE"),
    (MapSpec("a", T.PERCPU_ARRAY, 4, 8, 4, map_flags=BPF_F_INNER_MAP), errno.EINVAL, "INNER_MAP"),
    (MapSpec("a", T.ARRAY, 4, 8, 4, map_flags=BPF_F_PRESERVE_ELEMS), errno.EINVAL, "PERF_EVENT_ARRAY"),
    (MapSpec("a", T.PERCPU_ARRAY, 4, 40000, 4), errno.E2BIG, "per-CPU"),
    (MapSpec("p", T.PROG_ARRAY, 4, 8, 4), errno.EINVAL, "value_size must be 4"),
    (MapSpec("p", T.PROG_ARRAY, 4, 4, 4, map_flags=BPF_F_RDONLY_PROG), errno.EINVAL, "RDONLY_PROG"),
    (MapSpec("q", T.QUEUE, 4, 4, 4), errno.EINVAL, "key_size must be 0"),
    (MapSpec("q", T.STACK, 0, 0, 4), errno.EINVAL, "value_size"),
    (MapSpec("q", T.QUEUE, 0, 4, 0), errno.EINVAL, "max_entries"),
    (MapSpec("q", T.QUEUE, 0, 4, 4, map_flags=BPF_F_NO_PREALLOC), errno.EINVAL, "map_flags"),
    (MapSpec("r", T.RINGBUF, 0, 0, 4096 * 3), errno.EINVAL, "power-of-two"),
    (MapSpec("r", T.RINGBUF, 0, 0, 2048), errno.EINVAL, "page size"),
    (MapSpec("r", T.RINGBUF, 0, 0, 0), errno.EINVAL, "power-of-two"),
    (MapSpec("r", T.RINGBUF, 4, 0, 4096), errno.EINVAL, "must be 0"),
    (MapSpec("r", T.RINGBUF, 0, 8, 4096), errno.EINVAL, "must be 0"),
    (MapSpec("r", T.RINGBUF, 0, 0, 4096, map_flags=BPF_F_RDONLY), errno.EINVAL, "map_flags"),
    (MapSpec("t", T.LPM_TRIE, 8, 4, 16), errno.EINVAL, "BPF_F_NO_PREALLOC"),
    (MapSpec("t", T.LPM_TRIE, 4, 4, 16, map_flags=BPF_F_NO_PREALLOC), errno.EINVAL, "key_size"),
    (MapSpec("t", T.LPM_TRIE, 4 + 257, 4, 16, map_flags=BPF_F_NO_PREALLOC), errno.EINVAL, "key_size"),
    (MapSpec("t", T.LPM_TRIE, 8, 0, 16, map_flags=BPF_F_NO_PREALLOC), errno.EINVAL, "value_size"),
    (MapSpec("t", T.LPM_TRIE, 8, 4, 0, map_flags=BPF_F_NO_PREALLOC), errno.EINVAL, "max_entries"),
    (MapSpec("b", T.BLOOM_FILTER, 4, 4, 16), errno.EINVAL, "key_size must be 0"),
    (MapSpec("b", T.BLOOM_FILTER, 0, 4, 16, map_extra=0x10), errno.EINVAL, "map_extra"),
    (MapSpec("b", T.BLOOM_FILTER, 0, 0, 16), errno.EINVAL, "non-zero"),
    (MapSpec("h", T.HASH, 4, 8, 4, map_extra=1), errno.EINVAL, "map_extra is only valid for BLOOM_FILTER"),
    (MapSpec("mm", T.ARRAY_OF_MAPS, 4, 4, 4), errno.EBADF, "inner map template"),
    (MapSpec("mm", T.ARRAY_OF_MAPS, 4, 8, 4, inner=INNER), errno.EINVAL, "value_size must be 4"),
    (MapSpec("mm", T.HASH_OF_MAPS, 4, 8, 4, inner=INNER), errno.EINVAL, "value_size must be 4"),
    (MapSpec("mm", T.HASH_OF_MAPS, 4, 4, 4, inner=MapSpec("i", T.PROG_ARRAY, 4, 4, 4)), errno.EINVAL, "PROG_ARRAY"),
    (
        MapSpec("mm", T.HASH_OF_MAPS, 4, 4, 4, inner=MapSpec("i", T.HASH_OF_MAPS, 4, 4, 4, inner=INNER)),
        errno.EINVAL,
        "map-of-maps",
    ),
    (
        MapSpec("mm", T.ARRAY_OF_MAPS, 4, 4, 4, inner=MapSpec("i", T.ARRAY, 8, 4, 4)),
        errno.EINVAL,
        "inner map template: key_size",
    ),
    (MapSpec("x", T.PERF_EVENT_ARRAY, 4, 4, 4), errno.EOPNOTSUPP, "not implemented"),
    (MapSpec("x", 999, 4, 4, 4), errno.EINVAL, "unknown map type"),
    (MapSpec("x", T.HASH, -1, 4, 4), errno.EINVAL, "u32"),
    (MapSpec("x", T.HASH, 4, 4, 4, pinning=7), errno.EINVAL, "pinning"),
    (MapSpec("s", T.HASH, 4, 8, 4, spin_lock_off=6), errno.EINVAL, "spin_lock"),
    (MapSpec("s", T.PERCPU_ARRAY, 4, 8, 4, spin_lock_off=0), errno.EINVAL, "spin_lock"),
]


@pytest.mark.parametrize(("spec", "err", "words"), BAD, ids=[f"{s.map_type}-{w}" for s, _, w in BAD])
def test_creation_refused(spec: MapSpec, err: int, words: str) -> None:
    with pytest.raises(MapError) as info:
        create_map(spec)
    assert info.value.errno == err
    assert info.value.op == "create"
    assert words in str(info.value)
    assert str(info.value).startswith(f"map {spec.name!r}: create failed: {info.value.errno_name} (")


GOOD = [
    MapSpec("h", T.HASH, 1, 1, 1),
    MapSpec("h", T.HASH, 4, 8, 4, map_flags=BPF_F_NO_PREALLOC),
    MapSpec("l", T.LRU_HASH, 4, 8, 4, map_flags=BPF_F_NO_COMMON_LRU),
    MapSpec("a", T.ARRAY, 4, 1, 1, map_flags=BPF_F_MMAPABLE | BPF_F_RDONLY_PROG),
    MapSpec("a", T.ARRAY, 4, 8, 4, map_flags=BPF_F_INNER_MAP),
    MapSpec("r", T.RINGBUF, 0, 0, 4096 * 4),
    MapSpec("t", T.LPM_TRIE, 5, 1, 1, map_flags=BPF_F_NO_PREALLOC),
    MapSpec("t", T.LPM_TRIE, 4 + 256, 8, 4, map_flags=BPF_F_NO_PREALLOC),
    MapSpec("b", T.BLOOM_FILTER, 0, 4, 16, map_extra=3),
    MapSpec("mm", T.ARRAY_OF_MAPS, 4, 4, 4, inner=INNER),
    MapSpec("mm", T.HASH_OF_MAPS, 8, 4, 4, inner=MapSpec("i", T.RINGBUF, 0, 0, 4096)),
    MapSpec("s", T.HASH, 4, 8, 4, spin_lock_off=4),
]


@pytest.mark.parametrize("spec", GOOD, ids=[f"{s.name}-{s.map_type}" for s in GOOD])
def test_creation_accepted(spec: MapSpec) -> None:
    m = create_map(spec)
    assert m.map_type == spec.map_type and m.max_entries == spec.max_entries
    assert m.region.hi <= m.region.size and m.region.lo <= m.region.hi


def test_buffer_starts_with_header_naming_the_map() -> None:
    m = create_map(MapSpec("counters", T.HASH, 4, 8, 16))
    raw = m.snapshot_bytes()
    assert raw[:8] == b"PYBPFMAP"
    assert int.from_bytes(raw[12:16], "little") == T.HASH
    assert raw[64:72] == b"counters"
    assert len(raw) == int.from_bytes(raw[48:56], "little")
