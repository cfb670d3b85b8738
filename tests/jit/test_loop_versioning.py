"""Versioned loops (pybpf.jit.loops): the fast copy runs only when its guard proves it cannot
fault or exhaust the budget, and every outcome is the interpreter's.

The loops here are the shapes the guard reasons about -- a counter stepping by one towards a
bound under each countable condition, pointers stepping by constants, loads and stores of every
width -- with parameters around the edges: ranges ending exactly at a region's end or one byte
past it, read-only regions, early exits, counters that wrap, budgets that run out inside the
loop.  Outcomes compared: r0 or the fault (type and instruction), the count, the memory.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.errors import VMError
from pybpf.isa.assembler import assemble
from pybpf.isa.instruction import validate
from pybpf.jit import JitEngine, abi
from pybpf.jit.loops import counted_loops
from pybpf.jit.lower import basic_blocks, checkpoints, lower, reachable
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Region

from .agreement import agree, outcome

CONDITIONS = {"!=": 1, "<": 1, "<=": 1, "s<": 1, "s<=": 1, ">": -1, ">=": -1, "s>": -1, "s>=": -1}
SWAP = {"!=": "!=", "<": ">", "<=": ">=", "s<": "s>", "s<=": "s>=", ">": "<", ">=": "<=", "s>": "s<", "s>=": "s<="}
NEGATE = {"!=": "==", "<": ">=", "<=": ">", "s<": "s>=", "s<=": "s>", ">": "<=", ">=": "<", "s>": "s<=", "s>=": "s<"}
WIDTHS = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def loop_program(
    *,
    start: int,
    bound: int,
    cond: str,
    offset: int,
    pstep: int,
    width: int,
    store: bool,
    layout: str,
    stop_at_zero: bool = False,
) -> str:
    """A counted loop over the region at r1: r2 counts by +1/-1 towards r3 = bound; r4 walks
    from r1 + offset by pstep, loading (summing into r0) or storing r2 at each step."""
    step = CONDITIONS[cond]
    access = f"*({WIDTHS[width]} *)(r4 + 0) = r2" if store else f"r5 = *({WIDTHS[width]} *)(r4 + 0)"
    body = [access]
    if not store:
        body += ["if r5 == 0 goto out" if stop_at_zero else "r0 += 0", "r0 += r5"]
    body += [f"r4 += {pstep}", f"r2 += {step}"]
    head = ["r0 = 0", f"r2 = {start} ll", f"r3 = {bound} ll", "r4 = r1", f"r4 += {offset}"]
    if layout == "jump back":  # the latch's jump goes to the head
        text = [*head, "loop:", *body, f"if r2 {cond} r3 goto loop"]
    elif layout == "swapped":  # the bound on the left
        text = [*head, "loop:", *body, f"if r3 {SWAP[cond]} r2 goto loop"]
    else:  # "fall into head": the latch falls through to the head and jumps out
        text = [*head, "goto loop", "latch:", *body[-2:], f"if r2 {NEGATE[cond]} r3 goto out", "loop:"]
        text += [*body[:-2], "goto latch"]
    return "\n".join([*text, "out:", "exit"]) + "\n"


def versioned(text: str) -> dict[int, object]:
    """The versioned loops of a program's main function (what the lowering will emit twice)."""
    insns = assemble(text)
    forms = validate(insns)
    blocks = basic_blocks(insns, forms)
    leaders = reachable(blocks, 0, len(insns))
    marks, heads = checkpoints(blocks, forms, 0, leaders, len(insns))
    return dict(counted_loops(blocks, insns, forms, leaders, marks, heads, len(insns), 0, frame=512))


DATA = bytes((7 * i + 3) % 251 + 1 for i in range(256))


@pytest.mark.parametrize("layout", ["jump back", "swapped", "fall into head"])
@pytest.mark.parametrize("cond", sorted(CONDITIONS))
def test_every_countable_condition_is_versioned_and_agrees(layout: str, cond: str) -> None:
    step = CONDITIONS[cond]
    start, bound = (0, 40) if step == 1 else (40, 1)
    text = loop_program(start=start, bound=bound, cond=cond, offset=8, pstep=4, width=4, store=False, layout=layout)
    loops = versioned(text)
    assert len(loops) == 1
    (loop,) = loops.values()
    assert loop.covered  # the load's check is the guard's
    assert "call i1" in lower(assemble(text), validate(assemble(text)))  # the probe
    result = agree(text, DATA)
    assert isinstance(result[0], int)


