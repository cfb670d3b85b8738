"""QUEUE and STACK: order, overwrite with BPF_EXIST, host API, wrap-around."""

from __future__ import annotations

import errno

import pytest

from pybpf.maps import BPF_EXIST, IntCodec, MapError, MapType, QueueMap, StackMap

from . import make


def b4(i: int) -> bytes:
    return i.to_bytes(4, "little")


def drain(m: QueueMap | StackMap) -> list[int]:
    out: list[int] = []
    while True:
        err, v = m.pop()
        if err:
            assert err == -errno.ENOENT and v == bytes(4)
            return out
        out.append(int.from_bytes(v, "little"))


def test_queue_is_fifo_and_wraps() -> None:
    q = make(MapType.QUEUE, 0, 4, 3)
    assert isinstance(q, QueueMap)
    for round_ in range(5):  # many rounds move head/tail around the ring
        for i in range(3):
            assert q.push(b4(round_ * 10 + i)) == 0
        assert q.peek() == (0, b4(round_ * 10))
        assert len(q) == 3
        assert drain(q) == [round_ * 10, round_ * 10 + 1, round_ * 10 + 2]


def test_stack_is_lifo() -> None:
    s = make(MapType.STACK, 0, 4, 3)
    assert isinstance(s, StackMap)
    for i in range(3):
        s.push(b4(i))
    assert s.peek() == (0, b4(2))
    assert s.values() == [b4(2), b4(1), b4(0)]
    assert drain(s) == [2, 1, 0]


def test_overwrite_oldest_with_bpf_exist() -> None:
    q = make(MapType.QUEUE, 0, 4, 3)
    s = make(MapType.STACK, 0, 4, 3)
    assert isinstance(q, QueueMap) and isinstance(s, StackMap)
    for m in (q, s):
        for i in range(3):
            m.push(b4(i))
        assert m.push(b4(9)) == -errno.E2BIG
        assert m.push(b4(3), BPF_EXIST) == 0
        assert m.push(b4(4), BPF_EXIST) == 0
        assert len(m) == 3
    assert drain(q) == [2, 3, 4]  # 0 and 1 were dropped
    assert drain(s) == [4, 3, 2]  # the bottom of the stack (0, 1) was dropped


def test_host_push_pop_peek_and_errors() -> None:
    q = make(MapType.QUEUE, 0, 4, 2, name="events")
    assert isinstance(q, QueueMap)
    q.push_value(5)
    q.push_value(b4(6))
    with pytest.raises(MapError, match=r"map 'events': push failed: E2BIG"):
        q.push_value(7)
    q.push_value(7, BPF_EXIST)
    assert q.peek_value(IntCodec()) == 6
    assert q.pop_value(IntCodec()) == 6 and q.pop_value() == b4(7)
    with pytest.raises(MapError, match="pop failed: ENOENT"):
        q.pop_value()
    with pytest.raises(MapError, match="push failed: EINVAL"):
        q.push_value(1, 1)
    q.push_value(1)
    q.clear()
    assert len(q) == 0 and q.peek()[0] == -errno.ENOENT
    assert "events" in q.dump()
