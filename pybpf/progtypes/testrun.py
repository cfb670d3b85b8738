"""``test_run``: pybpf's ``BPF_PROG_TEST_RUN``, with the kernel's argument rules and results.

``test_run(program, data_in, ctx_in=None, repeat=1, data_size_out=0, ...)`` runs an XDP, tc,
socket-filter or cgroup-skb program ``repeat`` times on one packet and returns a
:class:`TestRunResult` (``retval``, ``data_out``, ``ctx_out``, ``duration`` = mean ns per run).
The rules are those of ``net/bpf/test_run.c`` (Linux 6.x), so a test written against pybpf
behaves the same when pointed at the kernel:

* ``repeat`` 0 means 1; every repetition runs on the *same* buffers, so packet changes accumulate;
* XDP: ``data_in`` shorter than 14 bytes (after metadata) -> ``EINVAL``; ``ctx_in`` (``struct
  xdp_md``) must have ``data_meta`` 0, ``data_end <= len(data_in)``, ``data <= data_end``, a
  metadata length (``data``) that is a multiple of 4 and at most 32, ``egress_ifindex`` 0, and an
  ``ingress_ifindex``/``rx_queue_index`` naming an existing receive queue (``interfaces``, default
  the loopback device 1 with one queue); the output runs from ``data_meta`` to ``data_end``;
* skb types: ``data_in`` of 14..3712 bytes; ``ctx_in`` (``struct __sk_buff``) may only set
  ``mark``, ``priority``, ``ingress_ifindex``, ``ifindex``, ``cb``, ``tstamp``, ``wire_len``,
  ``gso_segs``, ``gso_size``, ``hwtstamp`` (anything else non-zero -> ``EINVAL``); socket filters
  and cgroup programs see the packet from L3 and get a zeroed Ethernet header in ``data_out``;
* a ``ctx_in`` longer than the struct must be zero past it (``E2BIG``); a shorter one is
  zero-filled;
* ``data_size_out`` non-zero and smaller than the output: the output is cut to that size and
  :class:`TestRunError` ``ENOSPC`` is raised, carrying the (cut) result with the full size in
  ``data_size_out``; ``ctx_size_out`` likewise for the context.

Differences, by design: pybpf has no devices, so ``interfaces`` declares which ifindexes exist;
``BPF_F_TEST_XDP_LIVE_FRAMES`` and ``BPF_F_TEST_SKB_CHECKSUM_COMPLETE`` are refused with
``EOPNOTSUPP``; for XDP, ``ctx_out`` is returned only when ``ctx_in`` is given (the kernel
allocates a zeroed ``xdp_md`` when only ``ctx_out`` is passed, which makes the whole packet
non-linear -- a trap not worth copying), and likewise for skb programs.
"""

from __future__ import annotations

import errno as _errno
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf.errors import PybpfError
from pybpf.progtypes.devmap import RedirectTarget
from pybpf.progtypes.packet_helpers import XDP_METADATA_MAX
from pybpf.progtypes.sections import ProgType
from pybpf.progtypes.skb import SKB_KINDS, SkbRunner, skb_type_name, tc_action_name
from pybpf.progtypes.xdp import (
    PAGE_SIZE,
    SKB_SHARED_INFO_SIZE,
    XDP_FRAME_OVERHEAD,
    XDP_PACKET_HEADROOM,
    XdpRunner,
    action_name,
)

if TYPE_CHECKING:
    from pybpf.object import Program

ENOTSUPP = 524
ETH_HLEN = 14
U32_MAX = 0xFFFF_FFFF
XDP_MD_SIZE = 24
SK_BUFF_SIZE = 192
BPF_F_TEST_RUN_ON_CPU = 1 << 0
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2
SKB_MAX_DATA_IN = PAGE_SIZE - 64 - SKB_SHARED_INFO_SIZE  # PAGE_SIZE - NET_SKB_PAD - shared info = 3712
GSO_MAX_SEGS = 65535
GSO_LEGACY_MAX_SIZE = 65536
DEFAULT_INTERFACES: Mapping[int, int] = {1: 1}  # the loopback device, one receive queue

# __sk_buff byte ranges ctx_in may set (offset, end), Linux 6.x convert___skb_to_skb
_SKB_CTX_ALLOWED = ((8, 12), (32, 36), (36, 40), (40, 44), (48, 68), (152, 160), (160, 164), (164, 168), (176, 180),
                    (184, 192))
