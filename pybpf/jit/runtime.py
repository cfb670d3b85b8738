"""Running native code on a machine: the context, the callback into Python, faults to exceptions.

A :class:`NativeRunner` binds one piece of :class:`~pybpf.jit.compiler.NativeCode` to one
machine (an :class:`~pybpf.vm.interpreter.Interpreter` or subclass: it supplies the memory, the
stack and code regions, the helpers and the budget).  Several runners may share the same code.

The Python <-> native boundary uses ctypes, which measured faster than cffi for this shape on
this project's machine (best of several runs of 300k calls): entering native code with one
pointer argument costs ~240 ns through ``ctypes.PYFUNCTYPE``, 265-500 ns through a cffi function
pointer, ~290 ns through ``ctypes.CFUNCTYPE``; with no argument at all (``pybpf_run`` reads the
context pointer from a global of the loaded code) ~110 ns.  A native -> Python callback with
eight integer arguments costs ~255 ns through ctypes and ~580 ns through cffi.  ``PYFUNCTYPE``
keeps the GIL while native code runs, which also makes callbacks cheap (no re-acquisition); the
instruction budget bounds how long that can be.  An engine runs one program at a time, like the
interpreter.  (Holding the GIL is also what makes the native map helpers' locking argument work,
see :mod:`pybpf.jit.maps`.)

Helpers are written in Python and see the same ``env`` as under the interpreter (the machine:
``env.memory``, ``env.pc``, ``env.stack``).  A helper's exception never unwinds through native
frames: the callback records it, sets the context status, and returns; native code then leaves
at once and :meth:`NativeRunner.execute` re-raises it.  Every other early stop (memory fault,
call depth, ...) is turned into the exception the interpreter raises for it, with the same type,
instruction index and message.  When the budget may run out before native code's next check,
native code hands the run over (``STATUS_TRANSFER``) and the reference interpreter finishes it
on the same machine (:meth:`NativeRunner._interpret`), which is what makes budget errors exact.
"""

from __future__ import annotations

import ctypes
import struct
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from pybpf.errors import BudgetExceededError, CallDepthError, HelperError, MemoryAccessError, VMError
from pybpf.isa.semantics import M64, signed
from pybpf.jit import abi
from pybpf.jit.batch import BatchContext, item_window
from pybpf.jit.compiler import NativeCode
from pybpf.jit.lower import lookup_sites, relocation_sites
from pybpf.jit.maps import NATIVE_HELPERS, NativeMaps
from pybpf.jit.rtlib import runtime_library
from pybpf.vm.interpreter import ProgramAbort, TailCall
from pybpf.vm.memory import Region

if TYPE_CHECKING:
    from pybpf.vm.interpreter import Interpreter

_RUN = struct.Struct(f"<{abi.RUN_SLOTS}Q")
_REGS = struct.Struct("<11Q")
_CALL_REGS = struct.Struct("<10Q")
_TWO = struct.Struct("<2Q")
_PACKET = struct.Struct("<3Q")
_ROW = struct.Struct(f"<{abi.REGION_WORDS}Q")
_XFER = struct.Struct(f"<{abi.XFER_WORDS}Q")
_BATCH = struct.Struct(f"<{abi.BATCH_WORDS}Q")
_U64 = struct.Struct("<Q")
_ENTRY_TYPE = ctypes.PYFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)
_BATCH_TYPE = ctypes.PYFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)
_RUN_TYPE = ctypes.PYFUNCTYPE(ctypes.c_uint64)
_CALLBACK_TYPE = ctypes.CFUNCTYPE(
    ctypes.c_uint64,
    ctypes.c_int64,
    ctypes.c_int64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_uint64,
    ctypes.c_int64,
)
_STATUS_OFFSET = 8 * abi.STATUS
_RUN_BYTES = 8 * abi.RUN_SLOTS
_COUNT_OFFSET = 8 * abi.COUNT
_TABLES_KEPT = 8
_SCRATCH_KEPT = 4
_HELPER_ID_LIMIT = 1 << 31  # callx: below this a register value is a helper id (interpreter's rule)


_UNSET = object()


def _arguments(region: Region | None, r1: int | None, r2: int | None) -> tuple[int, int]:
    """r1 and r2 of a run of ``region``: its address (0 when empty) and length, unless given."""
    a1 = region.base if region is not None and region.size else 0
    a2 = region.size if region is not None else 0
    return (a1 if r1 is None else r1 & M64), (a2 if r2 is None else r2 & M64)


def _never() -> int:  # pragma: no cover - placeholder until run() makes its first caller
    raise AssertionError("no caller yet")


def _address(buf: bytearray) -> tuple[int, object]:
    """Address of a bytearray's storage, and the ctypes view that keeps it exported."""
    view = (ctypes.c_char * max(len(buf), 1)).from_buffer(buf if buf else bytearray(1))
    return ctypes.addressof(view), view


