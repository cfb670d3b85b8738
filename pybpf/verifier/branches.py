"""Conditional jumps: which outcomes are possible and what each outcome teaches.

For scalar operands the two outcomes refine both operands (:func:`pybpf.verifier.scalar.refine`)
and the refinement is copied to every register and spilled slot linked to them by ``id``.  An
outcome whose refinement is empty is impossible and not explored.

For pointers:

* a maybe-NULL pointer compared (``==``/``!=``) with 0 becomes the non-NULL kind on one branch
  and the scalar 0 on the other, for every copy carrying its id (a failed ring-buffer
  reservation also releases its reference);
* a pointer that cannot be NULL never equals 0;
* a packet pointer compared with ``pkt_end`` (or a metadata pointer with the packet start) proves
  on the appropriate branch that the bytes below it exist, for every packet pointer with the same
  id.  All four comparison directions and both operand orders are understood; a strict
  comparison proves one byte more than a non-strict one.
"""

from __future__ import annotations

from pybpf.isa.instruction import Instruction
from pybpf.isa.opcodes import Form
from pybpf.verifier import scalar as sc
from pybpf.verifier.alu import imm_value, read
from pybpf.verifier.result import Reject
from pybpf.verifier.scalar import Scalar
from pybpf.verifier.state import OR_NULL, K, Reg, VState

# Pointer kinds that are never NULL.
NEVER_NULL = frozenset(
    {
        K.CTX,
        K.STACK,
        K.PACKET,
        K.PACKET_END,
        K.PACKET_META,
        K.MAP_PTR,
        K.MAP_VALUE,
        K.MAP_KEY,
        K.RINGBUF_MEM,
        K.REGION,
        K.FUNC,
    }
)
# Unsigned relation that holds on a branch: (op, taken) -> "lt" | "le" | "gt" | "ge" | None.
_ORDER = {
    ("jgt", True): "gt",
    ("jgt", False): "le",
    ("jge", True): "ge",
    ("jge", False): "lt",
    ("jlt", True): "lt",
    ("jlt", False): "ge",
    ("jle", True): "le",
    ("jle", False): "gt",
}
_FLIP = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}

Outcome = tuple[VState | None, VState | None]  # (taken, fall-through); None = impossible


def branch(state: VState, insn: Instruction, form: Form, max_packet_off: int) -> Outcome:
    """Split ``state`` by the jump at hand.  ``state`` itself may be reused for one outcome."""
    width, op = form.width, form.op
    dst = insn.dst
    a = read(state, dst)
    if form.source == "K":
        b = Reg(K.SCALAR, Scalar.const(imm_value(insn, width)))
        src = -1
    else:
        src = insn.src
        b = read(state, src)
    if a.kind == K.SCALAR and b.kind == K.SCALAR:
        return _scalar_branch(state, op, width, dst, src, a, b)
    regnos = (dst,) if src < 0 else (dst, src)
    if width == 32:
        raise Reject(f"R{dst if a.is_pointer else src} 32-bit pointer comparison prohibited", regnos)
    if op in ("jeq", "jne") and (a.is_null_const or b.is_null_const):
        ptr = b if a.is_null_const else a
        if ptr.kind in OR_NULL:
            return _null_branch(state, op, ptr)
        if ptr.kind in NEVER_NULL:
            # "ptr == 0" is never true, "ptr != 0" always.
            return (None, state) if op == "jeq" else (state, None)
        return state, state.copy()
    if op in _ORDER_OPS:
        pk = _packet_compare(a, b)
        if pk is not None:
            return _packet_branch(state, op, a, b, max_packet_off)
    return state, state.copy()


_ORDER_OPS = frozenset({"jgt", "jge", "jlt", "jle"})


def _scalar_branch(state: VState, op: str, width: int, dst: int, src: int, a: Reg, b: Reg) -> Outcome:
    taken = sc.refine(op, width, a.val, b.val, True)
    fall = sc.refine(op, width, a.val, b.val, False)
    if taken is None and fall is None:
        return None, None
    t_state = f_state = None
    if taken is not None and fall is not None:
        t_state, f_state = state.copy(), state
    elif taken is not None:
        t_state = state
    else:
        f_state = state
    if t_state is not None and taken is not None:
        _apply(t_state, dst, src, a, b, taken)
    if f_state is not None and fall is not None:
        _apply(f_state, dst, src, a, b, fall)
    return t_state, f_state


