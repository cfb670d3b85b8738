"""Comparing states: pruning, loop detection, and widening of callback loops.

:func:`subsumes` decides whether an already verified state ``old`` at an instruction covers a
new state at the same instruction: every concrete machine state the new one describes is
described by the old one, as far as what is still live and needed goes (see
:mod:`pybpf.verifier.liveness`).  Then every path from the new state was already checked and the
new state need not be explored.  Scalars compare by inclusion of all their facts; pointers must
be of the same kind, region and fixed offset, with an included variable offset and at least the
same proven packet range; ids must map consistently (``old`` relations must hold in ``new``) and
acquired references one to one.

:func:`equal` is the same comparison with equality instead of inclusion; a state equal to one
of its own ancestors means the exploration would repeat itself forever ("infinite loop").

:func:`widen_state` joins two states of a callback loop and pushes every bound that moved to its
limit, so that iterating a helper's callback (``bpf_loop``) reaches a fixpoint quickly; the
number of iterations is bounded by the helper, so only safety must be proven there.
"""

from __future__ import annotations

from pybpf.verifier import scalar as sc
from pybpf.verifier.alu import IdSource
from pybpf.verifier.state import INVALID, MISC, NOT_INIT, SPILL, STACK_SIZE, Frame, K, Reg, Stack, VState

FrameMasks = tuple[int, int, int]  # (live registers, needed registers, live stack bytes)


class _Maps:
    """Id correspondences built while comparing."""

    __slots__ = ("ids", "refs", "refs_back", "tmp")

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.refs: dict[int, int] = {}
        self.refs_back: dict[int, int] = {}
        self.tmp = 0

    def id_ok(self, old: int, new: int) -> bool:
        if new == 0:  # a value linked to nothing: give it an id nothing else has
            self.tmp -= 1
            new = self.tmp
        seen = self.ids.get(old)
        if seen is None:
            self.ids[old] = new
            return True
        return seen == new

    def ref_ok(self, old: int, new: int) -> bool:
        if self.refs.get(old, new) != new or self.refs_back.get(new, old) != old:
            return False
        self.refs[old] = new
        self.refs_back[new] = old
        return True


def _reg_ok(o: Reg, n: Reg, need: int, maps: _Maps, exact: bool) -> bool:
    okind = o.kind
    if o is n and not o.id and not o.ref:
        return True
    if okind == K.NOT_INIT:
        return not exact or n.kind == K.NOT_INIT
    if okind != n.kind:
        return False
    if okind == K.SCALAR:
        if not need:
            return True
        if exact:
            if o.val != n.val:
                return False
        elif not o.val.includes(n.val):
            return False
        return not o.id or maps.id_ok(o.id, n.id)
    if o.off != n.off or o.map is not n.map or o.frame != n.frame or o.size != n.size or o.region != n.region:
        return False
    if exact:
        if o.val != n.val or o.rng != n.rng:
            return False
    elif o.rng > n.rng or not o.val.includes(n.val):
        return False
    if o.id and not maps.id_ok(o.id, n.id):
        return False
    if o.ref or n.ref:
        return maps.ref_ok(o.ref, n.ref)
    return True


def _stack_ok(os: Stack, ns: Stack, live: int, maps: _Maps, exact: bool) -> bool:
    if not live:
        return True
    depth = max(os.depth, ns.depth)
    if depth == 0:
        return True
    lo = STACK_SIZE - depth
    live >>= lo
    ot = os.types
    nt = ns.types
    if ot[lo:] != nt[lo:]:
        for b in range(lo, STACK_SIZE):
            if not (live >> (b - lo)) & 1:
                continue
            o, n = ot[b], nt[b]
            if o == n or (o == INVALID and not exact):
                continue
            if exact or n == INVALID or o == SPILL:
                return False
            if o == MISC:
                if n == SPILL and _spilled_pointer_at(ns, b - STACK_SIZE):
                    return False
            elif ns.byte_known(b - STACK_SIZE) != 0:  # old byte known zero
                return False
    for start, (size, reg) in os.cells.items():
        if not (live >> (start + STACK_SIZE - lo)) & ((1 << size) - 1):
            continue
        cell = ns.cells.get(start)
        if cell is None or cell[0] != size:
            return False
        if not _reg_ok(reg, cell[1], 1, maps, exact):
            return False
    return True


def _spilled_pointer_at(st: Stack, off: int) -> bool:
    for start, (size, reg) in st.cells.items():
        if start <= off < start + size:
            return reg.is_pointer
    return False


_BITS: dict[int, tuple[int, ...]] = {}


def _bits(mask: int) -> tuple[int, ...]:
    """Register numbers set in ``mask`` (r0-r9), cached."""
    found = _BITS.get(mask)
    if found is None:
        found = _BITS[mask] = tuple(r for r in range(10) if (mask >> r) & 1)
    return found


