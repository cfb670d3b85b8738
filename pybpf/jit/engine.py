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
* Registers and stack: after a normal exit or an early end (legacy packet load past the packet, a
  helper raising ``ProgramAbort``) ``regs`` and the stack hold exactly what the interpreter leaves;
  after a fault both are unspecified (native code keeps registers in machine registers and the
  slots of private frames in SSA values).  During a helper call
  after ``run``, ``env.regs`` shows the registers at the call; after ``execute(regs)`` it is the
  list given.
* ``trace`` runs the reference interpreter on the same machine.
* A run whose budget may run out before native code's next budget check is finished by the
  reference interpreter (see "Budget" in :mod:`pybpf.jit.lower`); helpers then see an
  interpreted run, which only differs in speed.
* :meth:`JitEngine.run_batch` runs the program over many inputs in one native call.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence

from pybpf.helpers.registry import HelperRegistry
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import Kind
from pybpf.jit.batch import BatchContext
from pybpf.jit.cache import native_code
from pybpf.jit.compiler import CompileTimes, JitError, NativeCode
from pybpf.jit.runtime import NativeRunner
from pybpf.vm.codegen import function_entries
from pybpf.vm.interpreter import DEFAULT_BUDGET, MAX_CALL_DEPTH, STACK_SIZE, Interpreter, PseudoResolver, TraceStep
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

    def trace(self, regs: list[int], emit: Callable[[TraceStep], None], entry: int = 0) -> int:
        """The reference interpreter, one instruction at a time, on this machine."""
        try:
            return super().trace(regs, emit, entry)
        finally:
            if self.runner is not None:
                self.runner.stack_dirty()


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
        self.uses_table = calls_table_helpers(self)

    def run(
        self, mem: bytes | bytearray | Region | None = None, *, r1: int | None = None, r2: int | None = None
    ) -> int:
        """Run from instruction 0 and return r0 (the interpreter's conventions for ``mem``)."""
        return self.runner.run(mem, r1, r2)

    def caller(self, mem: Region | None = None, *, r1: int | None = None, r2: int | None = None) -> Callable[[], int]:
        """A function of no arguments that runs the program as ``run(mem, r1=r1, r2=r2)`` does,
        with the run prepared once (see :meth:`NativeRunner.caller`)."""
        return self.runner.caller(mem, r1, r2)

    def set_table(self, values: Sequence[int]) -> None:
        """The argument table that table helpers read inline (see ``Helper.table``)."""
        self.runner.set_table(values)

    def execute(self, regs: list[int], entry: int = 0, *, tail_calls: int = 0) -> int:
        """Run natively with the given initial registers (r10 is set here) and return r0."""
        return self.runner.execute(regs, entry, tail_calls=tail_calls)

    def call_function(self, address: int, *args: int) -> int:
        """For helpers (bpf_loop & co.): run a function of this program natively, on a new frame
        (interpreted while the interpreter finishes a handed-over run)."""
        if self.runner.interpreting:
            return Interpreter.call_function(self, address, *args)
        return self.runner.call_function(address, *args)

    def run_batch(
        self,
        data: bytes | bytearray | memoryview | Region,
        offsets: Sequence[int],
        lengths: Sequence[int],
        *,
        out: array[int] | None = None,
        context: BatchContext | None = None,
    ) -> array[int]:
        """Run the program once per item, all in one native call; returns r0 of every run.

        Item ``i`` is ``data[offsets[i] : offsets[i] + lengths[i]]`` (``data`` a bytes-like
        buffer, or a :class:`Region` whose writes the caller wants to keep; ``offsets`` and
        ``lengths`` ideally ``array('Q')``, anything else is converted).  Without ``context`` a
        run gets ``r1`` = the item's address and ``r2`` = its length, exactly like ``run(item)``;
        with a :class:`~pybpf.jit.batch.BatchContext` it gets ``r1`` = that context, rebuilt
        for the item natively (XDP-style programs).  Each run is independent and sees only its
        item.  Results go to ``out`` (an ``array('Q')`` of at least N entries, reused across
        calls to save an allocation) or a new array.  An item that fails raises what ``run``
        would raise, with ``batch_index`` set on the exception; ``out`` then holds the results
        of the items before it.  ``instructions_executed`` and ``regs`` describe the last item.
        """
        return self.runner.run_batch(data, offsets, lengths, out, context)


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
        table_helpers=table_helpers(machine.helpers),
    )
    return bind_compiled(machine, native), times


def table_helpers(helpers: HelperRegistry) -> frozenset[int]:
    """Ids of the registry's table helpers (compiled to read the argument table inline)."""
    return frozenset(h.id for h in helpers if h.table)


def calls_table_helpers(machine: Interpreter) -> bool:
    """Whether the program calls a table helper (so native runs read the argument table)."""
    ids = table_helpers(machine.helpers)
    return bool(ids) and any(
        form.kind is Kind.CALL and insn.imm in ids for insn, form in zip(machine.insns, machine.forms, strict=True)
    )


def bind_compiled(machine: Interpreter, native: NativeCode) -> NativeRunner:
    """A runner for ``machine`` over already compiled (or cached) code."""
    return NativeRunner(machine, native, function_entries(machine.insns, machine.forms))
