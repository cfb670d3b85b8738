"""Lowering a validated eBPF program to LLVM IR text.

Shape of the output (one module per program):

* Entry points: ``i64 @pybpf_run()`` / ``i64 @pybpf_entry(ptr ctx)`` zero the stack, enter the
  function named by ``ctx[ENTRY]`` and return r0; ``i64 @pybpf_call(ptr ctx)`` runs a function on
  the live stack for a helper's ``env.call_function``.  All machine state comes from the context
  (see :mod:`pybpf.jit.abi`), so the object code holds no addresses and can be cached on disk.
* One LLVM function per eBPF *function entry* (instruction 0, local-call targets and addresses
  taken with ``lddw src=4``): ``i64 @f<entry>(ptr ctx, ptr io, i64 r10)``.  It contains every
  basic block reachable from its entry without crossing a call, so a block shared by two
  functions is simply emitted twice and jumps across function boundaries keep working.  ``io``
  holds r0-r9 in and out: the callee starts with the caller's registers (as in the interpreter,
  where the register file is shared) and hands r0-r5 back; the caller's r6-r9 and r10 live in its
  own SSA values, so "restore on return" costs nothing.  The result is 0, or 1 when the program
  must stop (the reason is in ``ctx[STATUS]``), which every caller propagates.  LLVM inlines small
  subprograms; recursion stays a real native call, bounded by the frame limit.
* Registers, the instruction counter and the region caches are ``alloca``s that mem2reg turns
  into SSA values; r10 is a function argument (it is read-only), which is what makes constant
  r10-relative frame accesses provably safe.
* One LLVM basic block per eBPF basic block (the interpreter's leaders).  Each adds its length
  to the instruction counter and leaves when the counter passes the budget, exactly where the
  interpreter checks, so :class:`~pybpf.errors.BudgetExceededError` names the same instruction
  and ``instructions_executed`` is identical; memory checks, helper calls and atomics add
  internal blocks.
* Division and remainder select a safe divisor first (never UB), shifts are masked, 32-bit
  operations work on ``i32`` and zero-extend, atomics are ``atomicrmw``/``cmpxchg``.

Memory checks: a load or store that is neither r10-relative inside the frame nor listed in
``safe`` compares its address against the last region that passed a check of the same kind (read
or write), kept in two SSA values per kind; on a miss it calls ``@pybpf_lookup``, which scans the
stack's live part and the region table and either returns the new region bounds or records the
fault in the context.  The caches are reset after every call, because a helper may change the
region set.

Why IR text rather than :mod:`llvmlite.ir`: building IR with ``llvmlite.ir`` and serialising it
costs about 45 ms per 1,000 instructions (``shared/notes/performance.md`` section 2.5), more than
LLVM's own work on real programs.  Measured here for the benchmark's 1,000-instruction synthetic
program (5,733 IR instructions once lowered): these f-string templates produce the module text in
6-13 ms, while ``llvmlite.ir`` needs 46-50 ms to build the same number of instructions of the
same kinds plus 16-32 ms for ``str(module)``; both then parse in the same 10-20 ms.  Text is
5-6 times cheaper, so text it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pybpf.isa import semantics
from pybpf.isa.instruction import Instruction, branch_target, is_function_address, lddw_value
from pybpf.isa.opcodes import Form, Kind
from pybpf.jit import abi
from pybpf.jit.compiler import JitError
from pybpf.vm.codegen import block_leaders, function_entries, instruction_starts

FRAME_POINTER = 10

# LLVM spellings of the operations, keyed by the opcode table's ``Form.op``.
_BINOPS = {"add": "add", "sub": "sub", "mul": "mul", "or": "or", "and": "and", "xor": "xor"}
_SHIFTS = {"lsh": "shl", "rsh": "lshr", "arsh": "ashr"}
_PREDICATES = {
    "jeq": "eq",
    "jne": "ne",
    "jgt": "ugt",
    "jge": "uge",
    "jlt": "ult",
    "jle": "ule",
    "jsgt": "sgt",
    "jsge": "sge",
    "jslt": "slt",
    "jsle": "sle",
}
_RMW = {"add": "add", "or": "or", "and": "and", "xor": "xor", "xchg": "xchg"}
_BLOCK_ENDS = frozenset({Kind.JUMP, Kind.CALL_LOCAL, Kind.CALLX, Kind.EXIT})
_LIKELY = "!prof !0"  # branch weights: the true edge is the hot one
_UNLIKELY = "!prof !1"


def _signed(value: int, bits: int) -> int:
    """An LLVM integer literal for ``value`` taken modulo 2**bits (LLVM accepts the signed form)."""
    return semantics.signed(value, bits)


@dataclass(frozen=True)
class Block:
    """One eBPF basic block: its instructions, length (for the budget) and successors."""

    leader: int
    insns: tuple[int, ...]
    successors: tuple[int, ...]  # leaders reached without a call; n means "ran off the end"
    falls_through: bool  # the block has no terminator and runs into ``successors[0]``


def basic_blocks(insns: Sequence[Instruction], forms: Sequence[Form]) -> dict[int, Block]:
    """The interpreter's basic blocks (same leaders and lengths), with their successors."""
    n = len(insns)
    leaders = block_leaders(insns, forms)
    leader_set = set(leaders)
    blocks: dict[int, Block] = {}
    for leader in leaders:
        members: list[int] = []
        i = leader
        succ: tuple[int, ...] = ()
        falls = True
        while i < n:
            if i != leader and i in leader_set:
                break
            form = forms[i]
            members.append(i)
            step = 2 if form.is_wide else 1
            if form.kind in _BLOCK_ENDS:
                falls = False
                if form.kind is Kind.JUMP:
                    target = branch_target(i, insns[i], form)
                    succ = (target,) if form.op == "ja" else (target, i + 1)
                elif form.kind is not Kind.EXIT:
                    succ = (i + step,)  # call continuation
                i += step
                break
            i += step
        if falls:
            succ = (i,)
        blocks[leader] = Block(leader, tuple(members), succ, falls)
    return blocks


