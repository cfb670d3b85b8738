"""Abstract machine state: registers, stack frames and the state of one explored path.

A register (:class:`Reg`) has a *kind* (uninitialised, scalar, or one of the pointer kinds in
:class:`K`) and, for pointers, an offset made of a fixed part (``off``) and a variable part
(``val``, a :class:`~pybpf.verifier.scalar.Scalar`; for scalars ``val`` is the value itself).
``id`` ties together registers that hold the same value: copies of a scalar (so a bound learned
on one applies to all), copies of a maybe-NULL pointer (so one NULL test refines all) and packet
pointers with the same variable part (so one bounds test against ``data_end`` covers all).
``ref`` names an acquired object (a reserved ring-buffer record) that must be released.

Registers are immutable: changing one means building a new object, so copying a state at a
branch copies lists of references, not registers.

The stack of each frame (:class:`Stack`) keeps one type byte per stack byte (uninitialised,
unknown data, zero, or part of a spilled register) and the spilled registers themselves
(*cells*, keyed by their start offset).  Storing a register of any size keeps its abstract value,
so a loop counter spilled with ``*(u32 *)(r10 - 4) = w1`` comes back with its bounds; storing
over part of a spilled pointer turns the rest of it into unknown data.
"""

from __future__ import annotations

from enum import IntEnum

from pybpf.verifier import scalar as sc
from pybpf.verifier.mapinfo import MapInfo
from pybpf.verifier.scalar import Scalar

STACK_SIZE = 512
NREGS = 11


class K(IntEnum):
    """Register kinds."""

    NOT_INIT = 0
    SCALAR = 1
    CTX = 2
    STACK = 3
    PACKET = 4
    PACKET_END = 5
    PACKET_META = 6
    MAP_PTR = 7
    MAP_PTR_OR_NULL = 8
    MAP_VALUE = 9
    MAP_VALUE_OR_NULL = 10
    MAP_KEY = 11
    RINGBUF_MEM = 12
    RINGBUF_MEM_OR_NULL = 13
    REGION = 14
    REGION_OR_NULL = 15
    FUNC = 16
    OPAQUE = 17  # a pointer the program may only pass around or compare (e.g. __sk_buff.sk)


KIND_NAMES = {
    K.NOT_INIT: "?",
    K.SCALAR: "scalar",
    K.CTX: "ctx",
    K.STACK: "fp",
    K.PACKET: "pkt",
    K.PACKET_END: "pkt_end",
    K.PACKET_META: "pkt_meta",
    K.MAP_PTR: "map_ptr",
    K.MAP_PTR_OR_NULL: "map_ptr_or_null",
    K.MAP_VALUE: "map_value",
    K.MAP_VALUE_OR_NULL: "map_value_or_null",
    K.MAP_KEY: "map_key",
    K.RINGBUF_MEM: "ringbuf_mem",
    K.RINGBUF_MEM_OR_NULL: "ringbuf_mem_or_null",
    K.REGION: "region",
    K.REGION_OR_NULL: "region_or_null",
    K.FUNC: "func",
    K.OPAQUE: "ptr",
}

OR_NULL = {
    K.MAP_PTR_OR_NULL: K.MAP_PTR,
    K.MAP_VALUE_OR_NULL: K.MAP_VALUE,
    K.RINGBUF_MEM_OR_NULL: K.RINGBUF_MEM,
    K.REGION_OR_NULL: K.REGION,
}
# Kinds a program may dereference (after the kind-specific bounds checks).
DEREFERENCEABLE = frozenset({K.CTX, K.STACK, K.PACKET, K.PACKET_META, K.MAP_VALUE, K.MAP_KEY, K.RINGBUF_MEM, K.REGION})
# Kinds that accept pointer arithmetic with a scalar.
ARITHMETIC_OK = DEREFERENCEABLE


