"""Budget hand-overs, promoted stack frames and relocation caching: exactly the interpreter.

Native code checks the budget only at checkpoints and hands a run that might exhaust it to the
interpreter (see "Budget" in pybpf.jit.lower); functions whose r10 does not escape keep their
frame in an ``alloca`` (see "Stack").  These tests sweep every budget around a program's length,
so that hand-overs happen at every checkpoint, inside callees and inside helpers' callbacks,
and compare the outcome, the count, the registers and the stack with the interpreter's.
"""

from __future__ import annotations

from typing import Any

import pytest

from pybpf.errors import VMError
from pybpf.helpers import Helper
from pybpf.helpers.registry import default_registry
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine
from pybpf.vm.interpreter import Interpreter

CALLS = """
    r6 = 0
    r7 = 7
loop:
    r1 = r7
    call f
    r6 += r0
    *(u64 *)(r10 - 8) = r6
    r7 -= 1
    if r7 != 0 goto loop
    r0 = *(u64 *)(r10 - 8)
    exit
f:
    r0 = r1
    r0 *= 3
    r2 = *(u64 *)(r10 - 16)
    r0 += r2
    *(u64 *)(r10 - 16) = r0
    if r1 > 4 goto skip
    r0 += 1
skip:
    exit
"""

RECURSION = """
    r1 = 5
    call f
    exit
f:
    r0 = 0
    if r1 == 0 goto done
    r6 = r1
    r3 = r1
inner:
    r0 += r3
    r3 -= 1
    if r3 != 0 goto inner
    *(u64 *)(r10 - 8) = r0
    r1 -= 1
    call f
    r2 = *(u64 *)(r10 - 8)
    r0 += r2
    r0 += r6
done:
    exit
"""

HELPERS = """
    r6 = 0
    r7 = 6
loop:
    r1 = r7
    r2 = r6
    call 1000
    r6 ^= r0
    if r0 > 3 goto odd
    r6 += 1
odd:
    r7 -= 1
    if r7 != 0 goto loop
    r0 = r6
    exit
"""

# Conditional jumps over short stretches ("arms", counted by the jumping block), one with a
# helper call in it.
SKIPS = """
    r6 = 0
    r7 = 9
loop:
    r1 = r7
    r1 &= 1
    if r1 != 0 goto odd
    r6 += 3
odd:
    if r7 > 4 goto big
    r1 = r7
    r2 = r6
    call 1000
big:
    r6 += r0
    r7 -= 1
    if r7 != 0 goto loop
    r0 = r6
    exit
"""

# A loop back to the entry: a hand-over at the entry must write the promoted frame back (stores
# happened on the earlier trips), unlike the first arrival there.
REENTRY = """
    r1 = *(u64 *)(r10 - 8)
    r1 += 3
    *(u64 *)(r10 - 8) = r1
    if r1 < 14 goto -4
    r0 = r1
    exit
"""

# bpf_loop-style: the helper calls back into the program (a loop inside the callback).
CALLBACK = """
    r6 = 3
    *(u64 *)(r10 - 8) = r6
    r1 = 4
    r2 = func(pc+CB) ll
    r3 = r10
    r3 += -8
    call 1001
    r0 <<= 8
    r2 = *(u64 *)(r10 - 8)
    r0 += r2
    exit
    r4 = r1
again:
    r5 = *(u64 *)(r2 + 0)
    r5 += r4
    *(u64 *)(r2 + 0) = r5
    r4 -= 1
    if r4 s> 0 goto again
    r0 = 0
    exit
"""


def _callback_text() -> str:
    lines = CALLBACK.strip("\n").split("\n")
    main_len = 12  # slots of the main part (the lddw takes two)
    return "\n".join(lines).replace("CB", str(main_len - 4 - 1))


def registry() -> Any:
    reg = default_registry()

    def mix(env: Any, r1: int, r2: int, *_: int) -> int:
        return (r1 * 7 + r2) % 11

    def loop(env: Any, n: int, callback: int, ctx: int, *_: int) -> int:
        for i in range(n):
            if env.call_function(callback, i, ctx):
                return i + 1
        return n

    reg.add(Helper(1000, "mix", mix))
    reg.add(Helper(1001, "loop", loop))
    return reg


def outcome(engine: type[Interpreter], text: str, budget: int) -> tuple[Any, ...]:
    vm = engine(assemble(text), budget=budget, helpers=registry())
    try:
        result: Any = vm.run()
    except VMError as exc:
        result = (type(exc).__name__, exc.pc, str(exc))
    stack = vm.stack
    regs = [r - stack.end if stack.base <= r <= stack.end else r for r in vm.regs]  # addresses differ
    return result, vm.instructions_executed, regs, bytes(stack.buf)


