"""Packet helpers for XDP and skb programs, with the kernel's limits and error codes.

Each helper is ``func(state, env, r1, ..., r5) -> int`` where ``state`` is the program type's
:class:`~pybpf.progtypes.context.PacketState` (bound with :func:`functools.partial` by
:func:`bind_packet_helpers`, so one registry serves one runtime and no global "current packet"
exists); ``env`` is the engine, as for every other helper.  Helpers that move packet bounds call
``state.refresh()`` so the context pointers and their shadows follow (the verifier has already
made every packet pointer the program held unusable).

Semantics follow ``net/core/filter.c`` (Linux 6.x) on a little-endian host; checksum arguments
and fields are handled as the bytes are stored, which is what the kernel's ``__sum16`` /
``__be32`` arithmetic amounts to.  Where user space has no equivalent:

* ``redirect`` / ``redirect_map`` record a :class:`~pybpf.progtypes.devmap.RedirectTarget` on the
  state instead of queueing the frame;
* ``csum_diff`` (28) is :func:`pybpf.helpers.kernel.csum_diff` folded to 16 bits, as Linux >= 6.13
  returns it on every architecture (``csum_from32to16``); the generic helper keeps the 32-bit sum
  older x86 kernels returned.  Both fold to the same checksum;
* ``get_hash_recalc`` computes a deterministic flow hash (the kernel's uses a boot-time random
  key, so no user-space value can match it);
* ``skb_adjust_room`` moves bytes (insert zeros / remove bytes at the MAC or network offset)
  and applies the kernel's argument checks, but keeps no GSO or encapsulation metadata.
"""

from __future__ import annotations

import errno
import functools
import struct
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pybpf.errors import HelperError
from pybpf.helpers.kernel import csum_diff as _csum_diff32
from pybpf.helpers.maps import tail_call as _tail_call
from pybpf.helpers.registry import Helper, HelperRegistry
from pybpf.maps import map_by_handle
from pybpf.progtypes.devmap import BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS, RedirectMap, RedirectTarget

if TYPE_CHECKING:
    from pybpf.progtypes.context import PacketState
    from pybpf.progtypes.skb import SkbState
    from pybpf.progtypes.xdp import XdpState

ENOTSUPP = 524  # kernel-internal "operation not supported", what several skb helpers return
INT_MAX = (1 << 31) - 1
ETH_HLEN = 14
#: ``xdp_metalen_invalid``: a multiple of 4 up to ``type_max(skb_shared_info.meta_len)`` (Linux >= 6.15;
#: 32 before).  The frame itself caps metadata at 216 bytes (256 of headroom - 40 for xdp_frame).
XDP_METADATA_MAX = 252

XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
TC_ACT_SHOT = 2
TC_ACT_REDIRECT = 7

BPF_F_RECOMPUTE_CSUM = 1 << 0
BPF_F_INVALIDATE_HASH = 1 << 1
BPF_F_HDR_FIELD_MASK = 0xF
BPF_F_PSEUDO_HDR = 1 << 4
BPF_F_MARK_MANGLED_0 = 1 << 5
BPF_F_MARK_ENFORCE = 1 << 6
BPF_F_IPV6 = 1 << 7
BPF_F_INGRESS = 1 << 0
CSUM_MANGLED_0 = 0xFFFF

BPF_ADJ_ROOM_NET = 0
BPF_ADJ_ROOM_MAC = 1
BPF_F_ADJ_ROOM_FIXED_GSO = 1 << 0
BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 = 1 << 1
BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 = 1 << 2
BPF_F_ADJ_ROOM_ENCAP_L4_GRE = 1 << 3
BPF_F_ADJ_ROOM_ENCAP_L4_UDP = 1 << 4
BPF_F_ADJ_ROOM_NO_CSUM_RESET = 1 << 5
BPF_F_ADJ_ROOM_ENCAP_L2_ETH = 1 << 6
BPF_F_ADJ_ROOM_DECAP_L3_IPV4 = 1 << 7
BPF_F_ADJ_ROOM_DECAP_L3_IPV6 = 1 << 8
BPF_F_ADJ_ROOM_MASK = 0x1DF | (0xFF << 56)  # FIXED_GSO, ENCAP_*, DECAP_*, ENCAP_L2(len)