def iterations(start: int, bound: int, cond: str) -> int:
    """How many times :func:`loop_program`'s body runs (the loop's own semantics, in Python)."""

    def signed(v: int) -> int:
        v &= 2**64 - 1
        return v - 2**64 if v >> 63 else v

    tests = {
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    op = tests[cond.removeprefix("s")]
    convert = signed if cond.startswith("s") else (lambda v: v & (2**64 - 1))
    r2, n = start, 0
    while True:
        n += 1
        r2 += CONDITIONS[cond]
        if not op(convert(r2), convert(bound)):
            return n


@pytest.mark.parametrize("store", [False, True])
@pytest.mark.parametrize("width", [1, 8])
@pytest.mark.parametrize("cond", sorted(CONDITIONS))
def test_ranges_ending_at_the_region_end_pass_and_one_byte_more_faults(cond: str, width: int, store: bool) -> None:
    """The guard's iteration bound is exact: a range one access short would let the last
    iteration run unchecked past the region's end."""
    start, bound = {1: (0, 50), -1: (50, 1)}[CONDITIONS[cond]]
    size = iterations(start, bound, cond) * width
    for extra in (0, 1):  # the last access ends at the region's end, or one byte past it
        text = loop_program(
            start=start, bound=bound, cond=cond, offset=extra, pstep=width, width=width, store=store, layout="jump back"
        )
        result = agree(text, bytes(range(1, 256))[:size] if size < 256 else bytes(size))
        assert isinstance(result[0], tuple) == bool(extra), result[0]


def test_backwards_walk_below_the_region_start_faults_at_the_access() -> None:
    # 40 iterations: r4 goes from r1 + offset down to r1 + offset - 39
    text = loop_program(start=40, bound=0, cond=">", offset=38, pstep=-1, width=1, store=False, layout="jump back")
    assert agree(text, DATA[:64])[0] == ("MemoryAccessError", 7)  # r4 = r1 - 1 on the last iteration
    text = loop_program(start=40, bound=0, cond=">", offset=39, pstep=-1, width=1, store=False, layout="jump back")
    assert isinstance(agree(text, DATA[:64])[0], int)


def test_read_only_region_store_faults_and_loads_run() -> None:
    store = loop_program(start=0, bound=32, cond="<", offset=0, pstep=1, width=1, store=True, layout="jump back")
    load = loop_program(start=0, bound=32, cond="<", offset=0, pstep=1, width=1, store=False, layout="jump back")
    assert agree(store, DATA[:64], writable=False)[0] == ("MemoryAccessError", 7)
    assert isinstance(agree(load, DATA[:64], writable=False)[0], int)


def test_early_exit_before_an_out_of_bounds_range_runs_checked_and_gives_the_result() -> None:
    data = bytearray(DATA[:64])
    data[20] = 0  # the loop stops here, long before its bound would leave the region
    text = loop_program(
        start=0, bound=1000, cond="<", offset=0, pstep=1, width=1, store=False, layout="jump back", stop_at_zero=True
    )
    result = agree(text, bytes(data))
    assert result[0] == sum(data[:20])


def test_wrapping_counter_and_unending_inclusive_bounds_stay_on_the_budget() -> None:
    wraps = loop_program(start=10, bound=5, cond="!=", offset=0, pstep=0, width=1, store=False, layout="jump back")
    forever = loop_program(start=0, bound=-1, cond="<=", offset=0, pstep=0, width=1, store=False, layout="jump back")
    signed = loop_program(
        start=0, bound=(1 << 63) - 1, cond="s<=", offset=0, pstep=0, width=1, store=False, layout="jump back"
    )
    for text in (wraps, forever, signed):
        result = agree(text, DATA[:8], budget=5000)
        assert result[0][0] == "BudgetExceededError"  # type: ignore[index]


def test_every_budget_around_a_versioned_loop_gives_the_interpreters_outcome() -> None:
    text = loop_program(start=0, bound=24, cond="<", offset=0, pstep=2, width=2, store=True, layout="jump back")
    total = outcome(Interpreter, text, bytes(64), 10**9, True)[1]
    assert isinstance(total, int)
    for budget in range(total - 30, total + 3):
        agree(text, bytes(64), budget=budget)


def test_loops_with_calls_inner_loops_or_unknown_counters_are_not_versioned() -> None:
    call = "r2 = 0\nloop:\ncall 7\nr2 += 1\nif r2 < 100 goto loop\nexit\n"
    inner = "r2 = 0\nouter:\nr3 = 0\ninner:\nr3 += 1\nif r3 < 50 goto inner\nr2 += 1\nif r2 < 50 goto outer\nexit\n"
    unknown = "r2 = 0\nloop:\nr2 = *(u64 *)(r1 + 0)\nif r2 < 100 goto loop\nexit\n"
    doubled = "r2 = 1\nloop:\nr2 <<= 1\nif r2 < 100 goto loop\nexit\n"
    assert versioned(call) == {}
    assert [loop.head for loop in versioned(inner).values()] == [2]  # only the inner loop
    assert versioned(unknown) == {}
    assert versioned(doubled) == {}


@st.composite
def loop_cases(draw: st.DrawFn) -> tuple[str, bytes, int, bool]:
    cond = draw(st.sampled_from(sorted(CONDITIONS)))
    step = CONDITIONS[cond]
    width = draw(st.sampled_from([1, 2, 4, 8]))
    size = draw(st.integers(8, 160))
    start = draw(st.integers(-40, 80))
    bound = start + step * draw(st.integers(-4, 70)) if draw(st.booleans()) else draw(st.integers(-(2**63), 2**64 - 1))
    if bound >= 2**63:
        bound -= 2**64
    text = loop_program(
        start=start,
        bound=bound,
        cond=cond,
        offset=draw(st.integers(-16, size + 8)),
        pstep=draw(st.integers(-9, 9)),
        width=width,
        store=draw(st.booleans()),
        layout=draw(st.sampled_from(["jump back", "swapped", "fall into head"])),
        stop_at_zero=draw(st.booleans()),
    )
    data = draw(st.binary(min_size=size, max_size=size))
    budget = draw(st.sampled_from([20_000, draw(st.integers(0, 800))]))  # loops that never end fault or stop
    return text, data, budget, draw(st.booleans())


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(loop_cases())
def test_random_counted_loops_agree(case: tuple[str, bytes, int, bool]) -> None:
    text, data, budget, writable = case
    agree(text, data, budget=budget, writable=writable)


def test_the_guard_chooses_the_fast_copy_only_when_it_pays_and_is_safe() -> None:
    """White-box: the checked copy's first load of the region fills the read cache with it;
    the fast copy leaves the cache alone (its loads are not checked)."""

    def cached_after(iterations: int, size: int) -> bool:
        text = loop_program(
            start=0, bound=iterations, cond="<", offset=0, pstep=1, width=1, store=False, layout="jump back"
        )
        vm = JitEngine(assemble(text), cache=False)
        region = vm.memory.add(Region("data", bytes(range(1, 256))[:size]))
        with contextlib.suppress(VMError):
            vm.run(region)
        return int.from_bytes(vm.runner.ctx[8 * abi.RCACHE : 8 * abi.RCACHE + 8], "little") == region.base

    assert not cached_after(64, 64)  # in bounds, long enough: fast copy
    assert cached_after(8, 64)  # too short to pay for the probe: checked copy
    assert cached_after(65, 64)  # the last iteration would leave the region: checked copy (it faults)


SPILLED = """
    r2 = 64 ll
    r6 = {slot} ll
    *(u64 *)(r10 - 8) = r6
    r0 = 0
    r3 = 0
    r4 = r1
loop:
    r5 = *(u8 *)(r4 + 0)
    r0 += r5
    if r5 > 128 goto refill
    goto next
refill:
    r2 = r5
    r2 = *(u64 *)(r10 - 8)
    {write}
next:
    r4 += 1
    r3 += 1
    if r3 < r2 goto loop
    exit
"""


@pytest.mark.parametrize("slot, write", [(64, ""), (114, ""), (64, "*(u64 *)(r10 - 8) = r3")])
def test_a_bound_refilled_from_the_stack_is_assumed_equal_only_when_it_is(slot: int, write: str) -> None:
    """Register pressure makes clang refill a loop bound from its stack slot on some paths; the
    analysis assumes the slot equals the register at the head, and the guard checks it: with a
    slot holding more than the register, the refilling path runs past the region's end, which
    the checked copy must catch where the interpreter does."""
    text = SPILLED.format(slot=slot, write=write)
    data = bytes(200 if i % 7 == 0 else 5 for i in range(64))  # refills on every 7th byte
    loops = versioned(text)
    if write:  # the loop overwrites the slot: no assumption, no countable bound
        assert loops == {}
    else:
        ((loop),) = loops.values()
        assert loop.equal  # the slot and the bound register
    result = agree(text, data)
    assert isinstance(result[0], tuple) == (slot != 64 and not write), result[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    slot=st.integers(0, 120),
    bound=st.integers(0, 120),
    size=st.integers(1, 130),
    seed=st.binary(min_size=1, max_size=100),
    write=st.sampled_from(["", "*(u64 *)(r10 - 8) = r3", "*(u32 *)(r10 - 4) = r3", "r2 += 1"]),
    same=st.booleans(),
)
def test_random_spilled_bounds_agree(slot: int, bound: int, size: int, seed: bytes, write: str, same: bool) -> None:
    """Half the cases spill the bound itself (the guard's assumption holds, the fast copy runs
    when the region is large enough), half spill another value."""
    text = SPILLED.format(slot=bound if same else slot, write=write).replace("r2 = 64 ll", f"r2 = {bound} ll")
    data = (seed * (size // len(seed) + 1))[:size]
    agree(text, data, budget=20_000)


@pytest.mark.parametrize("start, step", [(-16, 8), (8, -8), (-(2**40), 2**31), (2**63 - 8, 8)])
def test_ranges_wrapping_around_the_address_space_fault_like_the_interpreter(start: int, step: int) -> None:
    """Wild pointers stepping across 0 or 2**64: the guard's range arithmetic must not wrap
    into a region (it sends them to the checked copy, which faults at the first access)."""
    text = "\n".join(
        [
            "r0 = 0",
            "r3 = 0",
            f"r4 = {start} ll",
            "loop:",
            "r5 = *(u64 *)(r4 + 0)",
            "r0 += r5",
            f"r4 += {step}",
            "r3 += 1",
            "if r3 < 64 goto loop",
            "exit",
        ]
    )
    assert len(versioned(text)) == 1
    assert agree(text, DATA)[0] == ("MemoryAccessError", 4)


SPILLED_POINTER = """
    r6 = r1
    r6 += {offset}
    *(u64 *)(r10 - 16) = r6
    r0 = 0
    r3 = 0
loop:
    r4 = *(u64 *)(r10 - 16)
    r5 = *(u8 *)(r4 + 0)
    r5 += 1
    *(u8 *)(r4 + 0) = r5
    r4 = 0
    r0 += r5
    r3 += 1
    if r3 < 40 goto loop
    exit
"""


@pytest.mark.parametrize("offset, fault", [(0, False), (255, False), (256, True)])
def test_a_pointer_spilled_before_the_loop_is_probed_once(offset: int, fault: bool) -> None:
    """A counter pointer clang keeps in a stack slot the loop only reads (the parser's stats)
    is invariant even when no register holds it at the back edge: its accesses are the
    guard's, and one past the region still faults at the
    load, after no store."""
    text = SPILLED_POINTER.format(offset=offset)
    ((loop),) = versioned(text).values()
    assert {6, 8} <= loop.covered  # the load and the store through the refilled pointer
    result, _, data = agree(text, DATA)
    assert (result == ("MemoryAccessError", 6)) == fault
    if not fault:
        assert data[offset] == (DATA[offset] + 40) % 256
