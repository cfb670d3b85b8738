"""Pinned maps: shared live between real processes, surviving SIGKILL, reuse rules, dump."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import pybpf
from pybpf.maps import (
    BPF_F_NO_PREALLOC,
    LIBBPF_PIN_BY_NAME,
    HashMap,
    MapError,
    MapSpec,
    MapType,
    RingBufMap,
    dump_pinned,
    on_cpu,
    pin,
    unpin,
)
from pybpf.maps.base import OFF_DIRTY
from pybpf.maps.hash import S_COUNT, S_FREE
from pybpf.vm.memory import Memory

from . import k32, new, reopen, v64

REPO = str(Path(pybpf.__file__).resolve().parent.parent)


def child(code: str) -> subprocess.Popen[str]:
    """Run ``code`` in a fresh interpreter that can import pybpf."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def hash_spec(name: str = "shared", max_entries: int = 100_000) -> MapSpec:
    return MapSpec(name, MapType.HASH, 4, 8, max_entries, pinning=LIBBPF_PIN_BY_NAME)


def test_entries_written_before_sigkill_survive(tmp_path: Path) -> None:
    m = new(hash_spec(), pin_root=tmp_path)
    proc = child(
        f"""
        from pybpf.maps import open_pinned
        m = open_pinned({str(tmp_path / "shared")!r})
        i = 0
        while True:
            assert m.update(i.to_bytes(4, "little"), (i * 7 + 1).to_bytes(8, "little"), 0) == 0
            print(i, flush=True)
            i += 1
        """
    )
    assert proc.stdout is not None
    done = -1
    for line in proc.stdout:
        done = int(line)
        if done >= 3000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert done >= 3000
    ints = m.with_codec(int, int)
    for i in range(done + 1):  # every update the child reported finished is there
        assert ints[i] == i * 7 + 1
    assert len(m) >= done + 1
    assert m.check_consistency() == []
    # a process that never saw the map reads it back from the file alone
    again = reopen(tmp_path / "shared")
    assert again.with_codec(int, int)[done] == done * 7 + 1 and len(again) == len(m)
    again.close()


WRITER = """
import os, sys, time
from pybpf.maps import open_pinned
m = open_pinned({path!r})
tag, lo, hi = {tag}, {lo}, {hi}
while not os.path.exists({go!r}):
    time.sleep(0.001)
def val(k):
    return (tag << 32 | k).to_bytes(8, "little")
ops = 0
start = time.monotonic()
for rnd in range(2):
    for k in range(lo, hi):
        assert m.update(k.to_bytes(4, "little"), val(k), 0) == 0
        ops += 1
    for k in range(lo, hi, 3):
        assert m.delete(k.to_bytes(4, "little")) in (0, -2)
        assert m.update(k.to_bytes(4, "little"), val(k), 0) == 0
        ops += 2
print(ops, start, time.monotonic())
"""


def test_two_processes_update_one_pinned_hash_concurrently(tmp_path: Path) -> None:
    m = new(hash_spec("conc", 8192), pin_root=tmp_path)
    path = str(tmp_path / "conc")
    go = str(tmp_path / "go")
    a = child(WRITER.format(path=path, tag=1, lo=0, hi=3000, go=go))
    b = child(WRITER.format(path=path, tag=2, lo=1500, hi=4500, go=go))
    time.sleep(0.3)
    Path(go).touch()
    outs = [p.communicate(timeout=120) for p in (a, b)]
    assert a.returncode == 0 and b.returncode == 0, outs
    reports = [out.split() for out, _ in outs]
    assert all(int(r[0]) >= 5000 for r in reports)  # thousands of operations each
    starts, ends = [float(r[1]) for r in reports], [float(r[2]) for r in reports]
    assert max(starts) < min(ends)  # CLOCK_MONOTONIC is system-wide: the two runs overlapped
    assert m.check_consistency() == []
    assert len(m) == 4500
    values = dict(m.with_codec(int, int).items())
    assert sorted(values) == list(range(4500))
    for k, v in values.items():
        writer, key = v >> 32, v & 0xFFFFFFFF
        assert key == k
        assert writer == (1 if k < 1500 else 2 if k >= 3000 else writer)
        assert writer in (1, 2)


