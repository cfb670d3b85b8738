"""XDP runs: actions, the adjust helpers' limits and error codes, redirects, fragments."""

from __future__ import annotations

import errno
import struct

import pytest

import pybpf.object as bpfobj
from pybpf.progtypes.devmap import BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS
from pybpf.progtypes.xdp import MAX_LINEAR, XdpRunner, run_xdp

from .support import control

U32 = 0xFFFF_FFFF


def err(code: int) -> int:
    return -code & U32


@pytest.fixture
def xdp(ops: bpfobj.BpfObject) -> XdpRunner:
    return XdpRunner(ops.program("xdp_ops"))


@pytest.mark.parametrize(
    ("retval", "action"),
    [(0, "ABORTED"), (1, "DROP"), (2, "PASS"), (3, "TX"), (4, "REDIRECT"), (5, "ABORTED"), (77, "ABORTED")],
)
def test_actions_and_unknown_return_values(xdp: XdpRunner, frames: list[bytes], retval: int, action: str) -> None:
    result = xdp.run(control(frames[0], op=8, arg=retval))
    assert (result.retval, result.action) == (retval, action)
    assert result.forwarded == (action in ("PASS", "TX", "REDIRECT"))


def test_adjust_head(xdp: XdpRunner, frames: list[bytes]) -> None:
    frame = control(frames[1], op=1, delta=-20)
    result = xdp.run(frame)
    assert (result.retval, result.packet) == (0, bytes(20) + frame)  # headroom bytes are zero
    frame = control(frames[1], op=1, delta=14)
    assert xdp.run(frame).packet == frame[14:]
    limits = {
        -216: 0,  # down to data_hard_start + sizeof(struct xdp_frame)
        -217: err(errno.EINVAL),
        len(frames[1]) - 14: 0,  # at least ETH_HLEN must remain
        len(frames[1]) - 13: err(errno.EINVAL),
    }
    for delta, expected in limits.items():
        frame = control(frames[1], op=1, delta=delta)
        result = xdp.run(frame)
        assert result.retval == expected, delta
        if expected:
            assert result.packet == frame  # a refused adjustment changes nothing


def test_adjust_meta(xdp: XdpRunner, frames: list[bytes]) -> None:
    frame = control(frames[2], op=2, delta=-8)
    result = xdp.run(frame)
    assert result.retval == 0
    assert result.metadata == struct.pack("<I", 0xFEEDC0DE) + bytes(4)
    assert result.packet == frame
    cases = {-6: err(errno.EACCES), 4: err(errno.EINVAL), -216: 0, -220: err(errno.EINVAL)}
    for delta, expected in cases.items():
        assert xdp.run(control(frames[2], op=2, delta=delta)).retval == expected, delta


def test_adjust_head_moves_metadata(xdp: XdpRunner, frames: list[bytes]) -> None:
    meta = b"\x11\x22\x33\x44"
    result = run_xdp(xdp.program, control(frames[2], op=1, delta=-8), metadata=meta)
    # memmove semantics: the metadata moves down with data; its old copy stays in the packet's front
    assert result.retval == 0 and result.metadata == meta and result.packet[:8] == bytes(4) + meta
    result = run_xdp(xdp.program, control(frames[2], op=1, delta=-213), metadata=meta)
    assert result.retval == err(errno.EINVAL)  # data may not pass data_hard_start + 40 + metadata


def test_adjust_tail(xdp: XdpRunner, frames: list[bytes]) -> None:
    frame = control(frames[3], op=3, delta=10)
    assert xdp.run(frame).packet == frame + bytes(10)
    frame = control(frames[3], op=3, delta=-10)
    assert xdp.run(frame).packet == frame[:-10]
    room = 4096 - 320 - 256 - len(frames[3])
    assert xdp.run(control(frames[3], op=3, delta=room)).retval == 0
    assert xdp.run(control(frames[3], op=3, delta=room + 1)).retval == err(errno.EINVAL)
    assert xdp.run(control(frames[3], op=3, delta=14 - len(frames[3]))).retval == 0
    assert xdp.run(control(frames[3], op=3, delta=13 - len(frames[3]))).retval == err(errno.EINVAL)


def test_redirect_records_the_target(xdp: XdpRunner, frames: list[bytes]) -> None:
    result = xdp.run(control(frames[0], op=4, delta=7))
    assert result.action == "REDIRECT" and result.redirect is not None
    assert (result.redirect.kind, result.redirect.ifindex) == ("ifindex", 7)
    result = xdp.run(control(frames[0], op=4, delta=7, arg=1))  # XDP's bpf_redirect takes no flags
    assert (result.action, result.redirect) == ("ABORTED", None)


def test_redirect_map(ops: bpfobj.BpfObject, frames: list[bytes]) -> None:
    ports = ops.maps["tx_ports"]
    ports[3] = 9
    ports[5] = 1
    xdp = XdpRunner(ops.program("xdp_ops"))
    result = xdp.run(control(frames[0], op=5, delta=3))
    assert result.action == "REDIRECT" and result.redirect is not None
    assert result.redirect.as_dict() == {"kind": "devmap", "key": 3, "value": 9, "map": "tx_ports"}
    assert xdp.run(control(frames[0], op=5, delta=4, arg=2)).action == "PASS"  # miss: the fallback action
    assert xdp.run(control(frames[0], op=5, delta=4)).action == "ABORTED"
    assert xdp.run(control(frames[0], op=5, delta=3, arg=0x40)).action == "ABORTED"  # unknown flag
    result = xdp.run(control(frames[0], op=5, delta=4, arg=BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS))
    assert result.action == "REDIRECT" and result.redirect is not None
    assert result.redirect.broadcast == (9,)  # ifindex 1 is the ingress device


def test_ingress_fields(xdp: XdpRunner, frames: list[bytes]) -> None:
    assert xdp.run(control(frames[0], op=6)).retval == 1000  # loopback, queue 0
    assert xdp.run(control(frames[0], op=6), ingress_ifindex=5, rx_queue_index=2).retval == 5002


def test_long_frames_keep_their_fragments(xdp: XdpRunner, frames: list[bytes]) -> None:
    frame = control(frames[0], op=3, delta=-100) + bytes(range(256)) * 20
    xdp.load(frame)
    assert xdp.state.packet.length == MAX_LINEAR and sum(map(len, xdp.state.frags)) == len(frame) - MAX_LINEAR
    assert xdp.result(xdp.execute()).packet == frame[:-100]  # shrinking takes from the fragments


@pytest.mark.parametrize("verify", [True, False])
def test_tail_calls_stay_on_the_packet(ops: bpfobj.BpfObject, frames: list[bytes], verify: bool) -> None:
    runner = XdpRunner(ops.program("xdp_tail"), verify=verify)
    assert runner.run(frames[0]).action == "ABORTED"  # empty slot: the program goes on
    ops.maps["jumps"][0] = ops.program("xdp_tail_target")
    result = runner.run(frames[0])
    assert (result.action, result.packet) == ("TX", b"\xee" + frames[0][7:])
    target = runner.runtime.engine_for(ops.program("xdp_tail_target"))
    assert target is not ops.program("xdp_tail_target").engine  # ran on the runtime's engine
