"""Static liveness and precision: which parts of a state can still matter at each instruction.

State pruning compares a new state with already verified ones; the fewer facts it must compare,
the more often it succeeds.  Linux finds the facts that matter dynamically (read marks and
precision back-tracking).  pybpf computes over-approximations of the same facts statically, by a
backward data-flow analysis over each function:

* a register is **live** at an instruction if some path from there reads it before writing it;
  a dead register can hold anything;
* a live register is **needed** if its *value* (not only its kind) may influence a safety check
  or the path taken: a memory access through it, a helper argument other than "anything", a
  conditional jump, a store that may be read back from the stack, the exit value where the
  program type restricts it, and anything such a value is computed from.  A live scalar that is
  not needed must still be a scalar in the new state but its range does not matter;
* a stack byte of the current frame is **live** if some path may read it before overwriting it.
  Reads through any base other than r10, and calls (which may read the stack through pointer
  arguments), make every byte live.

Because these are over-approximations, ignoring what they exclude keeps pruning sound.
"""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.helpers.prototypes import ArgKind, PrototypeTable
from pybpf.isa.instruction import FRAME_POINTER
from pybpf.isa.opcodes import Kind
from pybpf.verifier.cfg import ProgramInfo

ALL_STACK = (1 << 512) - 1
ARGS = 0b111110  # r1-r5
CALLER_SAVED = 0b111111  # r0-r5
CALLEE_SAVED = 0b1111000000  # r6-r9
_VALUE_FREE_ARGS = frozenset({ArgKind.ANYTHING})
_DIV_OPS = frozenset({"div", "mod", "sdiv", "smod"})


def _bytes(off: int, size: int) -> int:
    """Bit mask of stack bytes ``[off, off + size)`` (off relative to r10), clipped to the frame."""
    lo = max(off, -512) + 512
    hi = min(off + size, 0) + 512
    if hi <= lo:
        return 0
    return ((1 << (hi - lo)) - 1) << lo


@dataclass
class Liveness:
    live: list[int]  # registers live before each instruction (bit i = ri)
    needed: list[int]  # registers whose value matters before each instruction
    stack: list[int]  # live stack bytes of the current frame (bit 512 + off)


def compute(info: ProgramInfo, protos: PrototypeTable, *, main_exit_needs_r0: bool, div_checks: bool) -> Liveness:
    """Backward fixpoint per function (functions are independent: calls are summarised)."""
    n = len(info.insns)
    live = [0] * n
    needed = [0] * n
    stack = [0] * n
    for entry in info.entries:
        end = info.function_end(entry)
        exit_needs = entry != 0 or main_exit_needs_r0
        order = [i for i in range(end - 1, entry - 1, -1) if i not in info.tails]
        changed = True
        while changed:
            changed = False
            for i in order:
                out_l = out_n = out_s = 0
                for j in info.successors(i):
                    if j < end:
                        out_l |= live[j]
                        out_n |= needed[j]
                        out_s |= stack[j]
                new = _transfer(info, protos, i, out_l, out_n, out_s, exit_needs, div_checks)
                if new != (live[i], needed[i], stack[i]):
                    live[i], needed[i], stack[i] = new
                    changed = True
    return Liveness(live, needed, stack)


def _transfer(
    info: ProgramInfo,
    protos: PrototypeTable,
    i: int,
    out_l: int,
    out_n: int,
    out_s: int,
    exit_needs: bool,
    div_checks: bool,
) -> tuple[int, int, int]:
    insn = info.insns[i]
    form = info.forms[i]
    kind = form.kind
    d, s = 1 << insn.dst, 1 << insn.src
    if kind is Kind.ALU:
        if form.op in ("mov", "movsx"):
            if form.source == "K":
                return out_l & ~d, out_n & ~d, out_s
            use_n = s if out_n & d else 0
            return (out_l & ~d) | s, (out_n & ~d) | use_n, out_s
        if form.op == "neg":
            return out_l | d, out_n, out_s
        if form.source == "K":
            return out_l | d, out_n, out_s
        extra = s if (div_checks and form.op in _DIV_OPS) else 0
        use_n = (d | s) if out_n & d else 0
        return out_l | d | s, (out_n & ~d) | use_n | extra, out_s
    if kind is Kind.END:
        return out_l | d, out_n, out_s
    if kind is Kind.LDDW:
        return out_l & ~d, out_n & ~d, out_s
    if kind in (Kind.LOAD, Kind.LOADSX):
        if insn.src == FRAME_POINTER:
            new_s = out_s | _bytes(insn.off, form.width)
        else:
            new_s = ALL_STACK
        return (out_l & ~d) | s, (out_n & ~d) | s, new_s
    if kind is Kind.STORE_IMM:
        if insn.dst == FRAME_POINTER:
            return out_l | d, out_n | d, out_s & ~_bytes(insn.off, form.width)
        return out_l | d, out_n | d, out_s
    if kind is Kind.STORE_REG:
        if insn.dst == FRAME_POINTER:
            written = _bytes(insn.off, form.width)
            src_needed = s if out_s & written else 0
            return out_l | d | s, out_n | d | src_needed, out_s & ~written
        return out_l | d | s, out_n | d | s, out_s
    if kind is Kind.ATOMIC:
        use = d | s
        if form.op == "cmpxchg":
            use |= 1
        new_s = out_s | _bytes(insn.off, form.width) if insn.dst == FRAME_POINTER else ALL_STACK
        return out_l | use, out_n | use, new_s
    if kind is Kind.JUMP:
        if form.op == "ja":
            return out_l, out_n, out_s
        use = d | (s if form.source == "X" else 0)
        return out_l | use, out_n | use, out_s
    if kind is Kind.CALL:
        proto = protos.get(insn.imm)
        if proto is None:
            use = use_n = ARGS
            touches_stack = True
        else:
            use = use_n = 0
            touches_stack = False
            for k, arg in enumerate(proto.args, 1):
                use |= 1 << k
                if arg.kind not in _VALUE_FREE_ARGS:
                    use_n |= 1 << k
                if arg.kind not in (ArgKind.ANYTHING, ArgKind.SCALAR, ArgKind.CONST_MAP_PTR):
                    touches_stack = True
        return (
            (out_l & ~CALLER_SAVED) | use,
            (out_n & ~CALLER_SAVED) | use_n,
            ALL_STACK if touches_stack else out_s,
        )
    if kind in (Kind.CALL_LOCAL, Kind.CALL_KFUNC, Kind.CALLX):
        use = ARGS | (d if kind is Kind.CALLX else 0)
        return (out_l & ~CALLER_SAVED) | use, (out_n & ~CALLER_SAVED) | use, ALL_STACK
    if kind is Kind.EXIT:
        return 1, (1 if exit_needs else 0), 0
    if kind in (Kind.LD_ABS, Kind.LD_IND):
        use = (1 << 6) | (s if kind is Kind.LD_IND else 0)
        return (out_l & ~CALLER_SAVED) | use, (out_n & ~CALLER_SAVED), out_s
    raise AssertionError(kind)