def _compare(old: VState, new: VState, masks: list[FrameMasks], exact: bool) -> bool:
    if len(old.frames) != len(new.frames) or len(old.refs) != len(new.refs):
        return False
    maps = _Maps()
    for of, nf, (live, need, smask) in zip(old.frames, new.frames, masks, strict=True):
        if of.callsite != nf.callsite:
            return False
        oregs, nregs = of.regs, nf.regs
        for r in _bits(live):
            if not _reg_ok(oregs[r], nregs[r], (need >> r) & 1, maps, exact):
                return False
        if not _stack_ok(of.stack, nf.stack, smask, maps, exact):
            return False
    return True


def fingerprint(state: VState, masks: list[FrameMasks]) -> int:
    """A hash that equal states (in the sense of :func:`equal`) share: kinds, offsets and the
    values of needed registers."""
    parts: list[object] = []
    for f, (live, need, _) in zip(state.frames, masks, strict=True):
        regs = f.regs
        for r in _bits(live):
            reg = regs[r]
            if reg.kind == K.SCALAR and not (need >> r) & 1:
                parts.append(1)
            else:
                parts.append((reg.kind, reg.off, reg.val.v, reg.val.m, reg.val.umin, reg.val.umax, reg.rng))
    return hash(tuple(parts))


def subsumes(old: VState, new: VState, masks: list[FrameMasks]) -> bool:
    """Whether every path from ``new`` was already covered by the exploration of ``old``."""
    return _compare(old, new, masks, False)


def equal(old: VState, new: VState, masks: list[FrameMasks]) -> bool:
    """Whether ``new`` repeats ``old`` exactly in everything that can still matter."""
    return _compare(old, new, masks, True)


# -- widening (callback loops) ---------------------------------------------------------------------
class _IdJoin:
    def __init__(self, ids: IdSource) -> None:
        self.ids = ids
        self.pairs: dict[tuple[int, int], int] = {}

    def join(self, a: int, b: int) -> int:
        if a == b:
            return a
        if not a or not b:
            return 0
        key = (a, b)
        if key not in self.pairs:
            self.pairs[key] = self.ids.fresh()
        return self.pairs[key]


def _widen_reg(o: Reg, n: Reg, ij: _IdJoin) -> Reg:
    if o is n:
        return o
    if o.kind != n.kind or o.kind == K.NOT_INIT:
        return NOT_INIT
    if o.kind == K.SCALAR:
        return Reg(K.SCALAR, sc.widen(o.val, n.val), id=ij.join(o.id, n.id) if o.val.m or n.val.m else 0)
    if o.map is not n.map or o.frame != n.frame or o.size != n.size or o.region != n.region or o.ref != n.ref:
        return NOT_INIT
    if o.off != n.off:
        if o.kind in (K.PACKET, K.PACKET_META, K.PACKET_END, K.FUNC, K.MAP_PTR, K.MAP_PTR_OR_NULL):
            return NOT_INIT
        ov = sc.alu("add", 64, o.val, sc.Scalar.const(o.off))
        nv = sc.alu("add", 64, n.val, sc.Scalar.const(n.off))
        return o.copy(off=0, val=sc.widen(ov, nv), id=ij.join(o.id, n.id))
    return o.copy(val=sc.widen(o.val, n.val), rng=min(o.rng, n.rng), id=ij.join(o.id, n.id))


def _widen_stack(os: Stack, ns: Stack, ij: _IdJoin) -> Stack:
    types = bytearray(STACK_SIZE)
    for b in range(STACK_SIZE):
        o, n = os.types[b], ns.types[b]
        if o == n:
            types[b] = o
        elif o == INVALID or n == INVALID:
            types[b] = INVALID
        else:
            types[b] = MISC
    cells: dict[int, tuple[int, Reg]] = {}
    for start, (size, reg) in os.cells.items():
        other = ns.cells.get(start)
        widened = _widen_reg(reg, other[1], ij) if other is not None and other[0] == size else NOT_INIT
        if widened.kind != K.NOT_INIT and all(types[STACK_SIZE + b] == SPILL for b in range(start, start + size)):
            cells[start] = (size, widened)
    for b in range(STACK_SIZE):
        if types[b] == SPILL and not any(s <= b - STACK_SIZE < s + z for s, (z, _) in cells.items()):
            types[b] = MISC
    result = Stack(types, cells)
    result.depth = max(os.depth, ns.depth)
    return result


def widen_state(old: VState, new: VState, ids: IdSource) -> VState:
    """A state containing both, with moving bounds widened (both must share the call chain)."""
    ij = _IdJoin(ids)
    frames: list[Frame] = []
    for of, nf in zip(old.frames, new.frames, strict=True):
        regs = [_widen_reg(o, n, ij) for o, n in zip(of.regs, nf.regs, strict=True)]
        regs[10] = nf.regs[10]
        frames.append(Frame(regs, _widen_stack(of.stack, nf.stack, ij), nf.callsite, nf.subprog, nf.callback))
    result = VState(frames, dict(new.refs), new.parent)
    result.gen = new.gen
    return result
