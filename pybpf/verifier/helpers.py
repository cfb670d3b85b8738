"""Helper calls: arguments checked against the prototype, the result typed by it.

For each argument the register must have the kind the prototype names (:class:`ArgKind`):
a map reference of an accepted map type, a pointer to ``key_size``/``value_size`` bytes of the
map given earlier, memory of the size in the following argument (initialised when the helper
reads it; marked initialised when the helper writes it), the unmodified context, a callback, a
read-only NUL-terminated string, an acquired ring-buffer record, and so on.  After the call
r1-r5 are unusable, packet pointers are forgotten if the helper can move the packet, released
references disappear from every register, and r0 gets the prototype's return kind (a fresh id
for maybe-NULL results so that one NULL test refines every copy).
"""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.helpers.prototypes import SIZE_KINDS, Arg, ArgKind, CallbackArg, CbArg, HelperProto, RetKind
from pybpf.verifier import scalar as sc
from pybpf.verifier.alu import IdSource
from pybpf.verifier.checks import MAX_VAR_OFF, MemContext, _bounded, _packet
from pybpf.verifier.mapinfo import MapInfo
from pybpf.verifier.result import Reject
from pybpf.verifier.scalar import Scalar
from pybpf.verifier.state import KIND_NAMES, NOT_INIT, K, Reg, VState

MAX_HELPER_MEM = MAX_VAR_OFF


@dataclass
class ArgFacts:
    """What the argument checks learned that the result depends on."""

    map: MapInfo | None = None
    alloc_size: int = 0
    callback_entry: int | None = None
    release_ref: int = 0


def check_call(
    mc: MemContext, state: VState, insn_index: int, proto: HelperProto, ids: IdSource, func_entries: set[int]
) -> ArgFacts:
    """Check the arguments of a call to ``proto`` and apply its effects to ``state``."""
    facts = check_args(mc, state, insn_index, proto, func_entries)
    finish_call(mc, state, insn_index, proto, ids, facts)
    return facts