# fields written back to ctx_out (convert_skb_to___skb): offset, size
_SKB_CTX_OUT = ((8, 4), (32, 4), (36, 4), (40, 4), (48, 20), (152, 8), (160, 4), (164, 4), (184, 8))


def errno_name(err: int) -> str:
    err = abs(err)
    if err == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(err, f"errno {err}")


class TestRunError(PybpfError):
    """``test_run`` failed the way ``BPF_PROG_TEST_RUN`` fails: ``errno`` (positive) and its name.

    For ``ENOSPC`` the run happened: ``result`` holds the cut output, the full size, ``retval`` and
    ``duration``, as the kernel writes them back before returning the error.
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, err: int, reason: str, result: TestRunResult | None = None) -> None:
        self.errno = abs(err)
        self.errno_name = errno_name(err)
        self.reason = reason
        self.result = result
        super().__init__(f"test_run: {self.errno_name}: {reason}")


@dataclass
class TestRunResult:
    """What ``BPF_PROG_TEST_RUN`` reports, plus pybpf's record of a redirect."""

    __test__ = False

    retval: int
    data_out: bytes
    data_size_out: int
    ctx_out: bytes | None
    duration: int
    action: str
    redirect: RedirectTarget | None = None
    kept: bytes | None = None  # socket filters: the bytes a socket would receive


def _fail(err: int, reason: str) -> TestRunError:
    return TestRunError(err, reason)


def _ctx_bytes(ctx_in: bytes | None, size: int) -> bytes | None:
    """``bpf_ctx_init``: zero-fill a short ``ctx_in``; a longer one must be zero past ``size``."""
    if ctx_in is None:
        return None
    raw = bytes(ctx_in)
    if len(raw) > PAGE_SIZE:
        raise _fail(_errno.E2BIG, f"ctx_in of {len(raw)} bytes is larger than a page")
    if len(raw) > size and any(raw[size:]):
        raise _fail(_errno.E2BIG, f"ctx_in has non-zero bytes past the {size}-byte context")
    return raw[:size].ljust(size, b"\0")


def _finish(
    data: bytes, data_size_out: int, ctx_out: bytes | None, ctx_size_out: int | None, partial: TestRunResult
) -> TestRunResult:
    """``bpf_test_finish`` / ``bpf_ctx_finish``: cut to the caller's sizes, ENOSPC when cut."""
    partial.data_size_out = len(data)
    if data_size_out and len(data) > data_size_out:
        partial.data_out = data[:data_size_out]
        partial.ctx_out = None
        raise TestRunError(_errno.ENOSPC, f"output is {len(data)} bytes, data_size_out is {data_size_out}", partial)
    partial.data_out = data
    if ctx_out is not None and ctx_size_out is not None and len(ctx_out) > ctx_size_out:
        partial.ctx_out = ctx_out[:ctx_size_out]
        raise TestRunError(_errno.ENOSPC, f"context is {len(ctx_out)} bytes, ctx_size_out is {ctx_size_out}", partial)
    partial.ctx_out = ctx_out
    return partial