class Reg:
    """One register's abstract value (immutable)."""

    __slots__ = ("frame", "id", "kind", "map", "off", "ref", "region", "rng", "size", "val")

    kind: K
    val: Scalar
    off: int
    id: int
    ref: int
    rng: int
    map: MapInfo | None
    frame: int
    size: int
    region: str

    def __init__(
        self,
        kind: K,
        val: Scalar = sc.ZERO,
        off: int = 0,
        id: int = 0,
        ref: int = 0,
        rng: int = 0,
        map: MapInfo | None = None,
        frame: int = 0,
        size: int = 0,
        region: str = "",
    ) -> None:
        self.kind = kind
        self.val = val
        self.off = off
        self.id = id
        self.ref = ref
        self.rng = rng
        self.map = map
        self.frame = frame
        self.size = size
        self.region = region

    def copy(self, **changes: object) -> Reg:
        r = Reg(
            self.kind, self.val, self.off, self.id, self.ref, self.rng, self.map, self.frame, self.size, self.region
        )
        for name, value in changes.items():
            setattr(r, name, value)
        return r

    @staticmethod
    def scalar(value: Scalar, id: int = 0) -> Reg:
        return Reg(K.SCALAR, value, id=id)

    @staticmethod
    def const(value: int) -> Reg:
        return Reg(K.SCALAR, Scalar.const(value))

    @property
    def is_scalar(self) -> bool:
        return self.kind == K.SCALAR

    @property
    def is_pointer(self) -> bool:
        return self.kind > K.SCALAR

    @property
    def is_null_const(self) -> bool:
        return self.kind == K.SCALAR and self.val.m == 0 and self.val.v == 0

    @property
    def fixed(self) -> bool:
        """True when a pointer's variable offset is known (it is then folded into ``off``)."""
        return self.val.m == 0

    def describe(self) -> str:
        """Kernel-like notation, e.g. ``map_value(off=0,ks=4,vs=8)`` or ``scalar(umax=255)``."""
        k = self.kind
        if k == K.NOT_INIT:
            return "?"
        if k == K.SCALAR:
            body = self.val.describe()
            if self.val.m == 0:
                return body if not self.id else f"{body}(id={self.id})"
            extra = f"id={self.id}," if self.id else ""
            return f"scalar({extra}{body})"
        if k == K.STACK and self.val.m == 0 and self.val.v == 0:
            base = f"fp{self.off}" if self.off else "fp0"
            return base if not self.frame else f"{base}(frame={self.frame})"
        parts: list[str] = []
        if self.id:
            parts.append(f"id={self.id}")
        if self.ref:
            parts.append(f"ref_obj_id={self.ref}")
        if k == K.FUNC:
            return f"func(pc={self.off})"
        if k not in (K.PACKET_END, K.MAP_PTR, K.MAP_PTR_OR_NULL, K.OPAQUE):
            parts.append(f"off={self.off}")
        if k in (K.PACKET, K.PACKET_META):
            parts.append(f"r={self.rng}")
        if k == K.STACK and self.frame:
            parts.append(f"frame={self.frame}")
        if self.map is not None:
            parts.append(self.map.short())
        if k in (K.RINGBUF_MEM, K.RINGBUF_MEM_OR_NULL, K.REGION, K.REGION_OR_NULL):
            parts.append(f"sz={self.size}")
        if self.region and k != K.OPAQUE:
            parts.append(self.region)
        if self.val.m != 0:
            parts.append(self.val.describe())
        return f"{KIND_NAMES[k]}({','.join(parts)})"

    def __repr__(self) -> str:
        return self.describe()


NOT_INIT = Reg(K.NOT_INIT)

# Stack byte types.
INVALID, MISC, ZERO, SPILL = 0, 1, 2, 3
_TYPE_CHARS = "?mzs"


class StackReadError(Exception):
    """Raised by :meth:`Stack.read`; the caller turns it into a verifier rejection."""