def _apply(state: VState, dst: int, src: int, a: Reg, b: Reg, refined: tuple[Scalar, Scalar]) -> None:
    na, nb = refined
    if src >= 0:
        _set_scalar(state, src, b, nb)
    _set_scalar(state, dst, a, na)


def _set_scalar(state: VState, regno: int, old: Reg, value: Scalar) -> None:
    if value == old.val:
        return
    if old.id:
        rid = old.id
        new = Reg(K.SCALAR, value, id=rid)
        state.replace_everywhere(lambda r: r.kind == K.SCALAR and r.id == rid, lambda r: new)
    else:
        state.regs[regno] = Reg(K.SCALAR, value)


def _null_branch(state: VState, op: str, ptr: Reg) -> Outcome:
    null_state = state.copy()
    nonnull_state = state
    mark_null(null_state, ptr, True)
    mark_null(nonnull_state, ptr, False)
    if op == "jeq":
        return null_state, nonnull_state
    return nonnull_state, null_state


def mark_null(state: VState, ptr: Reg, is_null: bool) -> None:
    """Resolve every copy of the maybe-NULL pointer ``ptr`` (same id) to NULL or non-NULL."""
    pid = ptr.id
    if not pid:
        return
    if is_null:
        zero = Reg(K.SCALAR, sc.ZERO)
        state.replace_everywhere(lambda r: r.kind in OR_NULL and r.id == pid, lambda r: zero)
        if ptr.ref:
            state.refs.pop(ptr.ref, None)
    else:
        state.replace_everywhere(lambda r: r.kind in OR_NULL and r.id == pid, lambda r: r.copy(kind=OR_NULL[r.kind]))


def _packet_compare(a: Reg, b: Reg) -> tuple[Reg, Reg] | None:
    """(pointer, bound) when ``a``/``b`` are a packet pointer and what bounds it."""
    if a.kind == K.PACKET and b.kind == K.PACKET_END:
        return a, b
    if a.kind == K.PACKET_END and b.kind == K.PACKET:
        return b, a
    if a.kind == K.PACKET_META and _is_packet_start(b):
        return a, b
    if b.kind == K.PACKET_META and _is_packet_start(a):
        return b, a
    return None


def _is_packet_start(r: Reg) -> bool:
    return r.kind == K.PACKET and r.off == 0 and r.val.m == 0


def _packet_branch(state: VState, op: str, a: Reg, b: Reg, max_packet_off: int) -> Outcome:
    pointer_first = a.kind in (K.PACKET, K.PACKET_META) and b.kind != K.PACKET_META
    ptr = a if pointer_first else b
    taken, fall = state.copy(), state
    for outcome, is_taken in ((taken, True), (fall, False)):
        rel = _ORDER[(op, is_taken)]
        if not pointer_first:
            rel = _FLIP[rel]
        # rel now relates the pointer to its bound: ptr <rel> bound
        if rel == "le":
            _mark_range(outcome, ptr, ptr.off, max_packet_off)
        elif rel == "lt":
            _mark_range(outcome, ptr, ptr.off + 1, max_packet_off)
    return taken, fall


def _mark_range(state: VState, ptr: Reg, new_range: int, max_packet_off: int) -> None:
    """Every packet pointer with ``ptr``'s id may access ``new_range`` bytes from its base."""
    if new_range <= 0 or ptr.val.smin < 0 or ptr.val.umax + ptr.off > max_packet_off:
        return
    kind, pid = ptr.kind, ptr.id
    state.replace_everywhere(
        lambda r: r.kind == kind and r.id == pid and r.rng < new_range, lambda r: r.copy(rng=new_range)
    )


__all__ = ["NEVER_NULL", "Outcome", "branch", "mark_null"]