class NativeRunner:
    """Runs native code for ``machine``; owns the context buffer and the Python callback.

    After :meth:`run` the registers (``pending``) and the instruction count (``count_live``) stay
    in the context until someone asks for them: the engines expose ``regs`` and
    ``instructions_executed`` as properties that unpack them on demand, which keeps a trivial run
    well under a microsecond of Python work.
    """

    def __init__(self, machine: Interpreter, native: NativeCode, entries: set[int]) -> None:
        self.machine = machine
        self.native = native  # keeps the code alive
        self.entries = frozenset(entries)
        self.pending = False  # the registers of the last run are still only in the context
        self.count_live = False  # the context holds the instruction count of the last run
        self.interpreting = False  # the interpreter is finishing a handed-over run
        self._nested = 0  # callbacks into the program in progress (helpers' env.call_function)
        self.ctx = bytearray(8 * abi.CTX_SLOTS)
        self._ctx_view = (ctypes.c_char * len(self.ctx)).from_buffer(self.ctx)
        self._ctx_addr = ctypes.addressof(self._ctx_view)
        self._view = memoryview(self.ctx)
        self._ctx_words = self._view.cast("Q")
        self._run = _RUN_TYPE(native.run_address)
        self._ctx_global = ctypes.c_void_p.from_address(native.ctx_global)
        self._call = _ENTRY_TYPE(native.call_address)
        library = runtime_library()
        self._batch = _BATCH_TYPE(library.batch)
        self._callback = _CALLBACK_TYPE(self._on_callback)
        self._error: BaseException | None = None
        # Region table: rebuilt when the memory's region list changes; tables of recent region
        # sets are kept, so alternating sets (run(mem) adds and removes one) cost a lookup.
        self._tables: dict[tuple[Region, ...], tuple[int, int, bytearray, object, dict[int, int], frozenset[int]]] = {}
        self._rows: dict[int, int] = {}  # id(region) -> row index in the current table
        self._table_addr = 0
        self._scratch: dict[int, Region] = {}
        self._template = b""
        self._fast_mem: object = _UNSET  # the region run()'s caller below is for
        self._fast_call: Callable[[], int] = _never
        self._general_mem: object = _UNSET  # the region of the last run that took the general path
        self._arg_table = bytearray(64)  # see set_table
        self._arg_table_addr, self._arg_table_view = _address(self._arg_table)
        self._arg_words = memoryview(self._arg_table).cast("Q")
        self._synced_version = -1  # the memory's version the region table was built for
        self._template_buf = bytearray(_RUN.size)  # the same, at a fixed address, for batches
        self._template_addr, self._template_view = _address(self._template_buf)
        self._template_budget: int | None = None
        self._stack_lo = 0
        self._lo_moved = False  # a callback from a deeper frame moved stack.lo during this run
        self._batch_rows: tuple[Region, bytearray] | None = None  # batch: the narrowed region, the descriptor
        self._desc = bytearray(8 * abi.BATCH_WORDS)
        self._desc_addr, self._desc_view = _address(self._desc)
        self._ctx_buffers: tuple[object, tuple[int, int, int, int], bytearray, bytearray, object, object] | None = None
        self._tables_built = False
        self._table_buf = bytearray()
        # Per-engine tables native code reads: resolved relocations, transfer frames, map descriptors.
        sites = len(relocation_sites(machine.insns, machine.forms))
        self._relocs = bytearray(8 * abi.RELOC_WORDS * max(sites, 1))
        relocs_addr, self._relocs_view = _address(self._relocs)
        self._xfer = bytearray(8 * abi.XFER_WORDS * (machine.max_call_depth + 1))
        xfer_addr, self._xfer_view = _address(self._xfer)
        self.maps = NativeMaps(self.ctx, machine.helpers, len(lookup_sites(machine.insns, machine.forms)))
        stack, code = machine.stack, machine.code
        for slot, value in (
            (abi.STACK_END, stack.end),
            (abi.STACK_BASE, stack.base),
            (abi.CODE_BASE, code.base),
            (abi.CODE_END, code.end),
            (abi.CALLBACK, ctypes.cast(self._callback, ctypes.c_void_p).value or 0),
            (abi.DIRTY_LO, stack.base),  # whatever ran before may have left the stack dirty
            (abi.RELOCS, relocs_addr),
            (abi.XFER, xfer_addr),
            *library.slots(),
        ):
            _U64.pack_into(self.ctx, 8 * slot, value)
        self._sync_regions()

    # -- results of the last run ------------------------------------------------------------------
    def take_regs(self) -> list[int]:
        """The registers at the end of the last run (unpacked from the context)."""
        self.pending = False
        return list(_REGS.unpack_from(self.ctx, 0))

    def count(self) -> int:
        value: int = _U64.unpack_from(self.ctx, _COUNT_OFFSET)[0]
        return value

    def stack_dirty(self) -> None:
        """Something other than native code used the stack: clear all of it before the next run."""
        _U64.pack_into(self.ctx, 8 * abi.DIRTY_LO, self.machine.stack.base)

    def forget_relocations(self) -> None:
        """Resolve every relocated ``lddw`` again on its next execution."""
        self._relocs[:] = bytes(len(self._relocs))

    # -- running ------------------------------------------------------------------------------
    def run(self, mem: bytes | bytearray | Region | None = None, r1: int | None = None, r2: int | None = None) -> int:
        """:meth:`Interpreter.run` without building a register list.

        Running the same region (or none) again with the default registers goes through a
        :meth:`caller` made for it on the second run in a row.  Input bytes are copied into a scratch
        region kept per length (instead of a new region per run), which is added to the memory
        for the run and removed afterwards, as the interpreter does with its copy.
        """
        if mem is self._fast_mem and r1 is None and r2 is None:
            return self._fast_call()
        r0 = self._run_general(mem, r1, r2)
        if r1 is None and r2 is None and (mem is None or isinstance(mem, Region)):
            if mem is self._general_mem:  # a second run in a row on this region: prepare it
                self._fast_mem, self._fast_call = mem, self.caller(mem)
            self._general_mem = mem
        return r0

    def caller(self, mem: Region | None = None, r1: int | None = None, r2: int | None = None) -> Callable[[], int]:
        """A function of no arguments that runs the program as ``run(mem, r1, r2)`` would.

        It is the cheapest way in from Python (the per-run slots come from a template that
        already holds ``mem`` as r1/r2 and as the packet; a run is one copy, the native call and a
        status test) and stays correct whatever happens between calls: when the region set, the
        budget, a tail-call chain or another engine's turn at the shared code changed something,
        that call takes the general path and the template is rebuilt.
        """
        m = self.machine
        memory, native, ctx, view, maps = m.memory, self.native, self.ctx, self._view, self.maps
        ctx_addr, run = self._ctx_addr, self._run
        state: list[Any] = [b"", None]  # the template and the budget it holds

        def general() -> int:
            r0 = self._run_general(mem, r1, r2)
            state[:] = [self._template_with(mem, *_arguments(mem, r1, r2)), self._template_budget]
            return r0

        def call() -> int:
            if not (
                memory.version == self._synced_version
                and m.budget == state[1]
                and not m.tail_calls
                and native.bound == ctx_addr
            ):
                return general()
            if maps.entries:
                maps.prepare(m)
            view[:_RUN_BYTES] = state[0]
            m.packet = mem
            m.stack.lo = self._stack_lo
            self._lo_moved = False
            self.pending = self.count_live = True
            try:
                r0: int = run()
            finally:
                if maps.held:
                    maps.disarm()
            status = ctx[_STATUS_OFFSET]
            if status:
                return self._finish(status, None, 0)
            return r0

        return call

    def set_table(self, values: Sequence[int]) -> None:
        """Point the context at an argument table holding ``values`` (u64 each)."""
        n = len(values)
        if 8 * n > len(self._arg_table):
            self._arg_table = bytearray(8 * max(n, 2 * len(self._arg_table) // 8, 8))
            self._arg_table_addr, self._arg_table_view = _address(self._arg_table)
            self._arg_words = memoryview(self._arg_table).cast("Q")
        if not isinstance(values, array) or values.typecode != "Q":
            try:
                values = array("Q", values)
            except OverflowError:
                values = array("Q", [v & M64 for v in values])
        self._arg_words[:n] = values
        self._ctx_words[abi.TABLE] = self._arg_table_addr
        self._ctx_words[abi.NTABLE] = n

    def _template_with(self, packet: Region | None, r1: int, r2: int) -> bytes:
        """The per-run slots of a run of ``packet`` with these r1 and r2 (after :meth:`_prepare`)."""
        template = bytearray(self._template)
        _TWO.pack_into(template, 8 * (abi.REGS + 1), r1, r2)
        if packet is not None:
            _PACKET.pack_into(template, 8 * abi.PACKET_BASE, packet.base, packet.size, 1)
        return bytes(template)

    def _run_general(self, mem: bytes | bytearray | Region | None, r1: int | None, r2: int | None) -> int:
        m = self.machine
        region: Region | None = None
        temporary = False
        if mem is not None:
            if isinstance(mem, Region):
                region = mem
                if m.memory.region_at(region.base) is not region:
                    m.memory.add(region)
            else:
                region = self._scratch.get(len(mem))
                if region is None:
                    if len(self._scratch) >= _SCRATCH_KEPT:
                        self._scratch.clear()
                    region = self._scratch[len(mem)] = Region("mem", bytearray(len(mem)), kind="memory")
                region.buf[:] = mem
                m.memory.add(region)
                temporary = True
        try:
            m.packet = region
            return self._enter(*_arguments(region, r1, r2), region)
        finally:
            if temporary:
                assert region is not None
                m.memory.remove(region)

    def _enter(self, r1: int, r2: int, packet: Region | None) -> int:
        self._prepare(packet)
        if r1 or r2:
            _TWO.pack_into(self.ctx, 8 * (abi.REGS + 1), r1, r2)
        m = self.machine
        if m.tail_calls:
            m.tail_calls = 0
        self.pending = self.count_live = True
        maps = self.maps
        if maps.entries:
            maps.prepare(m)
        # Disarm whatever is held at the end, whether or not the run started with described maps:
        # a run whose first map helper call goes through Python describes the map and arms it
        # after that call (see _on_callback), so it can end holding a lock it did not take here.
        try:
            r0: int = self._run()
        finally:
            if maps.held:
                maps.disarm()
        status = self.ctx[_STATUS_OFFSET]
        if status == abi.STATUS_OK:
            return r0
        return self._finish(status, None, 0)

    def execute(self, regs: list[int], entry: int = 0, *, tail_calls: int = 0) -> int:
        """Run from function ``entry`` with the given registers (r10 is set here); return r0.

        ``regs`` receives the registers at exit, as with the interpreter; ``tail_calls`` counts
        the tail calls that led here.
        """
        m = self.machine
        if entry not in self.entries:
            raise VMError(entry, f"the JIT can only enter a program at a function entry, not at instruction {entry}")
        regs[10] = m.stack.end
        m.regs = regs
        m.tail_calls = tail_calls
        self._prepare(m.packet)
        ctx = self.ctx
        try:
            _REGS.pack_into(ctx, 0, *regs)
        except struct.error:
            _REGS.pack_into(ctx, 0, *(v & M64 for v in regs))
        if entry:
            _U64.pack_into(ctx, 8 * abi.ENTRY, entry)
        self.count_live = True
        maps = self.maps
        if maps.entries:
            maps.prepare(m)
        try:  # disarm at the end even if no map was described at the start (see _enter)
            r0: int = self._run()
        finally:
            if maps.held:
                maps.disarm()
        status = ctx[_STATUS_OFFSET]
        if status == abi.STATUS_OK:
            regs[:] = _REGS.unpack_from(ctx, 0)
            return r0
        return self._finish(status, regs, tail_calls)

    def _prepare(self, packet: Region | None) -> None:
        """Everything a run needs in the context except the registers and the entry."""
        m = self.machine
        if m.memory.version != self._synced_version:
            self._sync_regions()
        if m.budget != self._template_budget:
            self._build_template()
        self._view[:_RUN_BYTES] = self._template  # memoryview slice: half the cost of bytearray's
        if packet is not None:
            _PACKET.pack_into(self.ctx, 8 * abi.PACKET_BASE, packet.base, packet.size, 1)
        stack = m.stack
        if stack.lo != self._stack_lo:
            stack.lo = self._stack_lo
        self._lo_moved = False
        native = self.native
        if native.bound != self._ctx_addr:  # engines sharing this code take turns at its context pointer
            self._ctx_global.value = self._ctx_addr
            native.bound = self._ctx_addr

    def _build_template(self) -> None:
        """The per-run context slots as bytes: zero registers but r10, status 0, entry 0, count 0,
        the budget, the outermost frame as the stack's live part, no packet."""
        m = self.machine
        stack = m.stack
        budget = min(max(m.budget, 0), 1 << 63)  # more is never reached; native code adds 1 to it
        regs = [0] * 10 + [stack.end]
        self._stack_lo = stack.size - m.stack_size
        self._template = _RUN.pack(*regs, 0, 0, 0, budget, stack.end - m.stack_size, 0, 0, 0)
        self._template_buf[:] = self._template
        self._template_budget = m.budget

    def _finish(self, status: int, regs: list[int] | None, tail_calls: int) -> int:
        """After an early stop: the result of an abort, a tail call or a budget hand-over, or
        the interpreter's error.

        ``regs`` is the caller's register list (None for :meth:`run`, whose registers stay in the
        context).  After a fault the registers are unspecified: native code keeps them in machine
        registers, and the context holds the last helper call's snapshot at best.
        """
        if status == abi.STATUS_ABORT:
            if regs is not None:
                regs[:] = _REGS.unpack_from(self.ctx, 0)
            return self._slot(abi.REGS)
        if status == abi.STATUS_TRANSFER:
            return self._interpret(regs, tail_calls)
        if status == abi.STATUS_PYTHON and isinstance(self._error, TailCall):
            target, self._error = self._error.target, None
            self.machine.instructions_executed = self.count()
            return target.execute([0, self._slot(abi.REGS + 1)] + [0] * 9, tail_calls=tail_calls + 1)
        self._raise_stopped(status)

    # -- budget hand-over -----------------------------------------------------------------------
    def _handed_over(self) -> tuple[list[int], int, int, list[tuple[int, ...]]]:
        """Registers, block leader, count and caller frames (outermost first) of a hand-over."""
        ctx = self.ctx
        regs = list(_REGS.unpack_from(ctx, 0))
        pc = self._slot(abi.FAULT_PC)
        count = self._slot(abi.COUNT)
        records = [_XFER.unpack_from(self._xfer, 8 * abi.XFER_WORDS * k) for k in range(self._slot(abi.XFER_N))]
        _U64.pack_into(ctx, 8 * abi.XFER_N, 0)
        _U64.pack_into(ctx, _STATUS_OFFSET, abi.STATUS_OK)
        records.reverse()  # callers appended themselves innermost first
        return regs, pc, count, records

    def _interpreter_ready(self) -> None:
        m = self.machine
        if m._blocks is None:  # the interpreter's translation, made on first use
            from pybpf.vm.codegen import compile_program

            m._compiled = compile_program(m.insns, m.forms, frame_size=m.stack_size)
            m._blocks = m._compiled.bind(**m._bindings())
            m._lengths = m._compiled.length_table()
        self.stack_dirty()

    def _interpret(self, regs_out: list[int] | None, tail_calls: int) -> int:
        """Finish a top-level run with the reference interpreter from where native code stopped
        (see "Budget" in :mod:`pybpf.jit.lower`): same budget error, same effects, same count."""
        m = self.machine
        regs, pc, count, frames = self._handed_over()
        self._interpreter_ready()
        m.stack.lo = self._slot(abi.STACK_LO) - m.stack.base
        m._frames = [tuple(f) for f in frames]  # type: ignore[misc]
        m.regs = regs
        m._count = count
        self.interpreting = True
        try:
            end = m._loop(pc, regs)
        except ProgramAbort as stop:
            regs[0] = stop.r0
            end = -1
        except TailCall as call:
            m.instructions_executed = m._count
            return call.target.execute([0, regs[1]] + [0] * 9, tail_calls=tail_calls + 1)
        finally:
            self.interpreting = False
            m.instructions_executed = m._count
            m._frames = []
        if end == -2:
            raise VMError(len(m.insns) - 1, "execution ran past the last instruction")
        if regs_out is not None:
            regs_out[:] = regs
        return regs[0]

    def call_function(self, address: int, *args: int) -> int:
        """``env.call_function`` for helpers: run a function of the program on a fresh frame.

        Called from a helper while native code is suspended in the callback, so it works on the
        live stack, below the frame of the instruction that called the helper; the registers
        that instruction had (snapshotted into the context) are the callee's initial ones, with
        r1-r5 replaced by ``args``, exactly as the interpreter does it.
        """
        m = self.machine
        code = m.code
        offset = address - code.base
        entry = offset // 8
        if not 0 <= offset < code.size or offset % 8 or entry not in self.entries:
            raise HelperError(m.pc, f"callback 0x{address:x} is not a function of this program")
        caller_pc = m.pc
        ctx = self.ctx
        snapshot = _REGS.unpack_from(ctx, 0)
        r10 = snapshot[10]
        frame = m.stack_size
        if r10 - m.stack.base <= frame:
            raise CallDepthError(caller_pc, f"call depth limit of {m.max_call_depth} frames exceeded")
        regs = list(snapshot[:10])
        for i, value in enumerate(args, 1):
            regs[i] = value & M64
        if self.machine.memory.version != self._synced_version:  # the helper may have mapped memory for the callee
            self._sync_regions()
        _CALL_REGS.pack_into(ctx, 8 * abi.CALL_REGS, *regs[:10])
        _U64.pack_into(ctx, 8 * abi.CALL_ENTRY, entry)
        _U64.pack_into(ctx, 8 * abi.CALL_R10, r10 - frame)
        _U64.pack_into(ctx, 8 * abi.STACK_LO, r10 - 2 * frame)
        self._nested += 1
        try:
            self._call(self._ctx_addr)
            status = ctx[_STATUS_OFFSET]
            if status == abi.STATUS_TRANSFER:
                return self._interpret_callback(snapshot, caller_pc)
            if status:
                _U64.pack_into(ctx, _STATUS_OFFSET, abi.STATUS_OK)  # the helper may catch what follows
                if status == abi.STATUS_ABORT:
                    raise ProgramAbort(self._slot(abi.REGS))
                self._raise_stopped(status)
        finally:
            self._nested -= 1
            _U64.pack_into(ctx, 8 * abi.STACK_LO, r10 - frame)
            _REGS.pack_into(ctx, 0, *snapshot)
            m.stack.lo = r10 - frame - m.stack.base
        m.pc = caller_pc
        return self._slot(abi.CALL_REGS)

    def _interpret_callback(self, snapshot: Sequence[int], caller_pc: int) -> int:
        """A callback into the program handed over: the interpreter finishes the callee (whose
        own frame returns to "index -1", as in :meth:`Interpreter.call_function`) and the count
        goes back to the suspended native run."""
        m = self.machine
        regs, pc, count, frames = self._handed_over()
        self._interpreter_ready()
        m.stack.lo = self._slot(abi.STACK_LO) - m.stack.base
        outer = (-1, *snapshot[6:11])
        m._frames = [outer, *(tuple(f) for f in frames)]  # type: ignore[list-item]
        m._count = count
        self.interpreting = True
        saved = m.regs
        m.regs = regs
        try:
            end = m._loop(pc, regs)
        finally:
            self.interpreting = False
            m._frames = []
            m.regs = saved
            _U64.pack_into(self.ctx, _COUNT_OFFSET, m._count)
        if end == -2:
            raise VMError(len(m.insns) - 1, "execution ran past the last instruction")
        m.pc = caller_pc
        return regs[0]

    # -- batches --------------------------------------------------------------------------------
    def run_batch(
        self,
        data: bytes | bytearray | memoryview | Region,
        offsets: Sequence[int],
        lengths: Sequence[int],
        out: array[int] | None,
        context: BatchContext | None,
    ) -> array[int]:
        """See :meth:`pybpf.jit.engine.JitEngine.run_batch` and :mod:`pybpf.jit.batch`.

        The fixed cost of a call is kept to a few microseconds (a reused descriptor, the
        context's template and patches converted once, the region table narrowed and restored
        in place), so batches of a thousand items already amortise it."""
        m = self.machine
        n = len(offsets)
        if len(lengths) != n:
            raise ValueError(f"{n} offsets but {len(lengths)} lengths")
        offs = offsets if isinstance(offsets, array) and offsets.typecode == "Q" else array("Q", offsets)
        lens = lengths if isinstance(lengths, array) and lengths.typecode == "Q" else array("Q", lengths)
        if out is None:
            out = array("Q", bytes(8 * n))
        elif not (isinstance(out, array) and out.typecode == "Q") or len(out) < n:
            raise ValueError("out must be an array('Q') with room for every result")
        if n == 0:
            return out
        if isinstance(data, Region):
            region, temporary = data, False
        else:
            buf = data if isinstance(data, bytearray) else bytearray(data)
            region, temporary = Region("batch", buf, kind="memory"), True
        memory = m.memory
        frame = context.frame if context is not None else None
        added = frame is None and memory.region_at(region.base) is not region
        if added:
            memory.add(region)
        narrowed: Region | None = None
        if context is None or context.narrow:
            narrowed = region if frame is None else frame
        saved_bounds = (narrowed.lo, narrowed.hi) if narrowed is not None else (0, 0)
        desc = self._desc
        try:
            self._prepare(None)
            words = [0] * abi.BATCH_WORDS
            words[abi.BATCH_N] = n
            words[abi.BATCH_DATA] = region.base
            words[abi.BATCH_SIZE] = region.size
            words[abi.BATCH_OFFSETS] = offs.buffer_info()[0]
            words[abi.BATCH_LENGTHS] = lens.buffer_info()[0]
            words[abi.BATCH_OUT] = out.buffer_info()[0]
            words[abi.BATCH_ENTRY] = self.native.address
            words[abi.BATCH_RUN_TEMPLATE] = self._template_addr
            if context is not None:
                words[abi.BATCH_CTX] = context.region.base
                t_addr, t_len, p_addr, n_patches = self._context_buffers(context)
                words[abi.BATCH_TEMPLATE], words[abi.BATCH_TEMPLATE_LEN] = t_addr, t_len
                words[abi.BATCH_PATCHES], words[abi.BATCH_NPATCHES] = p_addr, n_patches
                if frame is not None:
                    words[abi.BATCH_FRAME] = frame.base
                    words[abi.BATCH_FRAME_SIZE] = frame.size
                    words[abi.BATCH_HEADROOM] = context.headroom
                    words[abi.BATCH_FRAME_DIRTY] = frame.size  # unknown contents: clear it all once
                    words[abi.BATCH_COPY_BACK] = int(context.copy_back)
            _BATCH.pack_into(desc, 0, *words)
            if narrowed is not None:
                self._batch_rows = (narrowed, desc)
                self._batch_row()
            self._tables_built = False  # from here on, a new table would hold a narrowed row
            self.pending = self.count_live = True
            maps = self.maps
            while True:
                if maps.entries:
                    maps.prepare(m)
                try:
                    status = self._batch(self._ctx_addr, self._desc_addr)
                finally:
                    maps.disarm()
                if status == abi.STATUS_OK:
                    break
                i = _U64.unpack_from(desc, 8 * abi.BATCH_NEXT)[0]
                if status == abi.STATUS_BAD_ITEM:
                    raise ValueError(
                        f"batch item {i} (offset {offs[i]}, length {lens[i]}) does not fit its buffer"
                        + (" or the frame" if frame is not None else "")
                    )
                out[i] = self._finish_item(status, i, region, narrowed, offs[i], lens[i], context) & M64
                if frame is not None and context is not None and context.copy_back:
                    head, off, length = context.headroom, offs[i], lens[i]
                    region.buf[off : off + length] = frame.buf[head : head + length]
                _U64.pack_into(desc, 8 * abi.BATCH_NEXT, i + 1)
                self._prepare(None)
            return out
        finally:
            self._batch_rows = None
            if narrowed is not None:
                narrowed.lo, narrowed.hi = saved_bounds
                if self._tables_built:  # tables built during the batch hold narrowed bounds
                    self._tables.clear()
                    self._sync_regions()
                else:
                    self._restore_row(narrowed)
            if added:
                memory.remove(region)
            if temporary:
                region.release()

    def _context_buffers(self, context: BatchContext) -> tuple[int, int, int, int]:
        """Template and patches of ``context`` at fixed addresses (kept for the last context)."""
        key = (bytes(context.template), tuple(context.pointers))
        cached = self._ctx_buffers
        if cached is None or cached[0] != key:
            template = bytearray(context.template)
            patches = bytearray(b"".join(struct.pack("<3Q", *p) for p in context.pointers))
            t_addr, t_view = _address(template)
            p_addr, p_view = _address(patches)
            cached = self._ctx_buffers = (
                key,
                (t_addr, len(template), p_addr, len(context.pointers)),
                template,
                patches,
                t_view,
                p_view,
            )
        return cached[1]

    def _restore_row(self, region: Region) -> None:
        """The region's row of the current table back to its real live bounds."""
        row = self._rows.get(id(region))
        if row is not None:
            _TWO.pack_into(
                self._table_buf, 8 * abi.REGION_WORDS * row, region.base + region.lo, region.base + region.hi
            )

    def _finish_item(
        self,
        status: int,
        index: int,
        region: Region,
        narrowed: Region | None,
        off: int,
        length: int,
        context: BatchContext | None,
    ) -> int:
        """Python's part of a batch item native code stopped at: the result, or the exception
        (with ``batch_index``) the same run would raise on its own."""
        m = self.machine
        frame = context.frame if context is not None else None
        if context is None or frame is None:
            start, window = region.base + off, item_window(region.buf, off, length, region.base + off)
        else:
            start = frame.base + context.headroom
            window = item_window(frame.buf, context.headroom, length, start)
        if narrowed is not None:
            narrowed.lo, narrowed.hi = start - narrowed.base, start - narrowed.base + length
        m.packet = window
        try:
            return self._finish(status, None, 0)
        except BaseException as exc:
            exc.batch_index = index  # type: ignore[attr-defined]
            exc.add_note(f"(batch item {index})")
            raise
        finally:
            m.packet = None

    def _batch_row(self) -> None:
        """Point the batch descriptor at the current table's row of the narrowed region (0 if
        the region is not in the table); called again whenever a helper changed the region set."""
        if self._batch_rows is None:
            return
        region, desc = self._batch_rows
        row = self._rows.get(id(region))
        addr = 0 if row is None else self._table_addr + 8 * abi.REGION_WORDS * row
        _U64.pack_into(desc, 8 * abi.BATCH_ROW, addr)

    def _batch_sync(self) -> None:
        """Before Python runs during a batch: the narrowed region's bounds as native code set them."""
        if self._batch_rows is None:
            return
        region, desc = self._batch_rows
        addr = _U64.unpack_from(desc, 8 * abi.BATCH_ROW)[0]
        if addr:
            lo, hi = _TWO.unpack(ctypes.string_at(addr, 16))
            region.lo, region.hi = lo - region.base, hi - region.base

    # -- errors -----------------------------------------------------------------------------------
    def _raise_stopped(self, status: int) -> NoReturn:
        """Native code stopped early: raise what the interpreter raises in the same situation."""
        m = self.machine
        m.stack.lo = self._slot(abi.STACK_LO) - m.stack.base
        pc = signed(self._slot(abi.FAULT_PC), 64)
        if status == abi.STATUS_PYTHON:
            error, self._error = self._error, None
            if error is None:  # pragma: no cover - the callback always records one
                raise VMError(pc, "JIT callback failed without an exception")
            raise error
        if status == abi.STATUS_MEMORY:
            raise self._memory_error(pc)
        if status == abi.STATUS_BUDGET:  # pragma: no cover - budgets are handed over, see _interpret
            raise BudgetExceededError(pc, m.budget)
        if status == abi.STATUS_CALL_DEPTH:
            raise CallDepthError(pc, f"call depth limit of {m.max_call_depth} frames exceeded")
        if status == abi.STATUS_CALLX_TARGET:
            raise VMError(pc, f"callx target 0x{self._slot(abi.FAULT_ADDR):x} is not the entry of a function")
        if status == abi.STATUS_RAN_OFF:
            raise VMError(pc, "execution ran past the last instruction")
        if status == abi.STATUS_NO_PACKET:
            raise VMError(pc, "legacy packet load in a program that has no packet")
        raise VMError(pc, f"JIT stopped with unknown status {status}")  # pragma: no cover

    def _memory_error(self, pc: int) -> MemoryAccessError:
        """The interpreter's error for the failed access (same region lookup, same wording)."""
        memory = self.machine.memory
        address = self._slot(abi.FAULT_ADDR)
        size = self._slot(abi.FAULT_SIZE)
        write = bool(self._slot(abi.FAULT_WRITE))
        region = memory.region_at(address)
        if region is None or not region.contains(address, size):
            detail = memory.describe_miss(address, size)
        elif write and not region.writable:
            detail = f"region {region.name} is read-only"
        elif not write and not region.readable:
            detail = f"region {region.name} is not readable"
        else:  # pragma: no cover - native and Python region checks disagree: a JIT bug
            detail = "rejected by the JIT's region check although the region allows it"
        return MemoryAccessError(pc, address, size, write, detail)

    def _slot(self, slot: int) -> int:
        value: int = _U64.unpack_from(self.ctx, 8 * slot)[0]
        return value

    # -- regions --------------------------------------------------------------------------------
    def _sync_regions(self) -> None:
        """Point the context at a native region table for the machine's current regions.

        The stack is not in the table: its live part moves with calls, so native code tracks it
        in the context.  Tables of the last few region sets are kept, keyed by the regions
        themselves (the key holds them, so a cached table never outlives its regions' buffers);
        ``run(mem)`` alternates between two sets, and switching costs a dictionary lookup.  Live
        bounds (``lo``/``hi``) of regions other than the stack are read when a table is built.
        """
        m = self.machine
        regions = list(m.memory)
        self._synced_version = m.memory.version
        key = tuple(regions)
        entry = self._tables.get(key)
        if entry is None:
            listed = [r for r in regions if r is not m.stack]
            rows = [
                (
                    r.base + r.lo,
                    r.base + r.hi,
                    (abi.FLAG_READ if r.readable else 0) | (abi.FLAG_WRITE if r.writable else 0),
                )
                for r in listed
            ]
            table = bytearray(8 * abi.REGION_WORDS * max(len(rows), 1))
            for k, row in enumerate(rows):
                _ROW.pack_into(table, 8 * abi.REGION_WORDS * k, *row)
            view = (ctypes.c_char * len(table)).from_buffer(table)
            index = {id(r): k for k, r in enumerate(listed)}
            entry = (len(rows), ctypes.addressof(view), table, view, index, frozenset(id(r) for r in regions))
            if len(self._tables) >= _TABLES_KEPT:
                self._tables.clear()
            self._tables[key] = entry
            self._tables_built = True
        self._rows = entry[4]
        self._table_buf = entry[2]
        self._table_addr = entry[1]
        _TWO.pack_into(self.ctx, 8 * abi.NREGIONS, entry[0], entry[1])
        if self.maps.entries:
            self.maps.regions_changed(entry[5])
        if self._batch_rows is not None:
            self._batch_row()

    # -- the callback from native code ----------------------------------------------------------
    def _on_callback(self, kind: int, a: int, r1: int, r2: int, r3: int, r4: int, r5: int, pc: int) -> int:
        """Helper calls, callx to a non-code value, kfuncs and lddw relocations.

        Must never raise: an exception here would be printed and swallowed by ctypes.  Anything
        raised is recorded and the status set, and native code returns straight to
        :meth:`execute`.  Map locks this engine holds are released while Python runs.
        """
        m = self.machine
        maps = self.maps
        try:
            if maps.held:
                maps.disarm()
            if self._batch_rows is not None:
                self._batch_sync()
            # Helpers check stack pointers against the stack's live part: the caller's frame depth
            # comes with the kind (main-frame calls, the common case, need no work).
            if kind > abi.CB_KIND_MASK or self._lo_moved:
                m.stack.lo = self._stack_lo - (kind >> abi.CB_FRAME_SHIFT) * m.stack_size
                self._lo_moved = kind > abi.CB_KIND_MASK
                kind &= abi.CB_KIND_MASK
            regs = [0, r1, r2, r3, r4, r5]
            if kind == abi.CB_HELPER:
                result = m.call_helper(a, regs, pc)
                if a in NATIVE_HELPERS:
                    maps.note(m, a, r1)
            elif kind == abi.CB_CALLX:
                value = a & M64
                if value < _HELPER_ID_LIMIT:
                    result = m.call_helper(value, regs, pc)
                else:
                    result = m._bad_callx(value, pc)
            elif kind == abi.CB_KFUNC:
                result = m._call_kfunc(a, regs, pc)
            else:
                result = m._pseudo(a, signed(r1, 64), signed(r2, 64), pc)
            if m.memory.version != self._synced_version:
                self._sync_regions()
            if maps.mutable and not (self.interpreting or self._nested):
                maps.arm()
            return result & M64  # ctypes would print and drop an out-of-range result
        except ProgramAbort as stop:
            _U64.pack_into(self.ctx, 8 * abi.REGS, stop.r0 & M64)
            _U64.pack_into(self.ctx, _STATUS_OFFSET, abi.STATUS_ABORT)
        except BaseException as exc:  # re-raised by execute() once native frames are gone
            self._error = exc
            _U64.pack_into(self.ctx, _STATUS_OFFSET, abi.STATUS_PYTHON)
        return 0
