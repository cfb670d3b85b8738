"""Memory safety: is a load or store through a register inside a region the program may touch?

One function per region kind decides whether an access of ``size`` bytes at the register's
offset plus the instruction's offset is in bounds, with the right permission, and what a load
gives back:

* **stack**: inside the frame's 512 bytes; reads only of initialised bytes; whole spilled
  registers come back with their abstract value, parts of spilled pointers may not be read;
* **context**: only fields the program type exposes, with their allowed widths, read-only
  fields not written; raw contexts (tracing, syscall) at aligned offsets below their size;
* **packet**: below the range proven by a comparison with ``data_end`` (and within 64 KiB);
* **map value / key, ring-buffer record, platform region**: inside the object's size, with the
  variable part of the offset bounded; no writes into read-only maps;
* stores of pointers into memory outside the stack leak addresses and are refused unless the
  options allow leaks.

Each check returns an :class:`Access` (the loaded value and what was accessed) or raises
:class:`~pybpf.verifier.result.Reject`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pybpf.progtypes.platform import CtxField, Platform, ProgTypeSpec, ValueKind
from pybpf.verifier import scalar as sc
from pybpf.verifier import tnum
from pybpf.verifier.result import Reject, VerifierOptions
from pybpf.verifier.scalar import Scalar
from pybpf.verifier.state import KIND_NAMES, K, Reg, StackReadError, VState

MAX_VAR_OFF = 1 << 29
# Proof-record name prefix of accesses to runtime-checked platform regions (never "safe").
RUNTIME_CHECKED = "runtime-checked:"


@dataclass
class Access:
    value: Reg | None  # what a load gives (None for stores)
    region: str  # kind of memory accessed, for the proof record
    field: CtxField | None = None  # context field, for the load rewrite


@dataclass
class MemContext:
    spec: ProgTypeSpec
    platform: Platform
    options: VerifierOptions


def check_access(
    mc: MemContext,
    state: VState,
    regno: int,
    reg: Reg,
    insn_off: int,
    size: int,
    *,
    write: bool,
    value: Reg | None = None,
    value_regno: int = -1,
) -> Access:
    """Check one access through ``reg`` (register ``regno``); ``value`` is what a store writes."""
    kind = reg.kind
    if write and value is not None and value.is_pointer and kind != K.STACK and not mc.options.allow_ptr_leaks:
        where = {K.MAP_VALUE: "map", K.CTX: "ctx", K.PACKET: "packet", K.PACKET_META: "packet"}.get(kind, "mem")
        raise Reject(f"R{value_regno} leaks addr into {where}", (value_regno, regno))
    if kind == K.STACK:
        return _stack(mc, state, regno, reg, insn_off, size, write, value, value_regno)
    if kind == K.CTX:
        return _ctx(mc, regno, reg, insn_off, size, write)
    if kind in (K.PACKET, K.PACKET_META):
        return _packet(mc, regno, reg, insn_off, size, write)
    if kind == K.MAP_VALUE:
        return _map_value(regno, reg, insn_off, size, write)
    if kind == K.MAP_KEY:
        if write:
            raise Reject(f"R{regno} cannot write into map key", (regno,))
        assert reg.map is not None
        _bounded(regno, reg, insn_off, size, reg.map.key_size, "map key")
        return Access(Reg(K.SCALAR, Scalar.of_bytes(size)), "map_key")
    if kind in (K.RINGBUF_MEM, K.REGION):
        name = "ringbuf" if kind == K.RINGBUF_MEM else f"region:{reg.region}"
        if kind == K.REGION:
            spec = mc.platform.regions.get(reg.region)
            if write and spec is not None and not spec.writable:
                raise Reject(f"R{regno} cannot write into read-only region {reg.region}", (regno,))
            if spec is not None and spec.runtime_checked:
                # Checked at run time against the live blocks; a known size still rejects what is
                # provably out of bounds.
                if reg.size >= 0:
                    _bounded(regno, reg, insn_off, size, reg.size, "memory")
                return Access(None if write else Reg(K.SCALAR, Scalar.of_bytes(size)), RUNTIME_CHECKED + reg.region)
        _bounded(regno, reg, insn_off, size, reg.size, "memory")
        return Access(None if write else Reg(K.SCALAR, Scalar.of_bytes(size)), name)
    raise Reject(f"R{regno} invalid mem access '{KIND_NAMES[kind]}'", (regno,))


def _bounded(regno: int, reg: Reg, insn_off: int, size: int, limit: int, what: str) -> None:
    """``reg + insn_off`` plus ``size`` bytes inside ``[0, limit)`` for every variable offset."""
    var = reg.val
    off = reg.off + insn_off
    if var.m == 0:
        if off < 0 or off + size > limit:
            raise Reject(f"invalid access to {what}, {_size_name(what)}={limit} off={off} size={size}", (regno,))
        return
    if var.smin < 0 or off + var.smin < 0:
        raise Reject(
            f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check", (regno,)
        )
    if var.umax >= MAX_VAR_OFF:
        raise Reject(f"R{regno} unbounded memory access, make sure to bounds check any such access", (regno,))
    if off + var.umax + size > limit:
        raise Reject(
            f"invalid access to {what}, {_size_name(what)}={limit} off={off + var.umax} size={size} "
            f"(variable offset up to {var.umax})",
            (regno,),
        )


def _size_name(what: str) -> str:
    return {"map value": "value_size", "map key": "key_size"}.get(what, "mem_size")


def _map_value(regno: int, reg: Reg, insn_off: int, size: int, write: bool) -> Access:
    m = reg.map
    assert m is not None
    _bounded(regno, reg, insn_off, size, m.value_size, "map value")
    off = reg.off + insn_off
    if write:
        if m.read_only:
            raise Reject(f"write into map forbidden, value_size={m.value_size} off={off} size={size}", (regno,))
        return Access(None, "map_value")
    if m.read_only and m.initial is not None and reg.val.m == 0 and off + size <= len(m.initial):
        value = int.from_bytes(m.initial[off : off + size], "little")
        return Access(Reg(K.SCALAR, Scalar.const(value)), "map_value")
    return Access(Reg(K.SCALAR, Scalar.of_bytes(size)), "map_value")


def _packet(mc: MemContext, regno: int, reg: Reg, insn_off: int, size: int, write: bool) -> Access:
    if write and not mc.spec.packet_writable:
        raise Reject(f"cannot write into packet (program type {mc.spec.name})", (regno,))
    off = reg.off + insn_off
    var = reg.val
    limit = mc.platform.max_packet_off
    if var.smin < 0:
        raise Reject(
            f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check", (regno,)
        )
    if off < 0 or off + size > reg.rng or var.umax + off + size > limit:
        what = "packet" if reg.kind == K.PACKET else "packet metadata"
        raise Reject(
            f"invalid access to {what}, off={off} size={size}, R{regno}({reg.describe()}): "
            f"only {reg.rng} bytes proven below {'data_end' if reg.kind == K.PACKET else 'data'}",
            (regno,),
        )
    return Access(None if write else Reg(K.SCALAR, Scalar.of_bytes(size)), "packet")


def _ctx(mc: MemContext, regno: int, reg: Reg, insn_off: int, size: int, write: bool) -> Access:
    layout = mc.spec.ctx
    if layout.buffer:
        return _ctx_buffer(mc, regno, reg, insn_off, size, write)
    if reg.val.m != 0:
        raise Reject(f"variable ctx access var_off={tnum.format_tnum(reg.val.v, reg.val.m)} disallowed", (regno,))
    if reg.off != 0:
        raise Reject(f"dereference of modified ctx ptr R{regno} off={reg.off} disallowed", (regno,))
    off = insn_off
    rw = "write" if write else "read"
    if layout.raw:
        if off < 0 or off + size > layout.size or off % size:
            raise Reject(f"invalid bpf_context access off={off} size={size} (context is {layout.size} bytes)", (regno,))
        if write and not layout.raw_writable:
            raise Reject(f"invalid bpf_context access off={off} size={size}: the context is read-only", (regno,))
        return Access(None if write else Reg(K.SCALAR, Scalar.of_bytes(size)), "ctx")
    f = layout.field_at(off, size)
    if f is None:
        raise Reject(f"invalid bpf_context access off={off} size={size}: no {layout.name} field there", (regno,))
    sizes = f.write_sizes if write else f.read_sizes
    if not sizes:
        why = "is read-only" if write and f.readable else f"cannot be {'written' if write else 'read'}"
        raise Reject(f"invalid bpf_context access off={off} size={size}: field {f.name} {why}", (regno,))
    if size not in sizes or (off - f.offset) % size:
        allowed = "/".join(str(s) for s in sorted(sizes))
        raise Reject(
            f"invalid bpf_context access off={off} size={size}: field {f.name} allows {rw}s of {allowed} bytes",
            (regno,),
        )
    if write:
        return Access(None, "ctx", f)
    kind = f.kind
    if kind is ValueKind.SCALAR:
        return Access(Reg(K.SCALAR, Scalar.of_bytes(size)), "ctx", f)
    if kind is ValueKind.PACKET:
        return Access(Reg(K.PACKET), "ctx", f)
    if kind is ValueKind.PACKET_END:
        return Access(Reg(K.PACKET_END), "ctx", f)
    if kind is ValueKind.PACKET_META:
        return Access(Reg(K.PACKET_META), "ctx", f)
    return Access(Reg(K.OPAQUE, region=f.name), "ctx", f)


def _ctx_buffer(mc: MemContext, regno: int, reg: Reg, insn_off: int, size: int, write: bool) -> Access:
    """A context that is plain caller memory: any offset, fixed or bounded, inside its size."""
    layout = mc.spec.ctx
    if write and not layout.raw_writable:
        raise Reject(
            f"invalid bpf_context access off={reg.off + insn_off} size={size}: the context is read-only", (regno,)
        )
    try:
        _bounded(regno, reg, insn_off, size, layout.size, "context")
    except Reject as exc:
        if reg.val.m == 0:
            raise Reject(
                f"invalid bpf_context access off={reg.off + insn_off} size={size} (context is {layout.size} bytes)",
                (regno,),
            ) from None
        raise exc from None
    return Access(None if write else Reg(K.SCALAR, Scalar.of_bytes(size)), "ctx")


def _stack(
    mc: MemContext,
    state: VState,
    regno: int,
    reg: Reg,
    insn_off: int,
    size: int,
    write: bool,
    value: Reg | None,
    value_regno: int,
) -> Access:
    frame = state.frames[reg.frame]
    st = frame.stack
    limit = mc.options.stack_size
    rw = "write to" if write else "read from"
    var = reg.val
    off = reg.off + insn_off
    if var.m != 0:
        lo, hi = off + var.smin, off + var.smax + size
        if var.smin < -limit or var.smax > limit or lo < -limit or hi > 0:
            raise Reject(
                f"invalid variable-offset {rw} stack R{regno} off={off}+[{var.smin}, {var.smax}] size={size}: "
                "may leave the frame",
                (regno,),
            )
        if write:
            if value is not None and value.is_pointer:
                raise Reject(f"R{value_regno} spill of a pointer at a variable stack offset", (value_regno, regno))
            st.write_misc(lo, hi, only_initialised=True)
            return Access(None, "stack")
        if not st.initialised(lo, hi):
            raise Reject(
                f"invalid read from stack R{regno} off={off}+[{var.smin}, {var.smax}] size={size}: "
                "may read uninitialised bytes",
                (regno,),
            )
        if st.pointer_cells(lo, hi) and not mc.options.allow_ptr_leaks:
            raise Reject(f"R{regno} variable-offset stack read of a spilled pointer", (regno,))
        st.touch(lo)
        return Access(Reg(K.SCALAR, Scalar.of_bytes(size)), "stack")
    if off < -limit or off + size > 0:
        raise Reject(f"invalid {rw} stack R{regno} off={off} size={size}: out of bounds", (regno,))
    if write:
        if value is None:
            raise AssertionError("stack write without a value")
        if value.is_pointer:
            if size != 8:
                raise Reject(
                    f"invalid size of register spill: R{value_regno} is a pointer, size {size}", (value_regno,)
                )
            if off % 8:
                raise Reject(
                    f"misaligned stack access off={off} size=8 spilling pointer R{value_regno}", (value_regno,)
                )
            if value.kind == K.STACK and value.frame > reg.frame:
                raise Reject("cannot spill pointers to stack into stack frame of the caller", (value_regno, regno))
        st.write_reg(off, size, value)
        return Access(None, "stack")
    try:
        loaded = st.read(off, size)
    except StackReadError as exc:
        if str(exc) == "uninit":
            raise Reject(f"invalid read from stack R{regno} off={off} size={size}: uninitialised", (regno,)) from None
        raise Reject(
            f"invalid size of register fill: R{regno} off={off} size={size} reads part of a spilled pointer", (regno,)
        ) from None
    st.touch(off)
    return Access(loaded, "stack")


def sign_extend_load(value: Reg, size: int) -> Reg:
    """The result of a sign-extending load of ``size`` bytes giving ``value``."""
    return Reg(K.SCALAR, sc.sign_extend(value.val, 8 * size, 64))