def check_args(mc: MemContext, state: VState, insn_index: int, proto: HelperProto, func_entries: set[int]) -> ArgFacts:
    """Check r1-r5 against the prototype (memory the helper fills becomes initialised)."""
    regs = state.regs
    facts = ArgFacts()
    args = proto.args
    for k, arg in enumerate(args, 1):
        reg = regs[k]
        if reg.kind == K.NOT_INIT:
            raise Reject(f"R{k} !read_ok (argument {k} of bpf_{proto.name})", (k,))
        kind = arg.kind
        if kind in SIZE_KINDS:
            continue  # checked with the memory argument before it
        if arg.nullable and reg.is_null_const:
            if k < len(args) and args[k].kind in SIZE_KINDS:
                _size_range(regs[k + 1], k + 1, args[k])
            continue
        if kind is ArgKind.ANYTHING:
            continue
        if kind is ArgKind.SCALAR:
            _expect(reg, k, K.SCALAR, "scalar")
        elif kind is ArgKind.CONST_MAP_PTR:
            facts.map = _map_arg(reg, k, arg, proto)
        elif kind in (ArgKind.PTR_TO_MAP_KEY, ArgKind.PTR_TO_MAP_VALUE, ArgKind.PTR_TO_UNINIT_MAP_VALUE):
            if facts.map is None:
                raise Reject(f"bpf_{proto.name}: argument {k} needs a map argument before it", (k,))
            write = kind is ArgKind.PTR_TO_UNINIT_MAP_VALUE
            size = facts.map.key_size if kind is ArgKind.PTR_TO_MAP_KEY else facts.map.value_size
            what = "key" if kind is ArgKind.PTR_TO_MAP_KEY else "value"
            check_mem_arg(mc, state, k, reg, size, size, write=write, what=f"map {what}")
        elif kind in (ArgKind.PTR_TO_MEM, ArgKind.PTR_TO_UNINIT_MEM):
            size_arg = args[k] if k < len(args) else None
            if size_arg is None or size_arg.kind not in SIZE_KINDS:
                raise AssertionError(f"prototype of {proto.name}: memory argument {k} without a size")
            lo, hi = _size_range(regs[k + 1], k + 1, size_arg)
            check_mem_arg(mc, state, k, reg, lo, hi, write=kind is ArgKind.PTR_TO_UNINIT_MEM, what="memory")
        elif kind is ArgKind.CONST_ALLOC_SIZE_OR_ZERO:
            _expect(reg, k, K.SCALAR, "scalar")
            if reg.val.m != 0:
                if not _runtime_checked_result(mc, proto):
                    raise Reject(f"R{k} is not a known constant (size of memory bpf_{proto.name} returns)", (k,))
                facts.alloc_size = -1  # unknown: every access through the result is checked at run time
                continue
            facts.alloc_size = reg.val.v
            if facts.alloc_size >= MAX_HELPER_MEM and _runtime_checked_result(mc, proto):
                facts.alloc_size = -1  # the runtime refuses it; accesses are checked anyway
            elif facts.alloc_size >= MAX_HELPER_MEM:
                raise Reject(f"R{k} size {facts.alloc_size} is too large", (k,))
        elif kind is ArgKind.PTR_TO_CTX:
            if reg.kind != K.CTX:
                raise Reject(f"R{k} type={KIND_NAMES[reg.kind]} expected=ctx", (k,))
            if reg.off != 0 or reg.val.m != 0:
                raise Reject(f"dereference of modified ctx ptr R{k} off={reg.off} disallowed", (k,))
        elif kind is ArgKind.PTR_TO_FUNC:
            if reg.kind != K.FUNC:
                raise Reject(f"R{k} type={KIND_NAMES[reg.kind]} expected=func", (k,))
            if reg.off not in func_entries:
                raise Reject(f"R{k} callback pc={reg.off} is not the entry of a function", (k,))
            facts.callback_entry = reg.off
        elif kind is ArgKind.PTR_TO_STACK:
            if reg.kind != K.STACK:
                raise Reject(f"R{k} type={KIND_NAMES[reg.kind]} expected=fp", (k,))
        elif kind is ArgKind.PTR_TO_CONST_STR:
            _const_str(reg, k)
        elif kind is ArgKind.PTR_TO_ALLOC_MEM:
            if reg.kind != K.RINGBUF_MEM or not reg.ref:
                raise Reject(f"R{k} type={KIND_NAMES[reg.kind]} expected=ringbuf_mem (an unreleased record)", (k,))
            if reg.off != 0 or reg.val.m != 0:
                raise Reject(f"R{k} must have zero offset when passed to release func bpf_{proto.name}", (k,))
            if reg.ref not in state.refs:
                raise Reject(f"R{k} arg {k} is an unacquired reference", (k,))
            if proto.releases:
                facts.release_ref = reg.ref
        elif kind is ArgKind.PTR_TO_LONG:
            check_mem_arg(mc, state, k, reg, 8, 8, write=True, what="long")
        elif kind is ArgKind.PTR_TO_SPIN_LOCK:
            if reg.kind != K.MAP_VALUE or reg.val.m != 0:
                raise Reject(f"R{k} type={KIND_NAMES[reg.kind]} expected=map_value with a constant offset", (k,))
            check_mem_arg(mc, state, k, reg, 4, 4, write=True, what="spin lock")
        else:  # pragma: no cover - every kind is handled above
            raise AssertionError(kind)
    return facts


def finish_call(
    mc: MemContext, state: VState, insn_index: int, proto: HelperProto, ids: IdSource, facts: ArgFacts
) -> None:
    """The call's effects: released references, forgotten packet pointers, r1-r5 and r0."""
    regs = state.regs
    release_ref = facts.release_ref
    if release_ref:
        state.refs.pop(release_ref, None)
        state.replace_everywhere(lambda r: r.ref == release_ref, lambda r: NOT_INIT)
    if proto.invalidates_packet:
        unknown = Reg(K.SCALAR, sc.UNKNOWN)
        state.replace_everywhere(lambda r: r.kind in (K.PACKET, K.PACKET_END, K.PACKET_META), lambda r: unknown)
    for k in range(1, 6):
        regs[k] = NOT_INIT
    regs[0] = _result(proto, facts.map, facts.alloc_size, ids, state, insn_index, mc)


