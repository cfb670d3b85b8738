"""RINGBUF: the multi-producer, single-consumer ring buffer (``kernel/bpf/ringbuf.c`` semantics).

``max_entries`` is the data size ``N``, a power-of-two multiple of the page size.  Layout after
the 256-byte header:

==========================  =================================================================
state word (offset)         meaning
==========================  =================================================================
192 u64 consumer_pos        bytes consumed so far (advanced by the consumer)
200 u64 producer_pos        bytes reserved so far
208 u64 pending_pos         oldest record that may still be busy (kernel >= 6.8 rule)
216 u64 wakeups             notifications sent (what would wake an epoll waiter)
==========================  =================================================================

* data at 256: ``N`` bytes, the ring; position ``p`` lives at ``256 + (p & (N-1))``;
* shadow at ``256 + N``: ``N`` more bytes.  The kernel maps the data pages twice so a record that
  wraps is contiguous in memory; pybpf hands out the pointer as if the ring continued into the
  shadow area and, at submit/discard, copies the part past the end to the start of the ring
  (before clearing the busy bit, so the consumer never sees a half-copied record).

Each record starts with an 8-byte header: u32 ``len`` (payload size | ``BPF_RINGBUF_BUSY_BIT``
while reserved | ``BPF_RINGBUF_DISCARD_BIT`` once discarded) and u32 ``pg_off`` (the header's
offset in the data area / 8, used to check submit addresses), then the payload, padded to 8.

Reserve fails (NULL; ``ringbuf_output`` ``-EAGAIN``) when the new producer position would be more
than ``N-1`` bytes ahead of the consumer or of the oldest busy record.  Reserve flags must be 0;
output/submit/discard flags are ``BPF_RB_NO_WAKEUP`` / ``BPF_RB_FORCE_WAKEUP`` (output rejects
others with ``-EINVAL``).  The consumer sees records in reservation order, stops at the first busy
one and skips discarded ones.  The data and shadow areas are the program-visible region.
"""

from __future__ import annotations

import errno
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from pybpf.maps.base import HEADER_SIZE, STATE, BpfMap, MapSpec, Plan, fail_create, hexbytes
from pybpf.maps.constants import (
    BPF_F_NUMA_NODE,
    BPF_RB_AVAIL_DATA,
    BPF_RB_CONS_POS,
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE,
    BPF_RINGBUF_BUSY_BIT,
    BPF_RINGBUF_DISCARD_BIT,
    BPF_RINGBUF_HDR_SZ,
    MapType,
)
from pybpf.maps.errors import MapError

S_CONS = STATE
S_PROD = STATE + 8
S_PEND = STATE + 16
S_WAKEUPS = STATE + 24
PAGE_SIZE = 4096
RINGBUF_MAX_RECORD_SZ = 0xFFFFFFFF // 4
LEN_MASK = ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT) & 0xFFFFFFFF

_RINGBUFS: weakref.WeakSet[RingBufMap] = weakref.WeakSet()


def find_ringbuf(address: int) -> RingBufMap | None:
    """The ring buffer whose data area holds ``address`` (``bpf_ringbuf_submit`` gets only a pointer)."""
    for rb in list(_RINGBUFS):
        if not rb.closed and rb.region.contains(address):
            return rb
    return None


def _record_len(size: int) -> int:
    return (size + BPF_RINGBUF_HDR_SZ + 7) & ~7


