"""Tiering for ``engine="auto"``: interpret first, compile once it has paid for itself.

Compiling costs milliseconds to hundreds of milliseconds; most one-shot runs finish in less time
interpreted.  The policy is the classic ski-rental rule: keep interpreting, adding up the wall
time actually spent in the interpreter over all runs; when that total reaches the *estimated*
cost of compiling this program, compile and run natively from then on.  Whatever the workload,
the total time is then at most about twice that of the better of "always interpret" and "compile
at once" (given a fair estimate), and a single short run is never slower than the interpreter,
because the first run is always interpreted.

* Estimate: :data:`COMPILE_BASE_NS` plus :data:`COMPILE_PER_INSN_NS` per instruction slot (the
  measured costs of the default level: ~15 ms for tiny programs, ~100 ms per 1,000 instructions;
  see ``bench/run_all.py --split``), plus :data:`RUNTIME_LIBRARY_NS` while this process has not
  loaded the JIT's runtime library yet.  A disk-cache hit only makes the switch cheaper.
* If this process already holds native code for the same bytecode and options (the in-memory
  cache), switching costs nothing, so the engine starts native -- on probation too, judged
  against the interpreter's cost another engine measured for this program, or else
  :data:`INTERPRETER_NS_PER_INSN`.
* Probation: after the switch, native runs are timed until they add up to
  :data:`PROBATION_NS` over at least :data:`PROBATION_RUNS` runs (the first native run, which
  sets up the engine's tables, and the slowest one, which may have been descheduled, are left
  out); if their time per executed instruction is not below the interpreter's
  (a program dominated by helper calls: each native -> Python crossing costs ~0.3 us more than
  the interpreter's direct call), the engine returns to the interpreter for good, and other
  engines of the same program in this process never switch.
* A compile failure (an LLVM error) is reported nowhere but ``jit_error``: the engine keeps
  interpreting, which is always correct.

* Third tier: native code is first compiled at the default level (a short pass list, see
  :mod:`pybpf.jit.compiler`); once the program has spent about twice the estimated cost of a
  full LLVM -O2 compile running natively (sampled every :data:`SAMPLE_EVERY` runs), it is
  recompiled at level 3 in the background and swapped in between two runs when ready.  Loops
  that LLVM's loop passes can restructure run up to several times faster there; other programs
  can run slower, so the upgrade is on trial (:class:`Trial`): the old and the new code run in
  turns until both have been timed long enough, and the upgrade is undone
  (``upgrade_rejected``) unless it is faster.

A run is never migrated mid-way: a long first run stays interpreted to its end (it may have
touched memory and called helpers, so it cannot be restarted).  Compiling never lengthens a run
either: when a run ends past the threshold, compilation starts in a background thread (LLVM
releases the GIL) and the *next* run waits for it and runs natively, so a one-shot run costs
exactly an interpreted run.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from pybpf.helpers.registry import HelperRegistry
from pybpf.isa.instruction import Instruction
from pybpf.jit.batch import BatchContext, interpret_batch
from pybpf.jit.cache import memory_empty, memory_get, native_code, program_key
from pybpf.jit.compiler import CompileTimes, JitError
from pybpf.jit.engine import NativeMachine, bind_compiled, calls_table_helpers, table_helpers
from pybpf.jit.rtlib import library_loaded, runtime_library
from pybpf.jit.runtime import NativeRunner
from pybpf.vm.interpreter import DEFAULT_BUDGET, MAX_CALL_DEPTH, STACK_SIZE, PseudoResolver
from pybpf.vm.memory import Memory, Region

COMPILE_BASE_NS = 15_000_000
COMPILE_PER_INSN_NS = 100_000
RUNTIME_LIBRARY_NS = 100_000_000
PROBATION_NS = 2_000_000
PROBATION_RUNS = 3
OPTIMISED_LEVEL = 3
INTERPRETER_NS_PER_INSN = 50  # a fast interpreted instruction (bench/interp_loop.py measures 50-75 ns)
SAMPLE_EVERY = 16
NEVER = 1 << 62
T = TypeVar("T")
_rejected: set[str] = set()  # programs whose native code ran slower than the interpreter
_baselines: dict[str, float] = {}  # program key -> interpreted ns per instruction measured here


class Trial:
    """An upgrade on trial: the current code and the upgraded one, timed in turns.

    Single runs are compared per executed instruction, batches per item, each kind on its own;
    the first kind with :data:`PROBATION_RUNS` timed runs and :data:`PROBATION_NS` / 2 on both
    sides decides (the first run of each code, which sets up its tables, and each side's
    slowest, which may have been descheduled, are left out).
    """

    def __init__(self, codes: tuple[NativeRunner, NativeRunner]) -> None:
        self.codes = codes  # (current, upgraded)
        # per kind (single, batch) and side: [ns, work, timed runs, slowest ns, runs seen]
        self.stats = [[[0, 0, 0, 0, 0] for _ in range(2)] for _ in range(2)]

    def record(self, side: int, ns: int, work: int, batch: bool) -> bool | None:
        """Add one run; None while undecided, else whether the upgrade is faster."""
        stats = self.stats[int(batch)]
        mine = stats[side]
        mine[4] += 1
        if mine[4] == 1:
            return None
        mine[0] += ns
        mine[1] += work
        mine[2] += 1
        mine[3] = max(mine[3], ns)
        if all(s[2] > PROBATION_RUNS and s[0] - s[3] >= PROBATION_NS // 2 for s in stats):
            current, upgraded = ((s[0] - s[3]) / max(s[1], 1) for s in stats)
            return upgraded < current
        return None


class TieredEngine(NativeMachine):
    """An interpreter that moves to native code when that pays (see the module docstring).

    ``tier_threshold_ns`` overrides the estimated compile cost (0 compiles after the first run;
    a huge value never compiles).  ``tiered`` tells whether native code is in use;
    ``jit_rejected`` that it was tried and found slower.
    """

    def __init__(
        self,
        program: bytes | bytearray | Sequence[Instruction],
        *,
        helpers: HelperRegistry | None = None,
        budget: int = DEFAULT_BUDGET,
        stack_size: int = STACK_SIZE,
        max_call_depth: int = MAX_CALL_DEPTH,
        memory: Memory | None = None,
        pseudo_resolver: PseudoResolver | None = None,
        safe: Iterable[int] | None = None,
        opt_level: int = 2,
        cache: bool = True,
        tier_threshold_ns: int | None = None,
    ) -> None:
        super().__init__(
            program,
            helpers=helpers,
            budget=budget,
            stack_size=stack_size,
            max_call_depth=max_call_depth,
            memory=memory,
            pseudo_resolver=pseudo_resolver,
        )
        self.safe = frozenset(safe or ())
        self.opt_level = opt_level
        self.cache = cache
        self.runner: NativeRunner | None = None
        self.compile_times: CompileTimes | None = None
        self.jit_error: Exception | None = None
        self.jit_rejected = False
        self.on_probation = False
        self.interpreted_ns = self.interpreted_insns = 0
        self.native_ns = self.native_insns = 0
        self._native_runs = 0
        self._slowest_ns = 0
        self._native = False  # a native run is in progress (helpers' callbacks must stay native)
        self._key: str | None = None
        self._compiling: tuple[threading.Thread, dict[str, Any], bool] | None = None  # (thread, result, upgrade)
        self._ticks = 0
        self._table: Sequence[int] = ()
        self.uses_table = calls_table_helpers(self)
        self.native_total_ns = 0  # sampled estimate of the time spent in native runs
        self._trial: Trial | None = None  # an upgrade on trial against the code it would replace
        self.optimised_times: CompileTimes | None = None
        self.upgrade_rejected = False
        self._upgrade_ns = (
            2 * 2 * (COMPILE_BASE_NS + COMPILE_PER_INSN_NS * len(self.insns)) if opt_level < OPTIMISED_LEVEL else NEVER
        )
        if tier_threshold_ns is None:
            tier_threshold_ns = COMPILE_BASE_NS + COMPILE_PER_INSN_NS * len(self.insns)
            if not library_loaded():
                tier_threshold_ns += RUNTIME_LIBRARY_NS
            if cache and not memory_empty():
                if self._program_key() in _rejected:
                    self.jit_rejected = True
                    tier_threshold_ns = NEVER
                elif memory_get(self._program_key()) is not None:
                    tier_threshold_ns = 0
                    self._tier_up()
                    self._switch()
                    self.on_probation = self.runner is not None
        self.tier_threshold_ns = tier_threshold_ns

    @property
    def tiered(self) -> bool:
        return self.runner is not None

    @property
    def on_trial(self) -> bool:
        """A level-3 upgrade is being timed against the code it would replace."""
        return self._trial is not None

    def run(
        self, mem: bytes | bytearray | Region | None = None, *, r1: int | None = None, r2: int | None = None
    ) -> int:
        """Run from instruction 0 and return r0 (natively once tiered up)."""
        if self._compiling is not None:
            self._switch()
        runner = self.runner
        if runner is None:
            return super().run(mem, r1=r1, r2=r2)
        return self._timed(lambda: runner.run(mem, r1, r2))

    def execute(self, regs: list[int], entry: int = 0, *, tail_calls: int = 0) -> int:
        """Run natively once tiered up, otherwise interpret and account for the time spent."""
        if self._compiling is not None:
            self._switch()
        runner = self.runner
        if runner is not None:
            return self._timed(lambda: runner.execute(regs, entry, tail_calls=tail_calls))
        t0 = time.perf_counter_ns()
        try:
            return super().execute(regs, entry, tail_calls=tail_calls)
        finally:
            self.interpreted_ns += time.perf_counter_ns() - t0
            self.interpreted_insns += self.instructions_executed
            if self.interpreted_ns >= self.tier_threshold_ns and self.jit_error is None and self.runner is None:
                self._tier_up()

    def set_table(self, values: Sequence[int]) -> None:
        """The argument table of table helpers, for whichever tier runs next."""
        self._table = values
        for runner in self._trial.codes if self._trial is not None else (self.runner,):
            if runner is not None:
                runner.set_table(values)

    def call_function(self, address: int, *args: int) -> int:
        """For helpers: a callback into the program runs in whichever tier is running the program."""
        runner = self.runner
        if self._native and runner is not None and not runner.interpreting:
            return runner.call_function(address, *args)
        return super().call_function(address, *args)

    def run_batch(
        self,
        data: bytes | bytearray | memoryview | Region,
        offsets: Sequence[int],
        lengths: Sequence[int],
        *,
        out: array[int] | None = None,
        context: BatchContext | None = None,
    ) -> array[int]:
        """:meth:`JitEngine.run_batch`: natively once tiered up; before that the items run one by
        one in the interpreter (same results), and their time counts towards the tier-up."""
        runner = self.runner
        if runner is not None:
            return self._timed(lambda: runner.run_batch(data, offsets, lengths, out, context), items=len(offsets))
        t0 = time.perf_counter_ns()
        count = 0

        def each(run: Callable[[], int]) -> int:
            nonlocal count
            r0 = run()
            count += self.instructions_executed
            return r0

        try:
            return interpret_batch(self, data, offsets, lengths, out, context, each)
        finally:
            # A batch is many runs: it counts in full, but is never migrated half-way.
            self.interpreted_ns += time.perf_counter_ns() - t0
            self.interpreted_insns += count
            if self.interpreted_ns >= self.tier_threshold_ns and self.jit_error is None and self.runner is None:
                self._tier_up()

    def _timed(self, native_run: Callable[[], T], items: int = 0) -> T:
        """A native run; during probation its time per instruction is recorded and, once there
        is enough of it, compared with the interpreter's: if native code is not faster (programs
        dominated by helper calls, whose Python <-> native crossings cost more than the
        instructions they replace), the engine goes back to interpreting for good.  ``items``:
        the number of runs of a batch (0 for a single run)."""
        trial = self._trial
        if trial is not None:
            side = 1 if self.runner is trial.codes[1] else 0
            return self._native_call(native_run, lambda ns: self._trial_record(trial, side, ns, items))
        if not self.on_probation:
            self._ticks += 1
            if self._ticks % SAMPLE_EVERY:  # the common case, inline: no clock, no extra call
                self._native = True
                try:
                    return native_run()
                finally:
                    self._native = False
            return self._native_call(native_run, self._sampled)
        return self._native_call(native_run, lambda ns: self._probation_record(ns, items > 0))

    def _native_call(self, native_run: Callable[[], T], timed: Callable[[int], None]) -> T:
        """A timed native run (helpers' callbacks then stay native); ``timed`` gets the elapsed
        ns, also when the run raised."""
        t0 = time.perf_counter_ns()
        self._native = True
        try:
            return native_run()
        finally:
            self._native = False
            timed(time.perf_counter_ns() - t0)

    def _sampled(self, elapsed: int) -> None:
        """Every SAMPLE_EVERY-th run after probation: the estimate of native time, which starts
        the level-3 upgrade once it reaches its threshold."""
        self.native_total_ns += elapsed * SAMPLE_EVERY
        if self.native_total_ns >= self._upgrade_ns and self._compiling is None:
            self._upgrade_ns = NEVER
            self._tier_up(OPTIMISED_LEVEL)

    def _probation_record(self, elapsed: int, batch: bool) -> None:
        self.native_total_ns += elapsed
        self._native_runs += 1
        if self._native_runs > 1 and not batch:  # the first run sets up tables; batches count no insns here
            self.native_ns += elapsed
            self.native_insns += self.instructions_executed
            self._slowest_ns = max(self._slowest_ns, elapsed)
            if self.native_ns - self._slowest_ns >= PROBATION_NS and self._native_runs > PROBATION_RUNS:
                self._judge()

    def _judge(self) -> None:
        self.on_probation = False
        if not self.native_insns:
            return
        native_ns = self.native_ns - self._slowest_ns
        if self.interpreted_insns:
            interpreted = self.interpreted_ns / self.interpreted_insns
        else:  # started native from the cache: what another engine measured, or a fast interpreter
            interpreted = _baselines.get(self._program_key(), INTERPRETER_NS_PER_INSN)
        if native_ns >= interpreted * self.native_insns:
            self.runner = None
            self.jit_rejected = True
            self.tier_threshold_ns = NEVER
            _rejected.add(self._program_key())

    def _trial_record(self, trial: Trial, side: int, elapsed: int, items: int) -> None:
        """One run during an upgrade's trial: the two codes take turns, so both are timed over
        the same stretch of time (this machine's speed can drift by 2x within seconds, which
        made a comparison with earlier samples keep a slower upgrade)."""
        self.native_total_ns += elapsed
        verdict = trial.record(side, elapsed, items or self.instructions_executed, batch=items > 0)
        if verdict is None:
            self.runner = trial.codes[1 - side]
        else:
            self._trial = None
            self.runner = trial.codes[1 if verdict else 0]
            if not verdict:
                self.optimised_times, self.upgrade_rejected = None, True

    def _program_key(self) -> str:
        if self._key is None:
            code = b"".join(i.encode() for i in self.insns)
            self._key = program_key(
                code,
                stack_size=self.stack_size,
                max_call_depth=self.max_call_depth,
                safe=self.safe,
                opt_level=self.opt_level,
                table_helpers=table_helpers(self.helpers),
            )
        return self._key

    def _tier_up(self, level: int | None = None) -> None:
        """Start compiling (at ``level``, default the engine's) in a background thread (see the
        module docstring); a later run picks the result up."""
        upgrade = level is not None
        if self._compiling is not None or (self.runner is not None and not upgrade):
            return
        if not upgrade and self.interpreted_insns and self.cache:
            _baselines[self._program_key()] = self.interpreted_ns / self.interpreted_insns
        result: dict[str, Any] = {}
        insns, forms, stack_size, depth = self.insns, self.forms, self.stack_size, self.max_call_depth
        safe, use_cache, tables = self.safe, self.cache, table_helpers(self.helpers)
        opt_level = self.opt_level if level is None else level

        def work() -> None:
            try:
                result["native"] = native_code(
                    insns,
                    forms,
                    stack_size=stack_size,
                    max_call_depth=depth,
                    safe=safe,
                    opt_level=opt_level,
                    use_cache=use_cache,
                    table_helpers=tables,
                )
                runtime_library()
            except (JitError, ImportError, OSError) as exc:  # the engine keeps what it has
                result["error"] = exc

        thread = threading.Thread(target=work, name="pybpf-jit-compile", daemon=True)
        thread.start()
        self._compiling = (thread, result, upgrade)

    def _switch(self) -> None:
        """Move to the compiled code: wait for a first compile (the run needs it), but take an
        upgrade only once it is ready (the current code is good enough to go on with)."""
        assert self._compiling is not None
        thread, result, upgrade = self._compiling
        if upgrade and thread.is_alive():
            return
        thread.join()
        self._compiling = None
        error = result.get("error")
        if error is not None:
            if not upgrade:
                self.jit_error = error  # stay on the interpreter, which is always right
            return
        native, times = result["native"]
        if upgrade:
            if self.runner is not None and not self.jit_rejected:
                upgraded = bind_compiled(self, native)
                upgraded.set_table(self._table)
                self._trial = Trial((self.runner, upgraded))
                self.runner = upgraded
                self.optimised_times = times
            return
        self.runner = bind_compiled(self, native)
        self.runner.set_table(self._table)
        self.compile_times = times
        self.on_probation = self.interpreted_insns > 0