def reachable(blocks: dict[int, Block], entry: int, n: int) -> list[int]:
    """Leaders reachable from ``entry`` without entering a callee, in program order."""
    seen = {entry}
    work = [entry]
    while work:
        for s in blocks[work.pop()].successors:
            if s < n and s not in seen:
                seen.add(s)
                work.append(s)
    return sorted(seen)


@dataclass(frozen=True)
class LoweringOptions:
    stack_size: int = 512
    max_call_depth: int = 8
    safe: frozenset[int] = frozenset()


class _Function:
    """Emits one LLVM function for the eBPF function entered at ``entry``."""

    def __init__(self, program: Lowering, entry: int) -> None:
        self.p = program
        self.entry = entry
        self.out: list[str] = []
        self.n = 0

    # -- small emitters --------------------------------------------------------------------------
    def t(self) -> str:
        self.n += 1
        return f"%t{self.n}"

    def label(self) -> str:
        self.n += 1
        return f"L{self.n}"

    def emit(self, line: str) -> None:
        self.out.append("  " + line)

    def open(self, label: str) -> None:
        self.out.append(f"{label}:")

    def reg(self, r: int) -> str:
        if r == FRAME_POINTER:
            return "%r10"
        v = self.t()
        self.emit(f"{v} = load i64, ptr %r{r}")
        return v

    def set_reg(self, r: int, value: str) -> None:
        self.emit(f"store i64 {value}, ptr %r{r}")

    def ctx_load(self, slot: int) -> str:
        p, v = self.t(), self.t()
        self.emit(f"{p} = getelementptr i64, ptr %ctx, i64 {slot}")
        self.emit(f"{v} = load i64, ptr {p}")
        return v

    def ctx_store(self, slot: int, value: str | int) -> None:
        p = self.t()
        self.emit(f"{p} = getelementptr i64, ptr %ctx, i64 {slot}")
        self.emit(f"store i64 {value}, ptr {p}")

    def fail(self, status: int, pc: int, addr: str | None = None) -> None:
        """Record a fault in the context and leave through ``%err``."""
        self.ctx_store(abi.STATUS, status)
        self.ctx_store(abi.FAULT_PC, pc)
        if addr is not None:
            self.ctx_store(abi.FAULT_ADDR, addr)
        self.emit("br label %err")

    def trunc32(self, v: str) -> str:
        t = self.t()
        self.emit(f"{t} = trunc i64 {v} to i32")
        return t

    def zext(self, v: str, bits: int) -> str:
        if bits == 64:
            return v
        t = self.t()
        self.emit(f"{t} = zext i{bits} {v} to i64")
        return t

    def reset_caches(self) -> None:
        for c in ("%rlo", "%wlo"):
            self.emit(f"store i64 -1, ptr {c}")

    # -- the function -----------------------------------------------------------------------------
    def build(self, leaders: list[int]) -> list[str]:
        self.out.append(f"define internal i64 @f{self.entry}(ptr %ctx, ptr %io, i64 %r10) nounwind {{")
        self.open("entry")
        for r in range(10):
            self.emit(f"%r{r} = alloca i64")
        for name in ("cnt", "rlo", "rhi", "wlo", "whi", "aold", "bpc"):
            self.emit(f"%{name} = alloca i64")
        self.emit("%cio = alloca [10 x i64]")
        for r in range(10):
            p, v = self.t(), self.t()
            self.emit(f"{p} = getelementptr i64, ptr %io, i64 {r}")
            self.emit(f"{v} = load i64, ptr {p}")
            self.emit(f"store i64 {v}, ptr %r{r}")
        self.emit(f"store i64 {self.ctx_load(abi.COUNT)}, ptr %cnt")
        self.emit(f"%budget = load i64, ptr {self._slot_ptr(abi.BUDGET)}")
        self.emit(f"%sbase = load i64, ptr {self._slot_ptr(abi.STACK_BASE)}")
        # Frames below the outermost one, passed to callbacks so Python knows the stack's live
        # part without reading the context (see abi.CB_FRAME_SHIFT).
        frame = self.p.options.stack_size
        if frame > 0:
            self.emit(f"%send = load i64, ptr {self._slot_ptr(abi.STACK_END)}")
            self.emit("%fdist = sub i64 %send, %r10")
            self.emit(f"%frames = udiv i64 %fdist, {frame}")
            self.emit(f"%cbk = shl i64 %frames, {abi.CB_FRAME_SHIFT}")
        else:
            self.emit("%cbk = add i64 0, 0")
        self.reset_caches()
        for c in ("%rhi", "%whi"):
            self.emit(f"store i64 -1, ptr {c}")
        self.emit(f"br label %b{self.entry}")
        for leader in leaders:
            self.block(self.p.blocks[leader])
        self.tail()
        self.out.append("}")
        return self.out

    def _slot_ptr(self, slot: int) -> str:
        p = self.t()
        self.emit(f"{p} = getelementptr i64, ptr %ctx, i64 {slot}")
        return p

    def tail(self) -> None:
        """The shared exits: normal exit, error exit, error propagation, budget and run-off faults."""
        self.open("exit")
        for r in range(10):
            v = self.reg(r)
            p = self.t()
            self.emit(f"{p} = getelementptr i64, ptr %io, i64 {r}")
            self.emit(f"store i64 {v}, ptr {p}")
        c = self.t()
        self.emit(f"{c} = load i64, ptr %cnt")
        self.ctx_store(abi.COUNT, c)
        self.emit("ret i64 0")
        self.open("err")
        c = self.t()
        self.emit(f"{c} = load i64, ptr %cnt")
        self.ctx_store(abi.COUNT, c)
        self.emit("ret i64 1")
        self.open("prop")  # a callee failed and already stored the count
        self.emit("ret i64 1")
        self.open("overbudget")
        pc = self.t()
        self.emit(f"{pc} = load i64, ptr %bpc")
        self.ctx_store(abi.STATUS, abi.STATUS_BUDGET)
        self.ctx_store(abi.FAULT_PC, pc)
        self.emit("br label %err")
        self.open("ranoff")
        self.ctx_store(abi.STATUS, abi.STATUS_RAN_OFF)
        self.ctx_store(abi.FAULT_PC, self.p.n - 1)
        self.emit("br label %err")

    def block(self, block: Block) -> None:
        self.open(f"b{block.leader}")
        c, c2, over = self.t(), self.t(), self.t()
        self.emit(f"{c} = load i64, ptr %cnt")
        self.emit(f"{c2} = add i64 {c}, {len(block.insns)}")
        self.emit(f"store i64 {c2}, ptr %cnt")
        self.emit(f"store i64 {block.leader}, ptr %bpc")
        self.emit(f"{over} = icmp ugt i64 {c2}, %budget")
        body = self.label()
        self.emit(f"br i1 {over}, label %overbudget, label %{body}, {_UNLIKELY}")
        self.open(body)
        for i in block.insns:
            self.insn(i)
        if block.falls_through:
            nxt = block.successors[0]
            self.emit(f"br label %b{nxt}" if nxt < self.p.n else "br label %ranoff")

    # -- instructions -----------------------------------------------------------------------------
    def insn(self, i: int) -> None:
        insn, form = self.p.insns[i], self.p.forms[i]
        kind = form.kind
        if kind is Kind.ALU:
            self.alu(insn, form)
        elif kind is Kind.END:
            self.end(insn, form)
        elif kind is Kind.JUMP:
            self.jump(i, insn, form)
        elif kind in (Kind.LOAD, Kind.LOADSX):
            self.load(i, insn, form)
        elif kind in (Kind.STORE_IMM, Kind.STORE_REG):
            self.store(i, insn, form)
        elif kind is Kind.ATOMIC:
            self.atomic(i, insn, form)
        elif kind is Kind.LDDW:
            self.lddw(i, insn, form)
        elif kind is Kind.CALL:
            self.set_reg(0, self.callback(abi.CB_HELPER, i, insn.imm, self._args()))
        elif kind is Kind.CALL_KFUNC:
            self.set_reg(0, self.callback(abi.CB_KFUNC, i, insn.imm, self._args()))
        elif kind is Kind.CALL_LOCAL:
            self.local_call(i, branch_target(i, insn, form))
            self.emit(self._goto(i + 1))
        elif kind is Kind.CALLX:
            self.callx(i, insn)
        elif kind is Kind.EXIT:
            self.emit("br label %exit")
        elif kind in (Kind.LD_ABS, Kind.LD_IND):
            self.ld_packet(i, insn, form)
        else:  # pragma: no cover - every Kind is handled above
            raise AssertionError(f"no lowering for {kind}")

    def _goto(self, index: int) -> str:
        return f"br label %b{index}" if index < self.p.n else "br label %ranoff"

    def _args(self) -> list[str]:
        return [self.reg(r) for r in range(1, 6)]

    def alu(self, insn: Instruction, form: Form) -> None:
        op, w = form.op, form.width
        ty = f"i{w}"
        if form.source == "K":
            b = str(_signed(insn.imm, w))
        else:
            b = self.reg(insn.src)
            if w == 32:
                b = self.trunc32(b)
        a = ""
        if op not in ("mov", "movsx"):
            a = self.reg(insn.dst)
            if w == 32:
                a = self.trunc32(a)
        r = self.t()
        if op in _BINOPS:
            self.emit(f"{r} = {_BINOPS[op]} {ty} {a}, {b}")
        elif op in _SHIFTS:
            m = self.t()
            self.emit(f"{m} = and {ty} {b}, {w - 1}")
            self.emit(f"{r} = {_SHIFTS[op]} {ty} {a}, {m}")
        elif op in ("div", "mod", "sdiv", "smod"):
            self.divmod(r, op, ty, a, b)
        elif op == "neg":
            self.emit(f"{r} = sub {ty} 0, {a}")
        elif op == "mov":
            r = b
        elif op == "movsx":
            t = self.t()
            self.emit(f"{t} = trunc {ty} {b} to i{form.bits}")
            self.emit(f"{r} = sext i{form.bits} {t} to {ty}")
        else:  # pragma: no cover - the opcode table has no other ALU op
            raise AssertionError(f"no lowering for ALU op {op}")
        self.set_reg(insn.dst, self.zext(r, w))

    def divmod(self, r: str, op: str, ty: str, a: str, b: str) -> None:
        """Division without undefined behaviour: the *divisor* is made safe before dividing.

        x / 0 = 0 and x % 0 = x; for the signed forms a divisor of -1 is replaced by 1 as well
        (so INT_MIN / -1 never reaches the hardware) and the quotient becomes -x, which wraps
        INT_MIN to INT_MIN, while the remainder x srem 1 is the required 0.
        """
        zero, d = self.t(), self.t()
        self.emit(f"{zero} = icmp eq {ty} {b}, 0")
        if op in ("div", "mod"):
            self.emit(f"{d} = select i1 {zero}, {ty} 1, {ty} {b}")
            q = self.t()
            if op == "div":
                self.emit(f"{q} = udiv {ty} {a}, {d}")
                self.emit(f"{r} = select i1 {zero}, {ty} 0, {ty} {q}")
            else:
                self.emit(f"{q} = urem {ty} {a}, {d}")
                self.emit(f"{r} = select i1 {zero}, {ty} {a}, {ty} {q}")
            return
        m1, either = self.t(), self.t()
        self.emit(f"{m1} = icmp eq {ty} {b}, -1")
        self.emit(f"{either} = or i1 {zero}, {m1}")
        self.emit(f"{d} = select i1 {either}, {ty} 1, {ty} {b}")
        q = self.t()
        if op == "sdiv":
            neg, t = self.t(), self.t()
            self.emit(f"{q} = sdiv {ty} {a}, {d}")
            self.emit(f"{neg} = sub {ty} 0, {a}")
            self.emit(f"{t} = select i1 {m1}, {ty} {neg}, {ty} {q}")
            self.emit(f"{r} = select i1 {zero}, {ty} 0, {ty} {t}")
        else:
            self.emit(f"{q} = srem {ty} {a}, {d}")
            self.emit(f"{r} = select i1 {zero}, {ty} {a}, {ty} {q}")

    def end(self, insn: Instruction, form: Form) -> None:
        bits = form.bits
        a = self.reg(insn.dst)
        if form.op == "le":
            if bits == 64:
                return
            r = self.t()
            self.emit(f"{r} = and i64 {a}, {(1 << bits) - 1}")
            self.set_reg(insn.dst, r)
            return
        v = a
        if bits < 64:
            v = self.t()
            self.emit(f"{v} = trunc i64 {a} to i{bits}")
        s = self.t()
        self.emit(f"{s} = call i{bits} @llvm.bswap.i{bits}(i{bits} {v})")
        self.set_reg(insn.dst, self.zext(s, bits))

    def jump(self, i: int, insn: Instruction, form: Form) -> None:
        target = branch_target(i, insn, form)
        if form.op == "ja":
            self.emit(f"br label %b{target}")
            return
        w = form.width
        ty = f"i{w}"
        a = self.reg(insn.dst)
        if w == 32:
            a = self.trunc32(a)
        if form.source == "K":
            b = str(_signed(insn.imm, w))
        else:
            b = self.reg(insn.src)
            if w == 32:
                b = self.trunc32(b)
        c = self.t()
        if form.op == "jset":
            t = self.t()
            self.emit(f"{t} = and {ty} {a}, {b}")
            self.emit(f"{c} = icmp ne {ty} {t}, 0")
        else:
            self.emit(f"{c} = icmp {_PREDICATES[form.op]} {ty} {a}, {b}")
        nxt = i + 1
        self.emit(f"br i1 {c}, label %b{target}, label {f'%b{nxt}' if nxt < self.p.n else '%ranoff'}")

    # -- memory -----------------------------------------------------------------------------------
    def address(self, base: int, off: int) -> str:
        v = self.reg(base)
        if off == 0:
            return v
        a = self.t()
        self.emit(f"{a} = add i64 {v}, {off}")
        return a

    def proven(self, i: int, base: int, off: int, size: int) -> bool:
        """No run-time check: a verifier proved it, or it is r10-relative inside the frame.

        r10 is read-only and points one past the current frame, so ``[r10 + off, +size)`` with
        ``-stack_size <= off`` and ``off + size <= 0`` is inside the frame (the interpreter
        makes the same argument in :func:`pybpf.vm.codegen.translate`).
        """
        if i in self.p.options.safe:
            return True
        return base == FRAME_POINTER and -self.p.options.stack_size <= off and off + size <= 0

    def check(self, addr: str, size: int, write: bool, pc: int) -> None:
        """Inline range check against the last region that passed, ``@pybpf_lookup`` on a miss."""
        lo_slot, hi_slot = ("%wlo", "%whi") if write else ("%rlo", "%rhi")
        lo, hi, lim, c1, c2, ok = (self.t() for _ in range(6))
        self.emit(f"{lo} = load i64, ptr {lo_slot}")
        self.emit(f"{hi} = load i64, ptr {hi_slot}")
        self.emit(f"{lim} = sub i64 {hi}, {size}")
        self.emit(f"{c1} = icmp uge i64 {addr}, {lo}")
        self.emit(f"{c2} = icmp ule i64 {addr}, {lim}")
        self.emit(f"{ok} = and i1 {c1}, {c2}")
        hit, miss = self.label(), self.label()
        self.emit(f"br i1 {ok}, label %{hit}, label %{miss}, {_LIKELY}")
        self.open(miss)
        res, nlo, nhi, found = self.t(), self.t(), self.t(), self.t()
        self.emit(
            f"{res} = call {{i64, i64}} @pybpf_lookup(ptr %ctx, i64 {addr}, i64 {size}, i64 {int(write)}, i64 {pc})"
        )
        self.emit(f"{nlo} = extractvalue {{i64, i64}} {res}, 0")
        self.emit(f"{nhi} = extractvalue {{i64, i64}} {res}, 1")
        self.emit(f"store i64 {nlo}, ptr {lo_slot}")
        self.emit(f"store i64 {nhi}, ptr {hi_slot}")
        self.emit(f"{found} = icmp ne i64 {nlo}, -1")
        self.emit(f"br i1 {found}, label %{hit}, label %err, {_LIKELY}")
        self.open(hit)

    def pointer(self, addr: str) -> str:
        p = self.t()
        self.emit(f"{p} = inttoptr i64 {addr} to ptr")
        return p

    def load(self, i: int, insn: Instruction, form: Form) -> None:
        size = form.width
        addr = self.address(insn.src, insn.off)
        if not self.proven(i, insn.src, insn.off, size):
            self.check(addr, size, False, i)
        p, v = self.pointer(addr), self.t()
        bits = 8 * size
        self.emit(f"{v} = load i{bits}, ptr {p}, align 1")
        if bits < 64:
            x = self.t()
            ext = "sext" if form.kind is Kind.LOADSX else "zext"
            self.emit(f"{x} = {ext} i{bits} {v} to i64")
            v = x
        self.set_reg(insn.dst, v)

    def store(self, i: int, insn: Instruction, form: Form) -> None:
        size = form.width
        bits = 8 * size
        if form.kind is Kind.STORE_IMM:
            value = str(_signed(insn.imm, bits))
        else:
            value = self.reg(insn.src)
            if bits < 64:
                t = self.t()
                self.emit(f"{t} = trunc i64 {value} to i{bits}")
                value = t
        addr = self.address(insn.dst, insn.off)
        if not self.proven(i, insn.dst, insn.off, size):
            self.check(addr, size, True, i)
        self.emit(f"store i{bits} {value}, ptr {self.pointer(addr)}, align 1")

    def atomic(self, i: int, insn: Instruction, form: Form) -> None:
        """Real LLVM atomics when the address is naturally aligned, a plain read-modify-write
        otherwise (an unaligned ``lock`` instruction is a split lock, which some kernels turn
        into SIGBUS; the interpreter's semantics are a plain read-modify-write anyway).

        Checks happen in the interpreter's order: read, then write; cmpxchg only writes (and
        only needs write permission) when the comparison succeeds.
        """
        size, op = form.width, form.op
        bits = 8 * size
        ty = f"i{bits}"
        addr = self.address(insn.dst, insn.off)
        checked = not self.proven(i, insn.dst, insn.off, size)
        if checked:
            self.check(addr, size, False, i)
        p = self.pointer(addr)
        v = self.reg(insn.src)
        if bits == 32:
            v = self.trunc32(v)
        mis, aligned = self.t(), self.t()
        self.emit(f"{mis} = and i64 {addr}, {size - 1}")
        self.emit(f"{aligned} = icmp eq i64 {mis}, 0")
        atom, plain, done = self.label(), self.label(), self.label()
        if op == "cmpxchg":
            expected = self.reg(0)
            if bits == 32:
                expected = self.trunc32(expected)
            old0, eq = self.t(), self.t()
            self.emit(f"{old0} = load {ty}, ptr {p}, align 1")
            self.emit(f"store i64 {self.zext(old0, bits)}, ptr %aold")
            self.emit(f"{eq} = icmp eq {ty} {old0}, {expected}")
            write = self.label()
            self.emit(f"br i1 {eq}, label %{write}, label %{done}")
            self.open(write)
            if checked:
                self.check(addr, size, True, i)
            self.emit(f"br i1 {aligned}, label %{atom}, label %{plain}, {_LIKELY}")
            self.open(atom)
            pair, o = self.t(), self.t()
            self.emit(f"{pair} = cmpxchg ptr {p}, {ty} {expected}, {ty} {v} seq_cst seq_cst, align {size}")
            self.emit(f"{o} = extractvalue {{{ty}, i1}} {pair}, 0")
            self.emit(f"store i64 {self.zext(o, bits)}, ptr %aold")
            self.emit(f"br label %{done}")
            self.open(plain)
            self.emit(f"store {ty} {v}, ptr {p}, align 1")
            self.emit(f"br label %{done}")
            self.open(done)
            old = self.t()
            self.emit(f"{old} = load i64, ptr %aold")
            self.set_reg(0, old)
            return
        base = semantics.atomic_base(op)
        if checked:
            self.check(addr, size, True, i)
        self.emit(f"br i1 {aligned}, label %{atom}, label %{plain}, {_LIKELY}")
        self.open(atom)
        o = self.t()
        self.emit(f"{o} = atomicrmw {_RMW[base]} ptr {p}, {ty} {v} seq_cst, align {size}")
        self.emit(f"store i64 {self.zext(o, bits)}, ptr %aold")
        self.emit(f"br label %{done}")
        self.open(plain)
        o2 = self.t()
        self.emit(f"{o2} = load {ty}, ptr {p}, align 1")
        new = v
        if base != "xchg":
            new = self.t()
            self.emit(f"{new} = {_BINOPS[base]} {ty} {o2}, {v}")
        self.emit(f"store {ty} {new}, ptr {p}, align 1")
        self.emit(f"store i64 {self.zext(o2, bits)}, ptr %aold")
        self.emit(f"br label %{done}")
        self.open(done)
        if semantics.atomic_fetches(op):
            old = self.t()
            self.emit(f"{old} = load i64, ptr %aold")
            self.set_reg(insn.src, old)

    def lddw(self, i: int, insn: Instruction, form: Form) -> None:
        nxt = self.p.insns[i + 1]
        if form.op == "imm64":
            self.set_reg(insn.dst, str(_signed(lddw_value(insn, nxt), 64)))
        elif is_function_address(form):
            base, v = self.ctx_load(abi.CODE_BASE), self.t()
            self.emit(f"{v} = add i64 {base}, {8 * branch_target(i, insn, form)}")
            self.set_reg(insn.dst, v)
        else:  # map references and other relocations: the interpreter's resolver hook, at run time
            args = [str(insn.imm), str(nxt.imm), "0", "0", "0"]
            self.set_reg(insn.dst, self.callback(abi.CB_PSEUDO, i, insn.src, args))

    # -- calls --------------------------------------------------------------------------------------
    def callback(self, kind: int, pc: int, a: int | str, args: list[str]) -> str:
        """Call into Python.

        The registers are snapshotted into the context first (a helper that ends the program,
        tail-calls, or calls back into the program through ``env.call_function`` needs them) and
        so is the instruction count, which a callback into the program advances.  A non-zero
        status afterwards means the callback recorded an exception or an abort."""
        for r in range(10):
            self.ctx_store(abi.REGS + r, self.reg(r))
        self.ctx_store(abi.REGS + 10, "%r10")
        c = self.t()
        self.emit(f"{c} = load i64, ptr %cnt")
        self.ctx_store(abi.COUNT, c)
        fp, res, k = self.t(), self.t(), self.t()
        self.emit(f"{fp} = load ptr, ptr {self._slot_ptr(abi.CALLBACK)}")
        self.emit(f"{k} = or i64 %cbk, {kind}")
        params = ", ".join(f"i64 {x}" for x in args)
        self.emit(f"{res} = call i64 {fp}(i64 {k}, i64 {a}, {params}, i64 {pc})")
        self.emit(f"store i64 {self.ctx_load(abi.COUNT)}, ptr %cnt")  # callbacks into the program count too
        st, bad = self.ctx_load(abi.STATUS), self.t()
        self.emit(f"{bad} = icmp ne i64 {st}, 0")
        cont = self.label()
        self.emit(f"br i1 {bad}, label %err, label %{cont}, {_UNLIKELY}")
        self.open(cont)
        self.reset_caches()
        return res

    def local_call(self, pc: int, target: int) -> None:
        """Push a frame: check the depth, pass r0-r9 through ``%cio``, move the stack's live
        part down one frame for the callee and back up afterwards."""
        frame = self.p.options.stack_size
        depth, deep = self.t(), self.t()
        self.emit(f"{depth} = sub i64 %r10, %sbase")
        self.emit(f"{deep} = icmp ule i64 {depth}, {frame}")
        toodeep, ok = self.label(), self.label()
        self.emit(f"br i1 {deep}, label %{toodeep}, label %{ok}, {_UNLIKELY}")
        self.open(toodeep)
        self.fail(abi.STATUS_CALL_DEPTH, pc)
        self.open(ok)
        for r in range(10):
            p = self.t()
            v = self.reg(r)
            self.emit(f"{p} = getelementptr i64, ptr %cio, i64 {r}")
            self.emit(f"store i64 {v}, ptr {p}")
        c = self.t()
        self.emit(f"{c} = load i64, ptr %cnt")
        self.ctx_store(abi.COUNT, c)
        callee_r10, callee_lo = self.t(), self.t()
        self.emit(f"{callee_r10} = sub i64 %r10, {frame}")
        self.emit(f"{callee_lo} = sub i64 %r10, {2 * frame}")
        self.ctx_store(abi.STACK_LO, callee_lo)
        st, bad = self.t(), self.t()
        self.emit(f"{st} = call i64 @f{target}(ptr %ctx, ptr %cio, i64 {callee_r10})")
        self.emit(f"{bad} = icmp ne i64 {st}, 0")
        back = self.label()
        self.emit(f"br i1 {bad}, label %prop, label %{back}, {_UNLIKELY}")
        self.open(back)
        lo = self.t()
        self.emit(f"{lo} = sub i64 %r10, {frame}")
        self.ctx_store(abi.STACK_LO, lo)
        for r in range(6):
            p, v = self.t(), self.t()
            self.emit(f"{p} = getelementptr i64, ptr %cio, i64 {r}")
            self.emit(f"{v} = load i64, ptr {p}")
            self.set_reg(r, v)
        self.emit(f"store i64 {self.ctx_load(abi.COUNT)}, ptr %cnt")
        self.reset_caches()

    def callx(self, i: int, insn: Instruction) -> None:
        """A code address that is a function entry makes a local call; anything else goes to
        Python, which treats a small value as a helper id (the interpreter's rule)."""
        v = self.reg(insn.dst)
        cb, ce = self.ctx_load(abi.CODE_BASE), self.ctx_load(abi.CODE_END)
        lo, hi, inside = self.t(), self.t(), self.t()
        self.emit(f"{lo} = icmp uge i64 {v}, {cb}")
        self.emit(f"{hi} = icmp ult i64 {v}, {ce}")
        self.emit(f"{inside} = and i1 {lo}, {hi}")
        code, helper, notentry, cont = self.label(), self.label(), self.label(), self.label()
        self.emit(f"br i1 {inside}, label %{code}, label %{helper}")
        self.open(code)
        off, mis, idx, misaligned = self.t(), self.t(), self.t(), self.t()
        self.emit(f"{off} = sub i64 {v}, {cb}")
        self.emit(f"{mis} = and i64 {off}, 7")
        self.emit(f"{idx} = lshr i64 {off}, 3")
        self.emit(f"{misaligned} = icmp ne i64 {mis}, 0")
        dispatch = self.label()
        self.emit(f"br i1 {misaligned}, label %{notentry}, label %{dispatch}")
        self.open(dispatch)
        cases = {e: self.label() for e in self.p.entries}
        arms = " ".join(f"i64 {e}, label %{lab}" for e, lab in cases.items())
        self.emit(f"switch i64 {idx}, label %{notentry} [ {arms} ]")
        for e, lab in cases.items():
            self.open(lab)
            self.local_call(i, e)
            self.emit(f"br label %{cont}")
        self.open(notentry)
        self.fail(abi.STATUS_CALLX_TARGET, i, v)
        self.open(helper)
        self.set_reg(0, self.callback(abi.CB_CALLX, i, v, self._args()))
        self.emit(f"br label %{cont}")
        self.open(cont)
        self.emit(self._goto(i + 1))

    def ld_packet(self, i: int, insn: Instruction, form: Form) -> None:
        """Legacy packet loads: network byte order; past the packet the program ends with r0 = 0."""
        size = form.width
        bits = 8 * size
        has, nopkt, ok = self.ctx_load(abi.HAS_PACKET), self.label(), self.label()
        missing = self.t()
        self.emit(f"{missing} = icmp eq i64 {has}, 0")
        self.emit(f"br i1 {missing}, label %{nopkt}, label %{ok}, {_UNLIKELY}")
        self.open(nopkt)
        self.fail(abi.STATUS_NO_PACKET, i)
        self.open(ok)
        if form.kind is Kind.LD_ABS:
            off = str(insn.imm)
        else:
            s, t, off = self.reg(insn.src), self.t(), self.t()
            self.emit(f"{t} = add i64 {s}, {insn.imm}")
            t32 = self.trunc32(t)
            self.emit(f"{off} = sext i32 {t32} to i64")
        plen, neg, end, past, bad = self.ctx_load(abi.PACKET_LEN), self.t(), self.t(), self.t(), self.t()
        self.emit(f"{neg} = icmp slt i64 {off}, 0")
        self.emit(f"{end} = add i64 {off}, {size}")
        self.emit(f"{past} = icmp ugt i64 {end}, {plen}")
        self.emit(f"{bad} = or i1 {neg}, {past}")
        abort, read = self.label(), self.label()
        self.emit(f"br i1 {bad}, label %{abort}, label %{read}, {_UNLIKELY}")
        self.open(abort)
        self.ctx_store(abi.REGS, 0)
        for r in range(1, 10):
            self.ctx_store(abi.REGS + r, self.reg(r))
        self.ctx_store(abi.REGS + 10, "%r10")
        self.ctx_store(abi.STATUS, abi.STATUS_ABORT)
        self.emit("br label %err")
        self.open(read)
        base, a = self.ctx_load(abi.PACKET_BASE), self.t()
        self.emit(f"{a} = add i64 {base}, {off}")
        v = self.t()
        self.emit(f"{v} = load i{bits}, ptr {self.pointer(a)}, align 1")
        if bits > 8:
            s = self.t()
            self.emit(f"{s} = call i{bits} @llvm.bswap.i{bits}(i{bits} {v})")
            v = s
        self.set_reg(0, self.zext(v, bits))