class RingBufMap(BpfMap):
    """BPF_MAP_TYPE_RINGBUF."""

    map_type = MapType.RINGBUF

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        if spec.map_flags & ~BPF_F_NUMA_NODE:
            fail_create(spec, -errno.EINVAL, f"map_flags 0x{spec.map_flags:x} not valid for RINGBUF")
        if spec.key_size or spec.value_size:
            fail_create(spec, -errno.EINVAL, "key_size and value_size must be 0 for RINGBUF")
        n = spec.max_entries
        if n <= 0 or n & (n - 1) or n % PAGE_SIZE:
            fail_create(
                spec, -errno.EINVAL, f"max_entries {n} is not a power-of-two multiple of the page size {PAGE_SIZE}"
            )

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        size = HEADER_SIZE + 2 * spec.max_entries
        return {"size": size, "vis_lo": HEADER_SIZE, "vis_hi": size}

    def _attach(self, plan: Plan) -> None:
        self._n = self.max_entries
        self._mask = self.max_entries - 1
        self._data = HEADER_SIZE
        self._cond = threading.Condition()
        _RINGBUFS.add(self)

    # -- producer side -----------------------------------------------------------------------------------
    def _reserve(self, size: int) -> int:
        """Buffer offset of the payload, 0 when there is no room (lock held)."""
        if size < 0 or size > RINGBUF_MAX_RECORD_SZ:
            return 0
        length = _record_len(size)
        if length > self._n:
            return 0
        cons = self._get64(S_CONS)
        pend = self._get64(S_PEND)
        prod = self._get64(S_PROD)
        while pend < prod:
            hdr = self._get32(self._data + (pend & self._mask))
            if hdr & BPF_RINGBUF_BUSY_BIT:
                break
            pend += _record_len(hdr & ~BPF_RINGBUF_DISCARD_BIT)
        self._set64(S_PEND, pend)
        new_prod = prod + length
        if new_prod - cons > self._mask or new_prod - pend > self._mask:
            return 0
        hoff = self._data + (prod & self._mask)
        self._set32(hoff, size | BPF_RINGBUF_BUSY_BIT)
        self._set32(hoff + 4, (prod & self._mask) >> 3)
        self._set64(S_PROD, new_prod)
        return hoff + BPF_RINGBUF_HDR_SZ

    def reserve(self, size: int, flags: int = 0) -> int:
        """``bpf_ringbuf_reserve``: payload address, 0 (NULL) without room or with flags."""
        if flags:
            return 0
        with self._wguard:
            off = self._reserve(size)
        return self._base + off if off else 0

    def _commit(self, addr: int, flags: int, discard: bool) -> None:
        hoff = addr - self._base - BPF_RINGBUF_HDR_SZ
        if not (self._data <= hoff < self._data + self._n) or hoff & 7:
            raise MapError(
                self.name,
                "discard" if discard else "submit",
                errno.EINVAL,
                f"0x{addr:x} is not a record of this ring buffer",
            )
        with self._wguard:
            hdr = self._get32(hoff)
            if not hdr & BPF_RINGBUF_BUSY_BIT or self._get32(hoff + 4) != (hoff - self._data) >> 3:
                raise MapError(
                    self.name, "discard" if discard else "submit", errno.EINVAL, f"0x{addr:x} is not a reserved record"
                )
            size = hdr & LEN_MASK
            end = hoff + BPF_RINGBUF_HDR_SZ + size
            wrap_start = self._data + self._n
            if end > wrap_start:
                self._buf[self._data : self._data + end - wrap_start] = self._buf[wrap_start:end]
            new_len = hdr ^ BPF_RINGBUF_BUSY_BIT
            if discard:
                new_len |= BPF_RINGBUF_DISCARD_BIT
            self._set32(hoff, new_len)
            rec_pos = hoff - self._data
            cons_pos = self._get64(S_CONS) & self._mask
            wake = bool(flags & BPF_RB_FORCE_WAKEUP) or (cons_pos == rec_pos and not flags & BPF_RB_NO_WAKEUP)
            if wake:
                self._set64(S_WAKEUPS, self._get64(S_WAKEUPS) + 1)
        if wake:
            with self._cond:
                self._cond.notify_all()

    def submit(self, addr: int, flags: int = 0) -> None:
        """``bpf_ringbuf_submit``: make the reserved record at ``addr`` visible to the consumer."""
        self._commit(addr, flags, False)

    def discard(self, addr: int, flags: int = 0) -> None:
        """``bpf_ringbuf_discard``: release the record; the consumer skips it."""
        self._commit(addr, flags, True)

    def output(self, data: bytes, flags: int = 0) -> int:
        """``bpf_ringbuf_output``: 0, ``-EAGAIN`` without room, ``-EINVAL`` for bad flags."""
        if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
            return -errno.EINVAL
        with self._wguard:
            off = self._reserve(len(data))
            if not off:
                return -errno.EAGAIN
            self._buf[off : off + len(data)] = data
        self._commit(self._base + off, flags, False)
        return 0

    def query(self, flag: int) -> int:
        """``bpf_ringbuf_query``: available data, ring size, consumer or producer position; 0 otherwise."""
        with self._rguard:
            cons = self._get64(S_CONS)
            prod = self._get64(S_PROD)
        if flag == BPF_RB_AVAIL_DATA:
            return prod - cons
        if flag == BPF_RB_RING_SIZE:
            return self._n
        if flag == BPF_RB_CONS_POS:
            return cons
        if flag == BPF_RB_PROD_POS:
            return prod
        return 0

    @property
    def wakeups(self) -> int:
        """How many commits asked to wake the consumer."""
        return self._get64(S_WAKEUPS)

    # -- consumer side -------------------------------------------------------------------------------------
    def _take(self) -> tuple[bool, bytes | None]:
        """Consume the next committed record: (False, None) when none is ready, (True, None) for a
        discarded one, (True, payload) otherwise."""
        with self._wguard:
            cons = self._get64(S_CONS)
            if cons >= self._get64(S_PROD):
                return False, None
            hoff = self._data + (cons & self._mask)
            hdr = self._get32(hoff)
            if hdr & BPF_RINGBUF_BUSY_BIT:
                return False, None
            size = hdr & LEN_MASK
            sample = None
            if not hdr & BPF_RINGBUF_DISCARD_BIT:
                start = (cons + BPF_RINGBUF_HDR_SZ) & self._mask
                first = min(size, self._n - start)
                d = self._data
                sample = bytes(self._buf[d + start : d + start + first]) + bytes(self._buf[d : d + size - first])
            self._set64(S_CONS, cons + _record_len(size))
            return True, sample

    def consumer(self) -> RingBufConsumer:
        return RingBufConsumer(self)

    def _wait(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)

    def _dump_info(self) -> list[str]:
        return [
            f"consumer_pos {self._get64(S_CONS)}  producer_pos {self._get64(S_PROD)}  "
            f"pending_pos {self._get64(S_PEND)}  wakeups {self._get64(S_WAKEUPS)}"
        ]

    def _dump_rows(self) -> list[tuple[str, str]]:
        """Unconsumed records, without consuming them."""
        rows = []
        with self._rguard:
            pos = self._get64(S_CONS)
            prod = self._get64(S_PROD)
            while pos < prod:
                hdr = self._get32(self._data + (pos & self._mask))
                size = hdr & LEN_MASK
                state = (
                    "busy" if hdr & BPF_RINGBUF_BUSY_BIT else "discarded" if hdr & BPF_RINGBUF_DISCARD_BIT else "ready"
                )
                start = (pos + BPF_RINGBUF_HDR_SZ) & self._mask
                first = min(size, self._n - start)
                d = self._data
                payload = bytes(self._buf[d + start : d + start + first]) + bytes(self._buf[d : d + size - first])
                rows.append((f"@{pos} {state}", hexbytes(payload)))
                pos += _record_len(size)
        return rows


