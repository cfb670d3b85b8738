"""The JIT engine: an :class:`~pybpf.vm.interpreter.Interpreter` whose ``execute`` runs native code.

Subclassing the interpreter is deliberate: the machine (validation, memory with its ``stack`` and
``code`` regions, helpers and their ``env``, ``run``'s input-memory convention, ``trace``) is the
interpreter's, unchanged, so the two engines cannot drift apart on anything but execution itself,
and a JitEngine is accepted wherever an Interpreter is.

What differs, and why:

* The program is compiled when the engine is constructed (or fetched from the compile cache;
  ``compile_times`` says which and what it cost).
* ``execute(regs, entry)`` accepts only function entries (0, local-call targets, ``lddw src=4``
  targets) as ``entry``: each is a native function.
* ``instructions_executed`` is exact, counted per basic block at the interpreter's block leaders,
  so budgets stop at the same instruction.  It also counts instructions run by helpers' callbacks
  into the program (``env.call_function``), which the interpreter currently drops.
* Registers: after a normal exit or an early end (legacy packet load past the packet, a helper
  raising ``ProgramAbort``) ``regs`` holds the registers exactly as with the interpreter; after a
  fault they are unspecified (native code keeps them in machine registers).  During a helper call
  after ``run``, ``env.regs`` shows the registers at the call; after ``execute(regs)`` it is the
  list given.
* ``trace`` runs the reference interpreter on the same machine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pybpf.helpers.registry import HelperRegistry
from pybpf.isa.instruction import Instruction
from pybpf.jit.cache import native_code
from pybpf.jit.compiler import CompileTimes, JitError
from pybpf.jit.runtime import NativeRunner
from pybpf.vm.codegen import function_entries
from pybpf.vm.interpreter import DEFAULT_BUDGET, MAX_CALL_DEPTH, STACK_SIZE, Interpreter, PseudoResolver
from pybpf.vm.memory import Memory, Region


class NativeMachine(Interpreter):
    """An interpreter machine that may run native code: the results of a native run stay in the
    runner's context until read, so ``regs`` and ``instructions_executed`` are properties."""

    runner: NativeRunner | None = None  # class default: the properties run before __init__ sets it
    _jit_regs: list[int]
    _jit_count: int

    @property
    def regs(self) -> list[int]:
        runner = self.runner
        if runner is not None and runner.pending:
            self._jit_regs = runner.take_regs()
        return self._jit_regs

    @regs.setter
    def regs(self, value: list[int]) -> None:
        runner = self.runner
        if runner is not None:
            runner.pending = False
        self._jit_regs = value

    @property
    def instructions_executed(self) -> int:
        runner = self.runner
        if runner is not None and runner.count_live:
            return runner.count()
        return self._jit_count

    @instructions_executed.setter
    def instructions_executed(self, value: int) -> None:
        runner = self.runner
        if runner is not None:
            runner.count_live = False
        self._jit_count = value


class JitEngine(NativeMachine):
    """Compiles ``program`` with LLVM when constructed and runs it natively.

    ``safe`` lists instruction indices whose memory access a verifier has proven in bounds: their
    run-time region check is left out (a wrong claim is undefined behaviour, so only pass what a
    verifier proved).  ``opt_level`` is LLVM's (0-3).  ``cache=False`` bypasses the in-memory and
    on-disk compile caches.  ``compile_times`` says where the code came from and what it cost.
    """

    runner: NativeRunner

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
        self.runner, self.compile_times = bind_native(self, self.safe, opt_level, cache)

    def run(
        self, mem: bytes | bytearray | Region | None = None, *, r1: int | None = None, r2: int | None = None
    ) -> int:
        """Run from instruction 0 and return r0 (the interpreter's conventions for ``mem``)."""
        return self.runner.run(mem, r1, r2)

    def execute(self, regs: list[int], entry: int = 0, *, tail_calls: int = 0) -> int:
        """Run natively with the given initial registers (r10 is set here) and return r0."""
        return self.runner.execute(regs, entry, tail_calls=tail_calls)

    def call_function(self, address: int, *args: int) -> int:
        """For helpers (bpf_loop & co.): run a function of this program natively, on a new frame."""
        return self.runner.call_function(address, *args)


def bind_native(
    machine: Interpreter, safe: frozenset[int], opt_level: int, cache: bool
) -> tuple[NativeRunner, CompileTimes]:
    """Compile (or fetch) native code for ``machine``'s program and bind it to the machine."""
    if machine.max_call_depth < 1 or machine.stack_size < 0:
        # r10-relative accesses are compiled on the premise that the outermost frame exists.
        raise JitError(f"the JIT needs at least one stack frame (max_call_depth={machine.max_call_depth})")
    native, times = native_code(
        machine.insns,
        machine.forms,
        stack_size=machine.stack_size,
        max_call_depth=machine.max_call_depth,
        safe=safe,
        opt_level=opt_level,
        use_cache=cache,
    )
    return NativeRunner(machine, native, function_entries(machine.insns, machine.forms)), times
