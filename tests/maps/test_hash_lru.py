"""HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH behaviour."""

from __future__ import annotations

import errno
import threading

from pybpf.maps import BPF_ANY, BPF_EXIST, BPF_F_LOCK, LruHashMap, MapSpec, MapType, cpus, on_cpu, set_cpus
from pybpf.maps.hash import S_COUNT, HashMap
from pybpf.maps.hashing import hash32, hash64
from pybpf.vm.memory import Memory

from . import k32, make, new, v64


def test_get_next_key_walks_every_key_once_in_bucket_order() -> None:
    m = make(MapType.HASH, 4, 4, 64)
    for i in range(50):
        m[i] = i
    seen = []
    err, key = m.get_next_key(None)
    while err == 0:
        seen.append(key)
        err, key = m.get_next_key(key)
    assert err == -errno.ENOENT
    assert sorted(seen) == [k32(i) for i in range(50)]
    assert seen == m.keys()
    buckets = [hash32(k) & 63 for k in seen]
    assert buckets == sorted(buckets)


def test_get_next_key_of_a_deleted_key_restarts_at_the_first() -> None:
    m = make(MapType.HASH, 4, 4, 8)
    for i in range(5):
        m[i] = i
    first = m.get_next_key(None)
    del m[3]
    assert m.get_next_key(k32(3)) == first


def test_new_key_goes_to_the_head_of_its_bucket() -> None:
    m = make(MapType.HASH, 4, 4, 4)
    assert isinstance(m, HashMap) and m._nb == 4
    same = [k for k in (k32(i) for i in range(100)) if hash32(k) & 3 == hash32(k32(0)) & 3][:3]
    for key in same:
        m[key] = 1
    assert m.keys() == same[::-1]  # the chain holds the newest first, as the kernel's hlist does
    assert m.get_next_key(same[2]) == (0, same[1])


def test_full_map_replace_and_free_slot_reuse() -> None:
    m = make(MapType.HASH, 4, 8, 3)
    for i in range(3):
        m[i] = i
    assert m.update(k32(9), v64(9)) == -errno.E2BIG
    assert m.update(k32(1), v64(11), BPF_EXIST) == 0 and m[1] == v64(11)
    del m[0]
    assert m.update(k32(9), v64(9)) == 0
    assert sorted(m.keys()) == [k32(1), k32(2), k32(9)]
    assert m.check_consistency() == []


def test_lookup_pointer_is_stable_and_writable() -> None:
    m = make(MapType.HASH, 4, 8, 4)
    m[1] = 1
    addr = m.lookup(k32(1))
    mem = Memory([m.region])
    mem.store(addr, 8, 1234)
    assert m.with_codec(int, int)[1] == 1234
    m[1] = 5
    assert m.lookup(k32(1)) == addr and mem.load(addr, 8) == 5


def test_spin_lock_word_survives_value_copies() -> None:
    m = make(MapType.HASH, 4, 8, 4, spin_lock_off=4)
    m[1] = v64(0)
    addr = m.lookup(k32(1))
    mem = Memory([m.region])
    mem.store(addr + 4, 4, 1)  # "locked"
    assert m.update(k32(1), b"\x07" * 8, BPF_F_LOCK) == 0
    assert mem.load(addr, 4) == 0x07070707 and mem.load(addr + 4, 4) == 1
    assert m[1] == b"\x07" * 4 + bytes(4)  # host reads see the lock word zeroed


def test_percpu_hash_isolation_by_current_cpu() -> None:
    saved = cpus()
    set_cpus(3)
    try:
        m = new(MapSpec("pc", MapType.PERCPU_HASH, 4, 8, 4))
        mem = Memory([m.region])
        with on_cpu(1):
            assert m.update(k32(7), v64(5)) == 0  # created by a program on CPU 1: zero elsewhere
        assert m[7] == [v64(0), v64(5), v64(0)]
        for cpu in range(3):
            with on_cpu(cpu):
                addr = m.lookup(k32(7))
                mem.store(addr, 8, mem.load(addr, 8) + 10 * (cpu + 1))
        assert m.with_codec(int, int)[7] == [10, 25, 30]
        with on_cpu(2):
            assert m.update(k32(7), v64(1), BPF_EXIST) == 0  # existing element: only CPU 2 changes
        assert m.with_codec(int, int)[7] == [10, 25, 1]
        with on_cpu(0):
            assert m.lookup_percpu(k32(7), 1) - m.lookup(k32(7)) == 8
        assert m.lookup_percpu(k32(7), 3) == 0
        m[8] = [1, 2, 3]  # host: one value per CPU
        m[9] = 4  # host: one value for every CPU
        assert m.with_codec(int, int)[8] == [1, 2, 3] and m.with_codec(int, int)[9] == [4, 4, 4]
        m[10] = b"".join(v64(i) for i in (7, 8, 9))  # libbpf's raw ncpus * round8(value_size) layout
        assert m.with_codec(int, int)[10] == [7, 8, 9]
    finally:
        set_cpus(saved)


