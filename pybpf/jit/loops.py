"""Loop versioning: simple counted loops run without memory checks or budget tests when a guard
at their entry proves neither can fail.

Why: a program the verifier has not proven safe is checked at every memory access (one compare
and branch against the region cache, plus two loads of the cache) and tests the budget at every
loop head.  In a byte loop such as ``strcmp`` that is more work than the loop's own, and LLVM
cannot hoist any of it: the check's miss path calls the runtime library, which may change
everything the checks read.  But for the loops that dominate such programs -- a counter stepping
by one towards a bound, pointers stepping by constants -- the addresses every iteration will use
and the number of iterations are known when the loop is entered.  So a loop of that shape is
emitted twice: the checked copy, exactly as before, and a fast copy without the checks of the
accesses the guard covers and without the budget test at its head.  The guard, run once on each
entry into the loop, computes an upper bound ``K`` on the iterations, asks the runtime library
(``pybpf_probe``) whether each range the fast copy touches lies in one region with the right
permission over all of them, and whether the budget suffices for ``K + 1`` longest iterations.
If anything fails (or the loop is too short to pay for the guard) the checked copy runs, and it
faults or hands over to the interpreter exactly where the interpreter would: the guard never
decides an outcome, it only chooses between two copies that agree whenever the guard passes.
The count is kept identically in both copies, so ``instructions_executed`` is exact.

The shape (all of it checked here, at compile time):

* a loop head ``H`` of the budget analysis (:func:`pybpf.jit.lower.checkpoints`), entered only
  through ``H``, containing no other checkpoint (no inner loop, no call of any kind) and only
  ALU, byte-swap, jump, load, store and 64-bit constant instructions;
* exactly one block ``L`` (the latch) jumps back to ``H``, with a 64-bit compare;
* symbolic execution of one iteration, in terms of the registers (and, for a private frame,
  the 8-byte stack slots) at ``H`` (affine forms
  ``sum(c_j * r_j) + d``; copies, additions and subtractions of registers and constants, and
  multiplications and left shifts by constants, are followed, anything else is "unknown"), gives
  the registers at the back edge: a register that comes back as itself plus ``s`` steps by ``s``
  per iteration (``s = 0``: it is invariant);
* at ``L``, one operand of the compare steps by +1 or -1 and the other is invariant, and the
  loop goes on while ``x <op> bound`` for an ``op`` under which the count of further iterations
  has a closed form (``!=``, and the orderings that the step approaches).

Iteration ``k`` (``k = 0`` on entry) then sees every stepping register at ``r(0) + k * s``; an
access whose address is affine in such registers has address ``A + k * S`` with ``A`` computable
at the guard and ``S`` a constant, and ``K`` bounds ``k``.  Accesses with the same form, step and
direction whose offsets are near each other share one probed range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from pybpf.isa.instruction import Instruction, lddw_value
from pybpf.isa.opcodes import Form, Kind
from pybpf.isa.semantics import M64, signed64

MIN_TRIPS = 16  # per probed range: fewer iterations do not pay for the guard's probes (~10-30 ns each)
_GROUP_GAP = 4096  # accesses further apart than this get ranges of their own
_MAX_STEP = 1 << 32

_ALLOWED = frozenset({Kind.ALU, Kind.END, Kind.JUMP, Kind.LOAD, Kind.LOADSX, Kind.STORE_IMM, Kind.STORE_REG})
ACCESSES = frozenset({Kind.LOAD, Kind.LOADSX, Kind.STORE_IMM, Kind.STORE_REG})
_COMPARES = frozenset({"jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle"})
_SWAPPED = {
    "jeq": "jeq",
    "jne": "jne",
    "jgt": "jlt",
    "jge": "jle",
    "jlt": "jgt",
    "jle": "jge",
    "jsgt": "jslt",
    "jsge": "jsle",
    "jslt": "jsgt",
    "jsle": "jsge",
}
_NEGATED = {
    "jeq": "jne",
    "jne": "jeq",
    "jgt": "jle",
    "jge": "jlt",
    "jlt": "jge",
    "jle": "jgt",
    "jsgt": "jsle",
    "jsge": "jslt",
    "jslt": "jsge",
    "jsle": "jsgt",
}
# Continue-conditions with a closed-form iteration count, by the counter's step.
_COUNTABLE = {1: frozenset({"jne", "jlt", "jle", "jslt", "jsle"}), -1: frozenset({"jne", "jgt", "jge", "jsgt", "jsge"})}


class BlockShape(Protocol):
    """What the analysis reads of a basic block (:class:`pybpf.jit.lower.Block`)."""

    @property
    def insns(self) -> tuple[int, ...]: ...

    @property
    def successors(self) -> tuple[int, ...]: ...


@dataclass(frozen=True)
class Affine:
    """``sum(c * r for r, c in terms) + const`` modulo 2**64, over the registers at the loop head."""

    terms: tuple[tuple[int, int], ...]  # (register, coefficient), sorted, coefficients non-zero
    const: int

    @staticmethod
    def register(r: int) -> Affine:
        return Affine(((r, 1),), 0)

    @staticmethod
    def constant(value: int) -> Affine:
        return Affine((), value & M64)

    def plus(self, other: Affine, sign: int = 1) -> Affine:
        terms = dict(self.terms)
        for r, c in other.terms:
            terms[r] = (terms.get(r, 0) + sign * c) & M64
        return Affine(tuple(sorted((r, c) for r, c in terms.items() if c)), (self.const + sign * other.const) & M64)

    def times(self, factor: int) -> Affine:
        terms = tuple((r, (c * factor) & M64) for r, c in self.terms if (c * factor) & M64)
        return Affine(terms, (self.const * factor) & M64)

    def step(self, steps: dict[int, int]) -> int | None:
        """Change per iteration (mod 2**64), or None when a term's register does not step."""
        total = 0
        for r, c in self.terms:
            s = steps.get(r)
            if s is None:
                return None
            total += c * s
        return total & M64