_U16 = struct.Struct("<H")


def s32(value: int) -> int:
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value & 0x8000_0000 else value


def _ctx(state: PacketState, env: Any, address: int) -> None:
    if not state.check_ctx(address):
        raise HelperError(env.pc, f"r1 = 0x{address:x} is not the program's context")


# -- checksum arithmetic (include/net/checksum.h, on the stored 16/32-bit words) ----------------------
def csum_add(a: int, b: int) -> int:
    total = (a & 0xFFFF_FFFF) + (b & 0xFFFF_FFFF)
    return (total + (total >> 32)) & 0xFFFF_FFFF


def csum_sub(a: int, b: int) -> int:
    return csum_add(a, ~b & 0xFFFF_FFFF)


def csum_fold(csum: int) -> int:
    """32-bit partial sum -> 16-bit one's complement checksum (already inverted)."""
    csum &= 0xFFFF_FFFF
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = (csum & 0xFFFF) + (csum >> 16)
    return ~csum & 0xFFFF


def csum_replace4(check: int, old: int, new: int) -> int:
    """``csum_replace4``: a 32-bit field of the covered data changed from ``old`` to ``new``."""
    return csum_fold(csum_add(csum_sub(~check & 0xFFFF_FFFF, old), new))


def _csum16_add(csum: int, addend: int) -> int:
    res = (csum + addend) & 0xFFFF
    return res + (res < (addend & 0xFFFF))


def csum_replace2(check: int, old: int, new: int) -> int:
    """``csum_replace2``: a 16-bit field changed (RFC 1624 eqn. 3 in 16-bit arithmetic)."""
    return ~_csum16_add(_csum16_add(~check & 0xFFFF, ~old & 0xFFFF), new & 0xFFFF) & 0xFFFF


def csum_replace_by_diff(check: int, diff: int) -> int:
    """``csum_replace_by_diff``: apply a ``bpf_csum_diff`` result."""
    return csum_fold(csum_add(diff, ~check & 0xFFFF_FFFF))


def csum_from32to16(value: int) -> int:
    value &= 0xFFFF_FFFF
    value = (value & 0xFFFF) + (value >> 16)
    return (value & 0xFFFF) + (value >> 16)


def csum_diff(state: PacketState, env: Any, frm: int, from_size: int, to: int, to_size: int, seed: int) -> int:
    """``bpf_csum_diff`` with the 16-bit folded result of Linux >= 6.13 (28)."""
    value = _csum_diff32(env, frm, from_size, to, to_size, seed)
    return value if value < 0 else csum_from32to16(value)


# -- XDP ------------------------------------------------------------------------------------------
def xdp_adjust_head(state: XdpState, env: Any, ctx: int, delta: int, *_: int) -> int:
    """Move ``data`` by ``delta``; metadata moves with it (44)."""
    _ctx(state, env, ctx)
    p = state.packet
    offset = s32(delta)
    metalen = p.data - p.meta
    data = p.data + offset
    if data < state.frame_overhead + metalen or data > p.end - ETH_HLEN:
        return -errno.EINVAL
    if metalen:
        p.buf[p.meta + offset : p.meta + offset + metalen] = p.buf[p.meta : p.data]
    p.set_bounds(p.meta + offset, data, p.end)
    state.refresh()
    return 0