def test_percpu_threads_each_see_their_own_cpu() -> None:
    arr = new(MapSpec("pa", MapType.PERCPU_ARRAY, 4, 8, 1), cpus=4)
    mem = Memory([arr.region])

    def work(cpu: int) -> None:
        with on_cpu(cpu):
            for _ in range(100):
                a = arr.lookup(k32(0))
                mem.store(a, 8, mem.load(a, 8) + 1)

    saved = cpus()
    set_cpus(4)
    try:
        threads = [threading.Thread(target=work, args=(c,)) for c in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        set_cpus(saved)
    assert arr.with_codec(int, int)[0] == [100, 100, 100, 100]


def test_lru_evicts_least_recently_used() -> None:
    m = make(MapType.LRU_HASH, 4, 8, 3)
    assert isinstance(m, LruHashMap)
    for i in (1, 2, 3):
        assert m.update(k32(i), v64(i)) == 0
    assert m.lru_order() == [k32(1), k32(2), k32(3)]
    assert m.lookup(k32(1)) != 0  # a program lookup makes 1 the most recent
    assert m.lru_order() == [k32(2), k32(3), k32(1)]
    assert m.update(k32(4), v64(4)) == 0  # full: evicts 2
    assert sorted(m.keys()) == [k32(1), k32(3), k32(4)]
    assert m.update(k32(3), v64(33)) == 0  # an update makes 3 the most recent
    assert m.update(k32(5), v64(5)) == 0  # evicts 1
    assert sorted(m.keys()) == [k32(3), k32(4), k32(5)]
    assert m.lru_order() == [k32(4), k32(3), k32(5)]
    assert m.check_consistency() == []


def test_lru_host_lookup_does_not_count_as_use() -> None:
    m = make(MapType.LRU_HASH, 4, 8, 2)
    m[1] = 1
    m[2] = 2
    assert m[1] == v64(1)  # syscall-side lookup: no reference bit
    m[3] = 3
    assert 1 not in m and 2 in m and 3 in m


def test_lru_failed_update_evicts_nothing() -> None:
    m = make(MapType.LRU_HASH, 4, 8, 2)
    m[1] = 1
    m[2] = 2
    assert m.update(k32(9), v64(9), BPF_EXIST) == -errno.ENOENT
    assert m.update(k32(9), v64(9), 7) == -errno.EINVAL
    assert sorted(m.keys()) == [k32(1), k32(2)]


def test_lru_percpu_evicts_and_zeroes_other_cpus() -> None:
    m = new(MapSpec("lp", MapType.LRU_PERCPU_HASH, 4, 8, 2), cpus=2)
    m[1] = [1, 1]
    m[2] = [2, 2]
    with on_cpu(1):
        assert m.update(k32(3), v64(3), BPF_ANY) == 0
    assert 1 not in m and m.with_codec(int, int)[3] == [0, 3]
    assert m._get32(S_COUNT) == 2 and m.check_consistency() == []


def test_for_each_elements_give_value_addresses() -> None:
    m = make(MapType.HASH, 4, 8, 8)
    for i in range(4):
        m[i] = i * 3
    mem = Memory([m.region])
    got = {int.from_bytes(k, "little"): mem.load(a, 8) for k, a in m.elements()}
    assert got == {0: 0, 1: 3, 2: 6, 3: 9}


def test_hash_function_is_the_documented_one() -> None:
    """pybpf-hash64 written out from its docstring; a JIT reimplementation must match it."""
    mask = (1 << 64) - 1

    def reference(data: bytes, seed: int = 0) -> int:
        h = (seed * 0x9E3779B97F4A7C15 & mask) ^ len(data)
        for i in range(0, len(data), 8):
            w = int.from_bytes(data[i : i + 8].ljust(8, b"\0"), "little")
            h = ((h ^ w) * 0x9E3779B97F4A7C15) & mask
            h ^= h >> 32
        h ^= h >> 30
        h = (h * 0xBF58476D1CE4E5B9) & mask
        h ^= h >> 27
        h = (h * 0x94D049BB133111EB) & mask
        return h ^ (h >> 31)

    for data in (b"", b"a", b"abcdefgh", b"abcdefghi", bytes(range(40))):
        for seed in (0, 1, 7):
            assert hash64(data, seed) == reference(data, seed)
    assert hash32(b"abcd") == hash64(b"abcd") & 0xFFFFFFFF
    assert len({hash32(k32(i)) & 1023 for i in range(1024)}) > 600  # spreads small integer keys