class Stack:
    """One frame's 512 bytes: a type per byte plus the spilled registers."""

    __slots__ = ("cells", "depth", "types")

    def __init__(self, types: bytearray | None = None, cells: dict[int, tuple[int, Reg]] | None = None) -> None:
        self.types = types if types is not None else bytearray(STACK_SIZE)
        self.cells: dict[int, tuple[int, Reg]] = cells if cells is not None else {}
        self.depth = 0

    def copy(self) -> Stack:
        s = Stack(bytearray(self.types), dict(self.cells))
        s.depth = self.depth
        return s

    # Offsets are negative (relative to the frame pointer); index = STACK_SIZE + offset.
    def touch(self, lo: int) -> None:
        if -lo > self.depth:
            self.depth = -lo

    def _destroy(self, lo: int, hi: int) -> None:
        """Drop every cell overlapping ``[lo, hi)``; its bytes outside the range become MISC."""
        if not self.cells:
            return
        for start in [s for s, (size, _) in self.cells.items() if s < hi and s + size > lo]:
            size, _ = self.cells.pop(start)
            for off in range(start, start + size):
                if off < lo or off >= hi:
                    self.types[STACK_SIZE + off] = MISC

    def write_reg(self, off: int, size: int, reg: Reg) -> None:
        """Spill ``reg`` (a pointer needs size 8; a scalar is truncated to ``size`` bytes)."""
        self._destroy(off, off + size)
        if reg.kind == K.SCALAR:
            value = sc.truncate(reg.val, size)
            keep_id = reg.id if value is reg.val else 0
            reg = Reg(K.SCALAR, value, id=keep_id)
        self.cells[off] = (size, reg)
        base = STACK_SIZE + off
        self.types[base : base + size] = bytes([SPILL]) * size
        self.touch(off)

    def write_misc(self, lo: int, hi: int, *, only_initialised: bool = False) -> None:
        """Bytes ``[lo, hi)`` now hold unknown data (helper output, variable-offset stores)."""
        self._destroy(lo, hi)
        for off in range(lo, hi):
            i = STACK_SIZE + off
            if only_initialised and self.types[i] == INVALID:
                continue  # maybe written, maybe not: still unreadable
            self.types[i] = MISC
        self.touch(lo)

    def byte_known(self, off: int) -> int | None:
        """The known value of one byte, or None."""
        t = self.types[STACK_SIZE + off]
        if t == ZERO:
            return 0
        if t == SPILL:
            for start, (size, reg) in self.cells.items():
                if start <= off < start + size:
                    if reg.kind == K.SCALAR and reg.val.m == 0:
                        return (reg.val.v >> (8 * (off - start))) & 0xFF
                    return None
        return None

    def initialised(self, lo: int, hi: int) -> bool:
        return INVALID not in self.types[STACK_SIZE + lo : STACK_SIZE + hi]

    def read(self, off: int, size: int) -> Reg:
        """The value a load of ``size`` bytes at ``off`` gives (range already checked)."""
        base = STACK_SIZE + off
        kinds = self.types[base : base + size]
        if INVALID in kinds:
            raise StackReadError("uninit")
        if SPILL in kinds:
            cell = self.cells.get(off)
            if cell is not None and cell[0] == size:
                return cell[1]
            for start, (csize, reg) in self.cells.items():
                if start < off + size and start + csize > off and reg.kind != K.SCALAR:
                    raise StackReadError("partial")
            if cell is not None and cell[0] > size:
                return Reg(K.SCALAR, sc.truncate(cell[1].val, size))
        if all(k == ZERO for k in kinds):
            return Reg(K.SCALAR, sc.ZERO)
        # Byte by byte: known bytes are exact, others unknown.
        v = m = 0
        for k in range(size):
            b = self.byte_known(off + k)
            if b is None:
                m |= 0xFF << (8 * k)
            else:
                v |= b << (8 * k)
        if m == 0:
            return Reg(K.SCALAR, Scalar.const(v))
        top = (1 << (8 * size)) - 1
        value = (
            sc.from_view(64, (v, m, v, v | m, 0, top))
            if size < 8
            else sc.from_view(64, (v, m, 0, sc.M64, sc.S64_MIN, sc.S64_MAX))
        )
        assert value is not None
        return Reg(K.SCALAR, value)

    def pointer_cells(self, lo: int, hi: int) -> list[Reg]:
        return [reg for start, (size, reg) in self.cells.items() if start < hi and start + size > lo and reg.is_pointer]

    def describe(self) -> str:
        """``fp-8=mmmmmmmm fp-16=map_value(...)``, lowest offsets last."""
        parts: list[str] = []
        for slot in range(-8, -STACK_SIZE - 1, -8):
            base = STACK_SIZE + slot
            kinds = self.types[base : base + 8]
            if not any(kinds):
                continue
            cell = self.cells.get(slot)
            if cell is not None and cell[0] == 8:
                parts.append(f"fp{slot}={cell[1].describe()}")
                continue
            text = "".join(_TYPE_CHARS[k] for k in reversed(kinds))
            spilled = [
                f"{reg.describe()}@{start}"
                for start, (size, reg) in sorted(self.cells.items())
                if slot <= start < slot + 8
            ]
            parts.append(f"fp{slot}={text}" + (f"({' '.join(spilled)})" if spilled else ""))
        return " ".join(parts)


