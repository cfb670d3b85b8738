"""XDP programs: ``struct xdp_md`` over a page-sized frame, actions and redirect targets.

The frame is laid out as ``bpf_prog_test_run_xdp`` lays it out (Linux 6.x), so programs see the
same room to move in as under the kernel's test run:

* one 4096-byte buffer (a page); ``data_hard_start`` at offset 0, where the kernel would keep its
  40-byte ``struct xdp_frame``, so ``bpf_xdp_adjust_head``/``_meta`` may not go below offset 40;
* ``XDP_PACKET_HEADROOM`` = 256 bytes of headroom: ``data`` starts at 256, metadata (``ctx_in``
  ``data`` > 0) sits just below it, ``data_meta == data`` otherwise;
* the last 320 bytes are reserved for ``struct skb_shared_info``, so ``bpf_xdp_adjust_tail`` may
  grow the packet up to offset 3776, and at most 3520 bytes are linear; the rest of a longer
  frame becomes fragments the program cannot see but which are part of the output (as with
  ``xdp.frags`` test runs);
* ``ingress_ifindex`` defaults to 1 and ``rx_queue_index`` to 0 (the loopback device's queue,
  which is what the kernel's test run uses); ``egress_ifindex`` is 0.

Return values: ``XDP_ABORTED`` 0, ``DROP`` 1, ``PASS`` 2, ``TX`` 3, ``REDIRECT`` 4; anything else is
treated as ABORTED (the kernel warns and drops).  A redirect's target is on the result.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pybpf.progtypes.context import PacketState
from pybpf.progtypes.devmap import RedirectTarget
from pybpf.progtypes.platform import xdp_md
from pybpf.progtypes.runtime import PacketRuntime, ProgramTypeError, linux_spec, runtime_for
from pybpf.progtypes.sections import ProgType

if TYPE_CHECKING:
    from pybpf.object import Program

XDP_PACKET_HEADROOM = 256
PAGE_SIZE = 4096
SKB_SHARED_INFO_SIZE = 320  # SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86-64
XDP_FRAME_OVERHEAD = 40  # sizeof(struct xdp_frame), kept free at data_hard_start
MAX_LINEAR = PAGE_SIZE - XDP_PACKET_HEADROOM - SKB_SHARED_INFO_SIZE  # 3520
ETH_HLEN = 14
MAX_METADATA = XDP_PACKET_HEADROOM - XDP_FRAME_OVERHEAD  # 216: what fits between xdp_frame and data

_U32 = struct.Struct("<I")

XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
XDP_ACTIONS = {XDP_ABORTED: "ABORTED", XDP_DROP: "DROP", XDP_PASS: "PASS", XDP_TX: "TX", XDP_REDIRECT: "REDIRECT"}


def action_name(retval: int) -> str:
    """The XDP action a return value stands for; unknown values act as ABORTED."""
    return XDP_ACTIONS.get(retval & 0xFFFF_FFFF, "ABORTED")


class XdpState(PacketState):
    """``struct xdp_md`` and its frame."""

    kind = "xdp"
    frame_overhead = XDP_FRAME_OVERHEAD
    hard_end = PAGE_SIZE - SKB_SHARED_INFO_SIZE
    frag_size = PAGE_SIZE

    def __init__(self, guard: bool) -> None:
        super().__init__(xdp_md(), PAGE_SIZE, guard=guard)
        self.frags: list[bytearray] = []
        self.ingress_ifindex = 1
        self.rx_queue_index = 0
        self._pointers = self.ctx.pointer_writer("data", "data_end", "data_meta")
        self._ifindex_off = self.ctx.field("ingress_ifindex").offset
        self._queue_off = self.ctx.field("rx_queue_index").offset
        self._zero_ctx = bytes(len(self.ctx.buf))

    def setup(
        self,
        frame: bytes,
        *,
        meta_len: int = 0,
        linear_len: int | None = None,
        ingress_ifindex: int = 1,
        rx_queue_index: int = 0,
    ) -> None:
        """Load ``frame`` (its first ``meta_len`` bytes being metadata) as the kernel's test run
        does; ``linear_len`` (``ctx_in.data_end``) caps the linear part."""
        headroom = XDP_PACKET_HEADROOM - meta_len
        linear = len(frame) if linear_len is None else linear_len
        linear = min(linear, PAGE_SIZE - headroom - SKB_SHARED_INFO_SIZE)
        self.packet.load(frame if linear >= len(frame) else frame[:linear], headroom, meta_len)
        if linear < len(frame):
            self.frags = [bytearray(frame[i : i + PAGE_SIZE]) for i in range(linear, len(frame), PAGE_SIZE)]
        elif self.frags:
            self.frags = []
        self.redirect = None
        self.ingress_ifindex = ingress_ifindex
        self.rx_queue_index = rx_queue_index
        buf = self.ctx.buf
        buf[:] = self._zero_ctx
        _U32.pack_into(buf, self._ifindex_off, ingress_ifindex & 0xFFFF_FFFF)
        _U32.pack_into(buf, self._queue_off, rx_queue_index & 0xFFFF_FFFF)
        self.refresh()

    def refresh(self) -> None:
        p = self.packet
        base = p.base
        self._pointers(base + p.data, base + p.end, base + p.meta)

    def output(self) -> bytes:
        """What the kernel's test run copies out: ``data_meta`` to ``data_end``, then fragments."""
        p = self.packet
        return bytes(p.buf[p.meta : p.end]) + b"".join(bytes(f) for f in self.frags)

    def frame(self) -> bytes:
        """The packet without metadata (what goes on the wire for PASS/TX/REDIRECT)."""
        p = self.packet
        return bytes(p.buf[p.data : p.end]) + b"".join(bytes(f) for f in self.frags)


