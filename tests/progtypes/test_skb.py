"""skb runs: __sk_buff fields, tc helpers and checksums, socket filters and their kept bytes."""

from __future__ import annotations

import errno
import socket
import struct

import dpkt  # type: ignore[import-untyped]
import pytest

import pybpf.object as bpfobj
from pybpf.progtypes.packet_helpers import ENOTSUPP, csum_replace2, csum_replace4
from pybpf.progtypes.skb import SKB_MAX_LEN, SkbRunner, eth_type_trans, run_skb, tc_action_name
from pybpf.progtypes.testrun import test_run

from .support import control, load_example, udp_frame

U32 = 0xFFFF_FFFF


def err(code: int) -> int:
    return -code & U32


@pytest.fixture
def tc(ops: bpfobj.BpfObject) -> SkbRunner:
    return SkbRunner(ops.program("tc_ops"))


def test_eth_type_trans() -> None:
    ip = b"\x02" + bytes(11) + b"\x08\x00" + bytes(20)
    assert eth_type_trans(ip) == (0x0800, 3)  # unicast, not the loopback's all-zero address
    assert eth_type_trans(bytes(12) + b"\x86\xdd")[1] == 0  # to 00:00:00:00:00:00: PACKET_HOST
    assert eth_type_trans(b"\xff" * 6 + bytes(6) + b"\x08\x06")[1] == 1
    assert eth_type_trans(b"\x01\x00\x5e" + bytes(9) + b"\x08\x00")[1] == 2
    assert eth_type_trans(bytes(12) + b"\x00\x40" + b"\xff\xff")[0] == 0x0001  # 802.3 raw
    assert eth_type_trans(bytes(12) + b"\x00\x40" + b"\xaa\xaa")[0] == 0x0004  # 802.2 LLC


def test_tc_action_names() -> None:
    assert [tc_action_name(v) for v in (0, 2, 7, U32, 99)] == ["OK", "SHOT", "REDIRECT", "UNSPEC", "99"]


def test_context_fields_and_writes(ops: bpfobj.BpfObject, frames: list[bytes]) -> None:
    program = ops.program("tc_ops")
    ctx = bytearray(192)
    struct.pack_into("<I", ctx, 36, 4)  # ingress_ifindex
    frame = control(frames[0], op=9)
    r = test_run(program, frame, bytes(ctx))
    assert r.retval == 3 | (1 << 4) | (4 << 12) | ((len(frame) << 20) & U32)  # OTHERHOST, lo, iif, wire_len
    r = test_run(program, control(frames[0], op=8, delta=5, arg=0x1234), bytes(192))
    assert r.retval == len(frames[0]) + (0x0008 << 16)
    assert r.ctx_out is not None
    mark, priority = struct.unpack_from("<I", r.ctx_out, 8)[0], struct.unpack_from("<I", r.ctx_out, 32)[0]
    assert (mark, priority, struct.unpack_from("<I", r.ctx_out, 48)[0]) == (0x1234, 5, 0xABCDEF)
    assert r.ctx_out[44:48] == bytes(4)  # tc_index is not copied back, as in the kernel
    ctx = bytearray(192)
    struct.pack_into("<IIIII", ctx, 0, 0, 0, 7, 0, 0)  # mark 7
    struct.pack_into("<I", ctx, 52, 0x70)  # cb[1]
    struct.pack_into("<II", ctx, 164, 3, 0)  # gso_segs
    assert test_run(program, control(frames[0], op=10), bytes(ctx)).retval == 7 ^ 0x70 ^ 3


def test_store_and_load_bytes(tc: SkbRunner, frames: list[bytes]) -> None:
    frame = control(frames[0], op=1, delta=20)
    r = tc.run(frame)
    assert r.retval == 0 and r.packet == frame[:20] + b"\x01\x02\x03\x04" + frame[24:]
    assert tc.run(control(frames[0], op=1, delta=len(frames[0]) - 3)).retval == err(errno.EFAULT)
    assert tc.run(control(frames[0], op=1, arg=4)).retval == err(errno.EINVAL)
    frame = control(frames[0], op=2, delta=30)
    r = tc.run(frame)
    assert r.retval == 0 and r.packet[:6] == frame[30:36]
    r = tc.run(control(frames[0], op=2, delta=len(frames[0]) - 7))
    assert r.retval == err(errno.EFAULT) and r.packet[:6] == bytes(6)  # destination zeroed on failure


def test_checksum_arithmetic_matches_a_recomputation() -> None:
    """RFC 1624 updates of an IPv4 header checksum equal recomputing it (stored-word arithmetic)."""
    ip = dpkt.ip.IP(src=socket.inet_aton("192.168.1.7"), dst=socket.inet_aton("10.0.0.100"), p=17, ttl=64)
    ip.len = 20
    raw = bytes(ip)
    check = struct.unpack_from("<H", raw, 10)[0]
    old, new = struct.unpack_from("<I", raw, 16)[0], struct.unpack("<I", socket.inet_aton("10.1.0.2"))[0]
    ip2 = dpkt.ip.IP(raw[:16] + socket.inet_aton("10.1.0.2"))
    ip2.sum = 0
    expected = struct.unpack_from("<H", bytes(ip2), 10)[0]
    assert csum_replace4(check, old, new) == expected
    ttl_old, ttl_new = struct.unpack_from("<H", raw, 8)[0], struct.unpack_from("<H", bytes([63]) + raw[9:10])[0]
    ip3 = dpkt.ip.IP(raw[:8] + bytes([63]) + raw[9:])
    ip3.sum = 0
    assert csum_replace2(check, ttl_old, ttl_new) == struct.unpack_from("<H", bytes(ip3), 10)[0]


