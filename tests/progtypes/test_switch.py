"""The live switch forwards real traffic between two network namespaces.

Topology (built here, removed afterwards): namespaces A and B, each with an ``eth0`` (10.201.0.1
and .2) whose veth peer sits in the test's namespace; the switch runs examples/l2_switch.o on
the two peers.  A pings B and sends a UDP flow to it; both must arrive, through flooding (ARP)
and devmap redirects (unicast after learning).  Skipped, with the reason, without root or where
namespaces and veth pairs cannot be created.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from pybpf.progtypes.switch import Switch, complete_l4_checksum

from .support import load_example, udp_frame

TAG = f"{os.getpid() % 100000}"
NS = {"a": f"pbsw{TAG}a", "b": f"pbsw{TAG}b"}
HOST = {"a": f"pbha{TAG}", "b": f"pbhb{TAG}"}
ADDR = {"a": "10.201.0.1", "b": "10.201.0.2"}

PING = r"""
import socket, struct, sys, time
def csum(b):
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.settimeout(0.5)
ok = 0
for seq in range(3):
    body = struct.pack('!BBHHH', 8, 0, 0, 0x4242, seq) + b'pybpf-switch'
    s.sendto(body[:2] + struct.pack('!H', csum(body)) + body[4:], (sys.argv[1], 0))
    deadline = time.time() + 3
    while time.time() < deadline:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        icmp = data[(data[0] & 15) * 4:]
        if icmp[0] == 0 and struct.unpack('!HH', icmp[4:8]) == (0x4242, seq):
            ok += 1
            break
print(ok)
"""

RECEIVE = r"""
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
s.settimeout(3)
print('ready', flush=True)
n = 0
try:
    while n < int(sys.argv[2]):
        s.recv(2048)
        n += 1
except socket.timeout:
    pass
print(n, flush=True)
"""

SEND = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(b'flow %d' % i, (sys.argv[1], 9999))
    time.sleep(0.003)
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def in_ns(side: str, code: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", NS[side], sys.executable, "-c", code, *args]


def teardown() -> None:
    for side in "ab":
        subprocess.run(["ip", "netns", "del", NS[side]], capture_output=True)
        subprocess.run(["ip", "link", "del", HOST[side]], capture_output=True)


@pytest.fixture
def topology() -> Iterator[dict[str, str]]:
    if os.geteuid() != 0:
        pytest.skip("the live switch test builds network namespaces and needs root")
    try:
        for side in "ab":
            ip("netns", "add", NS[side])
            ip("link", "add", HOST[side], "type", "veth", "peer", "name", "eth0", "netns", NS[side])
            ip("link", "set", HOST[side], "up")
            ip("-n", NS[side], "addr", "add", f"{ADDR[side]}/24", "dev", "eth0")
            ip("-n", NS[side], "link", "set", "eth0", "up")
            ip("-n", NS[side], "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        teardown()
        detail = getattr(exc, "stderr", "") or str(exc)
        pytest.skip(f"cannot build a namespace/veth topology here: {detail.strip()}")
    try:
        yield HOST
    finally:
        teardown()


def mac_of(side: str) -> bytes:
    out = subprocess.run(["ip", "-n", NS[side], "-o", "link", "show", "eth0"], capture_output=True, text=True).stdout
    return bytes.fromhex(out.split("link/ether ")[1].split()[0].replace(":", ""))


def test_switch_forwards_ping_and_udp(topology: dict[str, str]) -> None:
    obj = load_example("l2_switch")
    try:
        switch = Switch(obj.program("l2_switch"), [topology["a"], topology["b"]], engine="interp")
    except PermissionError as exc:
        pytest.skip(f"AF_PACKET sockets not permitted: {exc}")
    thread = threading.Thread(target=switch.run, daemon=True)
    thread.start()
    try:
        ping = subprocess.run(in_ns("a", PING, ADDR["b"]), capture_output=True, text=True, timeout=30)
        assert ping.stdout.split() == ["3"], ping.stderr
        receiver = subprocess.Popen(in_ns("b", RECEIVE, ADDR["b"], "50"), stdout=subprocess.PIPE, text=True)
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        subprocess.run(in_ns("a", SEND, ADDR["b"], "50"), check=True, timeout=30)
        received, _ = receiver.communicate(timeout=30)
        assert received.split() == ["50"]  # UDP checksums completed by the switch, or B would drop them
    finally:
        switch.stop()
        thread.join(5)
        switch.close()
    stats = switch.stats()
    assert stats["actions"].get("PASS", 0) >= 1  # ARP broadcast: flooded
    assert stats["actions"].get("REDIRECT", 0) >= 50 + 3  # learned unicast: through tx_ports
    for port in stats["ports"].values():
        assert port["rx_packets"] > 0 and port["tx_packets"] > 0 and port["errors"] == 0
    learned = {bytes(k)[:6]: struct.unpack("<IIQ", v)[0] for k, v in obj.maps["mac_table"].items()}
    ifindex = {p["ifindex"] for p in stats["ports"].values()}
    assert learned[mac_of("a")] in ifindex and learned[mac_of("b")] in ifindex
    assert learned[mac_of("a")] != learned[mac_of("b")]


def test_checksum_completion() -> None:
    frame = udp_frame("10.0.0.1", "10.0.0.2", 1000, 2000, payload=b"odd-length")
    broken = frame[:40] + b"\x12\x34" + frame[42:]  # what a NIC-offloaded frame carries
    assert complete_l4_checksum(broken) == frame
