"""Helpers shared by the program-type tests (fixtures live in conftest.py)."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import dpkt  # type: ignore[import-untyped]

import pybpf.object as bpfobj
import pybpf.progtypes.devmap  # noqa: F401  (DEVMAP & co. must be registered before objects load)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SAMPLE = EXAMPLES / "sample.pcap"
C_DIR = Path(__file__).resolve().parent / "c"


def sample_frames() -> list[bytes]:
    with SAMPLE.open("rb") as f:
        return [bytes(buf) for _, buf in dpkt.pcap.Reader(f)]


def load_example(name: str, **rodata: int | bytes) -> bpfobj.BpfObject:
    """An example object on the interpreter, its ``const volatile`` globals set first."""
    opened = bpfobj.open_object(EXAMPLES / f"{name}.o")
    for variable, value in rodata.items():
        opened.rodata[variable] = value
    return opened.load(engine="interp")


def control(frame: bytes, op: int, delta: int = 0, arg: int = 0) -> bytes:
    """Put ops.c's control block (op, s16 delta, 24-bit arg) into the Ethernet source address."""
    return frame[:6] + bytes([op]) + struct.pack("<h", delta) + arg.to_bytes(3, "little") + frame[12:]


def verifies(program: bpfobj.Program, prog_type: str = "xdp") -> bool:
    """Whether pybpf's verifier accepts ``program`` (tests run rejected programs unverified).

    While the verifier was being written it refused xdp_counter's ``data_end - data`` (which Linux
    accepts for privileged loaders); this keeps such a program testable either way.
    """
    from pybpf.progtypes.runtime import map_definitions
    from pybpf.verifier import VerifierError, verify

    try:
        verify(program.definition.insns, prog_type, maps=map_definitions(program.object))
    except VerifierError:
        return False
    return True


def udp_frame(
    src: str,
    dst: str,
    sport: int,
    dport: int,
    payload: bytes = b"x" * 8,
    src_mac: bytes = b"\x02\0\0\0\0\x01",
    dst_mac: bytes = b"\x02\0\0\0\0\x02",
) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = 8 + len(payload)
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=dpkt.ip.IP_PROTO_UDP, ttl=64, data=udp)
    ip.len = 20 + len(bytes(udp))
    return bytes(dpkt.ethernet.Ethernet(src=src_mac, dst=dst_mac, type=dpkt.ethernet.ETH_TYPE_IP, data=ip))
