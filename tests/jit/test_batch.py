"""``run_batch``: one native call over many items, each run exactly as ``run`` would run it alone.

The reference for every item is the interpreter running that item on its own (``run(item)`` in
memory mode; ``execute`` with a hand-built context in context mode): same r0, same writes to the
item, same exception with the instruction index, and the map contents of the whole sequence.
"""

from __future__ import annotations

import random
import struct
from array import array
from typing import Any

import pytest

from pybpf.errors import BudgetExceededError, HelperError, MemoryAccessError
from pybpf.helpers import Helper
from pybpf.helpers.registry import default_registry
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine, TieredEngine
from pybpf.jit.batch import DATA, DATA_END, DATA_META, BatchContext
from pybpf.maps import MapSpec, create_map
from pybpf.maps.constants import MapType
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Memory, Region

# A filter over "packets": byte 0 is a protocol, bytes 2-3 a big-endian port; reads only what
# the length allows, writes a mark into byte 1, and counts protocols in an array map.
FILTER = """
    r6 = r1
    r7 = r2
    r0 = 0
    if r7 < 4 goto out
    r2 = *(u8 *)(r6 + 0)
    *(u32 *)(r10 - 4) = r2
    r1 = map_fd(0) ll
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto noted
    r1 = *(u64 *)(r0 + 0)
    r1 += 1
    *(u64 *)(r0 + 0) = r1
noted:
    r3 = *(u16 *)(r6 + 2)
    r3 = be16 r3
    *(u8 *)(r6 + 1) = r3
    r0 = 1
    if r3 == 53 goto out
    r0 = 2
out:
    exit
"""


def packets(rng: random.Random, n: int) -> tuple[bytearray, list[int], list[int]]:
    data = bytearray()
    offsets, lengths = [], []
    for _ in range(n):
        length = rng.choice([0, 1, 3, 4, 5, 16, 64])
        data += bytes(rng.randrange(4))  # unaligned starts, gaps
        offsets.append(len(data))
        lengths.append(length)
        body = bytes([rng.randrange(8), 0]) + struct.pack("!H", rng.choice([53, 80, 443])) + rng.randbytes(60)
        data += body[:length]
    return data, offsets, lengths


class Setup:
    def __init__(self, engine: type[Interpreter], text: str = FILTER, **options: Any) -> None:
        self.counts = create_map(MapSpec("counts", MapType.ARRAY, 4, 8, 8))
        self.memory = Memory([self.counts.region])
        self.vm = engine(assemble(text), memory=self.memory, pseudo_resolver=lambda *_: self.counts.handle, **options)


def one_by_one(setup: Setup, data: bytearray, offsets: list[int], lengths: list[int]) -> tuple[list[Any], bytearray]:
    """The reference: each item in a region of its own, run alone by the interpreter."""
    data = bytearray(data)
    results: list[Any] = []
    for off, length in zip(offsets, lengths, strict=True):
        item = Region("item", bytearray(data[off : off + length]))
        setup.memory.add(item)
        try:
            results.append(setup.vm.run(item))
        except Exception as exc:  # the reference records what a single run raises
            results.append((type(exc).__name__, getattr(exc, "pc", None)))
        finally:
            setup.memory.remove(item)
        data[off : off + length] = item.buf
    return results, data


@pytest.mark.parametrize("engine", [JitEngine, TieredEngine])
def test_memory_mode_matches_single_runs(engine: type[Interpreter]) -> None:
    rng = random.Random(1)
    data, offsets, lengths = packets(rng, 300)
    ref = Setup(Interpreter)
    expected, expected_data = one_by_one(ref, data, offsets, lengths)
    got = Setup(engine)
    buffer = Region("batch", bytearray(data))
    out = got.vm.run_batch(buffer, array("Q", offsets), array("Q", lengths))  # type: ignore[attr-defined]
    assert list(out) == expected
    assert buffer.buf == expected_data  # writes stay in place
    assert sorted(got.counts.items()) == sorted(ref.counts.items())  # type: ignore[attr-defined]
    assert got.vm.instructions_executed == ref.vm.instructions_executed  # the last item's


def test_lists_bytes_and_reused_out() -> None:
    got = Setup(JitEngine)
    data, offsets, lengths = packets(random.Random(2), 20)
    out = array("Q", [7] * 25)
    result = got.vm.run_batch(bytes(data), offsets, lengths, out=out)  # type: ignore[attr-defined]
    assert result is out and list(out[20:]) == [7] * 5
    assert list(out[:20]) == list(got.vm.run_batch(bytes(data), offsets, lengths))  # type: ignore[attr-defined]
    assert len(got.vm.run_batch(b"", [], [])) == 0  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        got.vm.run_batch(bytes(data), offsets, lengths[:-1])  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        got.vm.run_batch(bytes(data), offsets, lengths, out=array("Q", [0]))  # type: ignore[attr-defined]