def callback_arg(carg: CallbackArg, caller: list[Reg]) -> Reg:
    """The value a callback receives for one of its arguments."""
    kind = carg.kind
    if kind is CbArg.SCALAR:
        return Reg(K.SCALAR, Scalar.urange(carg.lo, carg.hi))
    if kind is CbArg.COPY:
        return caller[carg.source]
    m = caller[carg.source].map
    assert m is not None
    if kind is CbArg.MAP:
        return Reg(K.MAP_PTR, map=m)
    if kind is CbArg.MAP_KEY:
        return Reg(K.MAP_KEY, map=m)
    return Reg(K.MAP_VALUE, map=m)


def _runtime_checked_result(mc: MemContext, proto: HelperProto) -> bool:
    """Whether ``proto`` returns memory of a region the runtime checks on every access."""
    if proto.ret not in (RetKind.REGION, RetKind.REGION_OR_NULL):
        return False
    spec = mc.platform.regions.get(proto.region)
    return spec is not None and spec.runtime_checked


def _expect(reg: Reg, k: int, kind: K, name: str) -> None:
    if reg.kind != kind:
        raise Reject(f"R{k} type={KIND_NAMES[reg.kind]} expected={name}", (k,))


def _map_arg(reg: Reg, k: int, arg: Arg, proto: HelperProto) -> MapInfo:
    if reg.kind != K.MAP_PTR:
        raise Reject(f"R{k} type={KIND_NAMES[reg.kind]} expected=map_ptr", (k,))
    m = reg.map
    assert m is not None
    if arg.map_types is not None and m.map_type not in arg.map_types:
        raise Reject(f"cannot pass map_type {m.map_type} ({m.type_name}) into func bpf_{proto.name}#{proto.id}", (k,))
    return m


def _size_range(reg: Reg, k: int, arg: Arg) -> tuple[int, int]:
    if reg.kind == K.NOT_INIT:
        raise Reject(f"R{k} !read_ok (a size argument)", (k,))
    if reg.kind != K.SCALAR:
        raise Reject(f"R{k} type={KIND_NAMES[reg.kind]} expected=scalar (a size)", (k,))
    v = reg.val
    if v.smin < 0:
        raise Reject(f"R{k} min value is negative, either use unsigned or 'var &= const'", (k,))
    if v.umax >= MAX_HELPER_MEM:
        raise Reject(f"R{k} unbounded memory access, use 'var &= const' or 'if (var < const)'", (k,))
    if arg.kind is ArgKind.CONST_SIZE and v.umin == 0:
        raise Reject(f"R{k} invalid zero-sized read: u64=[{v.umin},{v.umax}]", (k,))
    return v.umin, v.umax


def check_mem_arg(mc: MemContext, state: VState, k: int, reg: Reg, lo: int, hi: int, *, write: bool, what: str) -> None:
    """Pointer ``reg`` (argument ``k``) to at least ``lo`` and at most ``hi`` bytes a helper reads
    (or, with ``write``, fills)."""
    kind = reg.kind
    if hi == 0 and kind in (K.STACK, K.MAP_VALUE, K.PACKET, K.MAP_KEY, K.RINGBUF_MEM, K.REGION, K.CTX):
        return
    if kind == K.STACK:
        _stack_range(mc, state, k, reg, hi, write, what)
        return
    if kind == K.MAP_VALUE:
        m = reg.map
        assert m is not None
        if write and m.read_only:
            raise Reject(f"R{k} points to read-only map {m.name}: the helper would write into it", (k,))
        _bounded(k, reg, 0, hi, m.value_size, "map value")
        return
    if kind == K.MAP_KEY:
        if write:
            raise Reject(f"R{k} cannot write into map key", (k,))
        assert reg.map is not None
        _bounded(k, reg, 0, hi, reg.map.key_size, "map key")
        return
    if kind in (K.PACKET, K.PACKET_META):
        _packet(mc, k, reg, 0, hi, write)
        return
    if kind in (K.RINGBUF_MEM, K.REGION):
        if kind == K.REGION:
            spec = mc.platform.regions.get(reg.region)
            if write and spec is not None and not spec.writable:
                raise Reject(f"R{k} cannot write into read-only region {reg.region}", (k,))
            if spec is not None and spec.runtime_checked and reg.size < 0:
                return  # size unknown here: the helper's access is checked against the live blocks
        _bounded(k, reg, 0, hi, reg.size, "memory")
        return
    if kind == K.CTX and mc.spec.ctx.buffer:
        if write and not mc.spec.ctx.raw_writable:
            raise Reject(f"R{k} the context is read-only", (k,))
        _bounded(k, reg, 0, hi, mc.spec.ctx.size, "context")
        return
    raise Reject(f"R{k} type={KIND_NAMES[kind]} expected=pointer to {what}", (k,))


