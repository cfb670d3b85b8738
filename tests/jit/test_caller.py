"""``engine.caller(mem)``: a prepared run that stays exactly ``run(mem)`` whatever changes between calls.

The JIT's caller copies a per-run template that already holds the region; these tests change
each thing the template or the region table depends on between two calls (the region set, the
budget, another engine taking its turn at shared code, a tail-call chain) and check that the next
call behaves as a fresh ``run`` would, on both engines.
"""

from __future__ import annotations

import pytest

from pybpf.errors import BudgetExceededError, MemoryAccessError
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Region

# r0 = ctx[0] + len; ctx[8] += 1 (the caller's region sees the program's writes); then read the
# u64 whose address is ctx[16] (0 = skip), which lets a test point it at another region.
PROGRAM = assemble("""
    r0 = *(u64 *)(r1 + 0)
    r0 += r2
    r3 = *(u64 *)(r1 + 8)
    r3 += 1
    *(u64 *)(r1 + 8) = r3
    r4 = *(u64 *)(r1 + 16)
    if r4 == 0 goto out
    r5 = *(u64 *)(r4 + 0)
    r0 += r5
out:
    exit
""")

LOOP = assemble("""
    r0 = 0
loop:
    r0 += 1
    if r0 < 100 goto loop
    exit
""")


def engines(program: bytes = PROGRAM) -> list[Interpreter]:
    return [Interpreter(program), JitEngine(program, cache=False)]


def ctx(first: int = 0) -> Region:
    return Region("ctx", bytearray(first.to_bytes(8, "little") + bytes(24)), kind="memory")


@pytest.mark.parametrize("engine", engines(), ids=["interp", "jit"])
def test_caller_runs_like_run_and_keeps_writes(engine: Interpreter) -> None:
    region = ctx(40)
    call = engine.caller(region)
    assert [call() for _ in range(3)] == [40 + 32] * 3
    assert int.from_bytes(region.buf[8:16], "little") == 3
    assert engine.run(region) == 72 and int.from_bytes(region.buf[8:16], "little") == 4
    assert engine.instructions_executed == 8
    assert engine.regs[0] == 72


@pytest.mark.parametrize("engine", engines(), ids=["interp", "jit"])
def test_caller_sees_region_set_changes(engine: Interpreter) -> None:
    region, other = ctx(1), Region("other", bytearray((5).to_bytes(8, "little")), kind="memory")
    call = engine.caller(region)
    assert call() == 33
    region.buf[16:24] = other.base.to_bytes(8, "little")
    with pytest.raises(MemoryAccessError) as fault:  # not mapped yet
        call()
    assert fault.value.pc == 7
    engine.memory.add(other)
    assert call() == 38
    engine.memory.remove(other)
    with pytest.raises(MemoryAccessError):
        call()
    engine.memory.remove(region)  # the caller's own region: run() would map it again
    region.buf[16:24] = bytes(8)
    assert call() == 33


@pytest.mark.parametrize("engine", engines(LOOP), ids=["interp", "jit"])
def test_caller_follows_budget_changes(engine: Interpreter) -> None:
    call = engine.caller()
    assert call() == 100
    engine.budget = 50
    with pytest.raises(BudgetExceededError):
        call()
    engine.budget = 10_000
    assert call() == 100 and engine.instructions_executed == 202


def test_engines_sharing_code_take_turns() -> None:
    a, b = JitEngine(PROGRAM), JitEngine(PROGRAM)  # same program: the compile cache shares the code
    assert a.runner.native is b.runner.native
    ra, rb = ctx(100), ctx(200)
    call_a, call_b = a.caller(ra), b.caller(rb)
    for _ in range(3):
        assert call_a() == 132 and call_b() == 232
    assert ra.buf[8] == 3 and rb.buf[8] == 3


def test_caller_with_explicit_registers_matches_run() -> None:
    for engine in engines():
        region = ctx(7)
        engine.memory.add(region)
        call = engine.caller(None, r1=region.base, r2=1000)
        assert call() == 1007 == engine.run(None, r1=region.base, r2=1000)