@dataclass(frozen=True)
class Span:
    """Bytes ``[A + k*step + low, A + k*step + high)`` for every iteration ``k`` in ``[0, K]``,
    where ``A`` is ``base`` evaluated on entry."""

    base: Affine
    step: int  # signed
    low: int
    high: int
    write: bool


@dataclass(frozen=True)
class CountedLoop:
    """A loop the lowering emits twice (see the module docstring)."""

    head: int
    body: frozenset[int]  # leaders, the head included
    counter: Affine  # the stepping operand of the latch's compare, at the latch of iteration 0
    counter_step: int  # +1 or -1
    bound: Affine  # the invariant operand
    condition: str  # the loop goes on while ``counter <condition> bound`` (a jump's op, "jlt", ...)
    spans: tuple[Span, ...]
    covered: frozenset[int]  # instructions whose memory check the guard's probes cover
    equal: tuple[tuple[int, int], ...] = ()  # (frame slot, register) the guard checks are equal


def access_base(insn: Instruction, form: Form) -> int:
    """The register a load, store or atomic addresses memory from."""
    return insn.src if form.kind in (Kind.LOAD, Kind.LOADSX) else insn.dst


def plain(form: Form) -> bool:
    """No call, atomic or relocation: what a versioned loop may contain, and what a shared range
    test (:mod:`pybpf.jit.lower`) may look past, since nothing in it can change the regions."""
    return form.kind in _ALLOWED or (form.kind is Kind.LDDW and form.op == "imm64")


