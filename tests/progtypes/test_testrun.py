"""test_run follows BPF_PROG_TEST_RUN's rules: sizes, contexts, errors, repeats, outputs."""

from __future__ import annotations

import errno
import struct

import pytest

import pybpf.object as bpfobj
from pybpf.progtypes.testrun import ENOTSUPP, TestRunError, mean_duration, test_run

from .support import ROOT, control, load_example


def xdp_md(data: int = 0, data_end: int = 0, data_meta: int = 0, ingress: int = 0, queue: int = 0,
           egress: int = 0) -> bytes:
    return struct.pack("<6I", data, data_end, data_meta, ingress, queue, egress)


def failure(*args: object, **kwargs: object) -> TestRunError:
    with pytest.raises(TestRunError) as info:
        test_run(*args, **kwargs)  # type: ignore[arg-type]
    return info.value


@pytest.fixture
def xdp_ops(ops: bpfobj.BpfObject) -> bpfobj.Program:
    return ops.program("xdp_ops")


def test_basic_run_and_result(xdp_ops: bpfobj.Program, frames: list[bytes]) -> None:
    r = test_run(xdp_ops, control(frames[0], op=8, arg=3))
    assert (r.retval, r.action, r.data_out, r.data_size_out) == (3, "TX", control(frames[0], op=8, arg=3), len(frames[0]))
    assert r.ctx_out is None and r.redirect is None


@pytest.mark.parametrize("spent, repeat, expected", [(2700, 3, 900), (40, 4, 10), (41, 4, 10), (2**40, 1, 2**32 - 1)])
def test_duration_is_the_mean_per_run_clamped_to_u32(spent: int, repeat: int, expected: int) -> None:
    """As bpf_test_timer reports it: the time of all repeats divided by their number, at most
    U32_MAX (pure arithmetic on a given time: nothing here measures the machine)."""
    assert mean_duration(spent, repeat) == expected


def test_a_run_reports_its_duration_as_a_u32_field(xdp_ops: bpfobj.Program, frames: list[bytes]) -> None:
    assert isinstance(test_run(xdp_ops, control(frames[0], op=8, arg=3), repeat=3).duration, int)


def test_repeat_zero_means_one_and_changes_accumulate(xdp_ops: bpfobj.Program, frames: list[bytes]) -> None:
    frame = control(frames[0], op=3, delta=4)  # grow the tail by 4 bytes per run
    assert test_run(xdp_ops, frame, repeat=0).data_out == frame + bytes(4)
    assert test_run(xdp_ops, frame, repeat=3).data_out == frame + bytes(12)  # same buffers every time


def test_xdp_size_rules(xdp_ops: bpfobj.Program) -> None:
    e = failure(xdp_ops, bytes(13))
    assert (e.errno, e.errno_name) == (errno.EINVAL, "EINVAL") and "14" in str(e)
    assert test_run(xdp_ops, bytes(14)).retval == 2


def test_enospc_reports_the_full_size(xdp_ops: bpfobj.Program, frames: list[bytes]) -> None:
    frame = control(frames[0], op=0)
    e = failure(xdp_ops, frame, data_size_out=10)
    assert e.errno == errno.ENOSPC and e.result is not None
    assert (e.result.data_out, e.result.data_size_out, e.result.retval) == (frame[:10], len(frame), 2)
    assert test_run(xdp_ops, frame, data_size_out=len(frame)).data_out == frame
    e = failure(xdp_ops, frames[0], xdp_md(0, len(frames[0])), ctx_size_out=8)
    assert e.errno == errno.ENOSPC and e.result is not None and e.result.ctx_out == xdp_md(0, len(frames[0]))[:8]


def test_xdp_context_in_and_out(xdp_ops: bpfobj.Program, frames: list[bytes]) -> None:
    meta = b"\xaa" * 8
    frame = control(frames[0], op=2, delta=-4)  # grow the metadata by 4 more bytes
    r = test_run(xdp_ops, meta + frame, xdp_md(8, 8 + len(frame)))
    assert r.data_out[:12] == struct.pack("<I", 0xFEEDC0DE) + meta and r.data_out[12:] == frame  # from data_meta
    assert r.ctx_out == xdp_md(12, 12 + len(frame))
    r = test_run(xdp_ops, control(frames[0], op=6), xdp_md(0, len(frames[0]), ingress=1))
    assert r.retval == 1000
    r = test_run(xdp_ops, control(frames[0], op=6), xdp_md(0, len(frames[0]), ingress=3, queue=1),
                 interfaces={1: 1, 3: 2})
    assert r.retval == 3001
    frame = control(frames[0], op=0)
    short = test_run(xdp_ops, frame, xdp_md(0, 20))  # data_end caps the linear part; the rest is a fragment
    assert short.data_out == frame