class Lowering:
    """The IR module for one validated program (see the module docstring for its shape)."""

    def __init__(
        self, insns: Sequence[Instruction], forms: Sequence[Form], options: LoweringOptions | None = None
    ) -> None:
        self.insns = list(insns)
        self.forms = list(forms)
        self.n = len(self.insns)
        self.options = options or LoweringOptions()
        self.blocks = basic_blocks(self.insns, self.forms)
        self.entries = sorted(function_entries(self.insns, self.forms))
        starts = set(instruction_starts(self.forms))
        if not set(self.entries) <= starts:  # pragma: no cover - validate() rejects lddw-tail targets
            raise AssertionError("function entry inside an lddw")
        for i in starts:
            insn, form = self.insns[i], self.forms[i]
            fetches_into_src = semantics.atomic_fetches(form.op) and form.op != "cmpxchg"  # cmpxchg writes r0
            if form.kind is Kind.ATOMIC and fetches_into_src and insn.src == FRAME_POINTER:
                # Linux rejects this ("frame pointer is read only"); compiled code relies on r10
                # never changing, so it is refused rather than miscompiled.
                raise JitError(f"instruction {i}: {form.mnemonic} would write r10, which is read-only")

    def module(self) -> str:
        out = [
            "; pybpf JIT module",
            "declare i16 @llvm.bswap.i16(i16)",
            "declare i32 @llvm.bswap.i32(i32)",
            "declare i64 @llvm.bswap.i64(i64)",
            "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)",
            "",
        ]
        out += self._entry_function()
        out += self._lookup_function()
        for e in self.entries:
            out += _Function(self, e).build(reachable(self.blocks, e, self.n))
        out.append("attributes #0 = { noinline }")
        out.append('!0 = !{!"branch_weights", i32 2000, i32 1}')
        out.append('!1 = !{!"branch_weights", i32 1, i32 2000}')
        return "\n".join(out) + "\n"

    def _entry_function(self) -> list[str]:
        """The entry points.

        ``@pybpf_dispatch(ctx, nested)`` (never inlined, so the program body is emitted once)
        enters the function named in the context: a run (``nested`` = 0) clears the stack and
        uses ``REGS``/``ENTRY`` with r10 at the top of the stack; a helper's callback into the
        program (``nested`` = 1) uses ``CALL_REGS``/``CALL_ENTRY``/``CALL_R10`` on the live
        stack.  It returns the status, and after a normal run stores the outermost r10 so that
        ``REGS`` hold exactly the registers at exit.  ``@pybpf_entry(ctx)`` and the argument-free
        ``@pybpf_run()`` return r0; ``@pybpf_call(ctx)`` returns the status.
        """
        total = self.options.stack_size * self.options.max_call_depth
        cases = " ".join(f"i64 {e}, label %e{e}" for e in self.entries)
        lines = [
            f"@{abi.CTX_GLOBAL} = global ptr null",
            "",
            f"define i64 @{abi.RUN_SYMBOL}() nounwind {{",
            f"  %ctx = load ptr, ptr @{abi.CTX_GLOBAL}",
            f"  %r0 = call i64 @{abi.ENTRY_SYMBOL}(ptr %ctx)",
            "  ret i64 %r0",
            "}",
            "",
            f"define i64 @{abi.ENTRY_SYMBOL}(ptr %ctx) nounwind {{",
            "  %st = call i64 @pybpf_dispatch(ptr %ctx, i1 false)",
            "  %r0 = load i64, ptr %ctx",
            "  ret i64 %r0",
            "}",
            "",
            f"define i64 @{abi.CALL_SYMBOL}(ptr %ctx) nounwind {{",
            "  %st = call i64 @pybpf_dispatch(ptr %ctx, i1 true)",
            "  ret i64 %st",
            "}",
            "",
            "define internal i64 @pybpf_dispatch(ptr %ctx, i1 %nested) noinline nounwind {",
            "entry:",
            "  br i1 %nested, label %callback, label %run",
            "run:",
            f"  %pb = getelementptr i64, ptr %ctx, i64 {abi.STACK_BASE}",
            "  %sb = load i64, ptr %pb",
            "  %sp = inttoptr i64 %sb to ptr",
            f"  call void @llvm.memset.p0.i64(ptr %sp, i8 0, i64 {total}, i1 false)",
            f"  %pe = getelementptr i64, ptr %ctx, i64 {abi.STACK_END}",
            "  %se = load i64, ptr %pe",
            f"  %pn = getelementptr i64, ptr %ctx, i64 {abi.ENTRY}",
            "  %en = load i64, ptr %pn",
            "  br label %go",
            "callback:",
            f"  %cn = getelementptr i64, ptr %ctx, i64 {abi.CALL_ENTRY}",
            "  %cen = load i64, ptr %cn",
            f"  %cr = getelementptr i64, ptr %ctx, i64 {abi.CALL_R10}",
            "  %cr10 = load i64, ptr %cr",
            f"  %cio = getelementptr i64, ptr %ctx, i64 {abi.CALL_REGS}",
            "  br label %go",
            "go:",
            "  %e = phi i64 [%en, %run], [%cen, %callback]",
            "  %r10 = phi i64 [%se, %run], [%cr10, %callback]",
            "  %io = phi ptr [%ctx, %run], [%cio, %callback]",
            f"  switch i64 %e, label %bad [ {cases} ]",
        ]
        for e in self.entries:
            lines += [f"e{e}:", f"  %s{e} = call i64 @f{e}(ptr %ctx, ptr %io, i64 %r10) #0", "  br label %done"]
        phis = ", ".join(f"[%s{e}, %e{e}]" for e in self.entries)
        lines += [
            "bad:",
            "  br label %done",
            "done:",
            f"  %st = phi i64 {phis}, [1, %bad]",
            "  %ok = icmp eq i64 %st, 0",
            "  %top = xor i1 %nested, true",
            "  %fix = and i1 %ok, %top",
            "  br i1 %fix, label %exited, label %out",
            "exited:",
            f"  %p10 = getelementptr i64, ptr %ctx, i64 {abi.REGS + 10}",
            "  store i64 %r10, ptr %p10",
            "  br label %out",
            "out:",
            "  ret i64 %st",
            "}",
            "",
        ]
        return lines

    def _lookup_function(self) -> list[str]:
        """Find the region holding ``[addr, addr + size)`` with the needed permission.

        Returns its live bounds, or (-1, -1) after recording the fault in the context.  The stack
        (whose live part moves with calls) is checked first, then the region table.
        """
        s = abi
        return [
            "define internal {i64, i64} @pybpf_lookup(ptr %ctx, i64 %addr, i64 %size, i64 %write, i64 %pc)"
            " noinline cold nounwind {",
            "entry:",
            f"  %plo = getelementptr i64, ptr %ctx, i64 {s.STACK_LO}",
            "  %slo = load i64, ptr %plo",
            f"  %phi = getelementptr i64, ptr %ctx, i64 {s.STACK_END}",
            "  %shi = load i64, ptr %phi",
            "  %slim = sub i64 %shi, %size",
            "  %s1 = icmp uge i64 %addr, %slo",
            "  %s2 = icmp ule i64 %addr, %slim",
            "  %sin = and i1 %s1, %s2",
            "  br i1 %sin, label %stack, label %scan",
            "stack:",
            "  %sr = insertvalue {i64, i64} undef, i64 %slo, 0",
            "  %sr2 = insertvalue {i64, i64} %sr, i64 %shi, 1",
            "  ret {i64, i64} %sr2",
            "scan:",
            f"  %pn = getelementptr i64, ptr %ctx, i64 {s.NREGIONS}",
            "  %n = load i64, ptr %pn",
            f"  %pt = getelementptr i64, ptr %ctx, i64 {s.REGIONS}",
            "  %tv = load i64, ptr %pt",
            "  %tbl = inttoptr i64 %tv to ptr",
            "  %isw = icmp ne i64 %write, 0",
            f"  %need = select i1 %isw, i64 {s.FLAG_WRITE}, i64 {s.FLAG_READ}",
            "  br label %loop",
            "loop:",
            "  %i = phi i64 [0, %scan], [%i1, %next]",
            "  %more = icmp ult i64 %i, %n",
            "  br i1 %more, label %body, label %fail",
            "body:",
            f"  %e = mul i64 %i, {s.REGION_WORDS}",
            "  %ps = getelementptr i64, ptr %tbl, i64 %e",
            "  %start = load i64, ptr %ps",
            "  %pe = getelementptr i64, ptr %ps, i64 1",
            "  %end = load i64, ptr %pe",
            "  %pf = getelementptr i64, ptr %ps, i64 2",
            "  %flags = load i64, ptr %pf",
            "  %elim = sub i64 %end, %size",
            "  %c1 = icmp uge i64 %addr, %start",
            "  %c2 = icmp ule i64 %addr, %elim",
            "  %c3 = icmp uge i64 %end, %size",
            "  %c12 = and i1 %c1, %c2",
            "  %hit = and i1 %c12, %c3",
            "  br i1 %hit, label %found, label %next",
            "next:",
            "  %i1 = add i64 %i, 1",
            "  br label %loop",
            "found:",
            "  %have = and i64 %flags, %need",
            "  %allowed = icmp eq i64 %have, %need",
            "  br i1 %allowed, label %good, label %fail",
            "good:",
            "  %gr = insertvalue {i64, i64} undef, i64 %start, 0",
            "  %gr2 = insertvalue {i64, i64} %gr, i64 %end, 1",
            "  ret {i64, i64} %gr2",
            "fail:",
            f"  %q1 = getelementptr i64, ptr %ctx, i64 {s.STATUS}",
            f"  store i64 {s.STATUS_MEMORY}, ptr %q1",
            f"  %q2 = getelementptr i64, ptr %ctx, i64 {s.FAULT_PC}",
            "  store i64 %pc, ptr %q2",
            f"  %q3 = getelementptr i64, ptr %ctx, i64 {s.FAULT_ADDR}",
            "  store i64 %addr, ptr %q3",
            f"  %q4 = getelementptr i64, ptr %ctx, i64 {s.FAULT_SIZE}",
            "  store i64 %size, ptr %q4",
            f"  %q5 = getelementptr i64, ptr %ctx, i64 {s.FAULT_WRITE}",
            "  store i64 %write, ptr %q5",
            "  ret {i64, i64} {i64 -1, i64 -1}",
            "}",
            "",
        ]


def lower(insns: Sequence[Instruction], forms: Sequence[Form], options: LoweringOptions | None = None) -> str:
    """LLVM IR text for a validated program."""
    return Lowering(insns, forms, options).module()
