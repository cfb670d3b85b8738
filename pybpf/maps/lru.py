"""LRU_HASH and LRU_PERCPU_HASH: hash maps that evict the least recently used element when full.

Same layout as :mod:`pybpf.maps.hash`; the LRU order is a doubly linked list through the
``lru_prev``/``lru_next`` words of each element, from ``lru_head`` (state word 208, most recent)
to ``lru_tail`` (212, the next victim).

Semantics: inserting a new key into a full map evicts ``lru_tail`` and never fails; a successful
update and a *program* lookup make the element most recent; a host (syscall) lookup does not, as
in the kernel (``lookup_elem_sys_only`` does not set the reference bit).  Failed updates evict
nothing.  The kernel's LRU is approximate (reference bits, active/inactive lists, per-CPU free
lists refilled in batches of 128, so it can evict before the map is full); pybpf keeps an exact
LRU order, which is deterministic and what the kernel approximates.  ``BPF_F_NO_COMMON_LRU`` is
accepted and uses the same single list.
"""

from __future__ import annotations

import struct

from pybpf.maps.base import U32
from pybpf.maps.constants import MapType
from pybpf.maps.hash import S_COUNT, S_LRU_HEAD, S_LRU_TAIL, HashMap

_II = struct.Struct("<II")


class LruHashMap(HashMap):
    """BPF_MAP_TYPE_LRU_HASH."""

    map_type = MapType.LRU_HASH
    is_lru = True

    def _links(self, slot: int) -> tuple[int, int]:
        prev, nxt = _II.unpack_from(self._buf, self._elem(slot) + 8)
        return int(prev), int(nxt)

    def _push_head(self, slot: int) -> None:
        buf = self._buf
        head = self._get32(S_LRU_HEAD)
        _II.pack_into(buf, self._elem(slot) + 8, 0, head)
        if head:
            U32.pack_into(buf, self._elem(head) + 8, slot)
        else:
            self._set32(S_LRU_TAIL, slot)
        self._set32(S_LRU_HEAD, slot)

    def _unlink_lru(self, slot: int) -> None:
        buf = self._buf
        prev, nxt = self._links(slot)
        if prev:
            U32.pack_into(buf, self._elem(prev) + 12, nxt)
        else:
            self._set32(S_LRU_HEAD, nxt)
        if nxt:
            U32.pack_into(buf, self._elem(nxt) + 8, prev)
        else:
            self._set32(S_LRU_TAIL, prev)

    def _touch(self, slot: int) -> None:
        if self._get32(S_LRU_HEAD) != slot:
            self._unlink_lru(slot)
            self._push_head(slot)

    def _on_insert(self, slot: int) -> None:
        self._push_head(slot)

    def _on_update(self, slot: int) -> None:
        self._touch(slot)

    def _on_access(self, slot: int) -> None:
        self._touch(slot)

    def _on_remove(self, slot: int) -> None:
        self._unlink_lru(slot)

    def _alloc_when_full(self) -> int:
        victim = self._get32(S_LRU_TAIL)
        if victim:
            self._unlink_chain(victim)
            self._unlink_lru(victim)
            self._set32(S_COUNT, self._get32(S_COUNT) - 1)
        return victim

    def lru_order(self) -> list[bytes]:
        """Keys from least to most recently used (the eviction order)."""
        with self._rguard:
            out: list[bytes] = []
            cur = self._get32(S_LRU_TAIL)
            while cur and len(out) <= self.max_entries:
                out.append(self._key_of(cur))
                cur = self._links(cur)[0]
            return out

    def _repair_lru(self, live: list[int]) -> None:
        alive = set(live)
        order: list[int] = []
        seen: set[int] = set()
        cur = self._get32(S_LRU_HEAD)
        while cur and cur not in seen and len(seen) <= self.max_entries:
            seen.add(cur)
            if cur in alive:
                order.append(cur)
            if cur > self.max_entries:
                break
            cur = self._links(cur)[1]
        listed = set(order)
        order.extend(s for s in live if s not in listed)
        self._set32(S_LRU_HEAD, 0)
        self._set32(S_LRU_TAIL, 0)
        for slot in reversed(order):
            self._push_head(slot)

    def _check_lru(self, live: set[int]) -> list[str]:
        problems = []
        seen: list[int] = []
        prev = 0
        cur = self._get32(S_LRU_HEAD)
        while cur and len(seen) <= self.max_entries:
            p, n = self._links(cur)
            if p != prev:
                problems.append(f"lru: slot {cur} prev {p}, expected {prev}")
            seen.append(cur)
            prev, cur = cur, n
        if self._get32(S_LRU_TAIL) != prev:
            problems.append("lru: tail is not the last element")
        if set(seen) != live or len(seen) != len(live):
            problems.append("lru: list does not hold exactly the live elements")
        return problems


class LruPerCpuHashMap(LruHashMap):
    """BPF_MAP_TYPE_LRU_PERCPU_HASH."""

    map_type = MapType.LRU_PERCPU_HASH
    is_percpu = True
