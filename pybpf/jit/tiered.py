"""Tiering for ``engine="auto"``: interpret first, compile once it has paid for itself.

Compiling costs milliseconds to hundreds of milliseconds; most one-shot runs finish in less time
interpreted.  The policy is the classic ski-rental rule: keep interpreting, adding up the wall
time actually spent in the interpreter over all runs; when that total reaches the *estimated*
cost of compiling this program, compile and run natively from then on.  Whatever the workload,
the total time is then at most about twice that of the better of "always interpret" and "compile
at once" (given a fair estimate), and a single short run is never slower than the interpreter,
because the first run is always interpreted.

* Estimate: :data:`COMPILE_BASE_NS` plus :data:`COMPILE_PER_INSN_NS` per instruction slot (the
  measured -O2 costs: a few ms for tiny programs, 70-225 ms per 1,000 instructions; see
  ``shared/notes/performance.md`` section 2.5).  A disk-cache hit only makes the switch cheaper.
* If this process already holds native code for the same bytecode and options (the in-memory
  cache), switching costs nothing, so the engine starts native.
* Probation: after the switch, native runs are timed until they add up to
  :data:`PROBATION_NS`; if their time per executed instruction is not below the interpreter's
  (a program dominated by helper calls: each native -> Python crossing costs ~0.3 us more than
  the interpreter's direct call), the engine returns to the interpreter for good, and other
  engines of the same program in this process never switch.
* A compile failure (an LLVM error) is reported nowhere but ``jit_error``: the engine keeps
  interpreting, which is always correct.

A run is never migrated mid-way: a long first run stays interpreted to its end (it may have
touched memory and called helpers, so it cannot be restarted).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from pybpf.helpers.registry import HelperRegistry
from pybpf.isa.instruction import Instruction
from pybpf.jit.cache import memory_empty, memory_get, program_key
from pybpf.jit.compiler import CompileTimes, JitError
from pybpf.jit.engine import NativeMachine, bind_native
from pybpf.jit.runtime import NativeRunner
from pybpf.vm.interpreter import DEFAULT_BUDGET, MAX_CALL_DEPTH, STACK_SIZE, PseudoResolver
from pybpf.vm.memory import Memory, Region

COMPILE_BASE_NS = 5_000_000
COMPILE_PER_INSN_NS = 120_000
PROBATION_NS = 2_000_000
NEVER = 1 << 62
_rejected: set[str] = set()  # programs whose native code ran slower than the interpreter


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
        self._native = False  # a native run is in progress (helpers' callbacks must stay native)
        self._key: str | None = None
        if tier_threshold_ns is None:
            tier_threshold_ns = COMPILE_BASE_NS + COMPILE_PER_INSN_NS * len(self.insns)
            if cache and not memory_empty():
                if self._program_key() in _rejected:
                    self.jit_rejected = True
                    tier_threshold_ns = NEVER
                elif memory_get(self._program_key()) is not None:
                    tier_threshold_ns = 0
                    self._tier_up()
        self.tier_threshold_ns = tier_threshold_ns

    @property
    def tiered(self) -> bool:
        return self.runner is not None

    def run(
        self, mem: bytes | bytearray | Region | None = None, *, r1: int | None = None, r2: int | None = None
    ) -> int:
        """Run from instruction 0 and return r0 (natively once tiered up)."""
        runner = self.runner
        if runner is None:
            return super().run(mem, r1=r1, r2=r2)
        if self.on_probation:
            return self._timed(lambda: runner.run(mem, r1, r2))
        self._native = True
        try:
            return runner.run(mem, r1, r2)
        finally:
            self._native = False

    def execute(self, regs: list[int], entry: int = 0, *, tail_calls: int = 0) -> int:
        """Run natively once tiered up, otherwise interpret and account for the time spent."""
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

    def call_function(self, address: int, *args: int) -> int:
        """For helpers: a callback into the program runs in whichever tier is running the program."""
        if self._native and self.runner is not None:
            return self.runner.call_function(address, *args)
        return super().call_function(address, *args)

    def _timed(self, native_run: Callable[[], int]) -> int:
        """A native run; during probation its time per instruction is recorded and, once there
        is enough of it, compared with the interpreter's: if native code is not faster (programs
        dominated by helper calls, whose Python <-> native crossings cost more than the
        instructions they replace), the engine goes back to interpreting for good."""
        if not self.on_probation:
            self._native = True
            try:
                return native_run()
            finally:
                self._native = False
        t0 = time.perf_counter_ns()
        self._native = True
        try:
            return native_run()
        finally:
            self._native = False
            self.native_ns += time.perf_counter_ns() - t0
            self.native_insns += self.instructions_executed
            if self.native_ns >= PROBATION_NS:
                self._judge()

    def _judge(self) -> None:
        self.on_probation = False
        if not (self.interpreted_insns and self.native_insns):
            return
        if self.native_ns * self.interpreted_insns >= self.interpreted_ns * self.native_insns:
            self.runner = None
            self.jit_rejected = True
            self.tier_threshold_ns = NEVER
            _rejected.add(self._program_key())

    def _program_key(self) -> str:
        if self._key is None:
            code = b"".join(i.encode() for i in self.insns)
            self._key = program_key(
                code,
                stack_size=self.stack_size,
                max_call_depth=self.max_call_depth,
                safe=self.safe,
                opt_level=self.opt_level,
            )
        return self._key

    def _tier_up(self) -> None:
        try:
            self.runner, self.compile_times = bind_native(self, self.safe, self.opt_level, self.cache)
        except (JitError, ImportError, OSError) as exc:  # stay on the interpreter, which is always right
            self.jit_error = exc
            return
        self.on_probation = self.interpreted_insns > 0