def xdp_adjust_meta(state: XdpState, env: Any, ctx: int, delta: int, *_: int) -> int:
    """Move ``data_meta`` by ``delta``: -EINVAL out of the frame, -EACCES for a bad length (54)."""
    _ctx(state, env, ctx)
    p = state.packet
    meta = p.meta + s32(delta)
    if meta < state.frame_overhead or meta > p.data:
        return -errno.EINVAL
    metalen = p.data - meta
    if metalen & 3 or metalen > XDP_METADATA_MAX:
        return -errno.EACCES
    p.set_bounds(meta, p.data, p.end)
    state.refresh()
    return 0


def xdp_adjust_tail(state: XdpState, env: Any, ctx: int, delta: int, *_: int) -> int:
    """Move ``data_end`` by ``delta``; growth is zero-filled and limited by the tailroom (65)."""
    _ctx(state, env, ctx)
    offset = s32(delta)
    if state.frags:
        return _xdp_frags_adjust_tail(state, offset)
    p = state.packet
    end = p.end + offset
    if end > state.hard_end or end < p.data + ETH_HLEN:
        return -errno.EINVAL
    if offset > 0:
        p.buf[p.end : end] = bytes(offset)
        p.mark_dirty(end)
    p.set_bounds(p.meta, p.data, end)
    state.refresh()
    return 0


def _xdp_frags_adjust_tail(state: XdpState, offset: int) -> int:
    """Multi-buffer frames change their last fragments (``bpf_xdp_frags_{shrink,increase}_tail``)."""
    frags = state.frags
    if offset > 0:
        last = frags[-1]
        if offset > state.frag_size - len(last):
            return -errno.EINVAL
        last.extend(bytes(offset))
        return 0
    shrink = -offset
    p = state.packet
    if shrink > p.end - p.data + sum(map(len, frags)) - ETH_HLEN:
        return -errno.EINVAL
    while frags and shrink:
        cut = min(shrink, len(frags[-1]))
        del frags[-1][len(frags[-1]) - cut :]
        shrink -= cut
        if not frags[-1]:
            frags.pop()
    if not frags and shrink:
        p.set_bounds(p.meta, p.data, p.end - shrink)
        state.refresh()
    return 0


# -- redirects ------------------------------------------------------------------------------------
def redirect(state: PacketState, env: Any, ifindex: int, flags: int, *_: int) -> int:
    """Send the packet to ``ifindex``: XDP_REDIRECT / TC_ACT_REDIRECT, recorded on the state (23)."""
    ifindex &= 0xFFFF_FFFF
    if state.kind == "xdp":
        if flags:
            return XDP_ABORTED
        state.redirect = RedirectTarget("ifindex", ifindex, ifindex)
        return XDP_REDIRECT
    if flags & ~BPF_F_INGRESS:
        return TC_ACT_SHOT
    state.redirect = RedirectTarget("ifindex", ifindex, ifindex, flags=flags)
    return TC_ACT_REDIRECT


def redirect_map(state: PacketState, env: Any, handle: int, key: int, flags: int, *_: int) -> int:
    """Redirect through a DEVMAP/CPUMAP/XSKMAP slot; on a miss, the low two bits of ``flags`` (51)."""
    target_map = map_by_handle(handle)
    if not isinstance(target_map, RedirectMap):
        raise HelperError(env.pc, f"redirect_map needs a DEVMAP, DEVMAP_HASH, CPUMAP or XSKMAP, got {target_map!r}")
    action_mask = XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX
    if flags & ~(action_mask | target_map.redirect_flags):
        return XDP_ABORTED
    index = key & 0xFFFF_FFFF
    value = target_map.target(index)
    if value is None and not flags & BPF_F_BROADCAST:
        state.redirect = None  # the last lookup decides, as in the kernel
        return flags & action_mask
    broadcast: tuple[int, ...] = ()
    if flags & BPF_F_BROADCAST:
        ingress = getattr(state, "ingress_ifindex", 0)
        broadcast = tuple(
            v for _, v in target_map.targets() if not (flags & BPF_F_EXCLUDE_INGRESS and v == ingress)
        )
    state.redirect = RedirectTarget(
        target_map.kind, index, value or 0, target_map.name, flags & ~action_mask, broadcast
    )
    return XDP_REDIRECT if state.kind == "xdp" else TC_ACT_REDIRECT


