"""The tiered engine's promises: a one-shot run costs an interpreted run (compiling happens in
the background and is picked up by the next run), and a slow native run does not make it give
up native code on a single sample."""

from __future__ import annotations

import time

from pybpf.isa.assembler import assemble
from pybpf.jit import TieredEngine, tiered

LOOP = "r0 = 0\nr1 = 2000\nloop:\nr0 += r1\nr1 -= 1\nif r1 != 0 goto loop\nexit"


def test_one_shot_run_does_not_wait_for_the_compiler() -> None:
    vm = TieredEngine(assemble(LOOP), tier_threshold_ns=0, cache=False)
    assert vm.run() == sum(range(2001))
    assert not vm.tiered and vm._compiling is not None  # compiling in the background
    assert vm.run() == sum(range(2001))
    assert vm.tiered and vm.compile_times is not None and vm.compile_times.source == "compiled"


def test_probation_ignores_the_first_and_the_slowest_native_run() -> None:
    vm = TieredEngine(assemble(LOOP), tier_threshold_ns=0, cache=False)
    for _ in range(3):
        vm.run()
    assert vm.tiered and vm.on_probation
    runner = vm.runner
    assert runner is not None
    real = runner.run

    def descheduled(*args: object) -> int:  # one native run that took far too long
        time.sleep(tiered.PROBATION_NS / 1e9 * 3)
        return real(*args)  # type: ignore[arg-type]

    runner.run = descheduled  # type: ignore[method-assign]
    vm.run()
    runner.run = real  # type: ignore[method-assign]
    deadline = time.perf_counter() + 5
    while vm.on_probation and time.perf_counter() < deadline:
        vm.run()
    assert vm.tiered and not vm.jit_rejected


def test_hot_programs_are_recompiled_at_level_3() -> None:
    vm = TieredEngine(assemble(LOOP), tier_threshold_ns=0, cache=False)
    vm.run()
    vm.run()
    assert vm.tiered
    vm.on_probation = False
    vm._upgrade_ns = 0  # hot right away
    first = vm.runner
    deadline = time.perf_counter() + 30
    while vm.optimised_times is None and time.perf_counter() < deadline:
        assert vm.run() == sum(range(2001))
        time.sleep(0.001)
    assert vm.optimised_times is not None and vm.on_trial
    assert vm.run() == sum(range(2001))
    while vm.on_trial and time.perf_counter() < deadline:  # on trial: LLVM's loop passes
        vm.run()  # turn this loop into a closed form, far faster than the level-2 code
    assert not vm.upgrade_rejected and vm.optimised_times is not None and vm.runner is not first
    assert vm.run() == sum(range(2001))


def test_an_engine_starting_native_from_the_cache_is_on_probation_too() -> None:
    """Native code another engine compiled is used at once, but a helper-bound program (every
    call crosses into Python) still goes back to the interpreter."""
    from pybpf.jit import JitEngine

    program = assemble("r6 = 300\nloop:\ncall 5\nr6 -= 1\nif r6 != 0 goto loop\nr0 = 3\nexit")
    JitEngine(program)
    vm = TieredEngine(program)
    assert vm.tiered and vm.on_probation
    deadline = time.perf_counter() + 20
    while vm.on_probation and time.perf_counter() < deadline:
        assert vm.run() == 3
    assert vm.run() == 3  # interpreted again on a quiet machine, native otherwise: right either way


def test_an_upgrade_that_runs_slower_is_undone() -> None:
    """Level 3 is on trial against the code it replaces, the two taking turns; here it is made
    slower (each run sleeps), so the engine goes back to the level-2 code and stays there."""
    vm = TieredEngine(assemble(LOOP), tier_threshold_ns=0, cache=False)
    vm.run()
    vm.run()
    vm.on_probation = False
    first = vm.runner
    vm._upgrade_ns = 0
    deadline = time.perf_counter() + 30
    while vm.runner is first and time.perf_counter() < deadline:
        vm.run()
        time.sleep(0.001)
    upgraded = vm.runner
    assert upgraded is not None and upgraded is not first and vm.on_trial
    real = upgraded.run

    def slower(*args: object) -> int:
        time.sleep(0.0002)
        return real(*args)  # type: ignore[arg-type]

    upgraded.run = slower  # type: ignore[method-assign]
    runners = set()
    while vm.on_trial and time.perf_counter() < deadline:
        runners.add(id(vm.runner))
        assert vm.run() == sum(range(2001))
    assert len(runners) == 2  # the two codes took turns
    assert vm.upgrade_rejected and vm.runner is first and vm.optimised_times is None
    assert not vm.jit_rejected and vm.run() == sum(range(2001))
