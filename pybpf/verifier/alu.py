"""ALU instructions on abstract registers: scalar arithmetic and the pointer-arithmetic rules.

Scalar results come from :mod:`pybpf.verifier.scalar`.  Pointer arithmetic is allowed only where
it means something: adding or subtracting a scalar to a pointer into a region the program may
dereference (the result keeps the region and accumulates the offset: constants in ``off``,
anything else in the variable part), and subtracting two pointers into the same region (giving a
scalar distance).  Everything else - arithmetic on ``pkt_end``, map references, maybe-NULL
pointers, pointer + pointer, multiplication or bit operations on pointers, 32-bit arithmetic on
pointers - is rejected.

The checks made here depend only on register *kinds*, never on scalar values: bounds of a
variable offset are checked when the pointer is used (memory access, helper argument, packet
comparison).  That keeps the static precision analysis in :mod:`pybpf.verifier.liveness` valid.
"""

from __future__ import annotations

from pybpf.isa.disassembler import ALU_SYMBOL
from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import Form, Kind
from pybpf.verifier import scalar as sc
from pybpf.verifier.result import Reject
from pybpf.verifier.scalar import Scalar
from pybpf.verifier.state import ARITHMETIC_OK, KIND_NAMES, OR_NULL, K, Reg, VState

MAX_VAR_OFF = 1 << 29  # Linux BPF_MAX_VAR_OFF
_BITWISE = frozenset({"and", "or", "xor", "lsh", "rsh", "arsh"})
_DIVISION = frozenset({"div", "mod", "sdiv", "smod"})


class IdSource:
    """Hands out fresh ids (shared by the whole verification run)."""

    def __init__(self) -> None:
        self.last = 0

    def fresh(self) -> int:
        self.last += 1
        return self.last


def imm_value(insn: Instruction, width: int) -> int:
    """The immediate as the instruction uses it: sign-extended to 64 bits, or the 32-bit pattern."""
    return insn.imm & (sc.M32 if width == 32 else sc.M64)


def read(state: VState, regno: int) -> Reg:
    r = state.regs[regno]
    if r.kind == K.NOT_INIT:
        raise Reject(f"R{regno} !read_ok", (regno,))
    return r


def execute(
    state: VState, insn: Instruction, form: Form, ids: IdSource, *, allow_ptr_leaks: bool, div_by_zero: bool
) -> None:
    """Apply one ALU or byte-order instruction to ``state`` (in place)."""
    regs = state.regs
    dst = insn.dst
    op = form.op
    width = form.width
    if form.kind is Kind.END:
        r = read(state, dst)
        if r.kind != K.SCALAR:
            _pointer_to_scalar(r, dst, allow_ptr_leaks, "byte swap")
            regs[dst] = Reg(K.SCALAR, sc.UNKNOWN)
            return
        regs[dst] = Reg(K.SCALAR, sc.byte_order(op, form.bits, r.val))
        return
    if op == "mov" or op == "movsx":
        _move(state, insn, form, ids, allow_ptr_leaks)
        return
    d = read(state, dst)
    if op == "neg":
        if d.kind != K.SCALAR:
            _pointer_to_scalar(d, dst, allow_ptr_leaks, "negation")
            regs[dst] = Reg(K.SCALAR, sc.UNKNOWN)
            return
        regs[dst] = Reg(K.SCALAR, sc.alu("neg", width, d.val, d.val))
        return
    if form.source == "K":
        s = Reg(K.SCALAR, Scalar.const(imm_value(insn, width)))
        src = -1
    else:
        src = insn.src
        s = read(state, src)
    if d.kind == K.SCALAR and s.kind == K.SCALAR:
        if op in _DIVISION and not div_by_zero and s.val.view(width)[2] == 0:
            raise Reject(f"R{src if src >= 0 else dst} division by zero: the divisor may be 0", (dst, src))
        regs[dst] = Reg(K.SCALAR, sc.alu(op, width, d.val, s.val))
        return
    regs[dst] = _pointer_alu(op, width, dst, src, d, s, ids, allow_ptr_leaks)


def _pointer_to_scalar(r: Reg, regno: int, allow_ptr_leaks: bool, what: str) -> None:
    if not allow_ptr_leaks:
        raise Reject(f"R{regno} pointer arithmetic prohibited ({what} of {KIND_NAMES[r.kind]})", (regno,))