# -- skb: bytes ----------------------------------------------------------------------------------
def skb_load_bytes(state: SkbState, env: Any, ctx: int, offset: int, to: int, length: int, *_: int) -> int:
    """Copy packet bytes from ``data + offset``; -EFAULT (destination zeroed) out of range (26)."""
    _ctx(state, env, ctx)
    offset &= 0xFFFF_FFFF
    length &= 0xFFFF_FFFF
    p = state.packet
    if offset > INT_MAX or offset + length > p.length:
        env.memory.write(to, bytes(length), env.pc)
        return -errno.EFAULT
    env.memory.write(to, bytes(p.buf[p.data + offset : p.data + offset + length]), env.pc)
    return 0


def skb_store_bytes(state: SkbState, env: Any, ctx: int, offset: int, frm: int, length: int, flags: int) -> int:
    """Copy ``length`` bytes into the packet at ``data + offset`` (9)."""
    _ctx(state, env, ctx)
    offset &= 0xFFFF_FFFF
    length &= 0xFFFF_FFFF
    if flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH):
        return -errno.EINVAL
    p = state.packet
    if offset > INT_MAX or offset + length > p.length:
        return -errno.EFAULT
    data = env.memory.read(frm, length, env.pc)
    p.buf[p.data + offset : p.data + offset + length] = data
    if flags & BPF_F_INVALIDATE_HASH:
        state.clear_hash()
    return 0


def _csum_field(state: SkbState, offset: int) -> int | None:
    """Packet offset of a 16-bit checksum field, None when the kernel says -EFAULT."""
    offset &= 0xFFFF_FFFF
    if offset > 0xFFFF or offset & 1 or offset + 2 > state.packet.length:
        return None
    return state.packet.data + offset


def l3_csum_replace(state: SkbState, env: Any, ctx: int, offset: int, frm: int, to: int, flags: int) -> int:
    """Update an L3 checksum for a 2- or 4-byte field change, or by a ``csum_diff`` result (10)."""
    _ctx(state, env, ctx)
    if flags & ~BPF_F_HDR_FIELD_MASK:
        return -errno.EINVAL
    where = _csum_field(state, offset)
    if where is None:
        return -errno.EFAULT
    buf = state.packet.buf
    check = _U16.unpack_from(buf, where)[0]
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm:
            return -errno.EINVAL
        check = csum_replace_by_diff(check, to)
    elif size == 2:
        check = csum_replace2(check, frm, to)
    elif size == 4:
        check = csum_replace4(check, frm, to)
    else:
        return -errno.EINVAL
    _U16.pack_into(buf, where, check)
    return 0


def l4_csum_replace(state: SkbState, env: Any, ctx: int, offset: int, frm: int, to: int, flags: int) -> int:
    """Update a TCP/UDP checksum; BPF_F_MARK_MANGLED_0 keeps a zero UDP checksum meaning "none" (11).

    The test skb carries no checksum offload state (CHECKSUM_NONE), so the pseudo-header flag
    changes nothing here, as in the kernel.
    """
    _ctx(state, env, ctx)
    allowed = BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK | BPF_F_IPV6
    if flags & ~allowed:
        return -errno.EINVAL
    where = _csum_field(state, offset)
    if where is None:
        return -errno.EFAULT
    buf = state.packet.buf
    check = _U16.unpack_from(buf, where)[0]
    mangled_zero = bool(flags & BPF_F_MARK_MANGLED_0)
    if mangled_zero and not flags & BPF_F_MARK_ENFORCE and check == 0:
        return 0
    size = flags & BPF_F_HDR_FIELD_MASK
    if size == 0:
        if frm:
            return -errno.EINVAL
        check = csum_replace_by_diff(check, to)
    elif size in (2, 4):
        # inet_proto_csum_replace2 is replace4 on zero-extended 16-bit values (unlike the L3 helper)
        mask = 0xFFFF if size == 2 else 0xFFFF_FFFF
        check = csum_replace4(check, frm & mask, to & mask)
    else:
        return -errno.EINVAL
    if mangled_zero and check == 0:
        check = CSUM_MANGLED_0
    _U16.pack_into(buf, where, check)
    return 0


