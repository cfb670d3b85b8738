"""The reference interpreter.

An :class:`Interpreter` holds one validated program, its helpers and a stack, and runs the
program as many times as asked.  Instruction semantics come from :mod:`pybpf.isa.semantics`
through the block translator in :mod:`pybpf.vm.codegen`; this module owns the machine state:
registers, call frames, the instruction budget, helper dispatch and the regions of memory.

Machine rules (RFC 9669 and Linux): 11 registers, r10 read-only and pointing one past the top of
the current frame, 512 bytes of stack per frame, at most 8 frames, r6-r9 and r10 restored when a
local call returns.  Registers the program has not been given start at zero, for determinism; a
helper call leaves r1-r5 as they were (the verifier treats them as clobbered).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pybpf.errors import BudgetExceededError, CallDepthError, HelperError, VMError
from pybpf.helpers.registry import HelperRegistry, default_registry
from pybpf.isa import semantics
from pybpf.isa.instruction import Instruction, load_program, validate
from pybpf.isa.opcodes import Form
from pybpf.vm.codegen import CompiledProgram, compile_program, function_entries
from pybpf.vm.memory import Memory, Region

STACK_SIZE = 512
MAX_CALL_DEPTH = 8
DEFAULT_BUDGET = 10_000_000
M64 = semantics.M64

PseudoResolver = Callable[[int, int, int, int], int]


class TailCall(Exception):
    """Internal: raised by the tail-call helper; the running program is replaced by ``target``."""

    def __init__(self, target: Interpreter) -> None:
        self.target = target


class ProgramAbort(Exception):
    """Internal: ends the program at once with a given r0 (legacy packet loads past the end)."""

    def __init__(self, r0: int) -> None:
        self.r0 = r0


@dataclass
class TraceStep:
    """One executed instruction, for ``--trace``."""

    pc: int
    regs_changed: dict[int, int]
    stores: list[tuple[int, int, int]] = field(default_factory=list)  # (address, size, value)


class Interpreter:
    """Runs one program.

    ``program`` is raw bytecode or a list of instruction slots; it is validated here, so an
    Interpreter never holds malformed code.  ``budget`` bounds the instructions of one run
    (counted per basic block, so a run stops at most one block after the budget is used up).
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
    ) -> None:
        if isinstance(program, (bytes, bytearray)):
            self.insns = load_program(program)
        else:
            self.insns = list(program)
        self.forms: list[Form] = validate(self.insns)
        self.helpers = helpers if helpers is not None else default_registry()
        self.budget = budget
        self.stack_size = stack_size
        self.max_call_depth = max_call_depth
        self.memory = memory if memory is not None else Memory()
        self.stack = self.memory.add(Region("stack", stack_size * max_call_depth, kind="stack"))
        # The program text is a region too, so that function addresses (lddw src 4, callx
        # targets, bpf_loop callbacks) are real addresses; programs may not read or write it.
        self.code = self.memory.add(
            Region("code", b"".join(i.encode() for i in self.insns), kind="code", readable=False, writable=False)
        )
        self._entries = function_entries(self.insns, self.forms)
        self.pseudo_resolver = pseudo_resolver
        self.packet: Region | None = None
        self.pc = 0  # instruction being executed when a helper runs (for its errors)
        self.regs: list[int] = [0] * 11
        self._frames: list[tuple[int, int, int, int, int, int]] = []
        self._compiled: CompiledProgram | None = None
        self._blocks: list[Any] | None = None
        self._lengths: list[int] | None = None
        self.instructions_executed = 0
        self.tail_calls = 0
        self._count = 0

    # -- running ------------------------------------------------------------------------------
    def caller(self, mem: Region | None = None, *, r1: int | None = None, r2: int | None = None) -> Callable[[], int]:
        """A function of no arguments that runs the program as ``run(mem, r1=r1, r2=r2)`` does.

        The way to run one input (a context, a packet) many times: engines may prepare the run
        once (the JIT's caller is its cheapest entry from Python).
        """
        return functools.partial(self.run, mem, r1=r1, r2=r2)

    uses_table = False
    """Whether runs read the argument table (:meth:`set_table`): the interpreter always calls the
    table helpers themselves, so callers need not keep its table up to date."""

    def set_table(self, values: Sequence[int]) -> None:
        """The argument table of table helpers (``Helper.table``) for the next runs.  The
        interpreter calls those helpers, which agree with the table, so it needs none."""

    def run(
        self, mem: bytes | bytearray | Region | None = None, *, r1: int | None = None, r2: int | None = None
    ) -> int:
        """Run from instruction 0 and return r0.

        With ``mem`` (the conformance convention) r1 is the address of a writable copy of it and r2
        its length; ``mem`` also serves as the packet for legacy packet loads.  Pass a
        :class:`Region` to keep the program's writes visible to the caller.
        """
        region: Region | None = None
        if mem is not None:
            region = mem if isinstance(mem, Region) else Region("mem", bytearray(mem), kind="memory")
            if self.memory.region_at(region.base) is not region:
                self.memory.add(region)
        try:
            self.packet = region
            regs = [0] * 11
            if region is not None:
                regs[1] = region.base if region.size else 0
                regs[2] = region.size
            if r1 is not None:
                regs[1] = r1 & M64
            if r2 is not None:
                regs[2] = r2 & M64
            return self.execute(regs)
        finally:
            if region is not None and not isinstance(mem, Region):
                self.memory.remove(region)
                region.release()

    def execute(self, regs: list[int], entry: int = 0, *, tail_calls: int = 0) -> int:
        """Run with the given initial registers (r10 is set here) and return r0.

        ``tail_calls`` is how many tail calls led here (the kernel allows 33 in a chain).
        """
        if self._blocks is None:
            self._compiled = compile_program(self.insns, self.forms, frame_size=self.stack_size)
            self._blocks = self._compiled.bind(**self._bindings())
            self._lengths = self._compiled.length_table()
        self.regs = regs
        self.tail_calls = tail_calls
        self._reset_stack(regs)
        self._count = 0
        try:
            pc = self._loop(entry, regs)
        except ProgramAbort as stop:
            regs[0] = stop.r0
            pc = -1
        except TailCall as call:
            self.instructions_executed = self._count
            return call.target.execute([0, regs[1]] + [0] * 9, tail_calls=tail_calls + 1)
        finally:
            self.instructions_executed = self._count
        if pc == -2:
            raise VMError(len(self.insns) - 1, "execution ran past the last instruction")
        return regs[0]

    def _loop(self, pc: int, regs: list[int]) -> int:
        """Run blocks from ``pc`` until a frame with a negative return index exits."""
        blocks, lengths = self._blocks, self._lengths
        assert blocks is not None and lengths is not None  # compiled by execute()
        budget = self.budget
        count = self._count
        try:
            while pc >= 0:
                count += lengths[pc]
                if count > budget:
                    raise BudgetExceededError(pc, budget)
                # Published before the block runs and read back after, so that callbacks a helper
                # runs (bpf_loop) count against the same budget.
                self._count = count
                pc = blocks[pc](regs)
                count = self._count
        finally:
            self._count = count
        return pc

    def call_function(self, address: int, *args: int) -> int:
        """Run the function of this program at ``address`` (a callback) and return its r0.

        Helpers such as ``bpf_loop`` call back into the program this way.  The callback gets a
        fresh frame like a local call; the registers of the helper's caller are left as they were.
        """
        offset = address - self.code.base
        entry = offset // 8
        if not 0 <= offset < self.code.size or offset % 8 or entry not in self._entries:
            raise HelperError(self.pc, f"callback 0x{address:x} is not a function of this program")
        regs = self.regs
        saved = regs[:6]
        caller_pc = self.pc
        for i, value in enumerate(args, 1):
            regs[i] = value & M64
        self._push_frame(-1, entry, caller_pc)
        pc = self._loop(entry, regs)
        if pc == -2:
            raise VMError(len(self.insns) - 1, "execution ran past the last instruction")
        r0 = regs[0]
        regs[:6] = saved
        self.pc = caller_pc
        return r0

    def _reset_stack(self, regs: list[int]) -> None:
        self._frames.clear()
        self.stack.buf[:] = bytes(self.stack.size)
        self.stack.lo = self.stack.size - self.stack_size
        regs[10] = self.stack.end

    def trace(self, regs: list[int], emit: Callable[[TraceStep], None], entry: int = 0) -> int:
        """Run one instruction at a time, reporting each with what it changed."""
        compiled = compile_program(self.insns, self.forms, single_step=True)
        stores: list[tuple[int, int, int]] = []
        memory = self.memory

        def recording_store(address: int, size: int, value: int, pc: int) -> None:
            memory.store(address, size, value, pc)
            stores.append((address, size, value & ((1 << (8 * size)) - 1)))

        bindings = self._bindings()
        bindings["st"] = recording_store
        blocks = compiled.bind(**bindings)
        self.regs = regs
        self._reset_stack(regs)
        count = 0
        pc = entry
        try:
            while pc >= 0:
                count += 1
                if count > self.budget:
                    raise BudgetExceededError(pc, self.budget)
                before = list(regs)
                stores.clear()
                current = pc
                fn = blocks[pc]
                assert fn is not None
                try:
                    pc = fn(regs)
                finally:
                    changed = {i: regs[i] for i in range(11) if regs[i] != before[i]}
                    emit(TraceStep(current, changed, list(stores)))
        except ProgramAbort as stop:
            regs[0] = stop.r0
        self.instructions_executed = count
        if pc == -2:
            raise VMError(len(self.insns) - 1, "execution ran past the last instruction")
        return regs[0]

    # -- what blocks call -----------------------------------------------------------------------
    def _bindings(self) -> dict[str, Any]:
        m = self.memory
        return {
            "ld1": m.ld1,
            "ld2": m.ld2,
            "ld4": m.ld4,
            "ld8": m.ld8,
            "st": m.store,
            "helper": self.call_helper,
            "kfunc": self._call_kfunc,
            "push": self._push_frame,
            "pop": self._pop_frame,
            "callx": self._callx,
            "atomic": self._atomic,
            "ldpkt": self._load_packet,
            "pseudo": self._pseudo,
            "sbuf": self.stack.buf,
            "sbase": self.stack.base,
        }

    def call_helper(self, helper_id: int, regs: list[int], pc: int) -> int:
        helper = self.helpers.get(helper_id)
        if helper is None:
            raise HelperError(pc, f"call to unknown helper {helper_id}")
        self.pc = pc
        try:
            result = helper.func(self, regs[1], regs[2], regs[3], regs[4], regs[5])
        except (VMError, ProgramAbort, TailCall):
            raise
        except Exception as exc:  # a helper bug must not escape as an arbitrary exception
            raise HelperError(pc, f"helper {helper.name} ({helper_id}) failed: {exc}") from exc
        return int(result) & M64

    def _call_kfunc(self, btf_id: int, regs: list[int], pc: int) -> int:
        raise HelperError(pc, f"call to kernel function with BTF id {btf_id}: kfuncs are not available")

    def _push_frame(self, ret: int, target: int, pc: int) -> int:
        if len(self._frames) + 1 >= self.max_call_depth:
            raise CallDepthError(pc, f"call depth limit of {self.max_call_depth} frames exceeded")
        r = self.regs
        self._frames.append((ret, r[6], r[7], r[8], r[9], r[10]))
        r[10] -= self.stack_size
        self.stack.lo -= self.stack_size
        return target

    def _pop_frame(self) -> int:
        if not self._frames:
            return -1
        ret, r6, r7, r8, r9, r10 = self._frames.pop()
        r = self.regs
        r[6], r[7], r[8], r[9], r[10] = r6, r7, r8, r9, r10
        self.stack.lo += self.stack_size
        return ret

    def _callx(self, regs: list[int], reg: int, pc: int, nxt: int) -> int:
        value = regs[reg]
        code = self.code
        if code.base <= value < code.end:
            offset = value - code.base
            if offset % 8 or offset // 8 not in self._entries:
                raise VMError(pc, f"callx target 0x{value:x} is not the entry of a function")
            return self._push_frame(nxt, offset // 8, pc)
        regs[0] = self.call_helper(value, regs, pc) if value < (1 << 31) else self._bad_callx(value, pc)
        return nxt

    def _bad_callx(self, value: int, pc: int) -> int:
        raise HelperError(pc, f"callx through 0x{value:x}: neither a function address nor a helper id")

    def _atomic(self, address: int, size: int, op: str, regs: list[int], src: int, pc: int) -> None:
        mem = self.memory
        old = mem.load(address, size, pc)
        mask = (1 << (8 * size)) - 1
        value = regs[src] & mask
        if op == "cmpxchg":
            if old == regs[0] & mask:
                mem.store(address, size, value, pc)
            regs[0] = old
            return
        mem.store(address, size, semantics.atomic(op, old, value), pc)
        if semantics.atomic_fetches(op):
            regs[src] = old

    def _load_packet(self, offset: int, size: int, pc: int) -> int:
        packet = self.packet
        if packet is None:
            raise VMError(pc, "legacy packet load in a program that has no packet")
        if offset < 0 or offset + size > packet.size:
            raise ProgramAbort(0)
        return int.from_bytes(packet.buf[offset : offset + size], "big")

    def _pseudo(self, src: int, imm: int, next_imm: int, pc: int) -> int:
        if src == 4:  # BPF_PSEUDO_FUNC: address of the instruction imm slots after the next one
            return self.code.base + 8 * (pc + 1 + imm)
        if self.pseudo_resolver is None:
            raise VMError(pc, f"lddw with src {src} needs a loader to resolve it (no maps are bound)")
        return self.pseudo_resolver(src, imm, next_imm, pc) & M64
