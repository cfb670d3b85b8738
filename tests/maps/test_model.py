"""Model-based tests: HASH, LRU_HASH and ARRAY (small sizes) against plain Python models.

Each step runs one program-facing operation (with random flags), compares the kernel result the
model predicts, and checks the layout invariants (chains, free list, count, LRU list).
"""

from __future__ import annotations

import errno
from collections import OrderedDict

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from pybpf.maps import BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, MapType
from pybpf.vm.memory import Memory

from . import k32, make, v64

MAX = 4
KEYS = st.integers(0, 9)
VALUES = st.integers(0, 2**64 - 1)
FLAGS = st.sampled_from([0, 0, 0, BPF_NOEXIST, BPF_EXIST, 3, 4])


class HashMachine(RuleBasedStateMachine):
    """HASH: dict model; E2BIG when full.  LRU_HASH (subclass): OrderedDict in LRU order, eviction."""

    map_type = MapType.HASH
    lru = False

    def __init__(self) -> None:
        super().__init__()
        self.m = make(self.map_type, 4, 8, MAX)
        self.mem = Memory([self.m.region])
        self.model: OrderedDict[int, int] = OrderedDict()

    @rule(k=KEYS, v=VALUES, flags=FLAGS)
    def update(self, k: int, v: int, flags: int) -> None:
        present = k in self.model
        if flags > BPF_EXIST:
            expect = -errno.EINVAL
        elif present and flags == BPF_NOEXIST:
            expect = -errno.EEXIST
        elif not present and flags == BPF_EXIST:
            expect = -errno.ENOENT
        elif not present and len(self.model) == MAX and not self.lru:
            expect = -errno.E2BIG
        else:
            expect = 0
        assert self.m.update(k32(k), v64(v), flags) == expect
        if expect == 0:
            if not present and len(self.model) == MAX:
                self.model.popitem(last=False)  # LRU: the least recently used goes
            self.model[k] = v
            self.model.move_to_end(k)

    @rule(k=KEYS)
    def delete(self, k: int) -> None:
        assert self.m.delete(k32(k)) == (0 if k in self.model else -errno.ENOENT)
        self.model.pop(k, None)

    @rule(k=KEYS)
    def program_lookup(self, k: int) -> None:
        addr = self.m.lookup(k32(k))
        assert (addr != 0) == (k in self.model)
        if addr:
            assert self.mem.load(addr, 8) == self.model[k]
            self.model.move_to_end(k)  # a program lookup is a use (LRU)

    @rule(k=KEYS, v=VALUES)
    def write_through_pointer(self, k: int, v: int) -> None:
        addr = self.m.lookup(k32(k))
        if addr:
            self.mem.store(addr, 8, v)
            self.model[k] = v
            self.model.move_to_end(k)

    @rule(k=KEYS)
    def host_lookup(self, k: int) -> None:
        got = self.m.lookup_elem(k)  # no LRU effect
        assert got == (v64(self.model[k]) if k in self.model else None)

    @rule()
    def walk_get_next_key(self) -> None:
        seen = []
        err, key = self.m.get_next_key(None)
        while err == 0:
            seen.append(int.from_bytes(key, "little"))
            err, key = self.m.get_next_key(key)
        assert err == -errno.ENOENT
        assert sorted(seen) == sorted(self.model)

    @invariant()
    def consistent(self) -> None:
        assert len(self.m) == len(self.model)
        assert self.m.check_consistency() == []
        if self.lru:
            assert [int.from_bytes(k, "little") for k in self.m.lru_order()] == list(self.model)


class LruMachine(HashMachine):
    map_type = MapType.LRU_HASH
    lru = True


class ArrayMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = make(MapType.ARRAY, 4, 8, MAX)
        self.mem = Memory([self.m.region])
        self.model = [0] * MAX

    @rule(k=st.integers(0, MAX + 2), v=VALUES, flags=FLAGS)
    def update(self, k: int, v: int, flags: int) -> None:
        # array_map_update_elem's order: unknown flags, index, NOEXIST, then F_LOCK without a spin lock
        if flags & ~BPF_F_LOCK > BPF_EXIST:
            expect = -errno.EINVAL
        elif k >= MAX:
            expect = -errno.E2BIG
        elif flags & BPF_NOEXIST:
            expect = -errno.EEXIST
        elif flags & BPF_F_LOCK:
            expect = -errno.EINVAL
        else:
            expect = 0
        assert self.m.update(k32(k), v64(v), flags) == expect
        if expect == 0:
            self.model[k] = v

    @rule(k=st.integers(0, MAX + 2))
    def lookup_and_delete(self, k: int) -> None:
        addr = self.m.lookup(k32(k))
        assert (addr != 0) == (k < MAX)
        if addr:
            assert self.mem.load(addr, 8) == self.model[k]
        assert self.m.delete(k32(k)) == -errno.EINVAL

    @rule(k=st.integers(0, MAX - 1), v=VALUES)
    def write_through_pointer(self, k: int, v: int) -> None:
        self.mem.store(self.m.lookup(k32(k)), 8, v)
        self.model[k] = v

    @rule(k=st.integers(0, MAX + 2))
    def next_key(self, k: int) -> None:
        err, nxt = self.m.get_next_key(k32(k))
        if k >= MAX:
            assert (err, nxt) == (0, k32(0))
        elif k == MAX - 1:
            assert err == -errno.ENOENT
        else:
            assert (err, nxt) == (0, k32(k + 1))

    @invariant()
    def same_values(self) -> None:
        assert self.m.with_codec(int, int).items() == dict(enumerate(self.model)).items()


SETTINGS = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestHashModel = HashMachine.TestCase
TestHashModel.settings = SETTINGS
TestLruModel = LruMachine.TestCase
TestLruModel.settings = SETTINGS
TestArrayModel = ArrayMachine.TestCase
TestArrayModel.settings = SETTINGS