def _move(state: VState, insn: Instruction, form: Form, ids: IdSource, allow_ptr_leaks: bool) -> None:
    regs = state.regs
    dst, width = insn.dst, form.width
    if form.source == "K":
        regs[dst] = Reg(K.SCALAR, Scalar.const(imm_value(insn, width)))
        return
    src = insn.src
    s = read(state, src)
    if form.op == "movsx":
        if s.kind != K.SCALAR:
            _pointer_to_scalar(s, src, allow_ptr_leaks, "sign extension")
            regs[dst] = Reg(K.SCALAR, sc.UNKNOWN)
            return
        regs[dst] = Reg(K.SCALAR, sc.alu("movsx", width, sc.ZERO, s.val, form.bits))
        return
    if s.kind != K.SCALAR:
        if width == 64:
            regs[dst] = s
            return
        if not allow_ptr_leaks:
            raise Reject(f"R{src} partial copy of pointer", (src,))
        regs[dst] = Reg(K.SCALAR, Scalar.of_bytes(4))
        return
    value = s.val
    if width == 32 and value.umax > sc.M32:  # the high half may be non-zero: a new value
        regs[dst] = Reg(K.SCALAR, sc.truncate(value, 4))
        return
    if value.m == 0:
        regs[dst] = Reg(K.SCALAR, value)
        return
    if not s.id:
        s = Reg(K.SCALAR, s.val, id=ids.fresh())
        regs[src] = s
    regs[dst] = s


def _pointer_alu(op: str, width: int, dst: int, src: int, d: Reg, s: Reg, ids: IdSource, allow_ptr_leaks: bool) -> Reg:
    sym = ALU_SYMBOL.get(op, op)
    regnos = (dst,) if src < 0 else (dst, src)
    if width == 32:
        raise Reject(f"R{dst} 32-bit pointer arithmetic prohibited", regnos)
    if d.is_pointer and s.is_pointer:
        if op == "sub" and _same_region(d, s):
            return Reg(K.SCALAR, sc.UNKNOWN)
        if op == "sub":
            raise Reject(
                f"R{dst} pointer -= pointer prohibited: {KIND_NAMES[d.kind]} and {KIND_NAMES[s.kind]} "
                "are different regions",
                regnos,
            )
        raise Reject(f"R{dst} pointer {sym} pointer prohibited", regnos)
    if op in _BITWISE:
        raise Reject(f"R{dst} bitwise operator {sym} on pointer prohibited", regnos)
    if op not in ("add", "sub"):
        raise Reject(f"R{dst} pointer arithmetic with {sym} operator prohibited", regnos)
    if s.is_pointer:  # scalar + pointer
        if op == "sub":
            raise Reject(f"R{dst} tried to subtract pointer from scalar", regnos)
        d, s = s, d
        ptr_regno = src
    else:
        ptr_regno = dst
    return offset_pointer(d, s.val, op, ptr_regno, ids)


_PACKET_KINDS = frozenset({K.PACKET, K.PACKET_END, K.PACKET_META})


def _same_region(a: Reg, b: Reg) -> bool:
    if a.kind in _PACKET_KINDS and b.kind in _PACKET_KINDS:
        return True  # data, data_end and data_meta all point into the same packet buffer
    if a.kind != b.kind:
        return False
    if a.kind == K.STACK:
        return a.frame == b.frame
    if a.kind in (K.MAP_VALUE, K.MAP_KEY):
        return a.map is b.map
    if a.kind in (K.RINGBUF_MEM, K.REGION):
        return a.ref == b.ref and a.region == b.region
    return a.kind in (K.CTX, K.PACKET, K.PACKET_META)


def offset_pointer(p: Reg, amount: Scalar, op: str, regno: int, ids: IdSource) -> Reg:
    """``p + amount`` or ``p - amount`` for a pointer ``p`` and a scalar ``amount``."""
    kind = p.kind
    if kind not in ARITHMETIC_OK:
        name = KIND_NAMES[kind]
        hint = ", null-check it first" if kind in OR_NULL else ""
        raise Reject(f"R{regno} pointer arithmetic on {name} prohibited{hint}", (regno,))
    if amount.m == 0:
        delta = sc.s64(amount.v)
        off = p.off + delta if op == "add" else p.off - delta
        if not -MAX_VAR_OFF < off < MAX_VAR_OFF:
            raise Reject(f"R{regno} pointer offset {off} is out of range (|off| < {MAX_VAR_OFF})", (regno,))
        return p.copy(off=off)
    var = sc.alu(op, 64, p.val, amount)
    if kind in (K.PACKET, K.PACKET_META):
        return p.copy(val=var, id=ids.fresh(), rng=0)
    return p.copy(val=var)
