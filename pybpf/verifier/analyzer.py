"""Path-sensitive exploration of all executions, with state pruning.

The analyzer follows the Linux design: it simulates the program on abstract states depth first,
following both outcomes of every conditional jump the state cannot decide, and checks every
instruction on every path.  Three mechanisms keep this finite and fast:

* **Pruning.**  At pruning points (jump targets, fall-throughs of conditional jumps, returns
  from calls) the current state is compared with the states already stored there.  A stored
  state whose exploration has *completed* and which covers the current one
  (:func:`pybpf.verifier.prune.subsumes`) ends the current path: everything it could do was
  already checked.
* **Termination.**  A loop is explored iteration by iteration; a loop whose iterations make
  progress ends when its exit condition holds, and one that repeats a state exactly (compared
  with the states of the loop head still on the current path) is reported as an infinite loop.
  Stored states that are still on the current path are never used for pruning, so every
  accepted program terminates: each path of the exploration tree is finite and a pruned path
  continues, concretely, in a subtree that was completed earlier.  A loop whose state never
  repeats (an unbounded counter) is stopped by the budget of processed instructions (1,000,000
  by default, as in Linux) and rejected as too complex.
* **Callback loops.**  ``bpf_loop`` and ``for_each_map_elem`` call back into the program a
  number of times bounded by the helper, so only safety matters there: the state at the helper
  call is widened with the state after each callback run until it stops changing (see
  :func:`pybpf.verifier.prune.widen_state`), and callback paths may be pruned against states of
  earlier iterations.

Bpf-to-bpf calls push a frame (at most 8; 512 bytes of stack combined over the call chain,
checked on the call graph at the end), tail calls are allowed when the frames below use at most
256 bytes of stack.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pybpf.helpers.prototypes import ARRAY as ARRAY_MAP
from pybpf.helpers.prototypes import HelperProto
from pybpf.isa.instruction import Instruction, branch_target, lddw_value
from pybpf.isa.opcodes import Form, Kind, find_form
from pybpf.progtypes.platform import CtxField, Platform, ProgTypeSpec
from pybpf.verifier import alu, branches, helpers, liveness, prune
from pybpf.verifier import scalar as sc
from pybpf.verifier.cfg import ProgramInfo
from pybpf.verifier.checks import RUNTIME_CHECKED, MemContext, check_access, sign_extend_load
from pybpf.verifier.log import VerifierLog, insn_text, state_text
from pybpf.verifier.mapinfo import MapInfo
from pybpf.verifier.result import (
    InsnProof,
    Reject,
    VerifierError,
    VerifierOptions,
    VerifierResult,
)
from pybpf.verifier.scalar import Scalar
from pybpf.verifier.state import KIND_NAMES, NOT_INIT, Frame, K, Reg, Stack, VState

CALLBACK_CALLER_REGS = 0b1111111110  # r1-r9: the helper re-reads its arguments for the next call
MAX_CALLBACK_HEADS = 256
_ATOMIC_KINDS = frozenset({K.STACK, K.MAP_VALUE, K.RINGBUF_MEM, K.REGION})
_LOAD_DW = find_form(Kind.LOAD, "load", width=8)


class Checkpoint:
    """A stored state at a pruning point, with the bookkeeping that says whether its
    exploration has finished (``branches`` counts unfinished paths below it)."""

    __slots__ = ("branches", "complete", "fp", "hits", "home", "key", "misses", "parent", "state")

    def __init__(
        self, state: VState, parent: Checkpoint | None, key: tuple[int, ...], fp: int, home: InsnStates
    ) -> None:
        self.state = state
        self.parent = parent
        self.key = key
        self.fp = fp  # fingerprint for the exact (loop) comparison
        self.home = home
        self.branches = 1
        self.complete = False
        self.hits = 0
        self.misses = 0


class InsnStates:
    """The checkpoints of one instruction: finished ones (usable for pruning) in a list, those
    still being explored (ancestors of the current path) by fingerprint, so that the loop check
    costs one dictionary lookup however many iterations a loop has."""

    __slots__ = ("complete", "pending")

    def __init__(self) -> None:
        self.complete: list[Checkpoint] = []
        self.pending: dict[int, list[Checkpoint]] = {}

    def finish(self, cp: Checkpoint) -> None:
        bucket = self.pending[cp.fp]
        bucket.remove(cp)
        if not bucket:
            del self.pending[cp.fp]
        self.complete.append(cp)


@dataclass(frozen=True)
class CallbackSite:
    """Where a callback frame came from: the helper call and the caller's iteration id."""

    callsite: int
    caller_gen: int
    ret_lo: int
    ret_hi: int