# -- skb: size -----------------------------------------------------------------------------------
def skb_change_tail(state: SkbState, env: Any, ctx: int, new_len: int, flags: int, *_: int) -> int:
    """Trim or zero-extend the packet to ``new_len`` bytes (38)."""
    _ctx(state, env, ctx)
    new_len &= 0xFFFF_FFFF
    p = state.packet
    if flags or new_len > state.max_len or new_len < state.network_offset:
        return -errno.EINVAL
    old = p.packet()
    p.replace(old[:new_len] + bytes(max(0, new_len - len(old))))
    state.refresh()
    return 0


def skb_adjust_room(state: SkbState, env: Any, ctx: int, len_diff: int, mode: int, flags: int, *_: int) -> int:
    """Insert zeros or remove bytes at the MAC (mode 1) or network (mode 0) header end (50).

    The kernel's argument checks, including those of ``bpf_skb_net_grow``/``_shrink`` for the
    encapsulation flags; of what encapsulation changes, only ``skb->protocol`` is modelled.
    """
    _ctx(state, env, ctx)
    diff = s32(len_diff)
    mode &= 0xFFFF_FFFF
    shrink = diff < 0
    amount = abs(diff)
    if flags & ~(BPF_F_ADJ_ROOM_MASK | BPF_F_ADJ_ROOM_NO_CSUM_RESET):
        return -errno.EINVAL
    if amount > 0xFFF:
        return -errno.EFAULT
    base = state.net_base_len()
    if base is None:
        return -ENOTSUPP
    off = ETH_HLEN
    if mode == BPF_ADJ_ROOM_NET:
        off += base
    elif mode != BPF_ADJ_ROOM_MAC:
        return -ENOTSUPP
    len_min = base
    decap = flags & (BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_DECAP_L3_IPV6)
    if decap:
        if not shrink:
            return -errno.EINVAL
        if decap == BPF_F_ADJ_ROOM_DECAP_L3_IPV4:
            len_min = 20
        elif decap == BPF_F_ADJ_ROOM_DECAP_L3_IPV6:
            len_min = 40
        else:
            return -errno.EINVAL
    p = state.packet
    len_cur = p.length - state.network_offset
    if shrink and (amount >= len_cur or len_cur - amount < len_min):
        return -ENOTSUPP
    if not shrink and p.length + amount > state.max_len:
        return -ENOTSUPP
    old = p.packet()
    if shrink:
        if flags & ~(BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_DECAP_L3_IPV4 | BPF_F_ADJ_ROOM_DECAP_L3_IPV6
                     | BPF_F_ADJ_ROOM_NO_CSUM_RESET):
            return -errno.EINVAL
        if off + amount > len(old):
            return -errno.ENOMEM
        p.replace(old[:off] + old[off + amount :])
        if decap:
            state.protocol = 0x0800 if decap == BPF_F_ADJ_ROOM_DECAP_L3_IPV4 else 0x86DD
    else:
        encap = flags & (BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6)
        if encap:
            inner_mac_len = flags >> 56
            if encap == BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6:
                return -errno.EINVAL
            if flags & BPF_F_ADJ_ROOM_ENCAP_L4_GRE and flags & BPF_F_ADJ_ROOM_ENCAP_L4_UDP:
                return -errno.EINVAL
            if flags & BPF_F_ADJ_ROOM_ENCAP_L2_ETH and inner_mac_len < ETH_HLEN:
                return -errno.EINVAL
            if state.encapsulated:
                return -errno.EALREADY
            if inner_mac_len > amount:
                return -errno.EINVAL
        p.replace(old[:off] + bytes(amount) + old[off:])
        if encap:
            state.encapsulated = True
            state.protocol = 0x0800 if encap == BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 else 0x86DD
    state.refresh()
    return 0