def test_crash_in_the_middle_of_an_insert_is_repaired(tmp_path: Path) -> None:
    m = new(hash_spec("crash", 16), pin_root=tmp_path)
    assert isinstance(m, HashMap)
    for i in range(5):
        m[i] = i
    # A writer dies after taking a free slot and writing the element, before linking it.
    m._wguard.__enter__()
    slot = m._alloc()
    assert slot
    m._unlock()  # the lock goes away with the process; the dirty mark stays
    assert m._buf[OFF_DIRTY] == 1
    other = reopen(tmp_path / "crash")
    assert isinstance(other, HashMap)
    assert len(other) == 5  # taking the lock repairs: the leaked slot returns to the free list
    assert other._buf[OFF_DIRTY] == 0 and other.check_consistency() == []
    assert other._get32(S_FREE) == slot and other._get32(S_COUNT) == 5
    for i in range(5, 16):
        other[i] = i
    assert len(m) == 16 and m.check_consistency() == []
    other.close()


def test_lru_list_is_rebuilt_after_a_crash(tmp_path: Path) -> None:
    spec = MapSpec("lrucrash", MapType.LRU_HASH, 4, 8, 4, pinning=LIBBPF_PIN_BY_NAME)
    m = new(spec, pin_root=tmp_path)
    for i in range(4):
        m[i] = i
    m._wguard.__enter__()
    m._unlink_lru(2)  # died half-way through moving an element
    m._unlock()
    assert m.check_consistency() == []  # repaired on the next lock
    m[9] = 9
    assert len(m) == 4


def test_create_reuses_a_matching_pin_and_refuses_a_different_one(tmp_path: Path) -> None:
    first = new(hash_spec("reuse", 64), pin_root=tmp_path)
    first[1] = 11
    second = new(hash_spec("reuse", 64), pin_root=tmp_path)
    assert second is not first and second[1] == v64(11)
    second[2] = 22
    assert first[2] == v64(22)  # one file, two mappings
    with pytest.raises(MapError) as info:
        new(MapSpec("reuse", MapType.HASH, 4, 16, 64, pinning=LIBBPF_PIN_BY_NAME), pin_root=tmp_path)
    assert info.value.errno == errno.EINVAL
    assert "value_size 8, the spec says 16" in str(info.value)
    arr = new(MapSpec("arr", MapType.ARRAY, 4, 8, 64, pinning=LIBBPF_PIN_BY_NAME), pin_root=tmp_path)
    arr.close()
    with pytest.raises(MapError, match="map_type ARRAY, the spec says HASH"):
        reopen(tmp_path / "arr", MapSpec("arr", MapType.HASH, 4, 8, 64))
    with pytest.raises(MapError, match="ENOENT"):
        reopen(tmp_path / "missing")
    (tmp_path / "junk").write_bytes(b"not a map" * 100)
    with pytest.raises(MapError, match="not a pybpf pinned map"):
        reopen(tmp_path / "junk")


def test_pin_moves_an_existing_map_into_a_file(tmp_path: Path) -> None:
    m = new(MapSpec("later", MapType.ARRAY, 4, 8, 8))
    m[3] = 33
    pin(m, tmp_path / "later")
    assert m.pinned_path == str(tmp_path / "later")
    mem = Memory([m.region])  # the region now lives in the file mapping
    mem.store(m.lookup(k32(4)), 8, 44)
    reader = reopen(tmp_path / "later")
    assert reader.with_codec(int, int)[3] == 33 and reader.with_codec(int, int)[4] == 44
    pin(m, tmp_path / "alias")  # a second name for the same file
    assert reopen(tmp_path / "alias")[3] == v64(33)
    with pytest.raises(MapError, match="EEXIST"):
        pin(new(MapSpec("x", MapType.ARRAY, 4, 8, 8)), tmp_path / "later")
    unpin(tmp_path / "later")
    assert not (tmp_path / "later").exists() and m[3] == v64(33)