@dataclass
class XdpResult:
    """One run of an XDP program.  ``packet`` is the frame as the program left it (without
    metadata), ``metadata`` the bytes between ``data_meta`` and ``data``."""

    retval: int
    action: str
    packet: bytes
    metadata: bytes = b""
    redirect: RedirectTarget | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def forwarded(self) -> bool:
        """Whether the frame leaves the program (PASS up the stack, TX back out, REDIRECT)."""
        return self.action in ("PASS", "TX", "REDIRECT")


def check_xdp(program: Program) -> None:
    if program.prog_type not in (None, ProgType.XDP):
        raise ProgramTypeError(f"{program.name} is a {program.prog_type.name} program, not XDP")


class XdpRunner:
    """Runs one XDP program packet after packet on a cached runtime (cheap per packet)."""

    def __init__(
        self,
        program: Program,
        *,
        verify: bool = True,
        engine: str | None = None,
        platform: Any = None,
        verifier_options: Any = None,
    ) -> None:
        check_xdp(program)
        self.program = program
        spec = platform.prog_type("xdp") if platform is not None else linux_spec("xdp")
        self.runtime: PacketRuntime = runtime_for(
            program,
            spec,
            XdpState,
            verify=verify,
            engine=engine,
            platform=platform,
            verifier_options=verifier_options,
        )
        self.state: XdpState = self.runtime.state  # type: ignore[assignment]
        self.runtime.engine_for(program)  # verify and build now, not inside the first timed run

    def load(self, frame: bytes, **options: Any) -> None:
        self.state.setup(frame, **options)

    def execute(self) -> int:
        """Run once on the state as it is (packet changes of earlier runs stay); retval as u32."""
        return self.runtime.execute(self.program) & 0xFFFF_FFFF

    def result(self, retval: int) -> XdpResult:
        state = self.state
        return XdpResult(
            retval, action_name(retval), state.frame(), state.packet.metadata(), state.redirect
        )

    def run(self, frame: bytes, **options: Any) -> XdpResult:
        """Load ``frame`` and run once.  Options: ``meta_len``, ``ingress_ifindex``, ``rx_queue_index``."""
        self.state.setup(frame, **options)
        return self.result(self.execute())


def run_xdp(
    program: Program,
    frame: bytes,
    *,
    metadata: bytes = b"",
    ingress_ifindex: int = 1,
    rx_queue_index: int = 0,
    verify: bool = True,
    engine: str | None = None,
) -> XdpResult:
    """Run an XDP program on one frame (``metadata`` becomes the bytes before ``data``)."""
    if len(metadata) % 4 or len(metadata) > MAX_METADATA:
        raise ValueError(f"metadata must be a multiple of 4 bytes, at most {MAX_METADATA}")
    runner = XdpRunner(program, verify=verify, engine=engine)
    return runner.run(
        metadata + frame, meta_len=len(metadata), ingress_ifindex=ingress_ifindex, rx_queue_index=rx_queue_index
    )


__all__ = [
    "XDP_ABORTED",
    "XDP_ACTIONS",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_REDIRECT",
    "XDP_TX",
    "XdpResult",
    "XdpRunner",
    "XdpState",
    "action_name",
    "run_xdp",
]
