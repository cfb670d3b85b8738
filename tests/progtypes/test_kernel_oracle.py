"""The Linux kernel as the oracle: the same programs, maps and packets through BPF_PROG_TEST_RUN
and through pybpf's test_run must give the same return codes, output packets, contexts, errors
and final map contents.

Skipped, with the reason, where bpf(2) cannot load and test-run programs (not Linux, no
CAP_BPF/CAP_SYS_ADMIN, a container that filters the syscall).
"""

from __future__ import annotations

import random
import socket
import struct
from collections.abc import Callable
from typing import Any

import pytest

import pybpf.object as bpfobj
from pybpf.progtypes.sections import ProgType
from pybpf.progtypes.testrun import TestRunError, test_run

from . import kernel_bpf
from .support import control, load_example, verifies

REASON = kernel_bpf.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"kernel oracle unavailable: {REASON}")

ROUTER_MAC = bytes.fromhex("020000000002")


def configure_firewall(obj: bpfobj.BpfObject) -> None:
    for port in (22, 53, 443):
        obj.maps["blocked_ports"][struct.pack("<H", port)] = bytes(8)


def configure_lb(obj: bpfobj.BpfObject) -> None:
    obj.maps["backends"][0] = bytes.fromhex("0a0000000001") + b"\0\0" + socket.inet_aton("10.1.0.1")
    obj.maps["backends"][1] = bytes.fromhex("0a0000000002") + b"\0\0" + socket.inet_aton("10.1.0.2")


def configure_switch(port: int) -> Callable[[bpfobj.BpfObject], None]:
    def configure(obj: bpfobj.BpfObject) -> None:
        obj.maps["tx_ports"][1] = 1  # the kernel only accepts existing devices: the loopback
        obj.maps["mac_table"][ROUTER_MAC + b"\0\0"] = struct.pack("<IIQ", port, 0, 0)

    return configure


def configure_acl(obj: bpfobj.BpfObject) -> None:
    for (port, proto, dport), deny in {(0, 6, 22): 1, (1, 6, 80): 1, (1, 17, 0): 1, (1, 17, 53): 0, (0, 58, 0): 1}.items():
        obj.maps["acl"][struct.pack("<IBxH", port, proto, dport)] = struct.pack("<IIQ", deny, 0, 0)


EXAMPLES: dict[str, tuple[str, dict[str, Any], Callable[[bpfobj.BpfObject], None] | None]] = {
    "xdp_counter": ("count_packets", {}, None),
    "xdp_firewall": ("firewall", {}, configure_firewall),
    "xdp_lb": ("balance", {"vip": socket.inet_aton("10.0.0.100"), "n_backends": 2}, configure_lb),
    "socket_filter": ("ssh_or_http", {}, None),
    "l2_switch/drop": ("l2_switch", {}, configure_switch(1)),  # destination on the ingress port
    "l2_switch/miss": ("l2_switch", {}, configure_switch(7)),  # port not in tx_ports: flood
    "port_acl": ("port_acl", {"default_deny": 0}, configure_acl),
}


def kernel_type(program: bpfobj.Program) -> int:
    assert program.prog_type is not None
    return int(program.prog_type)


def map_contents(obj: bpfobj.BpfObject, name: str) -> dict[bytes, bytes]:
    return {bytes(k): bytes(v) for k, v in obj.maps[name].items() if any(bytes(v))}


@pytest.mark.parametrize("example", list(EXAMPLES))
def test_examples_match_the_kernel(example: str, frames: list[bytes]) -> None:
    name, rodata, configure = EXAMPLES[example]
    obj = load_example(example.split("/")[0], **rodata)
    if configure is not None:
        configure(obj)
    program = obj.program(name)
    kernel = kernel_bpf.KernelObject.mirror(obj)
    try:
        fd = kernel.load(name, kernel_type(program))
        verify = verifies(program)
        for i, frame in enumerate(frames):
            k = kernel_bpf.test_run(fd, frame)
            p = test_run(program, frame, verify=verify)
            assert (p.retval, p.data_out) == (k.retval, k.data_out), f"frame {i}"
        for map_name in obj.maps:
            if not map_name.startswith(".rodata"):
                kernel_view = {k: v for k, v in kernel.map_items(map_name).items() if any(v)}
                assert map_contents(obj, map_name) == kernel_view, map_name
    finally:
        kernel.close()


@pytest.fixture
def kernel_ops(ops: bpfobj.BpfObject) -> Any:
    ops.maps["tx_ports"][3] = 1
    kernel = kernel_bpf.KernelObject.mirror(ops)
    fds = {name: kernel.load(name, int(p.prog_type or ProgType.XDP)) for name, p in ops.programs.items()
           if name != "xdp_oob"}
    yield ops, fds
    kernel.close()


def ops_cases(frames: list[bytes]) -> list[tuple[str, bytes]]:
    """Every helper through its edge cases: deltas, lengths and flags around each limit."""
    rng = random.Random(5)
    cases = []
    xdp_deltas = (-300, -217, -216, -100, -20, -8, -4, -3, 0, 4, 13, 14, 40, 100, 3400, 3500, 3800)
    for op in range(1, 9):
        for delta in xdp_deltas:
            frame = rng.choice(frames)
            cases.append(("xdp_ops", control(frame, op, delta, rng.choice([0, 1, 2, 3, 8, 16, 24, 100, 0x98]))))
    tc_args = [0, 1, 2, 3, 4, 0x10, 0x12, 0x14, 0x20, 0x24, 0x34, 0x40, 0x64, 0x84, 0x100, 0x101, 0x200, 0x201, 0x3FF]
    tc_deltas = (-5000, -100, -40, -20, -8, -1, 0, 1, 2, 3, 12, 13, 14, 24, 30, 34, 40, 54, 60, 200, 4095, 4096, 16064)
    for op in range(1, 13):
        for delta in tc_deltas:
            frame = rng.choice(frames)
            cases.append(("tc_ops", control(frame, op, delta, rng.choice(tc_args))))
    cases += [("sock_ops", frame) for frame in frames[:40]]
    return cases