def test_csum_replace_helpers(tc: SkbRunner) -> None:
    frame = control(udp_frame("192.168.1.2", "10.0.0.1", 1000, 53), op=3, delta=14 + 10, arg=4)
    r = tc.run(frame)
    check = struct.unpack_from("<H", frame, 24)[0]
    assert r.retval == 0
    assert struct.unpack_from("<H", r.packet, 24)[0] == csum_replace4(check, 0x1234, 0xABCD5678)
    assert tc.run(control(frame, op=3, delta=25, arg=4)).retval == err(errno.EFAULT)  # odd offset
    assert tc.run(control(frame, op=3, delta=24, arg=3)).retval == err(errno.EINVAL)
    assert tc.run(control(frame, op=3, delta=24, arg=0x10)).retval == err(errno.EINVAL)  # not an L3 flag
    udp_check = 14 + 20 + 6
    r = tc.run(control(frame, op=4, delta=udp_check, arg=2 | 0x10))
    old = struct.unpack_from("<H", frame, udp_check)[0]
    assert struct.unpack_from("<H", r.packet, udp_check)[0] == csum_replace4(old, 0x5678, 0xABCD)
    zero = bytearray(frame)
    zero[udp_check : udp_check + 2] = bytes(2)  # UDP "no checksum"
    r = tc.run(control(bytes(zero), op=4, delta=udp_check, arg=4 | 0x20))  # BPF_F_MARK_MANGLED_0
    assert r.retval == 0 and r.packet[udp_check : udp_check + 2] == bytes(2)


def test_change_tail_and_adjust_room(tc: SkbRunner, frames: list[bytes]) -> None:
    frame = control(frames[0], op=5, delta=len(frames[0]) + 6)
    assert tc.run(frame).packet == frame + bytes(6)
    frame = control(frames[0], op=5, delta=20)
    assert tc.run(frame).packet == frame[:20]
    assert tc.run(control(frames[0], op=5, delta=13)).retval == err(errno.EINVAL)
    assert SKB_MAX_LEN == 16064
    frame = control(frames[0], op=6, delta=8, arg=0)  # NET mode: after the 20-byte IPv4 header
    assert tc.run(frame).packet == frame[:34] + bytes(8) + frame[34:]
    frame = control(frames[0], op=6, delta=-4, arg=1)  # MAC mode: right after Ethernet
    assert tc.run(frame).packet == frame[:14] + frame[18:]
    assert tc.run(control(frames[0], op=6, delta=4096)).retval == err(errno.EFAULT)
    arp = next(f for f in frames if f[12:14] == b"\x08\x06")
    assert tc.run(control(arp, op=6, delta=4)).retval == -ENOTSUPP & U32
    assert tc.run(control(frames[0], op=6, delta=-8, arg=2 << 1)).retval == err(errno.EINVAL)  # encap on shrink


def test_tc_redirect(tc: SkbRunner, frames: list[bytes]) -> None:
    r = tc.run(control(frames[0], op=7, delta=3, arg=1))
    assert r.action == "REDIRECT" and r.redirect is not None and (r.redirect.value, r.redirect.flags) == (3, 1)
    assert tc.run(control(frames[0], op=7, delta=3, arg=2)).action == "SHOT"


def test_socket_filter_keeps_bytes(frames: list[bytes]) -> None:
    obj = load_example("socket_filter")
    ssh = next(f for f in frames if f[12:14] == b"\x08\x00" and f[23] == 6 and f[36:38] == b"\x00\x16")
    r = run_skb(obj.program("ssh_or_http"), ssh, l2=True)
    assert (r.action, r.retval, r.kept) == ("KEEP", 96, ssh[:96])
    short = next(f for f in frames if f[12:14] == b"\x08\x00" and f[23] == 6 and f[36:38] == b"\x00\x50" and len(f) < 96)
    assert run_skb(obj.program("ssh_or_http"), short, l2=True).kept == short  # at most the whole packet
    # Seen from L3 (the kernel's test run), offset 12 is inside the IP header: nothing matches.
    assert run_skb(obj.program("ssh_or_http"), ssh).action == "DROP"


def test_socket_filter_ld_abs_and_fields(ops: bpfobj.BpfObject, frames: list[bytes]) -> None:
    program = ops.program("sock_ops")
    frame = next(f for f in frames if f[12:14] == b"\x08\x00")
    l3 = frame[14:]
    assert l3[0] & 3 == 1  # 0x45: op 1 when the filter sees L3 (the kernel's test run)
    r = SkbRunner(program).run(frame)
    assert r.retval == struct.unpack(">I", l3[12:16])[0] ^ struct.unpack(">H", l3[-2:])[0]
    l2 = SkbRunner(program, l2=True)

    def op(n: int) -> bytes:  # the first byte of the destination MAC selects the operation
        return bytes([n]) + frame[1:]

    assert l2.run(op(0)).retval == len(frame)
    assert l2.run(op(1)).retval == struct.unpack(">I", frame[12:16])[0] ^ struct.unpack(">H", frame[-2:])[0]
    assert l2.run(op(2)).retval == err(errno.EFAULT)  # 4 bytes from len - 2 run past the end
    assert l2.run(op(3)).retval == 0x0008 + (2 << 16)  # protocol + PACKET_MULTICAST (03:...) << 16