@pytest.mark.parametrize("name", ["calls", "recursion", "helpers", "callback", "skips", "reentry"])
def test_every_budget_gives_the_interpreters_result(name: str) -> None:
    texts = {"calls": CALLS, "recursion": RECURSION, "helpers": HELPERS, "callback": _callback_text(), "skips": SKIPS}
    text = {**texts, "reentry": REENTRY}[name]
    full = Interpreter(assemble(text), helpers=registry())
    full.run()
    total = full.instructions_executed
    for budget in range(0, total + 3):
        expected, got = outcome(Interpreter, text, budget), outcome(JitEngine, text, budget)
        if name == "callback" and isinstance(expected[0], tuple):
            # A budget error inside a callback: registers are unspecified under the JIT after a
            # fault, and the interpreter's count drops the callback's instructions (its outer
            # loop republishes the count it had before the helper call), the JIT's keeps them.
            expected, got = (expected[0], expected[3]), (got[0], got[3])
        assert got == expected, budget


def test_hand_over_happens_at_most_once_per_run_and_only_near_the_budget() -> None:
    vm = JitEngine(assemble(CALLS), budget=10**9)
    interpreted: list[int] = []
    original = vm._loop

    def spy(pc: int, regs: list[int]) -> int:
        interpreted.append(pc)
        return original(pc, regs)

    vm._loop = spy  # type: ignore[method-assign]
    vm.run()
    assert interpreted == []
    vm.budget = vm.instructions_executed  # exactly enough: still no error
    assert vm.run() == Interpreter(assemble(CALLS)).run()
    assert len(interpreted) <= 1


def test_uninitialised_frames_see_what_earlier_calls_left() -> None:
    """A callee's frame is not cleared between two calls in one run (interpreter semantics), and a
    new run starts with a zeroed stack -- promoted frames included."""
    text = """
        call f
        r6 = r0
        call f
        r0 <<= 16
        r0 += r6
        exit
    f:
        r0 = *(u64 *)(r10 - 8)
        r1 = r0
        r1 += 5
        *(u64 *)(r10 - 8) = r1
        exit
    """
    vm, ref = JitEngine(assemble(text)), Interpreter(assemble(text))
    assert vm.run() == ref.run() == (5 << 16)
    assert vm.run() == ref.run() == (5 << 16)
    assert bytes(vm.stack.buf) == bytes(ref.stack.buf)


def test_escaped_frame_pointer_keeps_the_frame_in_memory() -> None:
    """r10 copied into a register: a helper writes the frame through it."""
    reg = default_registry()

    def fill(env: Any, ptr: int, *_: int) -> int:
        env.memory.write(ptr, (1234).to_bytes(8, "little"))
        return 0

    reg.add(Helper(1002, "fill", fill))
    text = "r1 = r10\nr1 += -8\ncall 1002\nr0 = *(u64 *)(r10 - 8)\nexit"
    assert JitEngine(assemble(text), helpers=reg).run() == Interpreter(assemble(text), helpers=reg).run() == 1234


def test_relocations_are_resolved_once_per_engine() -> None:
    calls: list[int] = []

    def resolve(src: int, imm: int, next_imm: int, pc: int) -> int:
        calls.append(pc)
        return 100 + imm

    text = "r0 = 0\nr1 = 3\nloop:\nr2 = map_fd(7) ll\nr0 += r2\nr1 -= 1\nif r1 != 0 goto loop\nexit"
    vm = JitEngine(assemble(text), pseudo_resolver=resolve)
    assert vm.run() == 3 * 107
    assert vm.run() == 3 * 107
    assert calls == [2]
    vm.runner.forget_relocations()
    vm.run()
    assert calls == [2, 2]


def test_a_fault_inside_a_skipped_arm_reports_the_interpreters_count() -> None:
    """The arm's length is added before it runs, as its own block would: a fault inside it sees
    the same instruction count as under the interpreter."""
    text = """
        r6 = 0
        r7 = 6
    loop:
        r8 = r7
        r8 -= 2
        if r7 > 5 goto next
        r1 = r8
        r1 *= 8
        r2 = *(u64 *)(r1 + 0)
    next:
        r7 -= 1
        if r7 != 0 goto loop
        exit
    """
    for engine in (Interpreter, JitEngine):
        vm = engine(assemble(text))
        with pytest.raises(VMError) as fault:
            vm.run()
        assert (fault.value.pc, vm.instructions_executed) == (7, 13), engine