def get_hash_recalc(state: SkbState, env: Any, ctx: int, *_: int) -> int:
    """A flow hash of the packet, stored as ``skb->hash`` (34); deterministic, unlike the kernel's."""
    _ctx(state, env, ctx)
    return state.recalc_hash()


def flow_hash(key: bytes) -> int:
    """The hash pybpf uses for ``get_hash_recalc``: CRC-32 of the flow key, never 0."""
    return zlib.crc32(key) or 1


HelperImpl = Callable[..., int]

#: id -> (name, implementation, program kinds it serves); kinds are PacketState.kind values
PACKET_HELPERS: dict[int, tuple[str, HelperImpl, frozenset[str]]] = {
    9: ("skb_store_bytes", skb_store_bytes, frozenset({"tc"})),
    10: ("l3_csum_replace", l3_csum_replace, frozenset({"tc"})),
    11: ("l4_csum_replace", l4_csum_replace, frozenset({"tc"})),
    23: ("redirect", redirect, frozenset({"xdp", "tc"})),
    26: ("skb_load_bytes", skb_load_bytes, frozenset({"tc", "socket", "cgroup_skb"})),
    28: ("csum_diff", csum_diff, frozenset({"xdp", "tc", "socket", "cgroup_skb"})),
    34: ("get_hash_recalc", get_hash_recalc, frozenset({"tc"})),
    38: ("skb_change_tail", skb_change_tail, frozenset({"tc"})),
    44: ("xdp_adjust_head", xdp_adjust_head, frozenset({"xdp"})),
    50: ("skb_adjust_room", skb_adjust_room, frozenset({"tc"})),
    51: ("redirect_map", redirect_map, frozenset({"xdp", "tc"})),
    54: ("xdp_adjust_meta", xdp_adjust_meta, frozenset({"xdp"})),
    65: ("xdp_adjust_tail", xdp_adjust_tail, frozenset({"xdp"})),
}


def bind_packet_helpers(
    registry: HelperRegistry,
    state: PacketState,
    *,
    allowed: frozenset[int] | None = None,
    engine_for: Callable[[object], object] | None = None,
) -> HelperRegistry:
    """Add the packet helpers for ``state.kind`` to ``registry`` (a copy owned by one runtime).

    ``allowed`` limits them to a program type's helper set.  ``engine_for`` maps a program found
    in a PROG_ARRAY to the engine that runs it *on this state*, so tail calls stay inside the
    runtime (same context, same packet, verified code) instead of jumping to the object's
    default engine.
    """
    for hid, (name, func, kinds) in PACKET_HELPERS.items():
        if state.kind in kinds and (allowed is None or hid in allowed):
            bound = functools.partial(func, state)
            registry.add(Helper(hid, name, bound, (func.__doc__ or "").strip()))
    if engine_for is not None:
        registry.add(Helper(12, "tail_call", functools.partial(_tail_call_within, engine_for), _tail_call.__doc__ or ""))
    return registry


def _tail_call_within(engine_for: Callable[[object], object], env: Any, *args: int) -> int:
    from pybpf.vm.interpreter import TailCall

    try:
        return _tail_call(env, *args)
    except TailCall as call:
        replacement = engine_for(call.target)
        if replacement is None or replacement is call.target:
            raise
        raise TailCall(replacement) from None  # type: ignore[arg-type]


__all__ = [
    "PACKET_HELPERS",
    "bind_packet_helpers",
    "csum_fold",
    "csum_replace2",
    "csum_replace4",
    "flow_hash",
]
