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
interpreter.

Helpers are written in Python and see the same ``env`` as under the interpreter (the machine:
``env.memory``, ``env.pc``, ``env.stack``).  A helper's exception never unwinds through native
frames: the callback records it, sets the context status, and returns; native code then leaves
at once and :meth:`NativeRunner.execute` re-raises it.  Every other early stop (memory fault,
budget, call depth, ...) is turned into the exception the interpreter raises for it, with the
same type, instruction index and message.
"""

from __future__ import annotations

import ctypes
import struct
from typing import TYPE_CHECKING, NoReturn

from pybpf.errors import BudgetExceededError, CallDepthError, HelperError, MemoryAccessError, VMError
from pybpf.isa.semantics import M64, signed
from pybpf.jit import abi
from pybpf.jit.compiler import NativeCode
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
_U64 = struct.Struct("<Q")
_ENTRY_TYPE = ctypes.PYFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)
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
        self.ctx = bytearray(8 * abi.CTX_SLOTS)
        self._ctx_view = (ctypes.c_char * len(self.ctx)).from_buffer(self.ctx)
        self._ctx_addr = ctypes.addressof(self._ctx_view)
        self._view = memoryview(self.ctx)
        self._run = _RUN_TYPE(native.run_address)
        self._ctx_global = ctypes.c_void_p.from_address(native.ctx_global)
        self._call = _ENTRY_TYPE(native.call_address)
        self._callback = _CALLBACK_TYPE(self._on_callback)
        self._error: BaseException | None = None
        # Region table: rebuilt when the memory's region list changes; tables of recent region
        # sets are kept, so alternating sets (run(mem) adds and removes one) cost a lookup.
        self._live: list[Region] | None = getattr(machine.memory, "_regions", None)
        self._seen: list[Region] = []
        self._tables: dict[tuple[Region, ...], tuple[int, int, bytearray, object]] = {}
        self._scratch: dict[int, Region] = {}
        self._template = b""
        self._template_budget: int | None = None
        self._stack_lo = 0
        self._lo_moved = False  # a callback from a deeper frame moved stack.lo during this run
        stack, code = machine.stack, machine.code
        for slot, value in (
            (abi.STACK_END, stack.end),
            (abi.STACK_BASE, stack.base),
            (abi.CODE_BASE, code.base),
            (abi.CODE_END, code.end),
            (abi.CALLBACK, ctypes.cast(self._callback, ctypes.c_void_p).value or 0),
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

    # -- running ------------------------------------------------------------------------------
    def run(self, mem: bytes | bytearray | Region | None, r1: int | None, r2: int | None) -> int:
        """:meth:`Interpreter.run` without building a register list.

        Input bytes are copied into a scratch region kept per length (instead of a new region per
        run), which is added to the memory for the run and removed afterwards, as the interpreter
        does with its copy.
        """
        m = self.machine
        region: Region | None = None
        temporary = False
        if mem is not None:
            if isinstance(mem, Region):
                region = mem
                if region not in list(m.memory):
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
            a1 = a2 = 0
            if region is not None:
                a1 = region.base if region.size else 0
                a2 = region.size
            if r1 is not None:
                a1 = r1 & M64
            if r2 is not None:
                a2 = r2 & M64
            return self._enter(a1, a2, region)
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
        r0: int = self._run()
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
        r0: int = self._run()
        status = ctx[_STATUS_OFFSET]
        if status == abi.STATUS_OK:
            regs[:] = _REGS.unpack_from(ctx, 0)
            return r0
        return self._finish(status, regs, tail_calls)

    def _prepare(self, packet: Region | None) -> None:
        """Everything a run needs in the context except the registers and the entry."""
        m = self.machine
        live = self._live
        if live is None or live != self._seen:
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
        budget = min(max(m.budget, 0), M64)
        regs = [0] * 10 + [stack.end]
        self._stack_lo = stack.size - m.stack_size
        self._template = _RUN.pack(*regs, 0, 0, 0, budget, stack.end - m.stack_size, 0, 0, 0)
        self._template_budget = m.budget

    def _finish(self, status: int, regs: list[int] | None, tail_calls: int) -> int:
        """After an early stop: the result of an abort or a tail call, or the interpreter's error.

        ``regs`` is the caller's register list (None for :meth:`run`, whose registers stay in the
        context).  After a fault the registers are unspecified: native code keeps them in machine
        registers, and the context holds the last helper call's snapshot at best.
        """
        if status == abi.STATUS_ABORT:
            if regs is not None:
                regs[:] = _REGS.unpack_from(self.ctx, 0)
            return self._slot(abi.REGS)
        if status == abi.STATUS_PYTHON and isinstance(self._error, TailCall):
            target, self._error = self._error.target, None
            self.machine.instructions_executed = self.count()
            return target.execute([0, self._slot(abi.REGS + 1)] + [0] * 9, tail_calls=tail_calls + 1)
        self._raise_stopped(status)

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
        live = self._live
        if live is None or live != self._seen:  # the helper may have mapped memory for the callee
            self._sync_regions()
        _CALL_REGS.pack_into(ctx, 8 * abi.CALL_REGS, *regs[:10])
        _U64.pack_into(ctx, 8 * abi.CALL_ENTRY, entry)
        _U64.pack_into(ctx, 8 * abi.CALL_R10, r10 - frame)
        _U64.pack_into(ctx, 8 * abi.STACK_LO, r10 - 2 * frame)
        try:
            self._call(self._ctx_addr)
            status = ctx[_STATUS_OFFSET]
            if status:
                _U64.pack_into(ctx, _STATUS_OFFSET, abi.STATUS_OK)  # the helper may catch what follows
                if status == abi.STATUS_ABORT:
                    raise ProgramAbort(self._slot(abi.REGS))
                self._raise_stopped(status)
        finally:
            _U64.pack_into(ctx, 8 * abi.STACK_LO, r10 - frame)
            _REGS.pack_into(ctx, 0, *snapshot)
            m.stack.lo = r10 - frame - m.stack.base
        m.pc = caller_pc
        return self._slot(abi.CALL_REGS)

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
        if status == abi.STATUS_BUDGET:
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
        self._seen = regions
        key = tuple(regions)
        entry = self._tables.get(key)
        if entry is None:
            rows = [
                (
                    r.base + r.lo,
                    r.base + r.hi,
                    (abi.FLAG_READ if r.readable else 0) | (abi.FLAG_WRITE if r.writable else 0),
                )
                for r in regions
                if r is not m.stack
            ]
            table = bytearray(8 * abi.REGION_WORDS * max(len(rows), 1))
            for k, row in enumerate(rows):
                _ROW.pack_into(table, 8 * abi.REGION_WORDS * k, *row)
            view = (ctypes.c_char * len(table)).from_buffer(table)
            entry = (len(rows), ctypes.addressof(view), table, view)
            if len(self._tables) >= _TABLES_KEPT:
                self._tables.clear()
            self._tables[key] = entry
        _TWO.pack_into(self.ctx, 8 * abi.NREGIONS, entry[0], entry[1])

    # -- the callback from native code ----------------------------------------------------------
    def _on_callback(self, kind: int, a: int, r1: int, r2: int, r3: int, r4: int, r5: int, pc: int) -> int:
        """Helper calls, callx to a non-code value, kfuncs and lddw relocations.

        Must never raise: an exception here would be printed and swallowed by ctypes.  Anything
        raised is recorded and the status set, and native code returns straight to
        :meth:`execute`.
        """
        m = self.machine
        try:
            # Helpers check stack pointers against the stack's live part: the caller's frame depth
            # comes with the kind (main-frame calls, the common case, need no work).
            if kind > abi.CB_KIND_MASK or self._lo_moved:
                m.stack.lo = self._stack_lo - (kind >> abi.CB_FRAME_SHIFT) * m.stack_size
                self._lo_moved = kind > abi.CB_KIND_MASK
                kind &= abi.CB_KIND_MASK
            regs = [0, r1, r2, r3, r4, r5]
            if kind == abi.CB_HELPER:
                result = m.call_helper(a, regs, pc)
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
            live = self._live
            if live is None or live != self._seen:
                self._sync_regions()
            return result & M64  # ctypes would print and drop an out-of-range result
        except ProgramAbort as stop:
            _U64.pack_into(self.ctx, 8 * abi.REGS, stop.r0 & M64)
            _U64.pack_into(self.ctx, _STATUS_OFFSET, abi.STATUS_ABORT)
        except BaseException as exc:  # re-raised by execute() once native frames are gone
            self._error = exc
            _U64.pack_into(self.ctx, _STATUS_OFFSET, abi.STATUS_PYTHON)
        return 0
