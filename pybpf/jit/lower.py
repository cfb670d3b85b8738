"""Lowering a validated eBPF program to LLVM IR text.

Shape of the output (one module per program):

* Entry points: ``i64 @pybpf_run()`` / ``i64 @pybpf_entry(ptr ctx)`` zero the stack, enter the
  function named by ``ctx[ENTRY]`` and return r0; ``i64 @pybpf_call(ptr ctx)`` runs a function on
  the live stack for a helper's ``env.call_function``.  Code shared by all programs (the region
  lookup, the map helpers, the batch loop) lives in the runtime library (:mod:`pybpf.jit.rtlib`)
  and is called through pointers in the context.  All machine state comes from the context (see
  :mod:`pybpf.jit.abi`), so the object code holds no addresses and can be cached on disk.
* One LLVM function per eBPF *function entry* (instruction 0, local-call targets and addresses
  taken with ``lddw src=4``): ``i64 @f<entry>(ptr ctx, ptr io, i64 r10)``.  It contains every
  basic block reachable from its entry without crossing a call, so a block shared by two
  functions is simply emitted twice and jumps across function boundaries keep working.  ``io``
  holds r0-r9 in and out: the callee starts with the caller's registers (as in the interpreter,
  where the register file is shared) and hands r0-r5 back; the caller's r6-r9 and r10 live in its
  own SSA values, so "restore on return" costs nothing.  The result is 0, or 1 when the program
  must stop (the reason is in ``ctx[STATUS]``), which every caller propagates.
* Registers and the instruction counter are ``alloca``s that SROA turns into SSA values; r10 is a
  function argument (it is read-only), which is what makes constant r10-relative frame accesses
  provably safe.
* One LLVM basic block per eBPF basic block (the interpreter's leaders); every failure leaves
  through a small block of its own that records the count and returns, so no block has a phi
  with one entry per fault site (those made LLVM's InstCombine and register allocator slow).
* Division and remainder select a safe divisor first (never UB), shifts are masked, 32-bit
  operations work on ``i32`` and zero-extend, atomics are ``atomicrmw``/``cmpxchg``.

Budget
------
The interpreter adds each block's length to the instruction count at the block's leader and
stops there once the count passes the budget.  Checking at every block costs a compare and a
branch per block and, worse, stops LLVM from optimising loops (every block becomes a loop exit).
So native code checks only at *checkpoints*: function entries, targets of back edges (every cycle
of the control-flow graph passes through one) and successors of blocks that call out (a helper
may run program code and advance the count).  At a checkpoint ``H`` it tests ``count +
lookahead(H) > budget``, where ``lookahead(H)`` is the longest run of instructions from ``H`` to
the next checkpoint; when the test passes, no block before the next checkpoint can exceed the
budget, so those blocks only add their lengths.  When it fails, the budget *may* run out before
the next checkpoint: native code stops at ``H`` with ``STATUS_TRANSFER``, handing the registers,
the count and the frames of its callers (each caller appends its return index, r6-r9 and r10 to
the ``XFER`` area as the status propagates) to Python, which goes on with the reference
interpreter from ``H`` -- so the budget error, its instruction index, the side effects before it
and ``instructions_executed`` are exactly the interpreter's.  This happens at most once per run,
within one lookahead of the budget.  The count itself is kept as the value at the last
checkpoint plus what the blocks since added, folded together on every edge into a checkpoint,
so a loop carries one addition per iteration (a constant when its body has one path); a loop
head compares the count with ``budget + 1 - lookahead``, computed once at function entry.

Memory checks
-------------
A load or store that is neither r10-relative inside the frame nor listed in ``safe`` is checked
against one cached region per access kind (read, write), kept in context slots: ``lo`` and, per
access size, ``lim = hi - lo - size``, tested as ``addr - lo <=u lim`` (one subtraction, one
compare).  Each function starts with its live stack in the cache (``[r10 - frame, stack end)``,
always valid and at least 8 bytes, so ``lim`` never wraps); a miss calls the runtime library's
``pybpf_lookup``, which scans the live stack and the region table and either caches the region
or records the fault.  Regions smaller than 8 bytes are never cached (they are checked through
the lookup each time).  The caches are reset after calls into Python, because a helper may
change the region set, and after local calls, whose frames are no longer live.  Keeping the
cache in memory rather than in SSA values costs two L1 loads per check but no phi nodes: with a
pair of phis per check and join point, checks were more than half of LLVM's work on
memory-heavy programs.  (A frame under 8 bytes cannot seed the cache; every access then goes
through the lookup.)

Accesses near each other through one base (a header's fields read one after another) share one
*range test*: whether the whole range they span lies in the cached region or, on a miss, in any
region (the lookup asked quietly: it caches what it finds and records nothing).  A range test
never decides an outcome, it only chooses code whose checks would all pass:

* in a block outside a versioned loop's fast copy, the accesses through one register between
  writes of it and with no call between them are tested at the first of them, and the stretch
  from there to the last is emitted twice, without their checks and with them
  (:func:`checked_stretches`);
* in a fast loop copy, a block tests at its entry the accesses whose addresses are affine in its
  entry values, its own and those of the blocks only it leads to (:func:`entry_plan`), and when
  a range is not in a region it goes on in the checked copy of the same block, which has the same
  registers and count.  Branching from the block's entry costs no duplicated code: the checked
  copy exists anyway.  (Stretches emitted twice inside the parser's loop of ``bench/`` made it
  about 15% slower than the same code without their checked halves.)

Versioned loops
---------------
A simple counted loop (:mod:`pybpf.jit.loops`: a counter stepping by one towards a bound,
pointers stepping by constants, no calls) is emitted twice.  Edges entering it from outside go
to a guard that bounds its iterations, probes every range its accesses will take and checks the
budget for all of them; when all of that holds it runs a fast copy without those checks and
without the budget test at its head, else the checked copy above.  Both copies count alike.

Stack
-----
Each run starts with a zeroed stack, as in the interpreter.  Instead of clearing the whole stack
region (4 KiB by default, a large part of a short run), the run clears ``[ctx[DIRTY_LO], stack
end)``: functions that store to memory lower ``DIRTY_LO`` to their frame's bottom on entry, calls
into Python lower it to the caller's frame, and Python marks the whole stack dirty after anything
else touched it.

A function whose r10 never escapes (it is only ever the base of loads and stores, never copied,
added or stored) has a private frame: no pointer can reach it.  Such a frame is an ``alloca``
(as in llvmbpf), which SROA turns into SSA values, so stack spills cost nothing; the bytes the
function reads are copied in at entry (zero at a run's start; what earlier calls left for a
callee, as the interpreter would show it) and the bytes it writes go back to the stack wherever
the function returns normally or hands the run over to the interpreter, so the stack is exactly
the interpreter's whenever the program goes on or has finished.  After a fault it is unspecified,
like the registers: writing the frame back on every fault path kept every frame slot alive up to
each checked access and was a large part of the code (and of LLVM's work) in memory-heavy
programs.

Helpers and relocations
-----------------------
Helpers 1-3 (map lookup/update/delete) first try native code (:mod:`pybpf.jit.maps`, in the
runtime library) and go to Python only when that declines; a lookup site first tries its inline
cache (array maps: a bounds check and a multiply-add).  Relocated ``lddw`` (map references) are
resolved through Python once per site and engine, as Linux resolves them once at load time, and
then read from the ``RELOCS`` table.

Why IR text rather than :mod:`llvmlite.ir`: building IR with ``llvmlite.ir`` and serialising it
costs about 45 ms per 1,000 instructions (``shared/notes/performance.md`` section 2.5), more than
LLVM's own work on real programs; these f-string templates produce the module text several times
faster.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pybpf.isa import semantics
from pybpf.isa.instruction import Instruction, branch_target, is_function_address, lddw_value
from pybpf.isa.opcodes import Form, Kind
from pybpf.isa.semantics import M64
from pybpf.jit import abi
from pybpf.jit.compiler import JitError
from pybpf.jit.loops import (
    ACCESSES,
    MIN_TRIPS,
    SLOT_BASE,
    Affine,
    CountedLoop,
    Span,
    access_base,
    counted_loops,
    execute,
    plain,
    slot_offset,
)
from pybpf.jit.maps import NATIVE_HELPERS
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
_CALLS_OUT = frozenset({Kind.CALL, Kind.CALL_KFUNC, Kind.CALLX, Kind.CALL_LOCAL})
_WRITES = frozenset({Kind.STORE_IMM, Kind.STORE_REG, Kind.ATOMIC})
_LIKELY = "!prof !0"  # branch weights: the true edge is the hot one
_UNLIKELY = "!prof !1"
_MIN_CACHED_SPAN = 8  # the largest access: cached regions are at least this big
# Inclusive loop conditions: the bound at which "x <= b" never fails, and the strict form it becomes.
_INCLUSIVE = {
    "jle": (-1, "jlt"),
    "jsle": ((1 << 63) - 1, "jslt"),
    "jge": (0, "jgt"),
    "jsge": (-(1 << 63), "jsgt"),
}


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


def checkpoints(
    blocks: dict[int, Block], forms: Sequence[Form], entry: int, leaders: Sequence[int], n: int
) -> tuple[dict[int, int], frozenset[int]]:
    """Budget checkpoints of the function at ``entry`` with their lookahead (see "Budget"), and
    which of them are loop heads.

    Checkpoints: the entry, every target of a back edge of a depth-first search from the entry
    (removing those edges leaves an acyclic graph, so lookaheads are finite; these are the loop
    heads), and the successors of blocks that call out.  Lookahead: instructions of the longest
    path that starts at the checkpoint and ends before the next one (or at an exit).
    """
    marks = {entry}
    state: dict[int, int] = {entry: 1}  # 1: on the DFS stack, 2: done
    stack = [(entry, iter(blocks[entry].successors))]
    while stack:
        node, it = stack[-1]
        for s in it:
            if s >= n:
                continue
            seen = state.get(s, 0)
            if seen == 0:
                state[s] = 1
                stack.append((s, iter(blocks[s].successors)))
                break
            if seen == 1:
                marks.add(s)
        else:
            state[node] = 2
            stack.pop()
    heads = frozenset(marks - {entry})
    for leader in leaders:
        block = blocks[leader]
        if any(forms[i].kind in _CALLS_OUT for i in block.insns):
            marks.update(s for s in block.successors if s < n)
    longest: dict[int, int] = {}

    def path(start: int) -> int:
        """Longest run from ``start`` (a non-checkpoint) to the next checkpoint, iteratively."""
        work = [start]
        while work:
            b = work[-1]
            if b in longest:
                work.pop()
                continue
            pending = [s for s in blocks[b].successors if s < n and s not in marks and s not in longest]
            if pending:
                work.extend(pending)
                continue
            tail = [longest[s] for s in blocks[b].successors if s < n and s not in marks]
            longest[b] = len(blocks[b].insns) + max(tail, default=0)
            work.pop()
        return longest[start]

    out: dict[int, int] = {}
    for h in marks:
        tail = [path(s) for s in blocks[h].successors if s < n and s not in marks]
        out[h] = len(blocks[h].insns) + max(tail, default=0)
    return out, heads


def skip_arms(
    blocks: dict[int, Block], leaders: Sequence[int], entry: int, marks: dict[int, int], n: int
) -> frozenset[int]:
    """Blocks that a conditional jump may skip: the jump's fall-through block F, entered only from
    that jump, whose one successor is the jump's target (``if c goto T; F...; T:``, the shape
    if-conversion turns into selects).  The jumping block adds ``c ? 0 : len(F)`` to the count
    instead of F adding its length, so a branch-free loop body counts with a few additions of
    the condition rather than a chain of selects.  Checkpoints and the entry are never arms
    (they reset the count)."""
    preds: dict[int, int] = {}
    for leader in leaders:
        for s in blocks[leader].successors:
            if s < n:
                preds[s] = preds.get(s, 0) + 1
    arms = set()
    for leader in leaders:
        block = blocks[leader]
        if len(block.successors) != 2 or block.falls_through:
            continue
        target, fall = block.successors
        arm = blocks.get(fall)
        if (
            arm is not None
            and fall != entry
            and fall not in marks
            and preds.get(fall) == 1
            and arm.successors == (target,)
            and target != fall
        ):
            arms.add(fall)
    return frozenset(arms)


_MEMORY = frozenset({Kind.LOAD, Kind.LOADSX, Kind.STORE_IMM, Kind.STORE_REG, Kind.ATOMIC})
_WRITE_DST = frozenset({Kind.ALU, Kind.END, Kind.LDDW, Kind.LOAD, Kind.LOADSX})
_MAX_SHARED_RANGE = 256  # accesses further apart get tests of their own (a range across regions fails)


@dataclass
class SharedCheck:
    """Accesses that one range test covers (see "Memory checks")."""

    base: Affine  # what every member addresses from (a register, or a form of block-entry values)
    low: int  # the range, as offsets from that base
    high: int
    write: bool
    members: tuple[int, ...]  # in program order


@dataclass
class CheckedStretch:
    """Instructions of a block emitted twice: without their shared checks when every range test
    passes at ``start``, else with every check."""

    start: int
    end: int  # inclusive
    groups: list[SharedCheck]

    @property
    def unchecked(self) -> frozenset[int]:
        return frozenset(i for group in self.groups for i in group.members)


def _writes(insn: Instruction, form: Form) -> int | None:
    """The register an instruction of a stretch writes (they contain no calls)."""
    return insn.dst if form.kind in _WRITE_DST else None


def shared_groups(
    insns: Sequence[Instruction], forms: Sequence[Form], block: Sequence[int], needs_check: Callable[[int], bool]
) -> list[SharedCheck]:
    """The accesses of a block that can share a range test.

    A group's members use one base register and the same kind of access (read or write: they
    test different caches), and nothing between them writes the register or calls out (a helper
    may change the regions; a relocated ``lddw`` calls Python).  Groups of one access keep their
    plain check.
    """
    Member = tuple[int, int, int]  # offset, size, access
    runs: list[tuple[tuple[int, bool], list[Member]]] = []  # (base register, write), members
    open_groups: dict[tuple[int, bool], list[Member]] = {}
    for i in block:
        insn, form = insns[i], forms[i]
        if form.kind in ACCESSES:
            load = form.kind in (Kind.LOAD, Kind.LOADSX)
            if needs_check(i):
                open_groups.setdefault((access_base(insn, form), not load), []).append((insn.off, form.width, i))
        elif not plain(form):
            runs.extend(open_groups.items())  # a call, an atomic, a relocation: start afresh
            open_groups.clear()
            continue
        written = _writes(insn, form)
        runs.extend((key, open_groups.pop(key)) for key in [k for k in open_groups if k[0] == written])
    runs.extend(open_groups.items())
    return _split([(Affine.register(base), write, members) for (base, write), members in runs])


def _split(runs: Sequence[tuple[Affine, bool, list[tuple[int, int, int]]]]) -> list[SharedCheck]:
    """Groups from accesses ``(offset, size, index)`` by base: nearby ones together, and never
    a group of one."""
    groups: list[SharedCheck] = []
    for base, write, members in runs:
        part: list[tuple[int, int, int]] = []
        for member in [*sorted(members), None]:
            if part and (member is None or member[0] + member[1] - part[0][0] > _MAX_SHARED_RANGE):
                if len(part) > 1:
                    high = max(o + w for o, w, _ in part)
                    groups.append(SharedCheck(base, part[0][0], high, write, tuple(sorted(i for _, _, i in part))))
                part = []
            if member is not None:
                part.append(member)
    return groups


def entry_plan(
    insns: Sequence[Instruction],
    forms: Sequence[Form],
    blocks: Mapping[int, Block],
    body: frozenset[int],
    head: int,
    needs_check: Callable[[int], bool],
    frame: int = 0,
) -> dict[int, list[SharedCheck]]:
    """For a versioned loop's fast copy: the groups each block tests at its entry.

    A block's tests cover its own checked accesses and those of the blocks only it leads to
    (its chain: blocks of the body whose single predecessor is it, theirs, and so on), grouped
    by the affine form of their addresses in the registers (and the 8-byte slots of a private
    frame of ``frame`` bytes) at its entry -- what :func:`pybpf.jit.loops.execute` follows.  A
    group is tested where it has a member of the block itself (testing for accesses only some
    path below takes would send the other paths to the checked copy for nothing), and every
    access by the first block that can.  In the fast copy a block of a chain is entered from its
    predecessor alone, so an access tested above needs no check of its own.
    """
    preds = dict.fromkeys(body, 0)
    for b in body:
        for s in blocks[b].successors:
            if s in body and s != head:
                preds[s] += 1
    children = {
        b: [s for s in dict.fromkeys(blocks[b].successors) if s in body and s != head and preds[s] == 1]
        for b in body
    }
    covered: set[int] = set()
    plan: dict[int, list[SharedCheck]] = {}

    def walk(b: int, state: dict[int, Affine | None], addresses: dict[int, tuple[Affine | None, int, bool]]) -> None:
        for i in blocks[b].insns:
            form = forms[i]
            if not plain(form):
                return  # a call or an atomic: what follows may see other regions
            execute(insns, i, form, state, addresses, frame)
        for child in children[b]:
            walk(child, dict(state), addresses)

    def plan_from(b: int) -> None:
        addresses: dict[int, tuple[Affine | None, int, bool]] = {}
        walk(b, {r: Affine.register(r) for r in range(11)}, addresses)
        runs: dict[tuple[Affine, bool], list[tuple[int, int, int]]] = {}
        for i, (address, size, write) in addresses.items():
            if address is not None and i not in covered and needs_check(i):
                runs.setdefault((Affine(address.terms, 0), write), []).append((_signed(address.const, 64), size, i))
        own = set(blocks[b].insns)
        groups = [g for g in _split([(k, w, m) for (k, w), m in runs.items()]) if own.intersection(g.members)]
        if groups:
            plan[b] = groups
            covered.update(i for g in groups for i in g.members)
        for child in children[b]:
            plan_from(child)

    for b in sorted(body):
        if b == head or preds[b] != 1:
            plan_from(b)
    return plan


def checked_stretches(
    insns: Sequence[Instruction], forms: Sequence[Form], block: Sequence[int], needs_check: Callable[[int], bool]
) -> list[CheckedStretch]:
    """Where a block's shared groups are tested: groups whose stretches overlap share one
    stretch, tested at its start, which is why a later group must not have its register
    written between that start and its own first member (else it keeps its plain checks)."""
    groups = shared_groups(insns, forms, block, needs_check)
    position = {i: k for k, i in enumerate(block)}
    stretches: list[CheckedStretch] = []
    for group in sorted(groups, key=lambda g: position[g.members[0]]):
        first, last = group.members[0], group.members[-1]
        if stretches and position[first] <= position[stretches[-1].end]:
            stretch = stretches[-1]
            between = block[position[stretch.start] : position[first]]
            if any(_writes(insns[i], forms[i]) == group.base.terms[0][0] for i in between):
                continue
            stretch.groups.append(group)
            stretch.end = max(stretch.end, last, key=position.__getitem__)
        else:
            stretches.append(CheckedStretch(first, last, [group]))
    return stretches


def frame_use(
    insns: Sequence[Instruction], forms: Sequence[Form], members: Sequence[int], frame: int
) -> tuple[bool, int, int] | None:
    """How a function uses its stack frame, if it can live in an ``alloca`` (see "Stack").

    None when r10's value escapes (copied, added, stored, exchanged: then any pointer may reach
    the frame and it must stay in memory).  Otherwise (writes?, lowest offset accessed, lowest
    offset written) over the r10-relative accesses inside the frame.
    """
    lowest = lowest_write = 0
    writes = False
    for i in members:
        insn, form = insns[i], forms[i]
        kind = form.kind
        if kind is Kind.ALU and form.source == "X" and insn.src == FRAME_POINTER:
            return None
        if kind in (Kind.STORE_REG, Kind.ATOMIC) and insn.src == FRAME_POINTER:
            return None
        if kind not in _MEMORY:
            continue
        base = access_base(insn, form)
        off, size = insn.off, form.width
        if base != FRAME_POINTER or not (-frame <= off and off + size <= 0):
            continue
        lowest = min(lowest, off)
        if kind in (Kind.STORE_IMM, Kind.STORE_REG, Kind.ATOMIC):
            writes = True
            lowest_write = min(lowest_write, off)
    return writes, lowest, lowest_write


def relocation_sites(insns: Sequence[Instruction], forms: Sequence[Form]) -> list[int]:
    """Indices of ``lddw`` whose value comes from the resolver (everything but constants and
    function addresses), in program order; site ``k`` owns ``RELOC_WORDS`` u64 at ``RELOCS``."""
    return [
        i
        for i in instruction_starts(forms)
        if forms[i].kind is Kind.LDDW and forms[i].op != "imm64" and not is_function_address(forms[i])
    ]


def lookup_sites(insns: Sequence[Instruction], forms: Sequence[Form]) -> list[int]:
    """Indices of ``call bpf_map_lookup_elem`` in program order; site ``k`` owns ``SITE_WORDS``
    u64 at ``SITES`` (an inline cache, see :mod:`pybpf.jit.abi`)."""
    return [i for i in instruction_starts(forms) if forms[i].kind is Kind.CALL and insns[i].imm == 1]


@dataclass(frozen=True)
class LoweringOptions:
    stack_size: int = 512
    max_call_depth: int = 8
    safe: frozenset[int] = frozenset()
    table_helpers: frozenset[int] = frozenset()  # helper ids answered from the argument table


class _Function:
    """Emits one LLVM function for the eBPF function entered at ``entry``."""

    def __init__(self, program: Lowering, entry: int) -> None:
        self.p = program
        self.entry = entry
        self.out: list[str] = []
        self.n = 0
        self.frame = program.options.stack_size
        self.fast_checks = self.frame >= _MIN_CACHED_SPAN
        self.marks: dict[int, int] = {}
        self.heads: frozenset[int] = frozenset()
        self.arms: frozenset[int] = frozenset()
        self.slot_ptrs: dict[int, str] = {}
        self.loops: dict[int, CountedLoop] = {}  # versioned loops by head (see pybpf.jit.loops)
        self.unchecked: frozenset[int] = frozenset()  # accesses a range test covers where they are emitted
        self.plan: dict[int, list[SharedCheck]] = {}  # a fast loop copy's entry tests (see entry_plan)
        self.variant: int | None = None  # the head of the loop whose fast copy is being emitted
        self.current = -1  # leader of the block being emitted
        self.promoted = False  # the frame is an alloca (see "Stack")
        self.frame_writes = False
        self.low_write = 0

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

    def slot(self, slot: int) -> str:
        """The address of a context slot: one ``getelementptr`` per slot and function, defined in
        the entry block (so it dominates every use) once the body shows which slots it needs."""
        name = self.slot_ptrs.get(slot)
        if name is None:
            name = self.slot_ptrs[slot] = f"%ctx{slot}"
        return name

    def ctx_load(self, slot: int) -> str:
        p, v = self.slot(slot), self.t()
        self.emit(f"{v} = load i64, ptr {p}")
        return v

    def ctx_store(self, slot: int, value: str | int) -> None:
        self.emit(f"store i64 {value}, ptr {self.slot(slot)}")

    def write_back(self) -> None:
        """A promoted frame goes back to the stack before anything else can see it: at every
        exit, before a hand-over to the interpreter, after a helper ended the program."""
        if self.promoted and self.frame_writes:
            low = self.low_write
            src, dst = self.t(), self.t()
            self.emit(f"{src} = getelementptr i8, ptr %frame, i64 {self.frame + low}")
            self.emit(f"{dst} = getelementptr i8, ptr %fp, i64 {low}")
            self.emit(f"call void @llvm.memcpy.p0.p0.i64(ptr {dst}, ptr {src}, i64 {-low}, i1 false)")

    def count(self) -> str:
        """The instruction count now: the count at the last checkpoint plus what the blocks since
        added.  Kept as two values so that a loop's count carries one addition per iteration,
        whatever path the iteration took (one running sum made the count a chain of selects
        through every if-converted branch, which was the critical path of branchy loops)."""
        base, acc, c = self.t(), self.t(), self.t()
        self.emit(f"{base} = load i64, ptr %cnt")
        self.emit(f"{acc} = load i64, ptr %acc")
        self.emit(f"{c} = add i64 {base}, {acc}")
        return c

    def set_count(self, value: str) -> None:
        self.emit(f"store i64 {value}, ptr %cnt")
        self.emit("store i64 0, ptr %acc")

    def leave(self) -> None:
        """Stop the program: publish the count (the status is already set) and return 1."""
        self.write_back()
        self.ctx_store(abi.COUNT, self.count())
        self.emit("ret i64 1")

    def fail(self, status: int, pc: int, addr: str | None = None) -> None:
        """Record a fault in the context and stop.  The stack is not brought up to date: after a
        fault it is unspecified, like the registers (see "Stack")."""
        self.ctx_store(abi.STATUS, status)
        self.ctx_store(abi.FAULT_PC, pc)
        if addr is not None:
            self.ctx_store(abi.FAULT_ADDR, addr)
        self.ctx_store(abi.COUNT, self.count())
        self.emit("ret i64 1")

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
        """Both region caches back to this function's live stack (valid whatever a helper did)."""
        if self.fast_checks:
            for base in (abi.RCACHE, abi.WCACHE):
                self.ctx_store(base, "%slo")
                for k, size in enumerate(abi.CACHE_SIZES, 1):
                    self.ctx_store(base + k, f"%slim{size}")

    def goto(self, index: int) -> str:
        if index < self.p.n:
            self.toward((index,))
            return f"br label %{self.dest(index)}"
        return f"br label %{self.ranoff()}"

    def dest(self, target: int) -> str:
        """The label of block ``target`` seen from the block being emitted: inside a fast loop
        copy its own blocks are the fast ones, and entering a versioned loop from outside goes
        through its guard."""
        if self.variant is not None and target in self.loops[self.variant].body:
            return f"v{target}"
        loop = self.loops.get(target)
        if loop is not None and self.current not in loop.body:
            return f"g{target}"
        return f"b{target}"

    def toward(self, targets: Sequence[int]) -> None:
        """Before a branch: when a target is a checkpoint, fold the blocks' count into the
        checkpoint count first.  The total is unchanged, but every edge into a checkpoint then
        carries nothing in ``acc``, so a loop's count is one addition on its back edge (a
        constant when the iteration has one path) and the checkpoint's test one compare."""
        if any(t in self.marks for t in targets):
            self.set_count(self.count())

    def ranoff(self) -> str:
        """A fresh block that reports running off the end of the program."""
        label = self.label()
        self.pending.append(label)
        return label

    # -- the function -----------------------------------------------------------------------------
    def build(self, leaders: list[int]) -> list[str]:
        p = self.p
        self.marks, self.heads = checkpoints(p.blocks, p.forms, self.entry, leaders, p.n)
        self.arms = skip_arms(p.blocks, leaders, self.entry, self.marks, p.n)
        self.reentered = any(self.entry in p.blocks[b].successors for b in leaders)  # a loop back to the entry
        self.pending: list[str] = []
        members = [i for b in leaders for i in p.blocks[b].insns]
        self.out.append(f"define internal i64 @f{self.entry}(ptr %ctx, ptr %io, i64 %r10) nounwind {{")
        self.open("entry")
        slots_at = len(self.out)  # the context slot addresses go here (see slot())
        for r in range(10):
            self.emit(f"%r{r} = alloca i64")
        for name in ("cnt", "acc", "aold"):
            self.emit(f"%{name} = alloca i64")
        self.emit("%cio = alloca [10 x i64]")
        self.emit("%fp = inttoptr i64 %r10 to ptr")
        use = frame_use(p.insns, p.forms, members, self.frame) if self.frame > 0 else None
        self.promoted = use is not None
        if use is not None:
            self.frame_writes, low, self.low_write = use
            self.emit(f"%frame = alloca [{self.frame} x i8], align 8")
            if low < 0:  # the frame's bytes the function touches, as they are (zero at a run's start)
                src, dst = self.t(), self.t()
                self.emit(f"{src} = getelementptr i8, ptr %fp, i64 {low}")
                self.emit(f"{dst} = getelementptr i8, ptr %frame, i64 {self.frame + low}")
                self.emit(f"call void @llvm.memcpy.p0.p0.i64(ptr {dst}, ptr {src}, i64 {-low}, i1 false)")
        for r in range(10):
            pr, v = self.t(), self.t()
            self.emit(f"{pr} = getelementptr i64, ptr %io, i64 {r}")
            self.emit(f"{v} = load i64, ptr {pr}")
            self.emit(f"store i64 {v}, ptr %r{r}")
        self.set_count(self.ctx_load(abi.COUNT))
        self.emit(f"%budget = load i64, ptr {self.slot(abi.BUDGET)}")
        # Per loop head: the count at which running its lookahead could pass the budget,
        # budget + 1 - lookahead (0 when the lookahead alone passes it; the budget in the context
        # is at most 2**63, so budget + 1 does not wrap), so that the test in the loop is one
        # compare against a value computed once.
        self.emit("%budget1 = add i64 %budget, 1")
        for leader in sorted(self.heads):
            self.emit(f"%limit{leader} = call i64 @llvm.usub.sat.i64(i64 %budget1, i64 {self.marks[leader]})")
        self.emit(f"%sbase = load i64, ptr {self.slot(abi.STACK_BASE)}")
        self.emit(f"%send = load i64, ptr {self.slot(abi.STACK_END)}")
        self.emit(f"%lookup = load ptr, ptr {self.slot(abi.LOOKUP_FN)}")
        self.emit(f"%slo = sub i64 %r10, {self.frame}")
        self.emit("%sspan = sub i64 %send, %slo")
        for size in abi.CACHE_SIZES:
            self.emit(f"%slim{size} = sub i64 %sspan, {size}")
        # Frames below the outermost one, passed to callbacks so Python knows the stack's live
        # part without reading the context (see abi.CB_FRAME_SHIFT).
        if self.frame > 0:
            self.emit("%fdist = sub i64 %send, %r10")
            self.emit(f"%frames = udiv i64 %fdist, {self.frame}")
            self.emit(f"%cbk = shl i64 %frames, {abi.CB_FRAME_SHIFT}")
        else:
            self.emit("%cbk = add i64 0, 0")
        if any(p.forms[i].kind in _WRITES for b in leaders for i in p.blocks[b].insns):
            self.lower_dirty()
        self.reset_caches()
        self.emit(f"br label %b{self.entry}")
        unchecked = frozenset(i for i in members if self.statically_safe(i))
        frame = self.frame if self.promoted else 0
        self.loops = counted_loops(
            p.blocks, p.insns, p.forms, leaders, self.marks, self.heads, p.n, self.entry, unchecked, frame
        )
        for leader in leaders:
            self.block(p.blocks[leader])
        for head, loop in self.loops.items():
            self.guard(loop)
            self.variant = head
            if self.fast_checks:
                self.plan = entry_plan(p.insns, p.forms, p.blocks, loop.body, head, self.needs_check, frame)
                self.unchecked = frozenset(i for groups in self.plan.values() for g in groups for i in g.members)
            for leader in sorted(loop.body):
                self.block(p.blocks[leader])
            self.variant, self.plan, self.unchecked = None, {}, frozenset()
        self.tail()
        self.out.append("}")
        self.out[slots_at:slots_at] = [
            f"  {name} = getelementptr i64, ptr %ctx, i64 {slot}" for slot, name in sorted(self.slot_ptrs.items())
        ]
        return self.out

    def lower_dirty(self) -> None:
        """This function may write its frame: the next run must clear it (see "Stack")."""
        d, m = self.t(), self.t()
        pd = self.slot(abi.DIRTY_LO)
        self.emit(f"{d} = load i64, ptr {pd}")
        self.emit(f"{m} = call i64 @llvm.umin.i64(i64 {d}, i64 %slo)")
        self.emit(f"store i64 {m}, ptr {pd}")

    def tail(self) -> None:
        """The normal exit (registers back through ``io``) and the run-off-the-end stubs."""
        self.open("exit")
        for r in range(10):
            v = self.reg(r)
            pr = self.t()
            self.emit(f"{pr} = getelementptr i64, ptr %io, i64 {r}")
            self.emit(f"store i64 {v}, ptr {pr}")
        self.ctx_store(abi.COUNT, self.count())
        self.write_back()
        self.emit("ret i64 0")
        for label in self.pending:
            self.open(label)
            self.fail(abi.STATUS_RAN_OFF, self.p.n - 1)

    def block(self, block: Block) -> None:
        self.current = block.leader
        self.open(("b" if self.variant is None else "v") + str(block.leader))
        lookahead = self.marks.get(block.leader)
        if lookahead is not None and self.variant is not None:  # the guard made the budget sure
            self.set_count(self.count())
        elif lookahead is not None:
            c = self.count()
            self.set_count(c)
            over = self.t()
            if block.leader in self.heads:
                self.emit(f"{over} = icmp uge i64 {c}, %limit{block.leader}")  # c + lookahead > budget
            else:
                ahead = self.t()
                self.emit(f"{ahead} = add i64 {c}, {lookahead}")
                self.emit(f"{over} = icmp ugt i64 {ahead}, %budget")
            body, hand = self.label(), self.label()
            self.emit(f"br i1 {over}, label %{hand}, label %{body}, {_UNLIKELY}")
            self.open(hand)
            self.transfer(block.leader, c)
            self.open(body)
        stretches: dict[int, CheckedStretch] = {}
        if self.fast_checks and self.variant is not None:
            self.entry_test(block)
        elif self.fast_checks and sum(i in self.p.plain_accesses and self.needs_check(i) for i in block.insns) > 1:
            checked = checked_stretches(self.p.insns, self.p.forms, block.insns, self.needs_check)
            stretches = {s.start: s for s in checked}
        if block.leader not in self.arms:  # an arm's length was added by the block before it
            self.add_count(str(len(block.insns)))
        k = 0
        while k < len(block.insns):
            stretch = stretches.get(block.insns[k])
            if stretch is None:
                self.insn(block.insns[k])
                k += 1
                continue
            length = block.insns.index(stretch.end) + 1 - k
            self.stretch(stretch, block.insns[k : k + length])
            k += length
        if block.falls_through:
            self.emit(self.goto(block.successors[0]))

    def add_count(self, value: str) -> None:
        a, a2 = self.t(), self.t()
        self.emit(f"{a} = load i64, ptr %acc")
        self.emit(f"{a2} = add i64 {a}, {value}")
        self.emit(f"store i64 {a2}, ptr %acc")

    def transfer(self, leader: int, count: str) -> None:
        """Hand the run over to the interpreter at ``leader`` (see "Budget")."""
        for r in range(10):
            self.ctx_store(abi.REGS + r, self.reg(r))
        self.ctx_store(abi.REGS + 10, "%r10")
        self.ctx_store(abi.COUNT, count)
        self.ctx_store(abi.STATUS, abi.STATUS_TRANSFER)
        self.ctx_store(abi.FAULT_PC, leader)
        if leader != self.entry or self.reentered:  # else the frame is still what was copied in
            self.write_back()
        self.emit("ret i64 1")

    # -- versioned loops (pybpf.jit.loops) ----------------------------------------------------------
    def affine(self, value: Affine) -> str:
        """``value`` over the registers as they are now."""
        total = str(_signed(value.const, 64))
        for r, c in value.terms:
            if r >= SLOT_BASE:  # a slot of the private frame
                term = self.t()
                self.emit(f"{term} = load i64, ptr {self.frame_slot(slot_offset(r))}, align 1")
            else:
                term = self.reg(r)
            if c != 1:
                scaled = self.t()
                self.emit(f"{scaled} = mul i64 {term}, {_signed(c, 64)}")
                term = scaled
            acc = self.t()
            self.emit(f"{acc} = add i64 {total}, {term}")
            total = acc
        return total

    def guard(self, loop: CountedLoop) -> None:
        """The entry of a versioned loop: its fast copy when the iterations are bounded, the
        budget covers them all and every covered range is in one region; else the checked copy.
        Entered with the count folded (the head is a checkpoint)."""
        head, slow = loop.head, f"b{loop.head}"

        def unless(bad: str) -> None:
            go = self.label()
            self.emit(f"br i1 {bad}, label %{slow}, label %{go}")
            self.open(go)

        self.open(f"g{head}")
        for slot, r in loop.equal:  # what the analysis assumed of spilled registers
            held, differs = self.t(), self.t()
            self.emit(f"{held} = load i64, ptr {self.frame_slot(slot_offset(slot))}, align 1")
            self.emit(f"{differs} = icmp ne i64 {held}, {self.reg(r)}")
            unless(differs)
        x0, bound, cond = self.affine(loop.counter), self.affine(loop.bound), loop.condition
        if cond in _INCLUSIVE:  # x <= b is x < b + 1 unless b + 1 wraps (then the loop may not end)
            edge, strict = _INCLUSIVE[cond]
            at_edge, moved = self.t(), self.t()
            self.emit(f"{at_edge} = icmp eq i64 {bound}, {edge}")
            unless(at_edge)
            self.emit(f"{moved} = add i64 {bound}, {1 if strict in ('jlt', 'jslt') else -1}")
            bound, cond = moved, strict
        # trips: how many times the loop goes back to its head at most (k runs over [0, trips])
        trips = self.t()
        ahead, behind = (bound, x0) if loop.counter_step == 1 else (x0, bound)
        if cond == "jne":
            self.emit(f"{trips} = sub i64 {ahead}, {behind}")
        elif cond in ("jlt", "jgt"):
            self.emit(f"{trips} = call i64 @llvm.usub.sat.i64(i64 {ahead}, i64 {behind})")
        else:  # jslt / jsgt: the signed distance when the counter has not passed the bound yet
            before, gap = self.t(), self.t()
            self.emit(f"{before} = icmp slt i64 {behind}, {ahead}")
            self.emit(f"{gap} = sub i64 {ahead}, {behind}")
            self.emit(f"{trips} = select i1 {before}, i64 {gap}, i64 0")
        few = self.t()
        self.emit(f"{few} = icmp ult i64 {trips}, {MIN_TRIPS * max(1, len(loop.spans))}")
        unless(few)
        wide, iters, need, start, total, budget, over = (self.t() for _ in range(7))
        self.emit(f"{wide} = zext i64 {trips} to i128")
        self.emit(f"{iters} = add i128 {wide}, 1")
        self.emit(f"{need} = mul i128 {iters}, {self.marks[head]}")
        self.emit(f"{start} = zext i64 {self.count()} to i128")
        self.emit(f"{total} = add i128 {start}, {need}")
        self.emit(f"{budget} = zext i64 %budget to i128")
        self.emit(f"{over} = icmp ugt i128 {total}, {budget}")
        unless(over)
        if loop.spans:
            probe = self.t()
            self.emit(f"{probe} = load ptr, ptr {self.slot(abi.PROBE_FN)}")
            for span in loop.spans:
                self.probe_span(span, wide, probe, unless)
        self.emit(f"br label %v{head}")

    def probe_span(self, span: Span, trips: str, probe: str, unless: Callable[[str], None]) -> None:
        """Leave through ``unless`` when the bytes ``span`` covers over iterations ``[0, trips]``
        (``trips`` an i128) wrap around the address space or no single region holds them."""
        a, first, reach, hi, above = self.t(), self.t(), self.t(), self.t(), self.t()
        self.emit(f"{a} = add i64 {self.affine(span.base)}, {span.low}")
        self.emit(f"{first} = zext i64 {a} to i128")
        self.emit(f"{reach} = mul i128 {trips}, {abs(span.step)}")
        if span.step >= 0:
            lo, end = first, self.t()
            self.emit(f"{end} = add i128 {first}, {reach}")
        else:
            lo, end = self.t(), first
            self.emit(f"{lo} = sub i128 {first}, {reach}")
        self.emit(f"{hi} = add i128 {end}, {span.high - span.low}")
        self.emit(f"{above} = icmp ugt i128 {hi}, {M64}")
        outside = above
        if span.step < 0:
            below = self.t()
            outside = self.t()
            self.emit(f"{below} = icmp slt i128 {lo}, 0")
            self.emit(f"{outside} = or i1 {below}, {above}")
        unless(outside)
        lo64, size128, size, found, missing = self.t(), self.t(), self.t(), self.t(), self.t()
        self.emit(f"{lo64} = trunc i128 {lo} to i64")
        self.emit(f"{size128} = sub i128 {hi}, {lo}")
        self.emit(f"{size} = trunc i128 {size128} to i64")
        self.emit(f"{found} = call i1 {probe}(ptr %ctx, i64 {lo64}, i64 {size}, i64 {int(span.write)})")
        self.emit(f"{missing} = xor i1 {found}, true")
        unless(missing)

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
            self.helper(i, insn.imm)
        elif kind is Kind.CALL_KFUNC:
            self.set_reg(0, self.callback(abi.CB_KFUNC, i, insn.imm, self._args()))
        elif kind is Kind.CALL_LOCAL:
            self.local_call(i, branch_target(i, insn, form))
            self.emit(self.goto(i + 1))
        elif kind is Kind.CALLX:
            self.callx(i, insn)
        elif kind is Kind.EXIT:
            self.emit("br label %exit")
        elif kind in (Kind.LD_ABS, Kind.LD_IND):
            self.ld_packet(i, insn, form)
        else:  # pragma: no cover - every Kind is handled above
            raise AssertionError(f"no lowering for {kind}")

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
        elif op in _SHIFTS and form.source == "K":
            self.emit(f"{r} = {_SHIFTS[op]} {ty} {a}, {insn.imm & (w - 1)}")
        elif op in _SHIFTS:
            m = self.t()
            self.emit(f"{m} = and {ty} {b}, {w - 1}")
            self.emit(f"{r} = {_SHIFTS[op]} {ty} {a}, {m}")
        elif op in ("div", "mod", "sdiv", "smod") and form.source == "K":
            r = self.divmod_constant(op, ty, a, _signed(insn.imm, w))
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

    def divmod_constant(self, op: str, ty: str, a: str, divisor: int) -> str:
        """:meth:`divmod` with the divisor known: its special cases are decided here, so the IR
        holds no selects for LLVM to fold (``divisor`` is the signed immediate)."""
        if divisor == 0:
            return "0" if op in ("div", "sdiv") else a
        r = self.t()
        if divisor == -1 and op == "smod":
            return "0"
        if divisor == -1 and op == "sdiv":  # 0 - a: no INT_MIN / -1 overflow
            self.emit(f"{r} = sub {ty} 0, {a}")
            return r
        llvm_op = {"div": "udiv", "mod": "urem", "sdiv": "sdiv", "smod": "srem"}[op]
        self.emit(f"{r} = {llvm_op} {ty} {a}, {divisor}")
        return r

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
            self.emit(self.goto(target))
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
        fall = f"%{self.dest(nxt)}" if nxt < self.p.n else f"%{self.ranoff()}"
        if nxt in self.arms:  # count the skippable arm here: acc += c ? 0 : len(arm), no select chain
            skipped, arm = self.t(), self.t()
            self.emit(f"{skipped} = xor i1 {c}, true")
            self.emit(f"{arm} = zext i1 {skipped} to i64")
            length = len(self.p.blocks[nxt].insns)
            if length != 1:
                scaled = self.t()
                self.emit(f"{scaled} = mul i64 {arm}, {length}")
                arm = scaled
            self.add_count(arm)
        self.toward((target, nxt))
        self.emit(f"br i1 {c}, label %{self.dest(target)}, label {fall}")

    # -- memory -----------------------------------------------------------------------------------
    def address(self, base: int, off: int) -> str:
        v = self.reg(base)
        if off == 0:
            return v
        a = self.t()
        self.emit(f"{a} = add i64 {v}, {off}")
        return a

    def proven(self, i: int, base: int, off: int, size: int) -> bool:
        """No run-time check: a verifier proved it, it is r10-relative inside the frame, or it
        is in the fast copy of a versioned loop whose guard probed every address it takes.

        r10 is read-only and points one past the current frame, so ``[r10 + off, +size)`` with
        ``-stack_size <= off`` and ``off + size <= 0`` is inside the frame (the interpreter
        makes the same argument in :func:`pybpf.vm.codegen.translate`).
        """
        if i in self.p.options.safe or i in self.unchecked:
            return True
        if self.variant is not None and i in self.loops[self.variant].covered:
            return True
        return base == FRAME_POINTER and -self.frame <= off and off + size <= 0

    def statically_safe(self, i: int) -> bool:
        """Memory access ``i`` needs no check anywhere (what a loop's guard need not probe)."""
        insn, form = self.p.insns[i], self.p.forms[i]
        if form.kind not in _MEMORY:
            return False
        base = access_base(insn, form)
        return self.proven(i, base, insn.off, form.width)

    def check(self, addr: str, size: int, write: bool, pc: int) -> None:
        """Inline range check against the cached region, the runtime library's lookup on a miss
        (which refills the cache).  Frames under 8 bytes cannot seed the cache: every access
        then goes through the lookup."""
        hit, miss, bad = self.label(), self.label(), self.label()
        if self.fast_checks:
            base = abi.WCACHE if write else abi.RCACHE
            lo, lim = self.ctx_load(base), self.ctx_load(base + 1 + abi.CACHE_SIZES.index(size))
            rel, ok = self.t(), self.t()
            self.emit(f"{rel} = sub i64 {addr}, {lo}")
            self.emit(f"{ok} = icmp ule i64 {rel}, {lim}")
            self.emit(f"br i1 {ok}, label %{hit}, label %{miss}, {_LIKELY}")
        else:
            self.emit(f"br label %{miss}")
        self.open(miss)
        found, count = self.t(), self.count()
        self.emit(
            f"{found} = call preserve_mostcc i1 %lookup(ptr %ctx, i64 {addr}, i64 {size}, i64 {int(write)},"
            f" i64 {pc}, i64 {count})"
        )
        self.emit(f"br i1 {found}, label %{hit}, label %{bad}, {_LIKELY}")
        self.open(bad)  # the lookup recorded the fault and the count; every such block is the same
        self.emit("ret i64 1")
        self.open(hit)

    def needs_check(self, i: int) -> bool:
        """Access ``i`` (a plain load or store) is checked at run time."""
        insn, form = self.p.insns[i], self.p.forms[i]
        base = access_base(insn, form)
        return not self.in_frame(base, insn.off, form.width) and not self.proven(i, base, insn.off, form.width)

    def entry_test(self, block: Block) -> None:
        """In a fast loop copy: test the ranges :func:`entry_plan` gives the block before it runs,
        and when one is not in a region go on in the checked copy of the same block (which the
        rest of this entry into the loop then runs; both copies keep the same registers and
        count, so the switch is invisible)."""
        groups = self.plan.get(block.leader)
        if not groups:
            return
        fast = self.label()
        self.toward((block.leader,))
        self.all_in_range(groups, fast, f"b{block.leader}")
        self.open(fast)

    def all_in_range(self, groups: Sequence[SharedCheck], yes: str, no: str) -> None:
        """Branch to ``yes`` when every group's range lies in one region with its permission,
        else to ``no``: the cached regions first, then (on a miss) the lookup, quietly, which
        also caches what it finds."""
        passed, ranges = "", []
        for group in groups:
            test, start = self.range_test(group)
            ranges.append((start, group))
            if passed:
                both = self.t()
                self.emit(f"{both} = and i1 {passed}, {test}")
                test = both
            passed = test
        miss = self.label()
        self.emit(f"br i1 {passed}, label %{yes}, label %{miss}, {_LIKELY}")
        self.open(miss)
        for k, (start, group) in enumerate(ranges):
            found = self.t()
            self.emit(
                f"{found} = call preserve_mostcc i1 %lookup(ptr %ctx, i64 {start}, i64 {group.high - group.low},"
                f" i64 {int(group.write)}, i64 {abi.QUIET_PC}, i64 0)"
            )
            nxt = yes if k == len(ranges) - 1 else self.label()
            self.emit(f"br i1 {found}, label %{nxt}, label %{no}")
            if nxt != yes:
                self.open(nxt)

    def stretch(self, stretch: CheckedStretch, insns: Sequence[int]) -> None:
        """Instructions emitted twice (see "Memory checks"): both copies go on at ``join``, and
        registers live in ``alloca`` slots, so nothing else needs merging."""
        fast, slow, join = self.label(), self.label(), self.label()
        self.all_in_range(stretch.groups, fast, slow)
        self.open(fast)
        self.unchecked = stretch.unchecked
        for i in insns:
            self.insn(i)
        self.unchecked = frozenset()
        self.emit(f"br label %{join}")
        self.open(slow)
        for i in insns:
            self.insn(i)
        self.emit(f"br label %{join}")
        self.open(join)

    def range_test(self, group: SharedCheck) -> tuple[str, str]:
        """Whether ``[base + low, base + high)`` lies in the cached region, and where it starts
        (for the lookup :meth:`all_in_range` makes on a miss).  A range of at most 8 bytes is
        tested like the smallest access size that holds it; a longer one at both ends, which
        cannot wrap because a region's span is far below 2**63."""
        cache = abi.WCACHE if group.write else abi.RCACHE
        length = group.high - group.low
        start = self.affine(group.base.plus(Affine.constant(group.low)))
        lo, rel, passed = self.ctx_load(cache), self.t(), self.t()
        self.emit(f"{rel} = sub i64 {start}, {lo}")
        fitting = [size for size in abi.CACHE_SIZES if size >= length]
        if fitting:
            lim = self.ctx_load(cache + 1 + abi.CACHE_SIZES.index(fitting[0]))
            self.emit(f"{passed} = icmp ule i64 {rel}, {lim}")
            return passed, start
        lim, last, low_in, high_in = self.ctx_load(cache + 1), self.t(), self.t(), self.t()
        self.emit(f"{last} = add i64 {rel}, {length - 1}")
        self.emit(f"{low_in} = icmp ule i64 {rel}, {lim}")
        self.emit(f"{high_in} = icmp ule i64 {last}, {lim}")
        self.emit(f"{passed} = and i1 {low_in}, {high_in}")
        return passed, start

    def pointer(self, addr: str) -> str:
        p = self.t()
        self.emit(f"{p} = inttoptr i64 {addr} to ptr")
        return p

    def in_frame(self, base: int, off: int, size: int) -> bool:
        """An access to this function's promoted frame (an ``alloca``, see "Stack")."""
        return self.promoted and base == FRAME_POINTER and -self.frame <= off and off + size <= 0

    def frame_slot(self, off: int) -> str:
        p = self.t()
        self.emit(f"{p} = getelementptr i8, ptr %frame, i64 {self.frame + off}")
        return p

    def load(self, i: int, insn: Instruction, form: Form) -> None:
        size = form.width
        if self.in_frame(insn.src, insn.off, size):
            p = self.frame_slot(insn.off)
        else:
            addr = self.address(insn.src, insn.off)
            if not self.proven(i, insn.src, insn.off, size):
                self.check(addr, size, False, i)
            p = self.pointer(addr)
        v = self.t()
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
        if self.in_frame(insn.dst, insn.off, size):
            self.emit(f"store i{bits} {value}, ptr {self.frame_slot(insn.off)}, align 1")
            return
        addr = self.address(insn.dst, insn.off)
        if not self.proven(i, insn.dst, insn.off, size):
            self.check(addr, size, True, i)
        self.emit(f"store i{bits} {value}, ptr {self.pointer(addr)}, align 1")

    def atomic(self, i: int, insn: Instruction, form: Form) -> None:
        """Real LLVM atomics when the address is naturally aligned, a plain read-modify-write
        otherwise (an unaligned ``lock`` instruction is a split lock, which some kernels turn
        into SIGBUS; the interpreter's semantics are a plain read-modify-write anyway).

        Checks happen in the interpreter's order: read, then write; cmpxchg only writes (and
        only needs write permission) when the comparison succeeds.  A promoted frame is private
        to the running function, so its atomics are plain read-modify-writes.
        """
        size, op = form.width, form.op
        bits = 8 * size
        ty = f"i{bits}"
        if self.in_frame(insn.dst, insn.off, size):
            checked = False
            p = self.frame_slot(insn.off)
            aligned = "false"
        else:
            addr = self.address(insn.dst, insn.off)
            checked = not self.proven(i, insn.dst, insn.off, size)
            if checked:
                self.check(addr, size, False, i)
            p = self.pointer(addr)
            mis, aligned = self.t(), self.t()
            self.emit(f"{mis} = and i64 {addr}, {size - 1}")
            self.emit(f"{aligned} = icmp eq i64 {mis}, 0")
        v = self.reg(insn.src)
        if bits == 32:
            v = self.trunc32(v)
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
            return
        if is_function_address(form):
            base, v = self.ctx_load(abi.CODE_BASE), self.t()
            self.emit(f"{v} = add i64 {base}, {8 * branch_target(i, insn, form)}")
            self.set_reg(insn.dst, v)
            return
        # A relocation (map reference ...): resolved through Python the first time this engine
        # runs the site, then read from the RELOCS table.
        site = self.p.reloc_index[i]
        table, tp, rp, resolved, known = self.ctx_load(abi.RELOCS), self.t(), self.t(), self.t(), self.t()
        self.emit(f"{tp} = inttoptr i64 {table} to ptr")
        self.emit(f"{rp} = getelementptr [{abi.RELOC_WORDS} x i64], ptr {tp}, i64 {site}")
        self.emit(f"{resolved} = load i64, ptr {rp}")
        self.emit(f"{known} = icmp ne i64 {resolved}, 0")
        hit, miss, done = self.label(), self.label(), self.label()
        self.emit(f"br i1 {known}, label %{hit}, label %{miss}, {_LIKELY}")
        self.open(hit)
        vp, v = self.t(), self.t()
        self.emit(f"{vp} = getelementptr i64, ptr {rp}, i64 1")
        self.emit(f"{v} = load i64, ptr {vp}")
        self.set_reg(insn.dst, v)
        self.emit(f"br label %{done}")
        self.open(miss)
        args = [str(insn.imm), str(nxt.imm), "0", "0", "0"]
        res = self.callback(abi.CB_PSEUDO, i, insn.src, args)
        vp2 = self.t()
        self.emit(f"{vp2} = getelementptr i64, ptr {rp}, i64 1")
        self.emit(f"store i64 {res}, ptr {vp2}")
        self.emit(f"store i64 1, ptr {rp}")
        self.set_reg(insn.dst, res)
        self.emit(f"br label %{done}")
        self.open(done)

    # -- calls --------------------------------------------------------------------------------------
    def helper(self, pc: int, helper_id: int) -> None:
        """A helper call: native for the map helpers when they can (``handled``), else Python.

        A lookup first tries its call site's inline cache: when it holds the map in r1 (an
        array map the runtime library described there) and the key is on the live stack, the
        value's address is computed inline -- no call at all."""
        if helper_id in self.p.options.table_helpers:
            self.table_helper(pc, helper_id)
            return
        if helper_id not in NATIVE_HELPERS:
            self.set_reg(0, self.callback(abi.CB_HELPER, pc, helper_id, self._args()))
            return
        op = NATIVE_HELPERS[helper_id]
        n_args = {"lookup": 2, "update": 4, "delete": 2}[op]
        regs = [self.reg(r) for r in range(1, n_args + 1)]
        done = self.label()
        site = ""
        if op == "lookup":
            sites, sp, cached, same, slow = self.ctx_load(abi.SITES), self.t(), self.t(), self.t(), self.label()
            self.emit(f"{sp} = inttoptr i64 {sites} to ptr")
            site = self.t()
            self.emit(f"{site} = getelementptr [{abi.SITE_WORDS} x i64], ptr {sp}, i64 {self.p.site_index[pc]}")
            self.emit(f"{cached} = load i64, ptr {site}")
            self.emit(f"{same} = icmp eq i64 {cached}, {regs[0]}")
            keyed, inline = self.label(), self.label()
            self.emit(f"br i1 {same}, label %{keyed}, label %{slow}, {_LIKELY}")
            self.open(keyed)
            rel, onstack = self.t(), self.t()
            self.emit(f"{rel} = sub i64 {regs[1]}, %slo")
            self.emit(f"{onstack} = icmp ule i64 {rel}, %slim4")
            self.emit(f"br i1 {onstack}, label %{inline}, label %{slow}, {_LIKELY}")
            self.open(inline)
            kp, k32, idx = self.pointer(regs[1]), self.t(), self.t()
            self.emit(f"{k32} = load i32, ptr {kp}, align 1")
            self.emit(f"{idx} = zext i32 {k32} to i64")
            words = []
            for w in (1, 2, 3):
                wp, wv = self.t(), self.t()
                self.emit(f"{wp} = getelementptr i64, ptr {site}, i64 {w}")
                self.emit(f"{wv} = load i64, ptr {wp}")
                words.append(wv)
            inb, off, addr, value = self.t(), self.t(), self.t(), self.t()
            self.emit(f"{inb} = icmp ult i64 {idx}, {words[1]}")
            self.emit(f"{off} = mul i64 {idx}, {words[2]}")
            self.emit(f"{addr} = add i64 {words[0]}, {off}")
            self.emit(f"{value} = select i1 {inb}, i64 {addr}, i64 0")
            self.set_reg(0, value)
            self.emit(f"br label %{done}")
            self.open(slow)
        args = ", ".join(f"i64 {v}" for v in regs)
        res, handled, value, fp = self.t(), self.t(), self.t(), self.t()
        slot = {"lookup": abi.MAP_LOOKUP_FN, "update": abi.MAP_UPDATE_FN, "delete": abi.MAP_DELETE_FN}[op]
        self.emit(f"{fp} = load ptr, ptr {self.slot(slot)}")
        extra = f", ptr {site}" if site else ""
        self.emit(f"{res} = call {{i64, i1}} {fp}(ptr %ctx, {args}, i64 %slo, i64 %send{extra})")
        self.emit(f"{handled} = extractvalue {{i64, i1}} {res}, 1")
        native, python = self.label(), self.label()
        self.emit(f"br i1 {handled}, label %{native}, label %{python}, {_LIKELY}")
        self.open(native)
        self.emit(f"{value} = extractvalue {{i64, i1}} {res}, 0")
        self.answered(value, python, pc, helper_id, done)

    def answered(self, value: str, python: str, pc: int, helper_id: int, done: str) -> None:
        """End of a helper's native path: r0 = ``value``; then the ``python`` block, where the
        helper itself runs when native code could not answer; both meet at ``done``."""
        self.set_reg(0, value)
        self.emit(f"br label %{done}")
        self.open(python)
        self.set_reg(0, self.callback(abi.CB_HELPER, pc, helper_id, self._args()))
        self.emit(f"br label %{done}")
        self.open(done)

    def table_helper(self, pc: int, helper_id: int) -> None:
        """A table helper: r0 = TABLE[r1] when r1 is inside the table, else the Python helper
        (which answers the same inside the table and reports what is wrong outside it)."""
        index, n = self.reg(1), self.ctx_load(abi.NTABLE)
        inside, fast, slow, done = self.t(), self.label(), self.label(), self.label()
        self.emit(f"{inside} = icmp ult i64 {index}, {n}")
        self.emit(f"br i1 {inside}, label %{fast}, label %{slow}, {_LIKELY}")
        self.open(fast)
        table, tp, ep, value = self.ctx_load(abi.TABLE), self.t(), self.t(), self.t()
        self.emit(f"{tp} = inttoptr i64 {table} to ptr")
        self.emit(f"{ep} = getelementptr i64, ptr {tp}, i64 {index}")
        self.emit(f"{value} = load i64, ptr {ep}")
        self.answered(value, slow, pc, helper_id, done)

    def callback(self, kind: int, pc: int, a: int | str, args: list[str]) -> str:
        """Call into Python.

        The registers are snapshotted into the context first (a helper that ends the program,
        tail-calls, or calls back into the program through ``env.call_function`` needs them) and
        so is the instruction count, which a callback into the program advances; the helper may
        write the live stack, so its bottom becomes dirty.  A non-zero status afterwards means
        the callback recorded an exception or an abort."""
        for r in range(10):
            self.ctx_store(abi.REGS + r, self.reg(r))
        self.ctx_store(abi.REGS + 10, "%r10")
        self.ctx_store(abi.COUNT, self.count())
        self.lower_dirty()
        fp, res, k = self.t(), self.t(), self.t()
        self.emit(f"{fp} = load ptr, ptr {self.slot(abi.CALLBACK)}")
        self.emit(f"{k} = or i64 %cbk, {kind}")
        params = ", ".join(f"i64 {x}" for x in args)
        self.emit(f"{res} = call i64 {fp}(i64 {k}, i64 {a}, {params}, i64 {pc})")
        self.set_count(self.ctx_load(abi.COUNT))  # callbacks into the program count too
        st, bad = self.ctx_load(abi.STATUS), self.t()
        self.emit(f"{bad} = icmp ne i64 {st}, 0")
        cont, stop = self.label(), self.label()
        self.emit(f"br i1 {bad}, label %{stop}, label %{cont}, {_UNLIKELY}")
        self.open(stop)
        self.write_back()
        self.emit("ret i64 1")
        self.open(cont)
        self.reset_caches()
        return res

    def local_call(self, pc: int, target: int) -> None:
        """Push a frame: check the depth, pass r0-r9 through ``%cio``, move the stack's live
        part down one frame for the callee and back up afterwards.  A callee that stops hands
        its status up; on a budget hand-over each caller records its frame for the interpreter."""
        frame = self.frame
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
        self.ctx_store(abi.COUNT, self.count())
        callee_r10, callee_lo = self.t(), self.t()
        self.emit(f"{callee_r10} = sub i64 %r10, {frame}")
        self.emit(f"{callee_lo} = sub i64 %r10, {2 * frame}")
        self.ctx_store(abi.STACK_LO, callee_lo)
        st, bad = self.t(), self.t()
        self.emit(f"{st} = call i64 @f{target}(ptr %ctx, ptr %cio, i64 {callee_r10})")
        self.emit(f"{bad} = icmp ne i64 {st}, 0")
        back, stopped = self.label(), self.label()
        self.emit(f"br i1 {bad}, label %{stopped}, label %{back}, {_UNLIKELY}")
        self.open(stopped)
        status, handing, record, up = self.ctx_load(abi.STATUS), self.t(), self.label(), self.label()
        self.emit(f"{handing} = icmp eq i64 {status}, {abi.STATUS_TRANSFER}")
        self.emit(f"br i1 {handing}, label %{record}, label %{up}")
        self.open(record)
        nrec, area, ap, rp = self.ctx_load(abi.XFER_N), self.ctx_load(abi.XFER), self.t(), self.t()
        self.emit(f"{ap} = inttoptr i64 {area} to ptr")
        self.emit(f"{rp} = getelementptr [{abi.XFER_WORDS} x i64], ptr {ap}, i64 {nrec}")
        words = [str(pc + 1), *(self.reg(r) for r in (6, 7, 8, 9)), "%r10"]
        for k, w in enumerate(words):
            wp = self.t()
            self.emit(f"{wp} = getelementptr i64, ptr {rp}, i64 {k}")
            self.emit(f"store i64 {w}, ptr {wp}")
        n1 = self.t()
        self.emit(f"{n1} = add i64 {nrec}, 1")
        self.ctx_store(abi.XFER_N, n1)
        self.emit(f"br label %{up}")
        self.open(up)
        self.write_back()
        self.emit("ret i64 1")
        self.open(back)
        lo = self.t()
        self.emit(f"{lo} = sub i64 %r10, {frame}")
        self.ctx_store(abi.STACK_LO, lo)
        for r in range(6):
            p, v = self.t(), self.t()
            self.emit(f"{p} = getelementptr i64, ptr %cio, i64 {r}")
            self.emit(f"{v} = load i64, ptr {p}")
            self.set_reg(r, v)
        self.set_count(self.ctx_load(abi.COUNT))
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
        self.emit(self.goto(i + 1))

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
        self.leave()
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
        self.plain_accesses = frozenset(i for i, f in enumerate(self.forms) if f.kind in ACCESSES)
        self.entries = sorted(function_entries(self.insns, self.forms))
        self.reloc_index = {i: k for k, i in enumerate(relocation_sites(self.insns, self.forms))}
        self.site_index = {i: k for k, i in enumerate(lookup_sites(self.insns, self.forms))}
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
            "declare i64 @llvm.umin.i64(i64, i64)",
            "declare i64 @llvm.usub.sat.i64(i64, i64)",
            "declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)",
            "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)",
            "",
        ]
        out += self._entry_functions()
        for e in self.entries:
            out += _Function(self, e).build(reachable(self.blocks, e, self.n))
        out.append("attributes #0 = { noinline }")
        out.append('!0 = !{!"branch_weights", i32 2000, i32 1}')
        out.append('!1 = !{!"branch_weights", i32 1, i32 2000}')
        return "\n".join(out) + "\n"

    def _entry_functions(self) -> list[str]:
        """The entry points.

        ``@pybpf_dispatch(ctx, nested)`` (never inlined, so the program body is emitted once)
        enters the function named in the context: a run (``nested`` = 0) clears the dirty part
        of the stack and uses ``REGS``/``ENTRY`` with r10 at the top of the stack; a helper's
        callback into the program (``nested`` = 1) uses ``CALL_REGS``/``CALL_ENTRY``/``CALL_R10``
        on the live stack.  It returns the status, and after a normal run stores the outermost
        r10 so that ``REGS`` hold exactly the registers at exit.  ``@pybpf_entry(ctx)`` and the
        argument-free ``@pybpf_run()`` return r0; ``@pybpf_call(ctx)`` returns the status.
        """
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
            f"  %pd = getelementptr i64, ptr %ctx, i64 {abi.DIRTY_LO}",
            "  %dl = load i64, ptr %pd",
            f"  %pe = getelementptr i64, ptr %ctx, i64 {abi.STACK_END}",
            "  %se = load i64, ptr %pe",
            "  %dn = sub i64 %se, %dl",
            "  %dp = inttoptr i64 %dl to ptr",
            "  call void @llvm.memset.p0.i64(ptr %dp, i8 0, i64 %dn, i1 false)",
            "  store i64 %se, ptr %pd",
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


def lower(insns: Sequence[Instruction], forms: Sequence[Form], options: LoweringOptions | None = None) -> str:
    """LLVM IR text for a validated program."""
    return Lowering(insns, forms, options).module()