class Frame:
    """One call frame: registers, stack, and where it was entered from."""

    __slots__ = ("callback", "callsite", "regs", "stack", "subprog")

    def __init__(
        self, regs: list[Reg], stack: Stack, callsite: int, subprog: int, callback: object | None = None
    ) -> None:
        self.regs = regs
        self.stack = stack
        self.callsite = callsite  # index of the call instruction in the caller (-1: entry frame)
        self.subprog = subprog  # index of the function's first instruction
        self.callback = callback  # CallbackSite when this frame runs a helper's callback

    def copy(self) -> Frame:
        return Frame(list(self.regs), self.stack.copy(), self.callsite, self.subprog, self.callback)


class VState:
    """The abstract state of one explored path."""

    __slots__ = ("frames", "gen", "parent", "refs")

    def __init__(self, frames: list[Frame], refs: dict[int, int] | None = None, parent: object | None = None) -> None:
        self.frames = frames
        self.refs: dict[int, int] = refs if refs is not None else {}  # acquired ref id -> acquiring insn
        self.parent = parent  # the last checkpoint on this path (see analyzer)
        self.gen = 0  # callback iteration this path is in (see analyzer: callback loops)

    def copy(self) -> VState:
        s = VState([f.copy() for f in self.frames], dict(self.refs), self.parent)
        s.gen = self.gen
        return s

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    @property
    def regs(self) -> list[Reg]:
        return self.frames[-1].regs

    def context_key(self) -> tuple[int, ...]:
        """Call sites of every frame: states are only comparable within the same call chain."""
        return tuple(f.callsite for f in self.frames)

    def all_regs(self) -> list[tuple[int, int, Reg]]:
        """(frame, register number, value) for every register of every frame."""
        return [(fi, ri, r) for fi, f in enumerate(self.frames) for ri, r in enumerate(f.regs)]

    def replace_everywhere(self, match: object, make: object) -> None:
        """Apply ``make(reg)`` to every register and spilled register for which ``match(reg)``."""
        assert callable(match) and callable(make)
        for f in self.frames:
            regs = f.regs
            for i, r in enumerate(regs):
                if r.kind != K.NOT_INIT and match(r):
                    regs[i] = make(r)
            cells = f.stack.cells
            if cells:
                for start, (size, r) in list(cells.items()):
                    if match(r):
                        new = make(r)
                        if new.kind == K.NOT_INIT or (new.kind == K.SCALAR and r.kind != K.SCALAR and size != 8):
                            f.stack.write_misc(start, start + size)
                        else:
                            cells[start] = (size, new)

    def describe_regs(self, which: list[int] | None = None) -> str:
        regs = self.regs
        nums = which if which is not None else [i for i, r in enumerate(regs) if r.kind != K.NOT_INIT]
        return " ".join(f"R{i}={regs[i].describe()}" for i in nums)


__all__ = [
    "INVALID",
    "MISC",
    "NOT_INIT",
    "SPILL",
    "STACK_SIZE",
    "ZERO",
    "Frame",
    "K",
    "Reg",
    "Stack",
    "StackReadError",
    "VState",
]