def counted_loops(
    blocks: Mapping[int, BlockShape],
    insns: Sequence[Instruction],
    forms: Sequence[Form],
    leaders: Sequence[int],
    marks: dict[int, int],
    heads: frozenset[int],
    n: int,
    entry: int,
    unchecked: frozenset[int] = frozenset(),
    frame: int = 0,
) -> dict[int, CountedLoop]:
    """The loops of the function entered at ``entry`` that have the shape of the module
    docstring, by head.

    ``unchecked`` lists accesses that need no check anyway (proven by a verifier, or
    r10-relative inside the frame).  ``frame`` is the size of the function's frame when it is
    private (no pointer but r10 reaches it, see "Stack" in :mod:`pybpf.jit.lower`), else 0:
    then its aligned 8-byte slots are followed like registers, so a bound or pointer that
    register pressure spilled to the stack is still recognised.
    """
    preds: dict[int, list[int]] = {b: [] for b in leaders}
    for b in leaders:
        for s in blocks[b].successors:
            if s < n and s in preds:
                preds[s].append(b)
    found = {}
    for head in sorted(heads):
        loop = _analyse(head, entry, blocks, preds, insns, forms, marks, n, unchecked, frame)
        if loop is not None:
            found[head] = loop
    return found


def _analyse(
    head: int,
    entry: int,
    blocks: Mapping[int, BlockShape],
    preds: dict[int, list[int]],
    insns: Sequence[Instruction],
    forms: Sequence[Form],
    marks: dict[int, int],
    n: int,
    unchecked: frozenset[int],
    frame: int,
) -> CountedLoop | None:
    def succ(b: int) -> list[int]:
        return [s for s in blocks[b].successors if s < n]

    # The natural loop: the head dominates a block exactly when the block cannot be reached
    # from the entry without passing the head; latches are the head's dominated predecessors.
    outside: set[int] = set()
    work = [entry] if entry != head else []
    while work:
        b = work.pop()
        if b not in outside:
            outside.add(b)
            work.extend(s for s in succ(b) if s != head)
    latches = [p for p in preds[head] if p not in outside]
    if len(latches) != 1:
        return None
    latch = latches[0]
    body = {head}
    work = [latch]
    while work:
        b = work.pop()
        if b not in body:
            body.add(b)
            work.extend(preds[b])
    if body & outside:
        return None  # not a natural loop (entered other than through its head)
    for b in body:
        if b != head and (b in marks or any(p not in body for p in preds[b])):
            return None  # an inner checkpoint (loop or call) or a side entry
        for i in blocks[b].insns:
            form = forms[i]
            if not plain(form):
                return None
    last = blocks[latch].insns[-1]
    jump, jform = insns[last], forms[last]
    if jform.kind is not Kind.JUMP or jform.width != 64 or jform.op not in _COMPARES:
        return None
    target, fall = blocks[latch].successors
    if target == fall:
        return None

    # One iteration, symbolically, in topological order of the body without the back edge.
    order = _topological(head, body, succ)
    if order is None:
        return None
    # A register refilled from a frame slot in the loop (a spill) usually equals that slot at
    # the head: assume so, keep the assumptions one iteration preserves, and let the guard
    # check them on entry.
    assumed: dict[int, int] = {}  # frame slot -> register
    for b in body:
        for i in blocks[b].insns:
            insn, form = insns[i], forms[i]
            if form.kind is Kind.LOAD and form.width == 8 and insn.src == 10:
                offset = _frame_offset(Affine.register(10), insn.off, frame)
                key = SLOT_BASE + (-offset - 1) // 8 if offset is not None and offset % 8 == 0 else -1
                if key >= 0 and key not in assumed and insn.dst not in assumed.values():
                    assumed[key] = insn.dst
    while True:
        at_latch, addresses = _iterate(order, head, body, last, blocks, insns, forms, succ, frame, assumed)
        kept = {k: r for k, r in assumed.items() if _preserved(at_latch, k, r)}
        if kept == assumed:
            break
        assumed = kept
    out = at_latch  # the back edge's state: the latch's jump changes no register
    steps: dict[int, int] = {}
    # Every symbol an access's address or a back-edge value names: a frame slot the loop only
    # reads (a pointer spilled before it) is invariant and so may be probed once.
    named = {k for v in [*out.values(), *(a for a, _, _ in addresses.values())] if v is not None for k, _ in v.terms}
    for key in {*range(11), *named, *out}:
        value = _value(out, key)
        if value is not None and len(value.terms) == 1 and value.terms[0] == (key, 1):
            steps[key] = value.const

    # The latch's compare: which operand steps, and the condition for going on.
    left = _value(at_latch, jump.dst)
    right = Affine.constant(jump.imm) if jform.source == "K" else _value(at_latch, jump.src)
    if left is None or right is None:
        return None
    ls, rs = left.step(steps), right.step(steps)
    if ls is None or rs is None:
        return None
    condition = jform.op
    if rs == 0 and ls in (1, M64):
        counter, bound, cstep = left, right, 1 if ls == 1 else -1
    elif ls == 0 and rs in (1, M64):
        counter, bound, cstep = right, left, 1 if rs == 1 else -1
        condition = _SWAPPED[condition]
    else:
        return None
    if target != head:
        condition = _NEGATED[condition]
    if condition not in _COUNTABLE[cstep]:
        return None

    spans = _spans(addresses, steps, unchecked)
    covered = frozenset(i for span_members in spans.values() for i in span_members)
    return CountedLoop(
        head=head,
        body=frozenset(body),
        counter=counter,
        counter_step=cstep,
        bound=bound,
        condition=condition,
        spans=tuple(spans),
        covered=covered,
        equal=tuple(sorted(assumed.items())),
    )


