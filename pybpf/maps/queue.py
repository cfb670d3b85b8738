"""QUEUE (FIFO) and STACK (LIFO) maps (``kernel/bpf/queue_stack_maps.c`` semantics).

Layout after the 256-byte header: a ring of ``size = max_entries + 1`` slots of exactly
``value_size`` bytes (unpadded, as in the kernel); one slot always stays empty so ``head == tail``
means empty and ``head + 1 == tail`` (mod size) means full.

==========================  ============================================================
state word (offset)         meaning
==========================  ============================================================
192 u32 head                next slot to write
196 u32 tail                oldest element (the queue's next pop)
200 u32 size                ``max_entries + 1``
==========================  ============================================================

``push`` with ``BPF_NOEXIST`` or flags above ``BPF_EXIST`` is ``-EINVAL``; on a full map it is
``-E2BIG``, or with ``BPF_EXIST`` the oldest element is dropped to make room (for a stack too:
the bottom of the stack).  ``pop``/``peek`` on an empty map return ``-ENOENT`` and a zeroed value.
Programs' generic lookup returns NULL, update/delete ``-EINVAL``.  The host side follows the
syscall mapping: ``push_value`` = update, ``peek_value`` = lookup, ``pop_value`` =
lookup-and-delete.  No value is program-visible (values are copied in and out).
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.maps.base import HEADER_SIZE, STATE, BpfMap, MapSpec, Plan, access_flags_ok, fail_create
from pybpf.maps.codec import RAW, Codec
from pybpf.maps.constants import BPF_EXIST, BPF_F_ACCESS_MASK, BPF_F_NUMA_NODE, BPF_NOEXIST, KMALLOC_MAX_SIZE, MapType
from pybpf.maps.errors import MapError

S_HEAD = STATE
S_TAIL = STATE + 4
S_SIZE = STATE + 8
QUEUE_STACK_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK


class _QueueStack(BpfMap):
    """The ring both types share; they differ in which end ``_get`` takes from."""

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        if spec.max_entries == 0:
            fail_create(spec, -errno.EINVAL, "max_entries must be non-zero")
        if spec.key_size != 0:
            fail_create(spec, -errno.EINVAL, f"key_size must be 0 for queue/stack maps, got {spec.key_size}")
        if spec.value_size == 0:
            fail_create(spec, -errno.EINVAL, "value_size must be non-zero")
        if spec.map_flags & ~QUEUE_STACK_CREATE_FLAG_MASK or not access_flags_ok(spec.map_flags):
            fail_create(spec, -errno.EINVAL, f"map_flags 0x{spec.map_flags:x} not valid for queue/stack maps")
        if spec.value_size > KMALLOC_MAX_SIZE:
            fail_create(spec, -errno.E2BIG, "value_size too large")

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        size = HEADER_SIZE + (spec.max_entries + 1) * spec.value_size
        return {"size": size, "vis_lo": HEADER_SIZE, "vis_hi": HEADER_SIZE}

    def _attach(self, plan: Plan) -> None:
        self._ring = self.max_entries + 1

    def _format(self) -> None:
        self._set32(S_SIZE, self._ring)

    def _slot_off(self, index: int) -> int:
        return HEADER_SIZE + index * self.value_size

    def _count(self) -> int:
        return (self._get32(S_HEAD) - self._get32(S_TAIL)) % self._ring

    def _get(self, delete: bool) -> tuple[int, bytes]:
        raise NotImplementedError

    def _order(self) -> list[int]:
        """Slot indices in pop order."""
        raise NotImplementedError

    # -- program-facing ---------------------------------------------------------------------------------
    def push(self, value: bytes, flags: int = 0) -> int:
        if flags & BPF_NOEXIST or flags > BPF_EXIST or flags < 0:
            return -errno.EINVAL
        if len(value) != self.value_size:
            return -errno.EINVAL
        with self._wguard:
            head = self._get32(S_HEAD)
            tail = self._get32(S_TAIL)
            if (head + 1) % self._ring == tail:
                if not flags & BPF_EXIST:
                    return -errno.E2BIG
                self._set32(S_TAIL, (tail + 1) % self._ring)
            off = self._slot_off(head)
            self._buf[off : off + self.value_size] = value
            self._set32(S_HEAD, (head + 1) % self._ring)
        return 0

    def pop(self) -> tuple[int, bytes]:
        with self._wguard:
            return self._get(True)

    def peek(self, value: bytes = b"") -> tuple[int, bytes]:
        with self._rguard:
            return self._get(False)

    # -- host -------------------------------------------------------------------------------------------
    def push_value(self, value: Any, flags: int = 0, codec: Codec = RAW) -> None:
        """Host push (``BPF_MAP_UPDATE_ELEM``); raises MapError."""
        self._host_perm("update")
        try:
            data = codec.encode(value, self.value_size)
        except (ValueError, TypeError) as exc:
            raise MapError(self.name, "encode value", errno.EINVAL, str(exc)) from None
        err = self.push(data, flags)
        if err:
            self._raise("push", err, flags)

    def pop_value(self, codec: Codec = RAW) -> Any:
        """Host pop (``BPF_MAP_LOOKUP_AND_DELETE_ELEM``); MapError(ENOENT) when empty."""
        self._host_perm("delete")
        err, data = self.pop()
        if err:
            self._raise("pop", err)
        return codec.decode(data)

    def peek_value(self, codec: Codec = RAW) -> Any:
        """Host peek (``BPF_MAP_LOOKUP_ELEM``); MapError(ENOENT) when empty."""
        self._host_perm("lookup")
        err, data = self.peek()
        if err:
            self._raise("peek", err)
        return codec.decode(data)

    def values(self) -> list[bytes]:
        """The elements in pop order, without removing them."""
        with self._rguard:
            return [bytes(self._buf[o : o + self.value_size]) for o in map(self._slot_off, self._order())]

    def __len__(self) -> int:
        with self._rguard:
            return self._count()

    def clear(self) -> None:
        with self._wguard:
            self._set32(S_HEAD, 0)
            self._set32(S_TAIL, 0)

    def _explain(self, op: str, err: int, flags: int = 0) -> str:
        e = abs(err)
        if op == "push" and e == errno.E2BIG:
            return f"map is full, max_entries {self.max_entries}; BPF_EXIST overwrites the oldest"
        if op == "push" and e == errno.EINVAL:
            return f"flags 0x{flags:x} not valid for push (BPF_ANY or BPF_EXIST)"
        if op in ("pop", "peek") and e == errno.ENOENT:
            return "map is empty"
        return super()._explain(op, err, flags)

    def _dump_info(self) -> list[str]:
        return [f"head {self._get32(S_HEAD)}  tail {self._get32(S_TAIL)}  (entries listed in pop order)"]

    def _dump_rows(self) -> list[tuple[str, str]]:
        return [(f"[{i}]", self.value_text(v)) for i, v in enumerate(self.values())]


class QueueMap(_QueueStack):
    """BPF_MAP_TYPE_QUEUE: pop and peek take the oldest element."""

    map_type = MapType.QUEUE

    def _get(self, delete: bool) -> tuple[int, bytes]:
        head = self._get32(S_HEAD)
        tail = self._get32(S_TAIL)
        if head == tail:
            return -errno.ENOENT, bytes(self.value_size)
        off = self._slot_off(tail)
        data = bytes(self._buf[off : off + self.value_size])
        if delete:
            self._set32(S_TAIL, (tail + 1) % self._ring)
        return 0, data

    def _order(self) -> list[int]:
        tail = self._get32(S_TAIL)
        return [(tail + i) % self._ring for i in range(self._count())]


class StackMap(_QueueStack):
    """BPF_MAP_TYPE_STACK: pop and peek take the newest element."""

    map_type = MapType.STACK

    def _get(self, delete: bool) -> tuple[int, bytes]:
        head = self._get32(S_HEAD)
        if head == self._get32(S_TAIL):
            return -errno.ENOENT, bytes(self.value_size)
        index = (head - 1) % self._ring
        off = self._slot_off(index)
        data = bytes(self._buf[off : off + self.value_size])
        if delete:
            self._set32(S_HEAD, index)
        return 0, data

    def _order(self) -> list[int]:
        head = self._get32(S_HEAD)
        return [(head - 1 - i) % self._ring for i in range(self._count())]