@pytest.mark.parametrize("engine", [JitEngine, TieredEngine])
def test_item_outside_the_buffer(engine: type[Interpreter]) -> None:
    got = Setup(engine)
    out = array("Q", [9, 9, 9])
    with pytest.raises(ValueError, match="item 1"):
        got.vm.run_batch(bytes(16), [0, 10, 0], [4, 7, 4], out=out)  # type: ignore[attr-defined]
    assert out[0] == 2 and out[2] == 9


READ_PAST = "r0 = *(u32 *)(r1 + 0)\nexit"


@pytest.mark.parametrize("engine", [JitEngine, TieredEngine])
def test_an_item_is_its_own_region(engine: type[Interpreter]) -> None:
    """Reading past an item faults even though the next item's bytes follow it."""
    vm = engine(assemble(READ_PAST))
    ref = Interpreter(assemble(READ_PAST))
    data = bytes(range(32))
    out = array("Q", [0] * 3)
    with pytest.raises(MemoryAccessError) as info:
        vm.run_batch(data, [0, 4, 8], [4, 3, 4], out=out)  # type: ignore[attr-defined]
    with pytest.raises(MemoryAccessError) as expected:
        ref.run(data[4:7])
    assert info.value.batch_index == 1  # type: ignore[attr-defined]
    assert info.value.pc == expected.value.pc
    assert out[0] == int.from_bytes(data[:4], "little")
    assert vm.run_batch(data, [8], [4])[0] == int.from_bytes(data[8:12], "little")  # type: ignore[attr-defined]


def test_legacy_packet_loads_see_the_item() -> None:
    text = "r0 = *(u16 *)skb[2]\nexit"
    vm, ref = JitEngine(assemble(text)), Interpreter(assemble(text))
    data = bytes(range(64))
    offsets, lengths = [0, 10, 20, 30], [4, 3, 8, 0]
    got = list(vm.run_batch(data, offsets, lengths))
    assert got == [ref.run(data[o : o + n]) for o, n in zip(offsets, lengths, strict=True)]
    assert got[1] == 0 and got[3] == 0  # past the end: the program ends with r0 = 0


LOOP = """
    r0 = 0
    r3 = r2
loop:
    if r3 == 0 goto out
    r4 = *(u8 *)(r1 + 0)
    r0 += r4
    r1 += 1
    r3 -= 1
    goto loop
out:
    exit
"""


@pytest.mark.parametrize("budget", [5, 40, 61, 62, 63, 200])
def test_budget_per_item(budget: int) -> None:
    """Each item has the whole budget; an item that exhausts it raises the interpreter's error
    (a budget hand-over finishes that item in the interpreter, the next items run natively)."""
    vm = JitEngine(assemble(LOOP), budget=budget)
    ref = Interpreter(assemble(LOOP), budget=budget)
    data = bytes(range(1, 100))
    lengths = [0, 3, 10, 12, 2]
    offsets = [0, 3, 6, 20, 40]
    expected = []
    for o, n in zip(offsets, lengths, strict=True):
        try:
            expected.append((ref.run(data[o : o + n]), ref.instructions_executed))
        except BudgetExceededError as exc:
            expected.append(("budget", exc.pc))
    out = array("Q", [0] * 5)
    try:
        vm.run_batch(data, offsets, lengths, out=out)
        got = [(v, None) for v in out]
        assert all(e[0] != "budget" for e in expected)
        assert [v for v, _ in got] == [e[0] for e in expected]
        assert vm.instructions_executed == expected[-1][1]
    except BudgetExceededError as exc:
        first = next(i for i, e in enumerate(expected) if e[0] == "budget")
        assert exc.batch_index == first and exc.pc == expected[first][1]  # type: ignore[attr-defined]
        assert list(out[:first]) == [e[0] for e in expected[:first]]


def test_stack_is_clean_for_every_item() -> None:
    """An item reads a stack slot a previous item wrote: zero, as for a run of its own."""
    text = """
        r0 = *(u64 *)(r10 - 8)
        r3 = *(u8 *)(r1 + 0)
        *(u64 *)(r10 - 8) = r3
        r2 = r10
        r2 += -16
        *(u64 *)(r2 + 0) = r3
        r0 += *(u64 *)(r10 - 16)
        exit
    """.replace("r0 += *(u64 *)(r10 - 16)", "r4 = *(u64 *)(r10 - 16)\nr0 += r4")
    vm = JitEngine(assemble(text))
    assert list(vm.run_batch(bytes([5, 6, 7]), [0, 1, 2], [1, 1, 1])) == [5, 6, 7]