def mean_duration(spent_ns: int, repeat: int) -> int:
    """What ``bpf_test_timer`` reports: the time of all repeats divided by their number, at most
    U32_MAX."""
    return min(spent_ns // repeat, U32_MAX)


def _timed(run: Any, repeat: int) -> tuple[int, int]:
    """Run ``repeat`` times; (last retval, :func:`mean_duration`)."""
    retval = 0
    start = time.perf_counter_ns()
    for _ in range(repeat):
        retval = run()
    return retval, mean_duration(time.perf_counter_ns() - start, repeat)


def test_run(
    program: Program,
    data_in: bytes,
    ctx_in: bytes | None = None,
    repeat: int = 1,
    data_size_out: int = 0,
    ctx_size_out: int | None = None,
    *,
    flags: int = 0,
    cpu: int = 0,
    batch_size: int = 0,
    prog_type: str | None = None,
    interfaces: Mapping[int, int] | None = None,
    verify: bool = True,
    engine: str | None = None,
) -> TestRunResult:
    """Run ``program`` on ``data_in`` as ``BPF_PROG_TEST_RUN`` would; raise :class:`TestRunError`.

    ``prog_type`` overrides the type the section name implies (``"xdp"``, ``"sched_cls"``,
    ``"socket_filter"`` ...).  ``interfaces`` maps the ifindexes that exist to their number of
    receive queues.  ``verify=False`` runs the unverified program on the interpreter.
    """
    if repeat < 0 or data_size_out < 0:
        raise ValueError("repeat and data_size_out are unsigned")
    repeat = repeat or 1
    devices = DEFAULT_INTERFACES if interfaces is None else interfaces
    kind = prog_type or _type_of(program)
    if kind == "xdp":
        return _test_run_xdp(program, bytes(data_in), ctx_in, repeat, data_size_out, ctx_size_out, flags, batch_size,
                             devices, verify, engine)
    if kind in SKB_KINDS:
        return _test_run_skb(program, kind, bytes(data_in), ctx_in, repeat, data_size_out, ctx_size_out, flags, cpu,
                             batch_size, devices, verify, engine)
    raise _fail(ENOTSUPP, f"program type {kind} has no test run in pybpf (xdp, sched_cls, sched_act, socket_filter, "
                          "cgroup_skb have)")


test_run.__test__ = False  # type: ignore[attr-defined]  # a library function, not a pytest test


def _type_of(program: Program) -> str:
    if program.prog_type in (None, ProgType.XDP):
        return "xdp"
    try:
        return skb_type_name(program)
    except PybpfError:
        return program.prog_type.name.lower() if program.prog_type is not None else "unknown"


def _test_run_xdp(
    program: Program,
    data_in: bytes,
    ctx_in: bytes | None,
    repeat: int,
    data_size_out: int,
    ctx_size_out: int | None,
    flags: int,
    batch_size: int,
    devices: Mapping[int, int],
    verify: bool,
    engine: str | None,
) -> TestRunResult:
    if flags & ~BPF_F_TEST_XDP_LIVE_FRAMES:
        raise _fail(_errno.EINVAL, f"flags 0x{flags:x} are not valid for XDP")
    if flags & BPF_F_TEST_XDP_LIVE_FRAMES:
        raise _fail(_errno.EOPNOTSUPP, "BPF_F_TEST_XDP_LIVE_FRAMES needs real devices; pybpf does not offer it")
    if batch_size:
        raise _fail(_errno.EINVAL, "batch_size is only valid with BPF_F_TEST_XDP_LIVE_FRAMES")
    ctx = _ctx_bytes(ctx_in, XDP_MD_SIZE)
    meta_len = 0
    linear: int | None = None
    ingress, queue = 1, 0
    if ctx is not None:
        data, data_end, data_meta, ingress_in, queue, egress = struct.unpack("<6I", ctx)
        if data_meta or data_end > len(data_in) or data > data_end:
            raise _fail(_errno.EINVAL, "xdp_md: data_meta must be 0, data <= data_end <= len(data_in)")
        if data & 3 or data > XDP_METADATA_MAX or data > XDP_PACKET_HEADROOM - XDP_FRAME_OVERHEAD:
            raise _fail(_errno.EINVAL, f"xdp_md.data = {data}: metadata must be a multiple of 4, at most "
                                       f"{XDP_PACKET_HEADROOM - XDP_FRAME_OVERHEAD} bytes")
        meta_len, linear = data, data_end
    if len(data_in) - meta_len < ETH_HLEN:
        raise _fail(_errno.EINVAL, f"data_in has {len(data_in) - meta_len} bytes of packet; XDP needs at least 14")
    if ctx is not None:
        if egress:
            raise _fail(_errno.EINVAL, "xdp_md.egress_ifindex must be 0")
        if not ingress_in and queue:
            raise _fail(_errno.EINVAL, "xdp_md.rx_queue_index without an ingress_ifindex")
        if ingress_in:
            if ingress_in not in devices:
                raise _fail(_errno.ENODEV, f"no device with ifindex {ingress_in} (known: {sorted(devices)})")
            if queue >= devices[ingress_in]:
                raise _fail(_errno.EINVAL, f"device {ingress_in} has no receive queue {queue}")
            ingress = ingress_in
        else:
            queue = 0
    runner = XdpRunner(program, verify=verify, engine=engine)
    headroom = XDP_PACKET_HEADROOM - meta_len
    max_linear = PAGE_SIZE - headroom - SKB_SHARED_INFO_SIZE
    runner.load(
        data_in,
        meta_len=meta_len,
        linear_len=min(linear if linear is not None else len(data_in), max_linear),
        ingress_ifindex=ingress,
        rx_queue_index=queue,
    )
    retval, duration = _timed(runner.execute, repeat)
    state = runner.state
    p = state.packet
    ctx_out = None
    if ctx is not None:
        out = bytearray(ctx)
        struct.pack_into("<II", out, 0, p.data - p.meta, p.end - p.meta)
        ctx_out = bytes(out)
    partial = TestRunResult(retval, b"", 0, None, duration, action_name(retval), state.redirect)
    return _finish(state.output(), data_size_out, ctx_out, ctx_size_out, partial)


def _check_skb_ctx(ctx: bytes, data_len: int, devices: Mapping[int, int]) -> None:
    allowed = bytearray(SK_BUFF_SIZE)
    for lo, hi in _SKB_CTX_ALLOWED:
        allowed[lo:hi] = b"\x01" * (hi - lo)
    bad = [i for i in range(SK_BUFF_SIZE) if ctx[i] and not allowed[i]]
    if bad:
        raise _fail(_errno.EINVAL, f"__sk_buff byte {bad[0]} may not be set in ctx_in (only mark, priority, "
                                   "ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp)")
    ifindex = struct.unpack_from("<I", ctx, 40)[0]
    if ifindex > 1 and ifindex not in devices:
        raise _fail(_errno.ENODEV, f"no device with ifindex {ifindex} (known: {sorted(devices)})")
    wire_len = struct.unpack_from("<I", ctx, 160)[0]
    if wire_len and (wire_len < data_len or wire_len > GSO_LEGACY_MAX_SIZE):
        raise _fail(_errno.EINVAL, f"wire_len {wire_len} must be between the skb length {data_len} and 65536")
    if struct.unpack_from("<I", ctx, 164)[0] > GSO_MAX_SEGS:
        raise _fail(_errno.EINVAL, "gso_segs is larger than GSO_MAX_SEGS (65535)")


def _test_run_skb(
    program: Program,
    kind: str,
    data_in: bytes,
    ctx_in: bytes | None,
    repeat: int,
    data_size_out: int,
    ctx_size_out: int | None,
    flags: int,
    cpu: int,
    batch_size: int,
    devices: Mapping[int, int],
    verify: bool,
    engine: str | None,
) -> TestRunResult:
    if flags & ~BPF_F_TEST_SKB_CHECKSUM_COMPLETE or cpu or batch_size:
        raise _fail(_errno.EINVAL, "skb test runs take no flags but BPF_F_TEST_SKB_CHECKSUM_COMPLETE, no cpu, "
                                   "no batch_size")
    if flags:
        raise _fail(_errno.EOPNOTSUPP, "BPF_F_TEST_SKB_CHECKSUM_COMPLETE is not modelled by pybpf")
    if len(data_in) < ETH_HLEN:
        raise _fail(_errno.EINVAL, f"data_in has {len(data_in)} bytes; skb programs need at least 14")
    if len(data_in) > SKB_MAX_DATA_IN:
        raise _fail(_errno.EINVAL, f"data_in has {len(data_in)} bytes; at most {SKB_MAX_DATA_IN} fit the test skb")
    ctx = _ctx_bytes(ctx_in, SK_BUFF_SIZE)
    runner = SkbRunner(program, prog_type=kind, verify=verify, engine=engine)
    seen_len = len(data_in) - (0 if runner.state.l2 else ETH_HLEN)
    if ctx is not None:
        _check_skb_ctx(ctx, seen_len, devices)
    runner.load(data_in, ctx)
    retval, duration = _timed(runner.execute, repeat)
    result = runner.result(retval)
    ctx_out = None
    if ctx is not None:
        base = bytearray(ctx)
        after = runner.state.ctx.kernel_bytes()
        for off, size in _SKB_CTX_OUT:
            base[off : off + size] = after[off : off + size]
        ctx_out = bytes(base)
    action = tc_action_name(retval) if runner.kind == "tc" else result.action
    partial = TestRunResult(retval, b"", 0, None, duration, action, result.redirect, result.kept)
    return _finish(runner.state.test_run_output(), data_size_out, ctx_out, ctx_size_out, partial)


__all__ = ["TestRunError", "TestRunResult", "errno_name", "test_run"]