class RingBufConsumer:
    """The single consumer of a ring buffer (libbpf's ``ring_buffer__poll``/``__consume``)."""

    def __init__(self, rb: RingBufMap) -> None:
        self.ring = rb

    def poll(self, callback: Callable[[bytes], Any], max_records: int | None = None, timeout: float = 0.0) -> int:
        """Hand each ready record to ``callback``; returns how many were handed over.

        Stops at the first record still being written, after ``max_records``, or when
        ``callback`` returns a negative int (which is then returned, as libbpf does).  With a
        ``timeout`` (seconds) it waits for a record if none is ready yet.
        """
        count = 0
        deadline = time.monotonic() + timeout
        while max_records is None or count < max_records:
            got, sample = self.ring._take()
            if not got:
                remaining = deadline - time.monotonic()
                if count or remaining <= 0:
                    break
                self.ring._wait(min(remaining, 0.01))
                continue
            if sample is None:
                continue
            count += 1
            ret = callback(sample)
            if isinstance(ret, int) and ret < 0:
                return ret
        return count

    def __iter__(self) -> Iterator[bytes]:
        """Consume and yield every ready record (discarded ones are skipped)."""
        while True:
            got, sample = self.ring._take()
            if not got:
                return
            if sample is not None:
                yield sample

    def drain(self) -> list[bytes]:
        return list(self)
