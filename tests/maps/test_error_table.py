"""Every row of the error-code table (notes §1.1), one case at a time, through the program-facing API.

Each case builds a fresh map, runs the operation and compares the kernel's exact result.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Any

import pytest

from pybpf.maps import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_LOCK,
    BPF_NOEXIST,
    MapError,
    MapType,
    RingBufMap,
)

from . import k32, make, v64

HASHES = [MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH]


def hash_map(t: MapType = MapType.HASH, max_entries: int = 4) -> Any:
    return make(t, 4, 8, max_entries)


def filled(t: MapType, n: int, max_entries: int) -> Any:
    m = hash_map(t, max_entries)
    for i in range(n):
        assert m.update(k32(i), v64(i), BPF_ANY) == 0
    return m


def full_ringbuf() -> RingBufMap:
    rb = make(MapType.RINGBUF, 0, 0, 4096)
    assert isinstance(rb, RingBufMap)
    while rb.output(bytes(1000)) == 0:
        pass
    return rb


Case = tuple[str, Callable[[], Any], Any]

CASES: list[Case] = []
# HASH, PERCPU_HASH, LRU_*: update with flags beyond EXIST (ignoring F_LOCK) -> -EINVAL


def _update_with(t: MapType, flags: int) -> Callable[[], int]:
    return lambda: int(hash_map(t).update(k32(1), v64(1), flags))


for t in HASHES:
    for flags in (3, 8, 0x10, 1 << 40):
        CASES.append((f"{t.name} update flags {flags:#x}", _update_with(t, flags), -errno.EINVAL))
CASES += [
    ("HASH update F_LOCK without a spin lock", lambda: hash_map().update(k32(1), v64(1), BPF_F_LOCK), -errno.EINVAL),
    (
        "HASH update F_LOCK|EXIST ignores F_LOCK in the flag check",
        lambda: make(MapType.HASH, 4, 8, 4, spin_lock_off=0).update(k32(1), v64(1), BPF_F_LOCK | BPF_EXIST),
        -errno.ENOENT,
    ),
    (
        "PERCPU_HASH update F_LOCK",
        lambda: hash_map(MapType.PERCPU_HASH).update(k32(1), v64(1), BPF_F_LOCK),
        -errno.EINVAL,
    ),
    # HASH: key present + NOEXIST -> -EEXIST; key absent + EXIST -> -ENOENT
    *[
        (
            f"{t.name} update present NOEXIST",
            lambda t=t: filled(t, 1, 4).update(k32(0), v64(9), BPF_NOEXIST),
            -errno.EEXIST,
        )
        for t in HASHES
    ],
    *[
        (f"{t.name} update absent EXIST", lambda t=t: filled(t, 1, 4).update(k32(7), v64(9), BPF_EXIST), -errno.ENOENT)
        for t in HASHES
    ],
    # HASH: insert when max_entries reached -> -E2BIG; replacing still works
    ("HASH insert when full", lambda: filled(MapType.HASH, 4, 4).update(k32(9), v64(9), BPF_ANY), -errno.E2BIG),
    (
        "PERCPU_HASH insert when full",
        lambda: filled(MapType.PERCPU_HASH, 4, 4).update(k32(9), v64(9), BPF_ANY),
        -errno.E2BIG,
    ),
    ("HASH replace when full (ANY)", lambda: filled(MapType.HASH, 4, 4).update(k32(2), v64(9), BPF_ANY), 0),
    ("HASH replace when full (EXIST)", lambda: filled(MapType.HASH, 4, 4).update(k32(2), v64(9), BPF_EXIST), 0),
    # LRU_HASH: insert when full evicts; no error
    ("LRU_HASH insert when full", lambda: filled(MapType.LRU_HASH, 4, 4).update(k32(9), v64(9), BPF_ANY), 0),
    (
        "LRU_PERCPU_HASH insert when full",
        lambda: filled(MapType.LRU_PERCPU_HASH, 4, 4).update(k32(9), v64(9), BPF_NOEXIST),
        0,
    ),
    # HASH delete absent -> -ENOENT; lookup absent -> NULL
    *[(f"{t.name} delete absent", lambda t=t: filled(t, 2, 4).delete(k32(7)), -errno.ENOENT) for t in HASHES],
    *[(f"{t.name} lookup absent", lambda t=t: filled(t, 2, 4).lookup(k32(7)), 0) for t in HASHES],
    # HASH get_next_key: NULL or absent key -> first key; last key -> -ENOENT
    ("HASH get_next_key NULL", lambda: filled(MapType.HASH, 3, 4).get_next_key(None)[0], 0),
    ("HASH get_next_key NULL = first", lambda: _first_is_null_and_absent(), True),
    ("HASH get_next_key last", lambda: _next_of_last(), -errno.ENOENT),
    ("HASH get_next_key on empty map", lambda: hash_map().get_next_key(None), (-errno.ENOENT, b"")),
    # ARRAY, PERCPU_ARRAY: update with flags > EXIST -> -EINVAL
    *[
        (f"{t.name} update flags 3", lambda t=t: make(t, 4, 8, 4).update(k32(0), v64(1), 3), -errno.EINVAL)
        for t in (MapType.ARRAY, MapType.PERCPU_ARRAY)
    ],
    *[
        (f"{t.name} update flags 0x10", lambda t=t: make(t, 4, 8, 4).update(k32(0), v64(1), 0x10), -errno.EINVAL)
        for t in (MapType.ARRAY, MapType.PERCPU_ARRAY)
    ],
    (
        "PERCPU_ARRAY update F_LOCK",
        lambda: make(MapType.PERCPU_ARRAY, 4, 8, 4).update(k32(0), v64(1), BPF_F_LOCK),
        -errno.EINVAL,
    ),
    # ARRAY update index >= max_entries -> -E2BIG
    *[
        (f"{t.name} update index == max", lambda t=t: make(t, 4, 8, 4).update(k32(4), v64(1), BPF_ANY), -errno.E2BIG)
        for t in (MapType.ARRAY, MapType.PERCPU_ARRAY)
    ],
    (
        "ARRAY update index huge",
        lambda: make(MapType.ARRAY, 4, 8, 4).update(k32(0xFFFFFFFF), v64(1), BPF_ANY),
        -errno.E2BIG,
    ),
    # ARRAY update NOEXIST -> -EEXIST (all slots exist); EXIST works
    *[
        (f"{t.name} update NOEXIST", lambda t=t: make(t, 4, 8, 4).update(k32(0), v64(1), BPF_NOEXIST), -errno.EEXIST)
        for t in (MapType.ARRAY, MapType.PERCPU_ARRAY)
    ],
    ("ARRAY update EXIST", lambda: make(MapType.ARRAY, 4, 8, 4).update(k32(0), v64(1), BPF_EXIST), 0),
    # ARRAY delete -> -EINVAL
    *[
        (f"{t.name} delete", lambda t=t: make(t, 4, 8, 4).delete(k32(0)), -errno.EINVAL)
        for t in (MapType.ARRAY, MapType.PERCPU_ARRAY)
    ],
    # ARRAY lookup index >= max_entries -> NULL
    *[
        (f"{t.name} lookup index == max", lambda t=t: make(t, 4, 8, 4).lookup(k32(4)), 0)
        for t in (MapType.ARRAY, MapType.PERCPU_ARRAY)
    ],
    # ARRAY get_next_key: key >= max -> 0; key = max-1 -> -ENOENT; else key+1
    ("ARRAY get_next_key past end", lambda: make(MapType.ARRAY, 4, 8, 4).get_next_key(k32(9)), (0, k32(0))),
    ("ARRAY get_next_key NULL", lambda: make(MapType.ARRAY, 4, 8, 4).get_next_key(None), (0, k32(0))),
    ("ARRAY get_next_key last", lambda: make(MapType.ARRAY, 4, 8, 4).get_next_key(k32(3)), (-errno.ENOENT, b"")),
    ("ARRAY get_next_key middle", lambda: make(MapType.ARRAY, 4, 8, 4).get_next_key(k32(1)), (0, k32(2))),
    # QUEUE, STACK: push with NOEXIST or flags > EXIST -> -EINVAL
    *[
        (f"{t.name} push NOEXIST", lambda t=t: make(t, 0, 4, 2).push(b"abcd", BPF_NOEXIST), -errno.EINVAL)
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    *[
        (f"{t.name} push flags 3", lambda t=t: make(t, 0, 4, 2).push(b"abcd", 3), -errno.EINVAL)
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    *[
        (f"{t.name} push flags 4", lambda t=t: make(t, 0, 4, 2).push(b"abcd", 4), -errno.EINVAL)
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    # QUEUE, STACK: push when full -> -E2BIG; with BPF_EXIST the oldest is overwritten
    *[
        (f"{t.name} push when full", lambda t=t: _full_qs(t).push(b"zzzz", BPF_ANY), -errno.E2BIG)
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    ("QUEUE push EXIST when full drops the oldest", lambda: _overwrite(MapType.QUEUE), [b"bbbb", b"zzzz"]),
    ("STACK push EXIST when full drops the oldest", lambda: _overwrite(MapType.STACK), [b"zzzz", b"bbbb"]),
    # QUEUE, STACK: pop / peek when empty -> -ENOENT, output zeroed
    *[
        (f"{t.name} pop empty", lambda t=t: make(t, 0, 4, 2).pop(), (-errno.ENOENT, bytes(4)))
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    *[
        (f"{t.name} peek empty", lambda t=t: make(t, 0, 4, 2).peek(), (-errno.ENOENT, bytes(4)))
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    ("QUEUE pop after drain", lambda: _drained(MapType.QUEUE), (-errno.ENOENT, bytes(4))),
    # QUEUE, STACK: generic lookup NULL, update/delete -EINVAL, key_size must be 0
    *[(f"{t.name} generic lookup", lambda t=t: _full_qs(t).lookup(b""), 0) for t in (MapType.QUEUE, MapType.STACK)],
    *[
        (f"{t.name} generic update", lambda t=t: make(t, 0, 4, 2).update(b"", b"abcd", BPF_ANY), -errno.EINVAL)
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    *[
        (f"{t.name} generic delete", lambda t=t: _full_qs(t).delete(b""), -errno.EINVAL)
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    *[
        (f"{t.name} key_size 4 at creation", lambda t=t: _create_errno(t, 4, 4, 2), errno.EINVAL)
        for t in (MapType.QUEUE, MapType.STACK)
    ],
    # RINGBUF: output without space -> -EAGAIN; reserve -> NULL
    ("RINGBUF output when full", lambda: full_ringbuf().output(bytes(1000)), -errno.EAGAIN),
    ("RINGBUF reserve when full", lambda: full_ringbuf().reserve(1000, 0), 0),
]


def _first_is_null_and_absent() -> bool:
    m = filled(MapType.HASH, 3, 4)
    first = m.get_next_key(None)
    return first == m.get_next_key(k32(77)) and first[1] in {k32(0), k32(1), k32(2)}


def _next_of_last() -> int:
    m = filled(MapType.HASH, 3, 4)
    key: bytes | None = None
    for _ in range(3):
        err, key = m.get_next_key(key)
        assert err == 0
    return int(m.get_next_key(key)[0])


def _full_qs(t: MapType) -> Any:
    m = make(t, 0, 4, 2)
    assert m.push(b"aaaa") == 0 and m.push(b"bbbb") == 0
    return m


def _overwrite(t: MapType) -> list[bytes]:
    m = _full_qs(t)
    assert m.push(b"zzzz", BPF_EXIST) == 0
    out: list[bytes] = []
    while True:
        err, value = m.pop()
        if err:
            return out
        out.append(value)


def _drained(t: MapType) -> tuple[int, bytes]:
    m = _full_qs(t)
    m.pop()
    m.pop()
    err, value = m.pop()
    return int(err), bytes(value)


def _create_errno(t: MapType, ks: int, vs: int, n: int) -> int:
    with pytest.raises(MapError) as info:
        make(t, ks, vs, n)
    return info.value.errno


@pytest.mark.parametrize(("case", "op", "expected"), CASES, ids=[c[0] for c in CASES])
def test_error_table_row(case: str, op: Callable[[], Any], expected: Any) -> None:
    assert op() == expected, case


def test_table_covers_every_row_of_the_notes() -> None:
    """The notes list 19 rows; each appears above at least once (by the map type named first)."""
    names = " ".join(c[0] for c in CASES)
    for needle in (
        "flags",
        "present NOEXIST",
        "absent EXIST",
        "insert when full",
        "LRU_HASH insert when full",
        "delete absent",
        "lookup absent",
        "get_next_key",
        "ARRAY update flags",
        "index == max",
        "ARRAY update NOEXIST",
        "ARRAY delete",
        "ARRAY lookup index",
        "ARRAY get_next_key",
        "push NOEXIST",
        "push when full",
        "pop empty",
        "generic lookup",
        "RINGBUF output",
    ):
        assert needle in names, needle
