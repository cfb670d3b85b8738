"""The memory a packet program sees: its context struct and its packet, at real addresses.

A packet program gets ``r1`` = the address of a context (``struct xdp_md``, ``struct __sk_buff``)
whose pointer fields hold packet addresses.  This module builds both halves so that they follow
:mod:`pybpf.progtypes.platform` exactly:

* :class:`ContextBuffer` is one region of :attr:`ContextLayout.total_size` bytes: the
  kernel-visible struct followed by the shadow area.  Writing a pointer field stores the low 32
  bits in the field and the full 64-bit address in its shadow slot (the *shadow pointer
  contract*); a verified program's rewritten loads read the shadow.
* :class:`PacketBuffer` is one region holding headroom + packet + tailroom, allocated once and
  reused for every packet, so helpers such as ``bpf_xdp_adjust_head`` move the packet's bounds
  inside it the way the kernel moves them inside its page.
* :class:`ShadowMemory` is the memory for *unverified* runs: a :class:`~pybpf.vm.memory.Memory`
  whose 4-byte loads of a pointer field return the shadow's 64-bit address, which is what the
  verifier's rewrite would have made the program do.  (A Region subclass cannot do this: the
  interpreter's fast path reads region buffers directly.)
* :class:`PacketWindow` is what the interpreter's ``packet`` attribute points at for legacy
  ``LD_ABS``/``LD_IND`` loads: the current packet bytes at their real address.

:class:`PacketState` ties them together for one program type; :mod:`~pybpf.progtypes.xdp` and
:mod:`~pybpf.progtypes.skb` subclass it with their context fields.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from typing import cast

from pybpf.progtypes.devmap import RedirectTarget
from pybpf.progtypes.platform import ContextLayout, CtxField
from pybpf.vm.memory import Memory, Region

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_SIZES = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: _U32, 8: _U64}


class ContextBuffer:
    """A context struct plus its shadow area, in one region.

    ``guard`` (unverified runs) limits the program-visible part to the kernel-visible struct, so
    only :class:`ShadowMemory` can read the shadows; verified programs read them through their
    rewritten loads, so there the whole buffer is visible.
    """

    def __init__(self, layout: ContextLayout, *, guard: bool) -> None:
        self.layout = layout
        self.region = Region(f"ctx:{layout.name}", layout.total_size, kind="context")
        if guard:
            self.region.hi = layout.size
        self.buf = self.region.buf
        self.base = self.region.base
        self._fields: dict[str, CtxField] = {f.name: f for f in layout.fields}

    def field(self, name: str) -> CtxField:
        try:
            return self._fields[name]
        except KeyError:
            raise KeyError(f"{self.layout.name} has no field {name!r}") from None

    def clear(self) -> None:
        self.buf[:] = bytes(len(self.buf))

    def get(self, name: str) -> int:
        f = self.field(name)
        return int(_SIZES[f.size].unpack_from(self.buf, f.offset)[0])

    def set(self, name: str, value: int) -> None:
        f = self.field(name)
        _SIZES[f.size].pack_into(self.buf, f.offset, value & ((1 << (8 * f.size)) - 1))

    def set_pointer(self, name: str, address: int) -> None:
        """Store ``address`` the way the shadow contract says: low half in the field, all of it in
        the shadow slot."""
        f = self.field(name)
        _U32.pack_into(self.buf, f.offset, address & 0xFFFF_FFFF)
        if f.shadow_offset is not None:
            _U64.pack_into(self.buf, f.shadow_offset, address)

    def pointer_writer(self, *names: str) -> Callable[..., None]:
        """A fast ``set_pointer`` for several fields at once (called for every packet):
        ``writer(address1, address2, ...)`` in the order of ``names``."""
        slots = []
        for name in names:
            f = self.field(name)
            slots.append((f.offset, f.shadow_offset if f.shadow_offset is not None else -1))
        buf = self.buf
        u32, u64 = _U32.pack_into, _U64.pack_into

        def write(*addresses: int) -> None:
            for (offset, shadow), address in zip(slots, addresses, strict=True):
                u32(buf, offset, address & 0xFFFF_FFFF)
                if shadow >= 0:
                    u64(buf, shadow, address)

        return write

    def kernel_bytes(self) -> bytes:
        """The kernel-visible struct (what ``ctx_out`` returns), without the shadow area."""
        return bytes(self.buf[: self.layout.size])

    def load_bytes(self, data: bytes) -> None:
        """Copy a caller-supplied struct (``ctx_in``) into the kernel-visible part."""
        self.buf[: len(data)] = data


class PacketBuffer:
    """Headroom + packet + tailroom in one region; ``meta <= data <= end`` are offsets into it.

    ``guard`` (unverified runs) keeps the region's live part equal to ``[meta, end)``, so an
    unverified program that strays outside the packet faults instead of reading the headroom.
    Verified programs are proven to stay inside; there the whole buffer stays live, which also
    keeps the JIT's region table valid while the bounds move.
    """

    def __init__(self, name: str, capacity: int, *, guard: bool) -> None:
        self.region = Region(name, capacity, kind="packet")
        self.buf = self.region.buf
        self.base = self.region.base
        self.capacity = capacity
        self.guard = guard
        self.meta = self.data = self.end = 0
        # [_lo, _hi) may hold bytes of earlier packets or helper writes; everything else is zero
        self._lo = self._hi = 0
        self._zeros = bytes(capacity)

    def load(self, payload: bytes, offset: int, meta_len: int = 0) -> None:
        """Place ``payload`` at ``offset``, its first ``meta_len`` bytes being metadata, and zero
        everything an earlier packet may have left (the kernel hands out zeroed buffers)."""
        end = offset + len(payload)
        if end > self.capacity:
            raise ValueError(f"packet of {len(payload)} bytes does not fit a {self.capacity}-byte buffer at {offset}")
        buf, lo, hi = self.buf, self._lo, self._hi
        if lo < offset:
            buf[lo:offset] = self._zeros[: offset - lo]
        if hi > end:
            buf[end:hi] = self._zeros[: hi - end]
        buf[offset:end] = payload
        self._lo, self._hi = offset, end
        self.set_bounds(offset, offset + meta_len, end)

    def set_bounds(self, meta: int, data: int, end: int) -> None:
        if not 0 <= meta <= data <= end <= self.capacity:
            raise ValueError(f"bad packet bounds meta={meta} data={data} end={end}")
        self.meta, self.data, self.end = meta, data, end
        if meta < self._lo:
            self._lo = meta
        if end > self._hi:
            self._hi = end
        if self.guard:
            self.region.lo, self.region.hi = meta, end

    def forget(self) -> None:
        """Forget what the buffer holds (native code wrote frames into it, as the capture runner's
        batches do): the next :meth:`load` zeroes all of it, as a fresh kernel buffer would be."""
        self._lo, self._hi = 0, self.capacity

    def mark_dirty(self, upto: int) -> None:
        """Helpers that write outside ``[meta, end)`` (growing the tail) say how far they wrote."""
        self._hi = max(self._hi, min(upto, self.capacity))

    @property
    def length(self) -> int:
        return self.end - self.data

    def packet(self) -> bytes:
        return bytes(self.buf[self.data : self.end])

    def metadata(self) -> bytes:
        return bytes(self.buf[self.meta : self.data])

    def replace(self, new: bytes) -> None:
        """Make the packet ``new`` (same start), as skb helpers that resize the packet do."""
        end = self.data + len(new)
        if end > self.capacity:
            raise ValueError("packet grew past its buffer")
        self.buf[self.data : end] = new
        stale = max(self.end, end)
        if stale > end:
            self.buf[end:stale] = self._zeros[: stale - end]
        self.set_bounds(self.meta, self.data, end)


class PacketWindow:
    """The current packet as the interpreter's legacy packet loads see it (``buf``/``size`` from
    offset 0, ``base`` its real address for the JIT)."""

    __slots__ = ("base", "buf", "size")

    def __init__(self, packet: PacketBuffer, start: int, end: int) -> None:
        self.base = packet.base + start
        self.size = end - start
        self.buf = memoryview(packet.buf)[start:end]

    def as_region(self) -> Region:
        # The engines read only .buf, .size and .base of their ``packet``; a real Region would copy.
        return cast(Region, self)


class ShadowMemory(Memory):
    """Memory for unverified packet programs: 4-byte loads of a context pointer field answer with
    the 64-bit address from its shadow slot, the rewrite a verifier would have made."""

    def __init__(self, regions: Iterable[Region], ctx: ContextBuffer) -> None:
        super().__init__(list(regions))
        self._ctx_base = ctx.base
        self._ctx_end = ctx.base + ctx.layout.size
        self._ctx_buf = ctx.buf
        self._slots = {f.offset: f.shadow_offset for f in ctx.layout.pointer_fields() if f.shadow_offset is not None}

    def _shadow(self, address: int) -> int | None:
        if self._ctx_base <= address < self._ctx_end:
            slot = self._slots.get(address - self._ctx_base)
            if slot is not None:
                return int(_U64.unpack_from(self._ctx_buf, slot)[0])
        return None

    def ld4(self, address: int, pc: int) -> int:
        value = self._shadow(address)
        return super().ld4(address, pc) if value is None else value

    def load(self, address: int, size: int, pc: int = -1) -> int:
        if size == 4:
            value = self._shadow(address)
            if value is not None:
                return value
        return super().load(address, size, pc)


class PacketState:
    """The per-run state of one program type: context, packet, and what the program asked for.

    Subclasses fill the context from the packet (:meth:`refresh`) and know their return codes.
    Helpers (:mod:`pybpf.progtypes.packet_helpers`) change the packet through this object and
    call :meth:`refresh` so the context's pointers, shadows and lengths always match the packet.
    """

    kind = "packet"
    #: the legacy packet loads see ``[data, end)`` (skb types) or nothing (XDP)
    ld_abs = False

    def __init__(self, layout: ContextLayout, capacity: int, *, guard: bool) -> None:
        self.ctx = ContextBuffer(layout, guard=guard)
        self.packet = PacketBuffer(f"packet:{layout.name}", capacity, guard=guard)
        self.redirect: RedirectTarget | None = None
        self.window: PacketWindow | None = None

    @property
    def regions(self) -> tuple[Region, Region]:
        return self.ctx.region, self.packet.region

    def refresh(self) -> None:
        """Bring the context in line with the packet bounds (pointers, shadows, lengths)."""
        raise NotImplementedError

    def ld_abs_window(self) -> PacketWindow | None:
        """The packet for ``LD_ABS``/``LD_IND``, rebuilt after every change of bounds."""
        if not self.ld_abs:
            return None
        window = self.window
        p = self.packet
        if window is None or window.base != p.base + p.data or window.size != p.end - p.data:
            window = self.window = PacketWindow(p, p.data, p.end)
        return window

    def check_ctx(self, address: int) -> bool:
        """Whether a helper's ctx argument is this context (verified programs always pass it)."""
        return address == self.ctx.base


__all__ = ["ContextBuffer", "PacketBuffer", "PacketState", "PacketWindow", "ShadowMemory"]