class Analyzer:
    def __init__(
        self,
        info: ProgramInfo,
        spec: ProgTypeSpec,
        platform: Platform,
        maps: list[MapInfo],
        options: VerifierOptions,
        log_level: int = 0,
    ) -> None:
        self.info = info
        self.insns = info.insns
        self.forms = info.forms
        self.spec = spec
        self.platform = platform
        self.maps = maps
        self.options = options
        self.protos = platform.prototypes
        div_ok = options.allow_div_by_zero if options.allow_div_by_zero is not None else platform.allow_div_by_zero
        self.div_ok = div_ok
        self.mc = MemContext(spec, platform, options)
        self.ids = alu.IdSource()
        self.live = liveness.compute(
            info, self.protos, main_exit_needs_r0=spec.ret_range is not None, div_checks=not div_ok
        )
        self.needed = self.live.needed if options.imprecise_pruning else self.live.live
        self.explored: dict[int, InsnStates] = {}
        self.cb_heads: dict[tuple[int, tuple[int, ...]], list[VState]] = {}
        self.processed = 0
        self.stored = 0
        self.current_states = 0
        self.peak = 0
        self.pruned = 0
        self.proof: dict[int, InsnProof] = {}
        self.ctx_loads: dict[int, object] = {}
        self.depths: dict[int, int] = {}
        self.call_edges: set[tuple[int, int]] = set()
        self.tail_call_funcs: set[int] = set()
        self.func_entries = set(info.entries)
        self.log = VerifierLog(log_level, self.insns)
        self.record = options.record_states
        self.recorded: dict[int, list[object]] = {}
        self.gens = 0

    # -- driver ---------------------------------------------------------------------------------
    def initial_state(self) -> VState:
        regs = [NOT_INIT] * 11
        regs[1] = Reg(K.CTX)
        regs[10] = Reg(K.STACK, frame=0)
        return VState([Frame(regs, Stack(), -1, 0)])

    def run(self) -> VerifierResult:
        start = time.perf_counter()
        pending: list[tuple[VState, int]] = [(self.initial_state(), 0)]
        while pending:
            state, i = pending.pop()
            self._path(state, i, pending)
        self._check_stack_chains()
        elapsed = time.perf_counter() - start
        self.log.note(
            f"processed {self.processed} insns (limit {self.options.max_insns}) total_states {self.stored} "
            f"peak_states {self.peak} pruned {self.pruned}"
        )
        safe = frozenset(
            i for i, p in self.proof.items() if p.regions and not any(r.startswith(RUNTIME_CHECKED) for r in p.regions)
        )
        return VerifierResult(
            prog_type=self.spec.name,
            instructions=len(self.insns),
            insns_processed=self.processed,
            states_explored=self.stored,
            peak_states=self.peak,
            pruned=self.pruned,
            time_s=elapsed,
            safe=safe,
            proof=self.proof,
            rewritten=self._rewrite(),
            stack_depth=dict(sorted(self.depths.items())),
            log=self.log.text(),
            recorded=self.recorded,
        )

    def _path(self, state: VState, i: int, pending: list[tuple[VState, int]]) -> None:
        """Follow one path until it ends (exit, prune, impossible branch); forks go to ``pending``."""
        insns, forms, prune_points = self.insns, self.forms, self.info.prune_points
        max_insns = self.options.max_insns
        log2 = self.log.level >= 2
        while True:
            self.processed += 1
            if self.processed > max_insns:
                raise self._error(
                    state, i, Reject(f"BPF program is too large. Processed {self.processed - 1} insn"), with_state=False
                )
            try:
                if prune_points[i] and self._prune(state, i):
                    self._end_path(state)
                    return
            except Reject as exc:
                raise self._error(state, i, exc) from None
            if log2:
                self.log.insn(i, state)
            if self.record:
                self.recorded.setdefault(i, []).append((len(state.frames), tuple(state.regs)))
            form = forms[i]
            insn = insns[i]
            kind = form.kind
            try:
                if kind is Kind.ALU or kind is Kind.END:
                    alu.execute(
                        state,
                        insn,
                        form,
                        self.ids,
                        allow_ptr_leaks=self.options.allow_ptr_leaks,
                        div_by_zero=self.div_ok,
                    )
                    i += 1
                elif kind is Kind.JUMP:
                    target = branch_target(i, insn, form)
                    if form.op == "ja":
                        i = target
                        continue
                    taken, fall = branches.branch(state, insn, form, self.platform.max_packet_off)
                    if taken is not None and fall is not None:
                        self._fork(taken)
                        pending.append((taken, target))
                        if len(pending) > self.options.max_pending:
                            raise Reject(f"The sequence of {len(pending)} jumps is too complex.")
                        state, i = fall, i + 1
                    elif taken is not None:
                        state, i = taken, target
                    elif fall is not None:
                        state, i = fall, i + 1
                    else:
                        self._end_path(state)
                        return
                elif kind is Kind.LOAD or kind is Kind.LOADSX:
                    self._load(state, i, insn, form)
                    i += 1
                elif kind is Kind.STORE_IMM or kind is Kind.STORE_REG:
                    self._store(state, i, insn, form)
                    i += 1
                elif kind is Kind.LDDW:
                    self._lddw(state, i, insn)
                    i += 2
                elif kind is Kind.ATOMIC:
                    self._atomic(state, i, insn, form)
                    i += 1
                elif kind is Kind.EXIT:
                    nxt = self._exit(state, i, pending)
                    if nxt is None:
                        return
                    state, i = nxt
                elif kind is Kind.CALL:
                    nxt = self._helper_call(state, i, insn, pending)
                    if nxt is None:
                        return
                    state, i = nxt
                elif kind is Kind.CALL_LOCAL:
                    i = self._local_call(state, i, branch_target(i, insn, form))
                elif kind is Kind.CALLX:
                    fn = alu.read(state, insn.dst)
                    if fn.kind != K.FUNC:
                        raise Reject(
                            f"callx R{insn.dst}: type={KIND_NAMES[fn.kind]}, expected a function address",
                            (insn.dst,),
                        )
                    i = self._local_call(state, i, fn.off)
                elif kind is Kind.CALL_KFUNC:
                    raise Reject("kernel function calls (kfuncs) are not supported")
                elif kind is Kind.LD_ABS or kind is Kind.LD_IND:
                    self._ld_packet(state, insn, form)
                    i += 1
                else:  # pragma: no cover - every kind of the table is handled
                    raise AssertionError(kind)
            except Reject as exc:
                raise self._error(state, i, exc) from None

    # -- errors and bookkeeping -----------------------------------------------------------------
    def _error(self, state: VState, i: int, exc: Reject, *, with_state: bool = True) -> VerifierError:
        text = insn_text(self.insns, i)
        regs = [r for r in exc.regs if r >= 0]
        shown = state_text(state, regs or None, stack=not regs) if with_state else ""
        self.log.note(f"{i}: ({self.insns[i].opcode:02x}) {text}")
        self.log.note(f"{exc.reason}")
        return VerifierError(i, exc.reason, insn=text, state=shown, log=self.log.text())

    def _fork(self, state: VState) -> None:
        parent = state.parent
        if isinstance(parent, Checkpoint):
            parent.branches += 1

    def _end_path(self, state: VState) -> None:
        for f in state.frames:
            self._note_depth(f)
        node = state.parent
        while isinstance(node, Checkpoint):
            node.branches -= 1
            if node.branches > 0:
                return
            node.complete = True
            node.home.finish(node)
            node = node.parent

    def _note_depth(self, frame: Frame) -> None:
        d = frame.stack.depth
        if d > self.depths.get(frame.subprog, -1):
            self.depths[frame.subprog] = d

    def _proof(self, i: int) -> InsnProof:
        p = self.proof.get(i)
        if p is None:
            p = self.proof[i] = InsnProof()
        return p

    # -- pruning --------------------------------------------------------------------------------
    def _masks(self, state: VState, i: int) -> list[prune.FrameMasks]:
        frames = state.frames
        masks: list[prune.FrameMasks] = []
        last = len(frames) - 1
        for k in range(last):
            callee = frames[k + 1]
            if callee.callback is not None:
                masks.append((CALLBACK_CALLER_REGS, CALLBACK_CALLER_REGS, liveness.ALL_STACK))
            else:
                ret = callee.callsite + 1
                masks.append(
                    (
                        self.live.live[ret] & liveness.CALLEE_SAVED,
                        self.needed[ret] & liveness.CALLEE_SAVED,
                        liveness.ALL_STACK,
                    )
                )
        masks.append((self.live.live[i], self.needed[i], self.live.stack[i]))
        return masks

    def _prune(self, state: VState, i: int) -> bool:
        key = state.context_key()
        masks = self._masks(state, i)
        fp = prune.fingerprint(state, masks)
        slot = self.explored.get(i)
        gen = state.gen
        if slot is None:
            slot = self.explored[i] = InsnStates()
        else:
            for cp in slot.complete:
                if cp.key != key:
                    continue
                if prune.subsumes(cp.state, state, masks):
                    cp.hits += 1
                    self.pruned += 1
                    return True
                cp.misses += 1
            if gen:
                # Inside a callback iteration: states of earlier iterations may cover this one.
                for bucket in slot.pending.values():
                    for cp in bucket:
                        if cp.key == key and cp.state.gen != gen and prune.subsumes(cp.state, state, masks):
                            self.pruned += 1
                            return True
            for cp in slot.pending.get(fp, ()):
                if cp.key == key and cp.state.gen == gen and prune.equal(cp.state, state, masks):
                    raise Reject(f"infinite loop detected at insn {i}")
            lst = slot.complete
            if len(lst) > 8:
                keep = [cp for cp in lst if cp.misses <= 3 * cp.hits + 3]
                self.current_states -= len(lst) - len(keep)
                lst[:] = keep
        parent = state.parent
        cp = Checkpoint(state.copy(), parent if isinstance(parent, Checkpoint) else None, key, fp, slot)
        state.parent = cp
        slot.pending.setdefault(fp, []).append(cp)
        self.stored += 1
        self.current_states += 1
        if self.current_states > self.peak:
            self.peak = self.current_states
        return False

    # -- memory ---------------------------------------------------------------------------------
    def _load(self, state: VState, i: int, insn: Instruction, form: Form) -> None:
        base = alu.read(state, insn.src)
        size = form.width
        acc = check_access(self.mc, state, insn.src, base, insn.off, size, write=False)
        value = acc.value
        assert value is not None
        if form.kind is Kind.LOADSX:
            value = sign_extend_load(value, size)
        state.regs[insn.dst] = value
        p = self._proof(i)
        p.visits += 1
        p.regions.add(acc.region)
        f = acc.field
        if f is not None:
            p.ctx_fields.add(f.name)
        token: object = f if (f is not None and f.shadow_offset is not None) else acc.region
        seen = self.ctx_loads.get(i)
        if seen is None:
            self.ctx_loads[i] = token
        elif seen != token and (isinstance(seen, CtxField) or isinstance(token, CtxField)):
            raise Reject("same insn cannot be used with different pointers", (insn.src,))

    def _store(self, state: VState, i: int, insn: Instruction, form: Form) -> None:
        base = alu.read(state, insn.dst)
        if form.kind is Kind.STORE_IMM:
            value = Reg(K.SCALAR, Scalar.const(insn.imm))
            vreg = -1
        else:
            value = alu.read(state, insn.src)
            vreg = insn.src
        acc = check_access(
            self.mc, state, insn.dst, base, insn.off, form.width, write=True, value=value, value_regno=vreg
        )
        p = self._proof(i)
        p.visits += 1
        p.regions.add(acc.region)
        if acc.field is not None:
            p.ctx_fields.add(acc.field.name)

    def _atomic(self, state: VState, i: int, insn: Instruction, form: Form) -> None:
        base = alu.read(state, insn.dst)
        src = alu.read(state, insn.src)
        size = form.width
        if base.kind not in _ATOMIC_KINDS:
            raise Reject(f"BPF_ATOMIC stores into R{insn.dst} {KIND_NAMES[base.kind]} is not allowed", (insn.dst,))
        if src.kind != K.SCALAR:
            raise Reject(f"R{insn.src} leaks addr into mem (atomic operand)", (insn.src,))
        op = form.op
        if op == "cmpxchg":
            r0 = alu.read(state, 0)
            if r0.kind != K.SCALAR:
                raise Reject("R0 leaks addr into mem (cmpxchg operand)", (0,))
        acc = check_access(self.mc, state, insn.dst, base, insn.off, size, write=False)
        old = acc.value
        assert old is not None
        if old.kind != K.SCALAR:
            raise Reject(f"atomic operation on a spilled pointer at R{insn.dst}", (insn.dst,))
        width = 32 if size == 4 else 64
        base_op = op[6:] if op.startswith("fetch_") else op
        if base_op in ("add", "or", "and", "xor"):
            new = sc.alu(base_op, width, old.val, src.val)
        elif base_op == "xchg":
            new = sc.truncate(src.val, size)
        else:
            new = sc.join(old.val, sc.truncate(src.val, size))
        check_access(
            self.mc, state, insn.dst, base, insn.off, size, write=True, value=Reg(K.SCALAR, new), value_regno=insn.src
        )
        if op == "cmpxchg":
            state.regs[0] = old
        elif op.startswith("fetch_") or op == "xchg":
            state.regs[insn.src] = old
        p = self._proof(i)
        p.visits += 1
        p.regions.add(acc.region)

    def _lddw(self, state: VState, i: int, insn: Instruction) -> None:
        src = insn.src
        dst = insn.dst
        if src == 0:
            state.regs[dst] = Reg(K.SCALAR, Scalar.const(lddw_value(insn, self.insns[i + 1])))
            return
        if src == 4:
            state.regs[dst] = Reg(K.FUNC, off=i + 1 + insn.imm)
            return
        if src == 3:
            raise Reject("BTF variable references (lddw src 3) are not supported")
        m = self.maps[insn.imm] if 0 <= insn.imm < len(self.maps) else None
        if m is None:
            raise Reject(f"fd {insn.imm} is not pointing to valid bpf_map ({len(self.maps)} maps declared)")
        if src in (1, 5):
            state.regs[dst] = Reg(K.MAP_PTR, map=m)
            return
        off = self.insns[i + 1].imm
        if m.map_type != ARRAY_MAP or m.max_entries != 1:
            raise Reject(f"direct value access needs a single-element array map ({m.name} is {m.type_name})")
        if not 0 <= off < max(m.value_size, 1):
            raise Reject(f"invalid access to map value pointer, value_size={m.value_size} off={off}")
        state.regs[dst] = Reg(K.MAP_VALUE, map=m, off=off)

    def _ld_packet(self, state: VState, insn: Instruction, form: Form) -> None:
        if not self.spec.ld_abs:
            raise Reject(f"BPF_LD_[ABS|IND] instructions not allowed for this program type ({self.spec.name})")
        if alu.read(state, 6).kind != K.CTX:
            raise Reject("at the time of BPF_LD_ABS|IND R6 != pointer to skb", (6,))
        if state.refs:
            raise Reject("BPF_LD_[ABS|IND] cannot be mixed with acquired references")
        if form.kind is Kind.LD_IND:
            r = alu.read(state, insn.src)
            if r.kind != K.SCALAR:
                raise Reject(f"R{insn.src} type={KIND_NAMES[r.kind]} expected=scalar (packet offset)", (insn.src,))
        regs = state.regs
        for k in range(1, 6):
            regs[k] = NOT_INIT
        regs[0] = Reg(K.SCALAR, Scalar.of_bytes(form.width))

    # -- calls and exits ------------------------------------------------------------------------
    def _push_frame(self, state: VState, i: int, entry: int, regs: list[Reg], callback: CallbackSite | None) -> None:
        depth = len(state.frames) + 1
        if depth > self.options.max_call_depth:
            raise Reject(f"the call stack of {depth} frames is too deep (limit {self.options.max_call_depth})")
        regs[10] = Reg(K.STACK, frame=len(state.frames))
        self.call_edges.add((state.cur.subprog, entry))
        state.frames.append(Frame(regs, Stack(), i, entry, callback))

    def _local_call(self, state: VState, i: int, entry: int) -> int:
        caller = state.regs
        regs = [NOT_INIT] * 11
        for k in range(1, 6):
            regs[k] = caller[k]
        self._push_frame(state, i, entry, regs, None)
        return entry

    def _exit(self, state: VState, i: int, pending: list[tuple[VState, int]]) -> tuple[VState, int] | None:
        frame = state.cur
        r0 = frame.regs[0]
        if r0.kind == K.NOT_INIT:
            raise Reject("R0 !read_ok", (0,))
        if len(state.frames) == 1:
            self._check_return(state, r0)
            self._end_path(state)
            return None
        self._note_depth(frame)
        site = frame.callback
        if isinstance(site, CallbackSite):
            v = r0.val
            if r0.kind != K.SCALAR or v.smin < site.ret_lo or v.smax > site.ret_hi:
                what = r0.describe() if r0.kind != K.SCALAR else f"smin={v.smin} smax={v.smax}"
                raise Reject(
                    f"At callback return the register R0 has {what} should have been in [{site.ret_lo}, {site.ret_hi}]",
                    (0,),
                )
            state.frames.pop()
            state.gen = site.caller_gen
            return self._callback_head(state, site.callsite, pending)
        if r0.kind == K.STACK and r0.frame == len(state.frames) - 1:
            raise Reject("cannot return stack pointer to the caller", (0,))
        state.frames.pop()
        regs = state.regs
        regs[0] = r0
        for k in range(1, 6):
            regs[k] = NOT_INIT
        return state, frame.callsite + 1

    def _check_return(self, state: VState, r0: Reg) -> None:
        rng = self.spec.ret_range
        if rng is not None:
            if r0.kind != K.SCALAR:
                raise Reject(f"At program exit the register R0 is not a known value ({r0.describe()})", (0,))
            v = r0.val
            if v.smin < rng[0] or v.smax > rng[1]:
                raise Reject(
                    f"At program exit the register R0 has smin={v.smin} smax={v.smax} "
                    f"should have been in [{rng[0]}, {rng[1]}]",
                    (0,),
                )
        elif r0.is_pointer and not self.options.allow_ptr_leaks:
            raise Reject("R0 leaks addr as return value", (0,))
        if state.refs:
            ref, at = next(iter(state.refs.items()))
            raise Reject(f"Unreleased reference id={ref} alloc_insn={at}")

    def _helper_call(
        self, state: VState, i: int, insn: Instruction, pending: list[tuple[VState, int]]
    ) -> tuple[VState, int] | None:
        hid = insn.imm
        proto = self.protos.get(hid)
        if proto is None:
            raise Reject(f"invalid func unknown#{hid}")
        if not self.spec.allows_helper(hid):
            raise Reject(f"program of this type ({self.spec.name}) cannot use helper bpf_{proto.name}#{hid}")
        if proto.callback is not None:
            helpers.check_args(self.mc, state, i, proto, self.func_entries)
            return self._callback_head(state, i, pending)
        helpers.check_call(self.mc, state, i, proto, self.ids, self.func_entries)
        if proto.tail_call and len(state.frames) > 1:
            self.tail_call_funcs.add(state.cur.subprog)
        return state, i + 1

    def _callback_head(self, state: VState, c: int, pending: list[tuple[VState, int]]) -> tuple[VState, int] | None:
        """The helper at ``c`` may call its callback (again) or return: explore both."""
        proto = self.protos.get(self.insns[c].imm)
        assert proto is not None and proto.callback is not None
        key = (c, state.context_key())
        heads = self.cb_heads.setdefault(key, [])
        masks = [(CALLBACK_CALLER_REGS, CALLBACK_CALLER_REGS, liveness.ALL_STACK)] * len(state.frames)
        for h in heads:
            if prune.subsumes(h, state, masks):
                self.pruned += 1
                self._end_path(state)
                return None
        if heads:
            widened = prune.widen_state(heads[-1], state, self.ids)
            widened.parent = state.parent
            state = widened
            helpers.check_args(self.mc, state, c, proto, self.func_entries)
        if len(heads) >= MAX_CALLBACK_HEADS:
            raise Reject(f"callback of bpf_{proto.name} at insn {c} does not converge")
        heads.append(state.copy())
        self.stored += 1
        done = state.copy()
        self._fork(done)
        helpers.finish_call(self.mc, done, c, proto, self.ids, helpers.ArgFacts())
        pending.append((done, c + 1))
        return state, self._enter_callback(state, c, proto)

    def _enter_callback(self, state: VState, c: int, proto: HelperProto) -> int:
        cb = proto.callback
        assert cb is not None
        caller = state.regs
        entry = caller[cb.func_arg].off
        regs = [NOT_INIT] * 11
        for k, carg in enumerate(cb.args, 1):
            regs[k] = helpers.callback_arg(carg, caller)
        caller_gen = state.gen
        self.gens += 1
        state.gen = self.gens
        self._push_frame(state, c, entry, regs, CallbackSite(c, caller_gen, cb.ret_lo, cb.ret_hi))
        return entry

    # -- after the exploration ------------------------------------------------------------------
    def _check_stack_chains(self) -> None:
        limit = self.options.stack_size
        edges: dict[int, set[int]] = {}
        for a, b in self.call_edges:
            edges.setdefault(a, set()).add(b)

        def frame_size(f: int) -> int:
            d = self.depths.get(f, 0)
            return (d + 15) // 16 * 16

        worst: list[int] = []

        def walk(f: int, path: list[int], total: int) -> None:
            total += frame_size(f)
            path = [*path, f]
            if f in self.tail_call_funcs and len(path) > 1:
                below = total - frame_size(f)
                if below > self.options.max_tail_call_stack:
                    raise VerifierError(
                        f,
                        f"tail_calls are not allowed when call stack of previous frames is {below} bytes. Too large",
                    )
            if total > limit:
                worst[:] = path
                raise VerifierError(
                    path[-1],
                    f"combined stack size of {len(path)} calls is {total}. Too large "
                    f"(functions at insns {', '.join(map(str, path))})",
                )
            for g in sorted(edges.get(f, ())):
                if g not in path:
                    walk(g, path, total)

        walk(0, [], 0)

    def _rewrite(self) -> list[Instruction]:
        """Context pointer-field loads become 8-byte loads of the shadow fields."""
        out = list(self.insns)
        for i, token in self.ctx_loads.items():
            if isinstance(token, CtxField) and token.shadow_offset is not None:
                insn = out[i]
                delta = token.shadow_offset - token.offset
                out[i] = Instruction(_LOAD_DW.opcode, insn.dst, insn.src, insn.off + delta, 0)
                self._proof(i).rewritten = True
        return out