def test_every_pinnable_type_reopens_with_its_contents(tmp_path: Path) -> None:
    specs = [
        MapSpec("pc", MapType.PERCPU_HASH, 4, 8, 8, pinning=1),
        MapSpec("lru", MapType.LRU_PERCPU_HASH, 4, 8, 8, pinning=1),
        MapSpec("lpm", MapType.LPM_TRIE, 8, 4, 8, map_flags=BPF_F_NO_PREALLOC, pinning=1),
        MapSpec("q", MapType.QUEUE, 0, 4, 4, pinning=1),
        MapSpec("bloom", MapType.BLOOM_FILTER, 0, 4, 16, pinning=1),
        MapSpec("rb", MapType.RINGBUF, 0, 0, 4096, pinning=1),
    ]
    made = [new(s, pin_root=tmp_path, cpus=2) for s in specs]
    pc, lru, lpm, q, bloom, rb = made
    with on_cpu(1):
        pc.update(k32(1), v64(5))
    lru[2] = [1, 2]
    lpm[(16, bytes([10, 1, 0, 0]))] = 7
    q.push(b"abcd")
    bloom.push(b"wxyz")
    assert isinstance(rb, RingBufMap) and rb.output(b"event") == 0
    for m in made:
        m.close()
    pc, lru, lpm, q, bloom, rb = (reopen(tmp_path / s.name) for s in specs)
    assert pc.with_codec(int, int)[1] == [0, 5] and pc.ncpus == 2
    assert lru.with_codec(int, int)[2] == [1, 2]
    assert lpm.with_codec(value=int)[(32, bytes([10, 1, 2, 3]))] == 7
    assert q.pop() == (0, b"abcd") and bloom.peek(b"wxyz")[0] == 0
    assert isinstance(rb, RingBufMap) and rb.consumer().drain() == [b"event"]


def test_ringbuf_shared_between_processes(tmp_path: Path) -> None:
    rb = new(MapSpec("events", MapType.RINGBUF, 0, 0, 1 << 16, pinning=1), pin_root=tmp_path)
    assert isinstance(rb, RingBufMap)
    proc = child(
        f"""
        from pybpf.maps import open_pinned
        rb = open_pinned({str(tmp_path / "events")!r})
        for i in range(500):
            while rb.output(i.to_bytes(4, "little") * 8) != 0:
                pass
        """
    )
    got: list[bytes] = []
    consumer = rb.consumer()
    deadline = time.monotonic() + 60
    while len(got) < 500 and time.monotonic() < deadline:
        consumer.poll(got.append, timeout=0.05)
    assert proc.wait(timeout=60) == 0
    assert got == [i.to_bytes(4, "little") * 8 for i in range(500)]


def test_dump_pinned_table(tmp_path: Path) -> None:
    m = new(hash_spec("dumped", 4), pin_root=tmp_path)
    m[1] = 0x2A
    text = dump_pinned(tmp_path / "dumped")
    assert text.splitlines()[0] == "map 'dumped': HASH (1)  key_size 4  value_size 8  max_entries 4  flags 0x0"
    assert f"pinned at {tmp_path / 'dumped'}" in text
    assert "1 entries" in text and "01 00 00 00  2a 00 00 00 00 00 00 00" in text
    q = new(MapSpec("dq", MapType.QUEUE, 0, 2, 4, pinning=1), pin_root=tmp_path)
    q.push(b"\x01\x02")
    assert "[0]  01 02" in dump_pinned(tmp_path / "dq")