def _stack_range(mc: MemContext, state: VState, k: int, reg: Reg, size: int, write: bool, what: str) -> None:
    st = state.frames[reg.frame].stack
    var = reg.val
    limit = mc.options.stack_size
    lo = reg.off + (var.smin if var.m else 0)
    hi = reg.off + (var.smax if var.m else 0) + size
    if var.m and (var.smin < -limit or var.smax > limit):
        raise Reject(
            f"R{k} invalid variable-offset stack access off={reg.off}+[{var.smin}, {var.smax}] (helper {what})", (k,)
        )
    if lo < -limit or hi > 0:
        raise Reject(f"invalid indirect access to stack R{k} off={lo} size={hi - lo}: out of bounds", (k,))
    if write:
        st.write_misc(lo, hi, only_initialised=bool(var.m))
        return
    if not st.initialised(lo, hi):
        first = next(o for o in range(lo, hi) if not st.initialised(o, o + 1))
        raise Reject(
            f"invalid indirect read from stack R{k} off {lo}+{first - lo} size {hi - lo}: {what} is not initialised",
            (k,),
        )
    if st.pointer_cells(lo, hi) and not mc.options.allow_ptr_leaks:
        raise Reject(f"R{k} {what} on the stack contains a spilled pointer: it would leak to the helper", (k,))
    st.touch(lo)


def _const_str(reg: Reg, k: int) -> None:
    if reg.kind != K.MAP_VALUE or reg.map is None:
        raise Reject(
            f"R{k} type={KIND_NAMES[reg.kind]} expected=map_value of a read-only map (a constant string)", (k,)
        )
    m = reg.map
    if not m.read_only:
        raise Reject(f"R{k} does not point to a readonly map ({m.name})", (k,))
    if reg.val.m != 0:
        raise Reject(f"R{k} a constant string needs a constant offset", (k,))
    if not 0 <= reg.off < m.value_size:
        raise Reject(f"R{k} offset {reg.off} is outside map {m.name} (value_size={m.value_size})", (k,))
    if m.initial is not None and b"\0" not in m.initial[reg.off : m.value_size]:
        raise Reject(f"R{k} string is not zero-terminated", (k,))


def _result(
    proto: HelperProto,
    meta_map: MapInfo | None,
    alloc_size: int,
    ids: IdSource,
    state: VState,
    insn_index: int,
    mc: MemContext,
) -> Reg:
    ret = proto.ret
    if ret is RetKind.INTEGER:
        if proto.ret_range is None:
            return Reg(K.SCALAR, sc.UNKNOWN)
        return Reg(K.SCALAR, Scalar.srange(*proto.ret_range))
    if ret is RetKind.VOID:
        return NOT_INIT
    if ret is RetKind.MAP_VALUE_OR_NULL:
        assert meta_map is not None
        if meta_map.is_map_of_maps:
            if meta_map.inner is None:
                raise Reject(f"map {meta_map.name} holds maps but its inner map is not described", (1,))
            return Reg(K.MAP_PTR_OR_NULL, map=meta_map.inner, id=ids.fresh())
        return Reg(K.MAP_VALUE_OR_NULL, map=meta_map, id=ids.fresh())
    if ret is RetKind.ALLOC_MEM_OR_NULL:
        rid = ids.fresh()
        state.refs[rid] = insn_index
        return Reg(K.RINGBUF_MEM_OR_NULL, id=rid, ref=rid, size=alloc_size)
    if ret in (RetKind.REGION, RetKind.REGION_OR_NULL):
        spec = mc.platform.regions.get(proto.region)
        if spec is None:
            raise Reject(f"bpf_{proto.name} returns region {proto.region!r}, which the platform does not declare")
        size = spec.size
        if any(a.kind is ArgKind.CONST_ALLOC_SIZE_OR_ZERO for a in proto.args):
            size = alloc_size  # each returned block has the size asked for (-1: not a constant)
        if ret is RetKind.REGION:
            return Reg(K.REGION, region=spec.name, size=size)
        return Reg(K.REGION_OR_NULL, region=spec.name, size=size, id=ids.fresh())
    raise AssertionError(ret)