def _preserved(state: dict[int, Affine | None], slot: int, register: int) -> bool:
    """Slot and register still hold the same (known) value."""
    value = _value(state, slot)
    return value is not None and value == _value(state, register)


def _iterate(
    order: list[int],
    head: int,
    body: set[int],
    last: int,
    blocks: Mapping[int, BlockShape],
    insns: Sequence[Instruction],
    forms: Sequence[Form],
    succ: Callable[[int], list[int]],
    frame: int,
    assumed: dict[int, int],
) -> tuple[dict[int, Affine | None], dict[int, tuple[Affine | None, int, bool]]]:
    """One iteration from the head to the latch's jump: the state there and every access's
    address, in terms of the registers (and slots) at the head, with each slot in ``assumed``
    taken to equal its register there."""
    start: dict[int, Affine | None] = {r: Affine.register(r) for r in range(11)}
    start.update({k: Affine.register(r) for k, r in assumed.items()})
    state_in: dict[int, dict[int, Affine | None]] = {head: start}
    addresses: dict[int, tuple[Affine | None, int, bool]] = {}  # access -> (address, size, write)
    at_latch: dict[int, Affine | None] = {}
    for b in order:
        state = state_in[b]
        for i in blocks[b].insns:
            if i == last:
                at_latch = dict(state)
            execute(insns, i, forms[i], state, addresses, frame)
        for s in succ(b):
            if s in body and s != head:
                if s in state_in:
                    merged = state_in[s]
                    for key in set(merged) | set(state):
                        if _value(merged, key) != _value(state, key):
                            merged[key] = None
                else:
                    state_in[s] = dict(state)
    return at_latch, addresses


def _topological(head: int, body: set[int], succ: Callable[[int], list[int]]) -> list[int] | None:
    """The body's blocks with every block after all its predecessors (back edge removed), or
    None if the body has a cycle that avoids the head (it cannot, given no inner checkpoint;
    checked anyway)."""
    indegree = {b: 0 for b in body}
    for b in body:
        for s in succ(b):
            if s in body and s != head:
                indegree[s] += 1
    order, ready = [], [head]
    while ready:
        b = ready.pop()
        order.append(b)
        for s in succ(b):
            if s in body and s != head:
                indegree[s] -= 1
                if indegree[s] == 0:
                    ready.append(s)
    return order if len(order) == len(body) else None


SLOT_BASE = 64  # symbolic register of the frame slot at r10 - 8 * (k + 1) is SLOT_BASE + k


def slot_offset(key: int) -> int:
    """The r10-relative offset of the frame slot a symbolic register ``key`` >= SLOT_BASE names."""
    return -8 * (key - SLOT_BASE + 1)


def _value(state: dict[int, Affine | None], key: int) -> Affine | None:
    """A register's or frame slot's value; a slot not written in this iteration holds what it
    held at the head (its own symbol)."""
    if key in state:
        return state[key]
    return Affine.register(key) if key >= SLOT_BASE else None


