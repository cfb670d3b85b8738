"""Every example program on examples/sample.pcap, checked against what the capture implies.

The expectations are computed here from the capture with dpkt, independently of the programs:
each test parses the frames itself and derives verdicts, counters and rewritten headers.
"""

from __future__ import annotations

import socket
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import dpkt  # type: ignore[import-untyped]
import pytest

import pybpf.object as bpfobj
from pybpf.progtypes.pcaprun import run_capture
from pybpf.progtypes.xdp import XdpRunner

from .support import SAMPLE, load_example, udp_frame, verifies

VIP = "10.0.0.100"
BACKENDS = [(bytes.fromhex("0a0000000001"), "10.1.0.1"), (bytes.fromhex("0a0000000002"), "10.1.0.2")]


@dataclass
class Frame:
    raw: bytes
    vlan: bool
    proto: int  # EtherType after any VLAN tag
    l4: int  # IP protocol, 0 if not IP
    sport: int
    dport: int
    ip: dpkt.Packet | None


def parse(raw: bytes) -> Frame:
    eth = dpkt.ethernet.Ethernet(raw)
    vlan = bool(getattr(eth, "vlan_tags", None))
    ip = eth.data if isinstance(eth.data, (dpkt.ip.IP, dpkt.ip6.IP6)) else None
    proto = {dpkt.ip.IP: 0x0800, dpkt.ip6.IP6: 0x86DD}.get(type(ip), eth.type)
    l4 = (ip.p if isinstance(ip, dpkt.ip.IP) else ip.nxt) if ip is not None else 0
    sport = dport = 0
    if ip is not None and isinstance(ip.data, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        sport, dport = ip.data.sport, ip.data.dport
    return Frame(raw, vlan, proto, l4, sport, dport, ip)


@pytest.fixture(scope="module")
def parsed(frames: list[bytes]) -> list[Frame]:
    return [parse(f) for f in frames]


def read_pcap(path: Path) -> list[bytes]:
    with path.open("rb") as f:
        return [bytes(b) for _, b in dpkt.pcap.Reader(f)]


def u64s(value: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(value) // 8}Q", value)


# -- xdp_counter ---------------------------------------------------------------------------------
def counter_class(f: Frame) -> int:
    v6 = {6: 5, 17: 6, 58: 7}
    v4 = {6: 1, 17: 2, 1: 3}
    if f.proto == 0x0800:
        return v4.get(f.l4, 4)
    if f.proto == 0x86DD:
        return v6.get(f.l4, 8)
    return 9 if f.proto == 0x0806 else 0


def test_xdp_counter(parsed: list[Frame], tmp_path: Path) -> None:
    obj = load_example("xdp_counter")
    program = obj.program("count_packets")
    summary = run_capture(program, SAMPLE, tmp_path / "out.pcap", verify=verifies(program))
    expected: Counter[int] = Counter()
    expected_bytes: Counter[int] = Counter()
    for f in parsed:
        for cls in [counter_class(f)] + ([10] if f.vlan else []):
            expected[cls] += 1
            expected_bytes[cls] += len(f.raw)
    stats = obj.maps["stats"]
    for cls in range(12):
        assert u64s(stats[cls]) == (expected[cls], expected_bytes[cls]), cls
    assert summary.verdicts == Counter(PASS=len(parsed)) and summary.errors == []
    assert read_pcap(tmp_path / "out.pcap") == [f.raw for f in parsed]  # everything passes unchanged


# -- xdp_firewall --------------------------------------------------------------------------------
def test_xdp_firewall(parsed: list[Frame]) -> None:
    obj = load_example("xdp_firewall")
    blocked = obj.maps["blocked_ports"]
    for port in (22, 53):
        blocked[struct.pack("<H", port)] = bytes(8)
    summary = run_capture(obj.program("firewall"), SAMPLE)
    dropped = Counter(f.dport for f in parsed if f.l4 in (6, 17) and f.dport in (22, 53))
    assert dropped[22] and dropped[53]  # the capture has both
    assert summary.verdicts == Counter(DROP=sum(dropped.values()), PASS=len(parsed) - sum(dropped.values()))
    assert {struct.unpack("<H", k)[0]: u64s(v)[0] for k, v in blocked.items()} == dict(dropped)


# -- xdp_lb --------------------------------------------------------------------------------------
def backend_index(f: Frame) -> int:
    assert isinstance(f.ip, dpkt.ip.IP)
    h = int.from_bytes(f.ip.src, "little") ^ (f.sport << 16) ^ f.l4
    h = (h ^ (h >> 16)) & 0xFFFF_FFFF
    return h % len(BACKENDS)


def checksums_ok(raw: bytes) -> bool:
    ip = dpkt.ethernet.Ethernet(raw).data
    stored_ip, stored_l4 = ip.sum, ip.data.sum
    fresh = dpkt.ip.IP(bytes(ip))
    fresh.sum = 0
    fresh.data.sum = 0
    again = dpkt.ip.IP(bytes(fresh))  # dpkt recomputes both checksums when serialising
    return bool(stored_ip == again.sum and stored_l4 == again.data.sum)


def test_xdp_lb(parsed: list[Frame], tmp_path: Path) -> None:
    obj = load_example("xdp_lb", vip=socket.inet_aton(VIP), n_backends=len(BACKENDS))
    for i, (mac, ip) in enumerate(BACKENDS):
        obj.maps["backends"][i] = mac + b"\0\0" + socket.inet_aton(ip)
    summary = run_capture(obj.program("balance"), SAMPLE, tmp_path / "out.pcap")
    to_vip = [
        f for f in parsed
        if f.proto == 0x0800 and not f.vlan and f.l4 in (6, 17) and f.dport == 80
        and isinstance(f.ip, dpkt.ip.IP) and f.ip.dst == socket.inet_aton(VIP)
    ]
    assert to_vip and summary.verdicts == Counter(TX=len(to_vip), PASS=len(parsed) - len(to_vip))
    per_backend = Counter(backend_index(f) for f in to_vip)
    assert {i: u64s(obj.maps["forwarded"][i])[0] for i in range(len(BACKENDS))} == {
        i: per_backend[i] for i in range(len(BACKENDS))
    }
    written = read_pcap(tmp_path / "out.pcap")
    assert len(written) == len(parsed)  # TX and PASS are both written, in capture order
    rewritten = {id(f): out for f, out in zip(parsed, written, strict=True)}
    for f in parsed:
        out = rewritten[id(f)]
        if f not in to_vip:
            assert out == f.raw
            continue
        mac, ip = BACKENDS[backend_index(f)]
        eth = dpkt.ethernet.Ethernet(out)
        assert eth.dst == mac and eth.src == f.raw[:6]
        assert eth.data.dst == socket.inet_aton(ip) and eth.data.src == f.ip.src  # type: ignore[union-attr]
        assert bytes(eth.data.data.data) == bytes(f.ip.data.data)  # type: ignore[union-attr]
        assert checksums_ok(out), "IPv4 or TCP/UDP checksum wrong after the rewrite"


# -- socket_filter -------------------------------------------------------------------------------
def test_socket_filter(parsed: list[Frame], tmp_path: Path) -> None:
    obj = load_example("socket_filter")
    summary = run_capture(obj.program("ssh_or_http"), SAMPLE, tmp_path / "out.pcap")
    kept = [f for f in parsed if f.proto == 0x0800 and not f.vlan and f.l4 == 6 and f.dport in (22, 80)]
    assert summary.verdicts == Counter(KEEP=len(kept), DROP=len(parsed) - len(kept))
    assert read_pcap(tmp_path / "out.pcap") == [f.raw[:96] for f in kept]


# -- l2_switch -----------------------------------------------------------------------------------
MAC = {name: bytes([2, 0, 0, 0, 0, n]) for n, name in enumerate(["a", "b", "c", "d"], 1)}
BROADCAST = b"\xff" * 6


def l2_frame(src: str, dst: bytes) -> bytes:
    return udp_frame("192.168.1.1", "192.168.1.2", 1000, 2000, src_mac=MAC[src], dst_mac=dst)


def switch_stats(obj: bpfobj.BpfObject) -> list[int]:
    return [u64s(obj.maps["switch_stats"][i])[0] for i in range(5)]  # learned, moved, flooded, fwd, filtered


def test_l2_switch_learns_and_forwards() -> None:
    obj = load_example("l2_switch")
    for port in (2, 3, 4):
        obj.maps["tx_ports"][port] = port
    switch = XdpRunner(obj.program("l2_switch"))
    r = switch.run(l2_frame("a", BROADCAST), ingress_ifindex=2)
    assert r.action == "PASS"  # flood
    r = switch.run(l2_frame("b", MAC["a"]), ingress_ifindex=3)
    assert r.action == "REDIRECT" and r.redirect is not None and r.redirect.ifindex == 2
    r = switch.run(l2_frame("a", MAC["b"]), ingress_ifindex=2)
    assert r.redirect is not None and r.redirect.ifindex == 3
    assert switch.run(l2_frame("c", MAC["a"]), ingress_ifindex=2).action == "DROP"  # same segment
    assert switch.run(l2_frame("a", MAC["d"]), ingress_ifindex=2).action == "PASS"  # unknown: flood
    r = switch.run(l2_frame("a", MAC["c"]), ingress_ifindex=4)  # a moved to port 4
    assert r.redirect is not None and r.redirect.ifindex == 2
    assert switch.run(l2_frame("b", MAC["a"]), ingress_ifindex=3).redirect.ifindex == 4  # type: ignore[union-attr]
    table = {bytes(k)[:6]: struct.unpack("<IIQ", v) for k, v in obj.maps["mac_table"].items()}
    assert {mac: entry[0] for mac, entry in table.items()} == {MAC["a"]: 4, MAC["b"]: 3, MAC["c"]: 2}
    assert table[MAC["a"]][2] == 4  # frames seen from a
    assert switch_stats(obj) == [3, 1, 2, 4, 1]


def test_l2_switch_on_the_sample_capture(parsed: list[Frame]) -> None:
    obj = load_example("l2_switch")
    summary = run_capture(obj.program("l2_switch"), SAMPLE)
    sources = {f.raw[6:12] for f in parsed}
    assert len(sources) == 1  # one client behind port 1 talking to one router that never answers
    assert summary.verdicts == Counter(PASS=len(parsed))
    ((key, value),) = obj.maps["mac_table"].items()
    assert bytes(key)[:6] in sources and struct.unpack("<IIQ", value)[::2] == (1, len(parsed))
    assert switch_stats(obj) == [1, 0, len(parsed), 0, 0]


# -- port_acl ------------------------------------------------------------------------------------
RULES = {  # (ifindex, proto, dport) -> deny
    (0, 6, 22): True,  # no SSH from anywhere ...
    (1, 6, 22): False,  # ... except on port 1
    (1, 17, 0): True,  # no UDP on port 1 ...
    (1, 17, 53): False,  # ... but DNS
    (0, 1, 0): True,  # no ICMP anywhere
}


def acl_expectation(f: Frame, ifindex: int, default_deny: bool) -> tuple[str, tuple[int, int, int] | None]:
    if f.proto not in (0x0800, 0x86DD):
        return "PASS", None
    for key in ((ifindex, f.l4, f.dport), (ifindex, f.l4, 0), (0, f.l4, f.dport), (0, f.l4, 0)):
        if key in RULES:
            return ("DROP" if RULES[key] else "PASS"), key
    return ("DROP" if default_deny else "PASS"), None


@pytest.mark.parametrize(("ifindex", "default_deny"), [(1, False), (2, False), (2, True)])
def test_port_acl(parsed: list[Frame], ifindex: int, default_deny: bool) -> None:
    obj = load_example("port_acl", default_deny=int(default_deny))
    for (port, proto, dport), deny in RULES.items():
        obj.maps["acl"][struct.pack("<IBxH", port, proto, dport)] = struct.pack("<IIQ", int(deny), 0, 0)
    acl = XdpRunner(obj.program("port_acl"))
    verdicts: Counter[str] = Counter()
    hits: Counter[tuple[int, int, int]] = Counter()
    for f in parsed:
        action, rule = acl_expectation(f, ifindex, default_deny)
        assert acl.run(f.raw, ingress_ifindex=ifindex).action == action
        verdicts[action] += 1
        if rule is not None:
            hits[rule] += 1
    assert verdicts["DROP"] > 0 and verdicts["PASS"] > 0
    assert [u64s(obj.maps["verdicts"][i])[0] for i in (0, 1)] == [verdicts["PASS"], verdicts["DROP"]]
    got = {struct.unpack("<IBxH", k): struct.unpack("<IIQ", v)[2] for k, v in obj.maps["acl"].items()}
    assert got == {key: hits[key] for key in RULES}
