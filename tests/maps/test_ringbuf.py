"""RINGBUF: reserve/submit/discard, consumer order, busy records, -EAGAIN, wrap-around, query."""

from __future__ import annotations

import errno
import threading
import time

import pytest

from pybpf.maps import (
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    MapError,
    MapSpec,
    MapType,
    RingBufMap,
    find_ringbuf,
)
from pybpf.maps.constants import BPF_RB_AVAIL_DATA, BPF_RB_CONS_POS, BPF_RB_PROD_POS, BPF_RB_RING_SIZE
from pybpf.vm.memory import Memory

from . import new


def ring(size: int = 4096) -> RingBufMap:
    m = new(MapSpec("rb", MapType.RINGBUF, 0, 0, size))
    assert isinstance(m, RingBufMap)
    return m


def test_reserve_write_submit_and_consume() -> None:
    rb = ring()
    mem = Memory([rb.region])
    a = rb.reserve(5)
    assert a and rb.region.contains(a, 5)
    mem.write(a, b"hello")
    assert rb.consumer().drain() == []  # still busy
    rb.submit(a)
    assert rb.consumer().drain() == [b"hello"]
    assert rb.query(BPF_RB_AVAIL_DATA) == 0
    assert rb.query(BPF_RB_CONS_POS) == rb.query(BPF_RB_PROD_POS) == 16  # 8-byte header + 5 rounded to 8


def test_consumer_sees_reservation_order_stops_at_busy_and_skips_discarded() -> None:
    rb = ring()
    mem = Memory([rb.region])
    a, b, c = rb.reserve(4), rb.reserve(4), rb.reserve(4)
    for addr, text in ((a, b"aaaa"), (b, b"bbbb"), (c, b"cccc")):
        mem.write(addr, text)
    rb.submit(c)
    rb.discard(b)
    assert rb.consumer().drain() == []  # a is still being written: nothing after it is visible
    rb.submit(a)
    got: list[bytes] = []
    assert rb.consumer().poll(got.append) == 2
    assert got == [b"aaaa", b"cccc"]


def test_full_ring_eagain_and_null() -> None:
    rb = ring()
    n = 0
    while rb.output(bytes(100)) == 0:
        n += 1
    assert n == 4095 // 112  # each record takes 8 + 100 rounded to 112; positions stay < size
    assert rb.output(b"x") in (0, -errno.EAGAIN)
    assert rb.output(bytes(100)) == -errno.EAGAIN
    assert rb.reserve(100) == 0
    assert rb.reserve(4096) == 0 and rb.reserve(4089) == 0  # never fits, whatever is consumed
    assert rb.reserve(8, flags=1) == 0
    assert rb.output(b"x", flags=4) == -errno.EINVAL
    rb.consumer().drain()
    assert rb.output(bytes(100)) == 0


def test_busy_record_holds_back_consumer_and_space() -> None:
    rb = ring()
    first = rb.reserve(1000)
    assert first
    n = 0
    while rb.output(bytes(1000)) == 0:
        n += 1
    assert n == 3  # 4 records of 1008 bytes fit in size - 1 = 4095 bytes
    assert rb.consumer().drain() == []  # blocked behind the busy first record
    assert rb.output(bytes(100)) == -errno.EAGAIN  # and its space cannot be reused yet
    rb.discard(first)
    assert len(rb.consumer().drain()) == 3
    assert rb.output(bytes(100)) == 0


def test_wrapping_record_is_contiguous_for_the_program() -> None:
    rb = ring()
    mem = Memory([rb.region])
    c = rb.consumer()
    for _ in range(3):
        assert rb.output(bytes(1200)) == 0
    c.drain()  # positions now 3624: the next 1000-byte record wraps past 4096
    a = rb.reserve(1000)
    assert a and rb.region.contains(a, 1000)
    payload = bytes(range(256)) * 3 + bytes(232)
    mem.write(a, payload)
    rb.submit(a)
    assert c.drain() == [payload]
    assert rb.output(b"after") == 0 and c.drain() == [b"after"]


def test_output_and_query() -> None:
    rb = ring(8192)
    assert rb.query(BPF_RB_RING_SIZE) == 8192
    assert rb.output(b"abc") == 0
    assert rb.query(BPF_RB_AVAIL_DATA) == 16 and rb.query(99) == 0
    assert list(rb.consumer()) == [b"abc"]


def test_wakeup_flags() -> None:
    rb = ring()
    rb.output(b"1")  # consumer waits at this record: wake
    assert rb.wakeups == 1
    rb.output(b"2")  # consumer is not at this record: no wake
    assert rb.wakeups == 1
    rb.output(b"3", BPF_RB_FORCE_WAKEUP)
    assert rb.wakeups == 2
    rb.consumer().drain()
    rb.output(b"4", BPF_RB_NO_WAKEUP)
    assert rb.wakeups == 2


def test_poll_max_records_negative_callback_and_timeout() -> None:
    rb = ring()
    for i in range(5):
        rb.output(bytes([i]))
    c = rb.consumer()
    got: list[bytes] = []
    assert c.poll(got.append, max_records=2) == 2 and got == [b"\0", b"\1"]
    assert c.poll(lambda s: -5) == -5  # consumed, and the error is returned as libbpf does
    assert c.poll(got.append) == 2 and got[-1] == b"\4"
    timer = threading.Timer(0.05, lambda: rb.output(b"late"))
    timer.start()
    t0 = time.monotonic()
    assert c.poll(got.append, timeout=2.0) == 1 and got[-1] == b"late"
    assert time.monotonic() - t0 < 1.5
    timer.join()
    assert c.poll(got.append, timeout=0.02) == 0


def test_submit_needs_a_reserved_record_and_find_ringbuf() -> None:
    rb = ring()
    a = rb.reserve(16)
    assert find_ringbuf(a) is rb and find_ringbuf(a + 10) is rb and find_ringbuf(12345) is None
    rb.submit(a)
    with pytest.raises(MapError, match="not a reserved record"):
        rb.submit(a)
    with pytest.raises(MapError, match="not a record"):
        rb.discard(a + 3)


def test_dump_lists_pending_records() -> None:
    rb = ring()
    rb.output(b"\x01\x02")
    text = rb.dump()
    assert "RINGBUF (27)" in text and "01 02" in text and "ready" in text