def _frame_offset(base: Affine | None, off: int, frame: int) -> int | None:
    """The r10-relative offset of an access to a private frame, or None."""
    if not frame or base is None or base.terms != ((10, 1),):
        return None
    offset = signed64(base.const) + off
    return offset if -frame <= offset < 0 else None


def execute(
    insns: Sequence[Instruction],
    i: int,
    form: Form,
    state: dict[int, Affine | None],
    addresses: dict[int, tuple[Affine | None, int, bool]],
    frame: int,
) -> None:
    """Instruction ``i``'s effect on the symbolic registers and frame slots (and the address of
    an access).  Also what :func:`pybpf.jit.lower.entry_plan` runs over blocks."""
    insn, kind = insns[i], form.kind
    if kind in ACCESSES:
        load = kind in (Kind.LOAD, Kind.LOADSX)
        base = _value(state, access_base(insn, form))
        address = None if base is None else base.plus(Affine.constant(insn.off))
        addresses[i] = (address, form.width, not load)
        offset = _frame_offset(base, insn.off, frame)
        whole = offset is not None and form.width == 8 and offset % 8 == 0
        key = SLOT_BASE + (-offset - 1) // 8 if whole and offset is not None else -1
        if load:
            state[insn.dst] = _value(state, key) if whole and kind is Kind.LOAD else None
        elif whole:
            state[key] = Affine.constant(insn.imm) if kind is Kind.STORE_IMM else _value(state, insn.src)
        elif offset is not None:  # a partial store: the slots it touches are no longer known
            for k in range(SLOT_BASE + max(0, -(offset + form.width) // 8), SLOT_BASE + (-offset - 1) // 8 + 1):
                state[k] = None
        return
    if kind is Kind.LDDW:
        state[insn.dst] = Affine.constant(lddw_value(insn, insns[i + 1]))
        return
    if kind is Kind.END:
        state[insn.dst] = None
        return
    if kind is not Kind.ALU:
        return  # jumps change no register
    if form.width != 64:
        state[insn.dst] = None
        return
    operand = Affine.constant(insn.imm) if form.source == "K" else _value(state, insn.src)
    current = _value(state, insn.dst)
    op = form.op
    result: Affine | None = None
    if op == "mov":
        result = operand
    elif op in ("add", "sub") and operand is not None and current is not None:
        result = current.plus(operand, 1 if op == "add" else -1)
    elif op == "neg" and current is not None:
        result = current.times(-1)
    elif op == "mul" and form.source == "K" and current is not None:
        result = current.times(insn.imm)
    elif op == "lsh" and form.source == "K" and current is not None:
        result = current.times(1 << (insn.imm & 63))
    state[insn.dst] = result


def _spans(
    addresses: dict[int, tuple[Affine | None, int, bool]], steps: dict[int, int], unchecked: frozenset[int]
) -> dict[Span, list[int]]:
    """The probed ranges and the accesses each covers."""
    groups: dict[tuple[Affine, int, bool], list[tuple[int, int, int]]] = {}
    for i, (address, size, write) in addresses.items():
        if address is None or i in unchecked:
            continue
        step = address.step(steps)
        if step is None:
            continue
        step = signed64(step)
        if abs(step) > _MAX_STEP:
            continue
        offset = signed64(address.const)
        key = (Affine(address.terms, 0), step, write)
        groups.setdefault(key, []).append((offset, size, i))
    spans: dict[Span, list[int]] = {}
    for (base, step, write), members in groups.items():
        members.sort()
        run: list[tuple[int, int, int]] = []
        for member in [*members, None]:
            if run and (member is None or member[0] > max(o + s for o, s, _ in run) + _GROUP_GAP):
                low = run[0][0]
                high = max(o + s for o, s, _ in run)
                spans[Span(base, step, low, high, write)] = [i for _, _, i in run]
                run = []
            if member is not None:
                run.append(member)
    return spans
