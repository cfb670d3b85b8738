"""Write the sample capture the examples run on: a deterministic mix of traffic.

Usage: python examples/make_sample_pcap.py [OUT.pcap] [--count N] [--pcapng]

The mix: IPv4 TCP to ports 22, 80, 443 and 8080 (some to the load balancer's virtual IP
10.0.0.100:80), IPv4 UDP (DNS, NTP, VXLAN), ICMP echo, IPv6 TCP/UDP/ICMPv6, VLAN-tagged IPv4
UDP, and ARP.  The same seed always gives the same bytes, so the committed file can be rebuilt.
"""

from __future__ import annotations

import argparse
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import dpkt

CLIENT_MAC = bytes.fromhex("020000000001")
ROUTER_MAC = bytes.fromhex("020000000002")
VIP = "10.0.0.100"


def ip4(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET, addr)


def ip6(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, addr)


def eth(payload: dpkt.Packet, etype: int, vlan: int | None = None) -> bytes:
    frame = dpkt.ethernet.Ethernet(src=CLIENT_MAC, dst=ROUTER_MAC, type=etype, data=payload)
    raw = bytes(frame)
    if vlan is not None:
        tag = (0x8100).to_bytes(2, "big") + vlan.to_bytes(2, "big")
        raw = raw[:12] + tag + raw[12:]
    return raw


def ipv4(src: str, dst: str, proto: int, l4: dpkt.Packet) -> dpkt.ip.IP:
    packet = dpkt.ip.IP(src=ip4(src), dst=ip4(dst), p=proto, ttl=64, data=l4)
    packet.len = 20 + len(bytes(l4))
    # dpkt fills in IPv4 and TCP/UDP checksums when the packet is serialised.
    return packet


def ipv6(src: str, dst: str, nxt: int, l4: dpkt.Packet) -> dpkt.ip6.IP6:
    packet = dpkt.ip6.IP6(src=ip6(src), dst=ip6(dst), nxt=nxt, hlim=64, data=l4)
    packet.plen = len(bytes(l4))
    return packet


def frames(count: int, rng: random.Random) -> Iterator[bytes]:
    kinds = ["tcp4", "tcp4", "tcp4", "udp4", "udp4", "icmp4", "tcp6", "udp6", "icmp6", "vlan", "arp", "lb"]
    for i in range(count):
        kind = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        client = f"192.168.1.{rng.randint(2, 250)}"
        payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        sport = rng.randint(1024, 65535)
        if kind in ("tcp4", "lb"):
            dport = 80 if kind == "lb" else rng.choice([22, 80, 443, 8080])
            dst = VIP if kind == "lb" else f"10.0.1.{rng.randint(1, 20)}"
            tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=rng.getrandbits(32), flags=dpkt.tcp.TH_ACK, data=payload)
            yield eth(ipv4(client, dst, dpkt.ip.IP_PROTO_TCP, tcp), dpkt.ethernet.ETH_TYPE_IP)
        elif kind == "udp4":
            dport = rng.choice([53, 123, 4789])
            udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
            udp.ulen = 8 + len(payload)
            yield eth(ipv4(client, "10.0.2.1", dpkt.ip.IP_PROTO_UDP, udp), dpkt.ethernet.ETH_TYPE_IP)
        elif kind == "icmp4":
            icmp = dpkt.icmp.ICMP(type=8, code=0, data=dpkt.icmp.ICMP.Echo(id=i, seq=i, data=payload))
            yield eth(ipv4(client, "10.0.1.1", dpkt.ip.IP_PROTO_ICMP, icmp), dpkt.ethernet.ETH_TYPE_IP)
        elif kind == "tcp6":
            tcp = dpkt.tcp.TCP(sport=sport, dport=rng.choice([22, 443]), flags=dpkt.tcp.TH_SYN, data=payload)
            yield eth(ipv6("fd00::10", "fd00::1", dpkt.ip.IP_PROTO_TCP, tcp), dpkt.ethernet.ETH_TYPE_IP6)
        elif kind == "udp6":
            udp = dpkt.udp.UDP(sport=sport, dport=53, data=payload)
            udp.ulen = 8 + len(payload)
            yield eth(ipv6("fd00::10", "fd00::53", dpkt.ip.IP_PROTO_UDP, udp), dpkt.ethernet.ETH_TYPE_IP6)
        elif kind == "icmp6":
            icmp = dpkt.icmp6.ICMP6(type=128, code=0, data=payload)
            yield eth(ipv6("fd00::10", "fd00::1", dpkt.ip.IP_PROTO_ICMP6, icmp), dpkt.ethernet.ETH_TYPE_IP6)
        elif kind == "vlan":
            udp = dpkt.udp.UDP(sport=sport, dport=4789, data=payload)
            udp.ulen = 8 + len(payload)
            yield eth(ipv4(client, "10.0.3.1", dpkt.ip.IP_PROTO_UDP, udp), dpkt.ethernet.ETH_TYPE_IP, vlan=rng.randint(1, 4094))
        else:
            arp = dpkt.arp.ARP(sha=CLIENT_MAC, spa=ip4(client), tha=b"\0" * 6, tpa=ip4("192.168.1.1"), op=dpkt.arp.ARP_OP_REQUEST)
            yield eth(arp, dpkt.ethernet.ETH_TYPE_ARP)


def write(path: Path, count: int, pcapng: bool = False, seed: int = 1) -> int:
    rng = random.Random(seed)
    with path.open("wb") as f:
        writer = dpkt.pcapng.Writer(f) if pcapng else dpkt.pcap.Writer(f)
        n = 0
        for n, frame in enumerate(frames(count, rng), 1):
            writer.writepkt(frame, ts=1_700_000_000 + n / 1000)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", default=str(Path(__file__).with_name("sample.pcap")))
    parser.add_argument("--count", type=int, default=240)
    parser.add_argument("--pcapng", action="store_true", help="write pcapng instead of pcap")
    args = parser.parse_args()
    n = write(Path(args.output), args.count, args.pcapng)
    print(f"wrote {n} packets to {args.output}")


if __name__ == "__main__":
    main()