def test_python_helpers_and_errors_inside_a_batch() -> None:
    registry = default_registry()
    seen: list[int] = []

    def note(env: Any, r1: int, *_: int) -> int:
        seen.append(env.memory.read(r1, 1)[0])  # the helper sees the item's memory only
        if r1 and env.memory.read(r1, 1)[0] == 0xEE:
            raise ValueError("bad item")
        return 7

    registry.add(Helper(1000, "note", note))
    text = "r6 = r1\ncall 1000\nr1 = *(u8 *)(r6 + 0)\nr0 += r1\nexit"
    vm = JitEngine(assemble(text), helpers=registry)
    data = bytes([1, 2, 0xEE, 4])
    out = array("Q", [0] * 4)
    with pytest.raises(HelperError) as info:
        vm.run_batch(data, [0, 1, 2, 3], [1, 1, 1, 1], out=out)
    assert info.value.batch_index == 2 and list(out[:2]) == [8, 9]  # type: ignore[attr-defined]
    assert seen == [1, 2, 0xEE]
    assert list(vm.run_batch(data, [3, 0], [1, 1])) == [11, 8]


XDP_LIKE = """
    r2 = *(u64 *)(r1 + 24)
    r3 = *(u64 *)(r1 + 32)
    r4 = *(u32 *)(r1 + 12)
    r0 = r4
    r5 = r2
    r5 += 2
    if r5 > r3 goto out
    r0 = *(u8 *)(r2 + 1)
    r0 <<= 8
    r0 |= r4
    *(u8 *)(r2 + 0) = 0x77
out:
    exit
"""


def xdp_context(frame: Region | None, headroom: int) -> BatchContext:
    ctx = Region("ctx", 48, kind="context")
    template = bytearray(48)
    struct.pack_into("<I", template, 12, 9)  # ingress_ifindex
    pointers = [(0, 4, DATA), (4, 4, DATA_END), (8, 4, DATA_META), (24, 8, DATA), (32, 8, DATA_END), (40, 8, DATA_META)]
    return BatchContext(ctx, bytes(template), pointers, frame, headroom)


@pytest.mark.parametrize("copy", [False, True])
def test_context_mode_builds_the_context_per_item(copy: bool) -> None:
    frame = Region("frame", 512, kind="packet") if copy else None
    context = xdp_context(frame, 256 if copy else 0)
    rng = random.Random(4)
    data, offsets, lengths = packets(rng, 100)
    results = []
    for engine in (JitEngine, TieredEngine):
        memory = Memory([context.region] + ([frame] if frame is not None else []))
        vm = engine(assemble(XDP_LIKE), memory=memory)
        buffer = Region("batch", bytearray(data))
        out = vm.run_batch(buffer, offsets, lengths, context=context)  # type: ignore[attr-defined]
        ctx_bytes = bytearray(context.region.buf)
        if not copy:  # pointers into this engine's buffer: compare them relative to it
            for off, size, _ in context.pointers:
                value = int.from_bytes(ctx_bytes[off : off + size], "little")
                base = buffer.base & ((1 << (8 * size)) - 1)
                ctx_bytes[off : off + size] = ((value - base) % (1 << (8 * size))).to_bytes(size, "little")
        results.append((list(out), bytes(buffer.buf), bytes(ctx_bytes)))
    assert results[0] == results[1]  # native loop == the Python loop of an engine not tiered up yet
    out, final, _ = results[0]
    ctx_bytes = bytes(context.region.buf)
    for i, (o, n) in enumerate(zip(offsets, lengths, strict=True)):
        expected = 9 if n < 2 else (data[o + 1] << 8) | 9
        assert out[i] == expected
    start = struct.unpack_from("<Q", ctx_bytes, 24)[0]
    assert struct.unpack_from("<I", ctx_bytes, 0)[0] == start & 0xFFFF_FFFF
    assert struct.unpack_from("<Q", ctx_bytes, 32)[0] == start + lengths[-1]
    if copy:
        assert frame is not None and start == frame.base + 256
        assert final == data  # items were copied: the buffer is untouched
        assert frame.buf[256 + lengths[-1] :] == bytes(512 - 256 - lengths[-1])  # earlier items zeroed
    else:
        assert all(final[o] == 0x77 for o, n in zip(offsets, lengths, strict=True) if n >= 2)


def test_context_mode_frame_is_narrowed_to_the_item() -> None:
    frame = Region("frame", 512, kind="packet")
    context = xdp_context(frame, 256)
    text = "r2 = *(u64 *)(r1 + 24)\nr0 = *(u8 *)(r2 - 1)\nexit"  # the byte before the packet
    vm = JitEngine(assemble(text), memory=Memory([context.region, frame]))
    with pytest.raises(MemoryAccessError) as info:
        vm.run_batch(bytes(8), [0], [8], context=context)
    assert info.value.batch_index == 0  # type: ignore[attr-defined]
    wide = BatchContext(context.region, context.template, context.pointers, frame, 256, narrow=False)
    assert list(vm.run_batch(bytes(8), [0], [8], context=wide)) == [0]


def test_bad_context_descriptions() -> None:
    ctx = Region("ctx", 16)
    with pytest.raises(ValueError):
        BatchContext(ctx, bytes(32))
    with pytest.raises(ValueError):
        BatchContext(ctx, b"", [(12, 8, DATA)])
    with pytest.raises(ValueError):
        BatchContext(ctx, b"", [(0, 2, DATA)])
    with pytest.raises(ValueError):
        BatchContext(ctx, b"", [], Region("f", 16), 17)