def test_helpers_match_the_kernel(kernel_ops: Any, frames: list[bytes]) -> None:
    ops, fds = kernel_ops
    mismatches = []
    for name, frame in ops_cases(frames):
        k = kernel_bpf.test_run(fds[name], frame)
        p = test_run(ops.program(name), frame)
        if (p.retval, p.data_out) != (k.retval, k.data_out):
            mismatches.append((name, frame[6:12].hex(), k.retval, p.retval, k.data_out != p.data_out))
    assert mismatches == []


def both(kernel_fd: int, program: bpfobj.Program, data: bytes, ctx: bytes | None = None, *, ctx_size: int = 0,
         **kw: Any) -> tuple[Any, Any]:
    """(kernel outcome, pybpf outcome): (errno, retval, data_out, data_size_out, ctx_out) each."""
    kernel: tuple[Any, ...]
    ours: tuple[Any, ...]
    try:
        k = kernel_bpf.test_run(kernel_fd, data, ctx, ctx_out_size=ctx_size if ctx is not None else 0, **kw)
        kernel = (k.errno, k.retval, k.data_out, k.data_size_out, k.ctx_out)
    except kernel_bpf.KernelError as exc:
        kernel = (exc.errno, None, None, None, None)
    try:
        r = test_run(program, data, ctx, **kw)
        ours = (0, r.retval, r.data_out, r.data_size_out, r.ctx_out)
    except TestRunError as exc:
        res = exc.result
        ours = (exc.errno, None, None, None, None) if res is None else (
            exc.errno, res.retval, res.data_out, res.data_size_out, res.ctx_out)
    return kernel, ours


def test_test_run_rules_match_the_kernel(kernel_ops: Any, frames: list[bytes]) -> None:
    ops, fds = kernel_ops
    xdp, tc, sock = ops.program("xdp_ops"), ops.program("tc_ops"), ops.program("sock_ops")
    plain = control(frames[0], 0)

    def md(*fields: int) -> bytes:
        return struct.pack("<6I", *fields)

    cases: list[tuple[str, Any, bytes, bytes | None, dict[str, Any]]] = [
        ("xdp", xdp, plain[:13], None, {}),
        ("xdp", xdp, plain[:14], None, {}),
        ("xdp", xdp, plain, None, {"data_size_out": 10}),
        ("xdp", xdp, plain, None, {"repeat": 0}),
        ("xdp", xdp, control(frames[0], 3, 4), None, {"repeat": 3}),
        ("xdp", xdp, bytes(8) + control(frames[0], 2, -4), md(8, 70, 0, 0, 0, 0), {}),
        ("xdp", xdp, bytes(8) + control(frames[0], 1, -12), md(8, 70, 0, 0, 0, 0), {}),
        ("xdp", xdp, bytes(216) + plain, md(216, 278, 0, 0, 0, 0), {}),
        ("xdp", xdp, bytes(220) + plain, md(220, 282, 0, 0, 0, 0), {}),
        ("xdp", xdp, plain, md(0, 62, 4, 0, 0, 0), {}),
        ("xdp", xdp, plain, md(0, 63, 0, 0, 0, 0), {}),
        ("xdp", xdp, plain, md(6, 62, 0, 0, 0, 0), {}),
        ("xdp", xdp, plain, md(0, 62, 0, 0, 0, 1), {}),
        ("xdp", xdp, plain, md(0, 62, 0, 0, 1, 0), {}),
        ("xdp", xdp, plain, md(0, 62, 0, 1, 0, 0), {}),
        ("xdp", xdp, control(frames[0], 6), md(0, 62, 0, 1, 0, 0), {}),
        ("xdp", xdp, plain, md(0, 62, 0, 1, 1, 0), {}),
        ("xdp", xdp, plain, md(0, 62, 0, 0, 0, 0) + b"\x01", {}),
        ("xdp", xdp, plain, md(0, 62, 0, 0, 0, 0) + bytes(40), {}),
        ("xdp", xdp, plain, md(0, 20, 0, 0, 0, 0), {}),
        ("tc", tc, plain[:13], None, {}),
        ("tc", tc, bytes(3713), None, {}),
        ("tc", tc, bytes(3712), None, {}),
        ("tc", tc, control(frames[0], 9), bytes(192), {}),
        ("tc", tc, control(frames[0], 8, 5, 0x42), bytes(192), {}),
        ("tc", tc, control(frames[0], 10), bytes(8) + struct.pack("<I", 7) + bytes(36) + struct.pack("<I", 9)
         + bytes(112) + struct.pack("<QII", 77, 0, 3) + bytes(16), {}),
        ("tc", tc, plain, bytes(160) + struct.pack("<I", 10) + bytes(28), {}),
        ("tc", tc, plain, bytes(164) + struct.pack("<I", 65536) + bytes(24), {}),
        ("tc", tc, plain, bytes(4) + b"\x01" + bytes(187), {}),
        ("tc", tc, plain, bytes(40) + struct.pack("<I", 99) + bytes(148), {}),
        ("tc", tc, plain, bytes(192), {"data_size_out": 20}),
        ("sock", sock, frames[3], bytes(192), {}),
    ]
    for label, program, data, ctx, kw in cases:
        size = (24 if label == "xdp" else 192) if ctx is not None else 0
        fd = fds[program.name]
        kernel, ours = both(fd, program, data, ctx, ctx_size=size, **kw)
        assert ours == kernel, (label, data[6:12].hex(), ctx, kw)
