"""skb programs: tc classifiers/actions, socket filters and cgroup skb filters on ``__sk_buff``.

The skb is built the way ``bpf_prog_test_run_skb`` builds it (Linux 6.x):

* ``eth_type_trans`` on the frame: ``protocol`` is the EtherType as the kernel stores it
  (network order, so IPv4 reads as ``0x0008``), 802.3 length frames become ``ETH_P_802_3`` /
  ``ETH_P_802_2``; ``pkt_type`` is HOST for frames to 00:00:00:00:00:00 (the loopback device's
  address), BROADCAST / MULTICAST by destination, OTHERHOST otherwise;
* tc programs (``sched_cls``/``sched_act``) see the frame from the Ethernet header; socket filters
  and cgroup skb programs see it from the network header (``skb->data`` after the pull), so their
  ``LD_ABS`` offsets and ``len`` count from L3.  pybpf adds one switch the kernel's test run does
  not have: ``l2=True`` makes a socket filter see the frame from L2, as on an ``AF_PACKET``
  socket (tcpdump-style filters) -- the pcap runner uses it;
* fields from ``ctx_in``: ``mark``, ``priority``, ``ingress_ifindex``, ``ifindex``, ``cb[]``,
  ``tstamp``, ``wire_len`` (default ``len``), ``gso_segs``, ``gso_size``, ``hwtstamp``; the rest
  is computed (``len``, ``protocol``, ``pkt_type``, ``data``/``data_end``/``data_meta`` with their
  shadows) or zero.  ``family``/``local_ip4``/``remote_ip4`` follow the dummy socket the test run
  attaches (source / destination address of the packet); ``sk`` itself reads as NULL, since pybpf
  has no socket to point at.

Return values: tc programs return ``TC_ACT_*`` codes; a socket filter returns how many bytes of
the packet to keep (0 drops).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf.progtypes.context import PacketState
from pybpf.progtypes.devmap import RedirectTarget
from pybpf.progtypes.packet_helpers import flow_hash
from pybpf.progtypes.platform import ProgTypeSpec
from pybpf.progtypes.runtime import PacketRuntime, ProgramTypeError, linux_spec, runtime_for
from pybpf.progtypes.sections import ProgType

if TYPE_CHECKING:
    from pybpf.object import Program

ETH_HLEN = 14
NET_SKB_PAD = 64
SKB_HEADROOM = 4096 + NET_SKB_PAD  # room for skb_adjust_room to push headers without reallocating
SKB_MAX_ALLOC = (4096 << 2) - 320  # SKB_MAX_ORDER(0, 2): what skb_change_tail/adjust_room may grow to
SKB_MAX_LEN = SKB_MAX_ALLOC
SKB_CAPACITY = SKB_HEADROOM + SKB_MAX_LEN + 4096
SK_BUFF_CTX_FIELDS = ("mark", "priority", "ingress_ifindex", "ifindex", "tstamp", "wire_len", "gso_segs", "gso_size")

ETH_P_IP, ETH_P_IPV6, ETH_P_802_3, ETH_P_802_2 = 0x0800, 0x86DD, 0x0001, 0x0004
PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST = 0, 1, 2, 3
AF_UNSPEC, AF_INET, AF_INET6 = 0, 2, 10

TC_ACTIONS = {
    -1: "UNSPEC",
    0: "OK",
    1: "RECLASSIFY",
    2: "SHOT",
    3: "PIPE",
    4: "STOLEN",
    5: "QUEUED",
    6: "REPEAT",
    7: "REDIRECT",
    8: "TRAP",
}
TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT = 0, 2, 7

#: program type name -> PacketState.kind
SKB_KINDS = {"sched_cls": "tc", "sched_act": "tc", "socket_filter": "socket", "cgroup_skb": "cgroup_skb"}
_TYPE_NAMES = {
    ProgType.SCHED_CLS: "sched_cls",
    ProgType.SCHED_ACT: "sched_act",
    ProgType.SOCKET_FILTER: "socket_filter",
    ProgType.CGROUP_SKB: "cgroup_skb",
}


def tc_action_name(retval: int) -> str:
    """``TC_ACT_*`` name of a return value (as a signed 32-bit number); unknown values as numbers."""
    value = retval & 0xFFFF_FFFF
    value = value - (1 << 32) if value & 0x8000_0000 else value
    return TC_ACTIONS.get(value, str(value))


def eth_type_trans(frame: bytes) -> tuple[int, int]:
    """(protocol as a host-order EtherType, pkt_type) the way the kernel classifies a frame."""
    dst = frame[:6]
    if dst[0] & 1:
        pkt_type = PACKET_BROADCAST if dst == b"\xff" * 6 else PACKET_MULTICAST
    else:
        pkt_type = PACKET_HOST if dst == bytes(6) else PACKET_OTHERHOST
    proto = int.from_bytes(frame[12:14], "big")
    if proto < 0x0600:
        proto = ETH_P_802_3 if frame[14:16] == b"\xff\xff" else ETH_P_802_2
    return proto, pkt_type


class SkbState(PacketState):
    """``struct __sk_buff`` and its packet."""

    def __init__(self, spec: ProgTypeSpec, *, l2: bool, guard: bool) -> None:
        super().__init__(spec.ctx, SKB_CAPACITY, guard=guard)
        self.kind = SKB_KINDS.get(spec.name, "tc")
        self.ld_abs = spec.ld_abs
        self.l2 = l2
        self.max_len = SKB_MAX_LEN
        self.protocol = 0
        self.hash = 0
        self.encapsulated = False
        self._pointers = self.ctx.pointer_writer("data", "data_end", "data_meta")

    @property
    def network_offset(self) -> int:
        """Where the network header starts, relative to ``data``."""
        return ETH_HLEN if self.l2 else 0

    def setup(self, frame: bytes, ctx_in: bytes | None = None) -> None:
        """Build the skb for ``frame`` (at least 14 bytes); ``ctx_in`` carries the caller's fields
        (already validated by the caller, e.g. :func:`pybpf.progtypes.testrun.test_run`).

        As in the kernel, ``wire_len`` defaults to ``len`` only when a context is given (the
        conversion from ``__sk_buff`` sets it); without one it reads 0.
        """
        proto, pkt_type = eth_type_trans(frame)
        self.protocol = proto
        self.hash = 0
        self.encapsulated = False
        self.redirect = None
        p = self.packet
        p.load(frame, SKB_HEADROOM)
        if not self.l2:
            p.set_bounds(p.data + ETH_HLEN, p.data + ETH_HLEN, p.end)
        ctx = self.ctx
        ctx.clear()
        if ctx_in:
            ctx.load_bytes(ctx_in[: ctx.layout.size])
        for name in ("len", "pkt_type", "queue_mapping", "vlan_present", "vlan_tci", "vlan_proto", "tc_index"):
            ctx.set(name, 0)
        ctx.set("pkt_type", pkt_type)
        ctx.set("protocol", int.from_bytes(proto.to_bytes(2, "big"), "little"))
        if ctx.get("ifindex") <= 1:
            ctx.set("ifindex", 1)
        for name in ("hash", "tc_classid", "napi_id", "remote_port", "local_port", "flow_keys", "sk", "tstamp_type"):
            ctx.set(name, 0)
        self._socket_fields(frame)
        self.refresh()
        if ctx_in is not None and not ctx.get("wire_len"):
            ctx.set("wire_len", p.length)

    def _socket_fields(self, frame: bytes) -> None:
        """What the test run's dummy socket reports: family and the packet's addresses."""
        ctx = self.ctx
        for name in ("family", "remote_ip4", "local_ip4"):
            ctx.set(name, 0)
        for i in range(4):
            ctx.set(f"remote_ip6_{i}", 0)
            ctx.set(f"local_ip6_{i}", 0)
        l3 = frame[ETH_HLEN:]
        if self.protocol == ETH_P_IP:
            ctx.set("family", AF_INET)
            if len(l3) >= 20:
                ctx.set("local_ip4", int.from_bytes(l3[12:16], "little"))
                ctx.set("remote_ip4", int.from_bytes(l3[16:20], "little"))
        elif self.protocol == ETH_P_IPV6:
            ctx.set("family", AF_INET6)
            if len(l3) >= 40:
                for i in range(4):
                    ctx.set(f"local_ip6_{i}", int.from_bytes(l3[8 + 4 * i : 12 + 4 * i], "little"))
                    ctx.set(f"remote_ip6_{i}", int.from_bytes(l3[24 + 4 * i : 28 + 4 * i], "little"))

    def refresh(self) -> None:
        p = self.packet
        ctx = self.ctx
        ctx.set("len", p.length)
        self._pointers(p.base + p.data, p.base + p.end, p.base + p.data)
        ctx.set("hash", self.hash)

    # -- what helpers ask -----------------------------------------------------------------------------
    def net_base_len(self) -> int | None:
        """Base network header length for ``skb_adjust_room`` (None: not IPv4/IPv6)."""
        return {ETH_P_IP: 20, ETH_P_IPV6: 40}.get(self.protocol)

    def clear_hash(self) -> None:
        self.hash = 0
        self.ctx.set("hash", 0)

    def recalc_hash(self) -> int:
        self.hash = flow_hash(self.flow_key())
        self.ctx.set("hash", self.hash)
        return self.hash

    def flow_key(self) -> bytes:
        """Addresses, protocol and ports of the packet (L2 addresses for non-IP frames)."""
        p = self.packet
        pkt = bytes(p.buf[p.data : p.end])
        l3 = pkt[self.network_offset :]
        if self.protocol == ETH_P_IP and len(l3) >= 20:
            ihl = (l3[0] & 0xF) * 4
            return l3[12:20] + l3[9:10] + l3[ihl : ihl + 4]
        if self.protocol == ETH_P_IPV6 and len(l3) >= 40:
            return l3[8:40] + l3[6:7] + l3[40:44]
        return pkt[:ETH_HLEN] if self.l2 else l3[:16]

    # -- results --------------------------------------------------------------------------------------
    def test_run_output(self) -> bytes:
        """The kernel's ``data_out``: the packet from L2; types that saw L3 get a zeroed Ethernet
        header in front (the test run pushes one back after the run)."""
        p = self.packet
        body = bytes(p.buf[p.data : p.end])
        return body if self.l2 else bytes(ETH_HLEN) + body

    def frame(self) -> bytes:
        """The frame as the program left it, from L2 (for L3 views, the original header)."""
        p = self.packet
        start = p.data if self.l2 else p.data - ETH_HLEN
        return bytes(p.buf[start : p.end])


@dataclass
class SkbResult:
    """One run of an skb program.

    ``action`` is the ``TC_ACT_*`` name for tc programs and ``"KEEP"``/``"DROP"`` for socket and
    cgroup filters; ``packet`` the frame from L2 as the program left it; ``kept`` (socket filters)
    the bytes a socket would receive: the first ``retval`` bytes of what the filter saw.
    """

    retval: int
    action: str
    packet: bytes
    ctx: bytes
    redirect: RedirectTarget | None = None
    kept: bytes | None = None

    @property
    def forwarded(self) -> bool:
        return self.action in ("OK", "UNSPEC", "PIPE", "RECLASSIFY", "REDIRECT", "KEEP")


def skb_type_name(program: Program, prog_type: str | None = None) -> str:
    if prog_type is not None:
        if prog_type not in SKB_KINDS:
            raise ProgramTypeError(f"{prog_type!r} is not an skb program type ({', '.join(SKB_KINDS)})")
        return prog_type
    if program.prog_type is None:
        return "sched_cls"
    name = _TYPE_NAMES.get(program.prog_type)
    if name is None:
        raise ProgramTypeError(f"{program.name} is a {program.prog_type.name} program, not an skb program")
    return name


class SkbRunner:
    """Runs one skb program packet after packet on a cached runtime."""

    def __init__(
        self,
        program: Program,
        *,
        prog_type: str | None = None,
        l2: bool | None = None,
        verify: bool = True,
        engine: str | None = None,
        platform: Any = None,
        verifier_options: Any = None,
    ) -> None:
        self.program = program
        self.type_name = skb_type_name(program, prog_type)
        spec = platform.prog_type(self.type_name) if platform is not None else linux_spec(self.type_name)
        self.kind = SKB_KINDS[self.type_name]
        view_l2 = self.kind == "tc" if l2 is None else l2

        def make(guard: bool) -> SkbState:
            return SkbState(spec, l2=view_l2, guard=guard)

        self.runtime: PacketRuntime = runtime_for(
            program,
            spec,
            make,
            verify=verify,
            engine=engine,
            platform=platform,
            verifier_options=verifier_options,
            variant=view_l2,
        )
        self.state: SkbState = self.runtime.state  # type: ignore[assignment]
        self.runtime.engine_for(program)

    def load(self, frame: bytes, ctx_in: bytes | None = None) -> None:
        self.state.setup(frame, ctx_in)

    def execute(self) -> int:
        return self.runtime.execute(self.program) & 0xFFFF_FFFF

    def result(self, retval: int) -> SkbResult:
        state = self.state
        kept = None
        if self.kind == "tc":
            action = tc_action_name(retval)
        else:
            action = "KEEP" if retval else "DROP"
            if self.kind == "socket":
                p = state.packet
                kept = bytes(p.buf[p.data : p.data + min(retval, p.length)])
        return SkbResult(retval, action, state.frame(), state.ctx.kernel_bytes(), state.redirect, kept)

    def run(self, frame: bytes, ctx_in: bytes | None = None) -> SkbResult:
        self.state.setup(frame, ctx_in)
        return self.result(self.execute())


def run_skb(
    program: Program,
    frame: bytes,
    *,
    prog_type: str | None = None,
    l2: bool | None = None,
    mark: int = 0,
    priority: int = 0,
    cb: bytes = b"",
    verify: bool = True,
    engine: str | None = None,
) -> SkbResult:
    """Run a tc / socket filter / cgroup skb program on one frame (at least 14 bytes)."""
    if len(frame) < ETH_HLEN:
        raise ValueError("an skb needs at least a 14-byte Ethernet header")
    runner = SkbRunner(program, prog_type=prog_type, l2=l2, verify=verify, engine=engine)
    ctx = bytearray(runner.state.ctx.layout.size)
    struct.pack_into("<I", ctx, 8, mark)
    struct.pack_into("<I", ctx, 32, priority)
    ctx[48 : 48 + len(cb[:20])] = cb[:20]
    return runner.run(frame, bytes(ctx))


def ip_text(value: int) -> str:
    """A ``local_ip4``-style field as dotted text (helper for tests and dumps)."""
    return socket.inet_ntoa(value.to_bytes(4, "little"))


__all__ = [
    "SKB_KINDS",
    "TC_ACTIONS",
    "SkbResult",
    "SkbRunner",
    "SkbState",
    "eth_type_trans",
    "run_skb",
    "tc_action_name",
]