@pytest.mark.parametrize(
    ("ctx", "code"),
    [
        (xdp_md(0, 62, data_meta=4), errno.EINVAL),
        (xdp_md(0, 63), errno.EINVAL),  # data_end past data_in
        (xdp_md(8, 4), errno.EINVAL),  # data past data_end
        (xdp_md(6, 62), errno.EINVAL),  # metadata not a multiple of 4
        (xdp_md(0, 62, egress=1), errno.EINVAL),
        (xdp_md(0, 62, queue=1), errno.EINVAL),  # a queue without a device
        (xdp_md(0, 62, ingress=9), errno.ENODEV),
        (xdp_md(0, 62, ingress=1, queue=1), errno.EINVAL),  # the loopback has one queue
        (xdp_md(0, 62) + b"\x01", errno.E2BIG),
    ],
)
def test_xdp_context_rules(xdp_ops: bpfobj.Program, frames: list[bytes], ctx: bytes, code: int) -> None:
    assert len(frames[0]) == 62
    assert failure(xdp_ops, frames[0], ctx).errno == code


def test_xdp_metadata_limits(xdp_ops: bpfobj.Program, frames: list[bytes]) -> None:
    frame = control(frames[0], op=0)
    assert test_run(xdp_ops, bytes(216) + frame, xdp_md(216, 216 + 62)).retval == 2  # 32 before Linux 6.15
    assert failure(xdp_ops, bytes(220) + frame, xdp_md(220, 220 + 62)).errno == errno.EINVAL
    assert failure(xdp_ops, bytes(8) + frame[:10], xdp_md(8, 18)).errno == errno.EINVAL  # < 14 after meta
    assert test_run(xdp_ops, frame, xdp_md(0, 62) + bytes(100)).retval == 2  # zero tail is fine


def test_flags_and_unsupported_types(xdp_ops: bpfobj.Program, frames: list[bytes]) -> None:
    assert failure(xdp_ops, frames[0], flags=1).errno == errno.EINVAL
    assert failure(xdp_ops, frames[0], flags=2).errno == errno.EOPNOTSUPP  # live frames
    assert failure(xdp_ops, frames[0], batch_size=4).errno == errno.EINVAL
    syscall = bpfobj.load(ROOT / "tests" / "bpf" / "globals.o", engine="interp").program("data_sum")
    e = failure(syscall, frames[0])
    assert (e.errno, e.errno_name) == (ENOTSUPP, "ENOTSUPP")


def test_skb_rules(ops: bpfobj.BpfObject, frames: list[bytes]) -> None:
    tc = ops.program("tc_ops")
    assert failure(tc, bytes(13)).errno == errno.EINVAL
    assert failure(tc, bytes(3713)).errno == errno.EINVAL
    assert test_run(tc, bytes(3712)).retval == 0
    assert failure(tc, frames[0], cpu=1).errno == errno.EINVAL
    assert failure(tc, frames[0], flags=4).errno == errno.EOPNOTSUPP
    for offset in (0, 4, 16, 44, 68, 76, 168, 180):  # len, pkt_type, protocol, tc_index, hash, data, sk, tstamp_type
        ctx = bytearray(192)
        ctx[offset] = 1
        assert failure(tc, frames[0], bytes(ctx)).errno == errno.EINVAL, offset
    ctx = bytearray(192)
    struct.pack_into("<I", ctx, 40, 5)
    assert failure(tc, frames[0], bytes(ctx)).errno == errno.ENODEV
    assert test_run(tc, frames[0], bytes(ctx), interfaces={1: 1, 5: 1}).ctx_out is not None
    ctx = bytearray(192)
    struct.pack_into("<I", ctx, 160, 10)  # wire_len below the skb length
    assert failure(tc, frames[0], bytes(ctx)).errno == errno.EINVAL
    struct.pack_into("<I", ctx, 160, 0)
    struct.pack_into("<I", ctx, 164, 65536)  # gso_segs
    assert failure(tc, frames[0], bytes(ctx)).errno == errno.EINVAL


def test_skb_output_and_context_out(frames: list[bytes]) -> None:
    program = load_example("socket_filter").program("ssh_or_http")
    r = test_run(program, frames[0], bytes(192))
    assert r.data_out == bytes(14) + frames[0][14:]  # L3 types get a zeroed Ethernet header back
    assert r.ctx_out is not None and struct.unpack_from("<I", r.ctx_out, 160)[0] == len(frames[0]) - 14  # wire_len
    assert struct.unpack_from("<I", r.ctx_out, 40)[0] == 1  # ifindex: the loopback device
