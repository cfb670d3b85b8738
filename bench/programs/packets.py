"""Deterministic synthetic packets for the parser and batch benchmarks.

A realistic mix rather than one repeated frame, so branch predictors and parsers see variety:
IPv4 and IPv6, TCP and UDP, VLAN and QinQ tags, IPv4 options, IPv6 extension headers, IPv4
fragments, ARP (not IP) and a few truncated frames.  Checksums are left zero: nothing here
validates them.
"""

from __future__ import annotations

import random
import struct

ETH_P_IP, ETH_P_IPV6, ETH_P_ARP, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8
TCP, UDP, HOPOPTS, ROUTING, DSTOPTS = 6, 17, 0, 43, 60


def _eth(rng: random.Random, proto: int, tags: int) -> bytes:
    head = rng.randbytes(6) + rng.randbytes(6)
    for outer in range(tags):
        tpid = ETH_P_8021AD if outer == 0 and tags == 2 else ETH_P_8021Q
        head += struct.pack("!HH", tpid, rng.randrange(4096))
    return head + struct.pack("!H", proto)


def _l4(rng: random.Random, proto: int, payload: int) -> bytes:
    sport, dport = rng.randrange(1024, 65536), rng.choice([53, 80, 443, 8080, rng.randrange(65536)])
    if proto == TCP:
        opts = 4 * rng.choice([0, 0, 3])  # sometimes 12 bytes of options
        doff = (20 + opts) // 4
        return (
            struct.pack("!HHIIBBHHH", sport, dport, rng.getrandbits(32), 0, doff << 4, 0x18, 512, 0, 0)
            + bytes(opts)
            + rng.randbytes(payload)
        )
    return struct.pack("!HHHH", sport, dport, 8 + payload, 0) + rng.randbytes(payload)


def _ipv4(rng: random.Random, proto: int, body: bytes, fragment: bool) -> bytes:
    opts = 4 * rng.choice([0, 0, 0, 1, 2])
    ihl = (20 + opts) // 4
    frag = rng.randrange(1, 0x1FFF) if fragment else 0x4000  # offset != 0, or DF
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        20 + opts + len(body),
        rng.getrandbits(16),
        frag,
        64,
        proto,
        0,
        rng.randbytes(4),
        rng.randbytes(4),
    )
    return head + bytes(opts) + body


def _ipv6(rng: random.Random, proto: int, body: bytes) -> bytes:
    exts = b""
    chain = [h for h in (HOPOPTS, ROUTING, DSTOPTS) if rng.random() < 0.15]
    nexts = [*chain[1:], proto]
    for nxt in nexts:
        exts += struct.pack("!BB", nxt, 0) + bytes(6)
    first = chain[0] if chain else proto
    head = struct.pack(
        "!IHBB16s16s", 0x60000000, len(exts) + len(body), first, 64, rng.randbytes(16), rng.randbytes(16)
    )
    return head + exts + body


def make_packets(count: int, seed: int = 7) -> list[bytes]:
    """``count`` Ethernet frames, the same ones for a given seed."""
    rng = random.Random(seed)
    out: list[bytes] = []
    for _ in range(count):
        kind = rng.random()
        tags = 0 if rng.random() < 0.85 else rng.choice([1, 2])
        payload = rng.choice([0, 16, 64, 200])
        proto = TCP if rng.random() < 0.6 else UDP
        if kind < 0.55:
            frame = _eth(rng, ETH_P_IP, tags) + _ipv4(rng, proto, _l4(rng, proto, payload), rng.random() < 0.05)
        elif kind < 0.9:
            frame = _eth(rng, ETH_P_IPV6, tags) + _ipv6(rng, proto, _l4(rng, proto, payload))
        else:
            frame = _eth(rng, ETH_P_ARP, tags) + rng.randbytes(28)
        if rng.random() < 0.03:
            frame = frame[: rng.randrange(6, len(frame))]  # truncated
        out.append(frame)
    return out


def pack_packets(packets: list[bytes], align: int = 4) -> tuple[bytes, list[int], list[int]]:
    """One buffer holding every packet (each starting at a multiple of ``align``), with the
    offsets and lengths a batch run or the parser's descriptor table needs."""
    data = bytearray()
    offsets, lengths = [], []
    for p in packets:
        data += bytes(-len(data) % align)
        offsets.append(len(data))
        lengths.append(len(p))
        data += p
    return bytes(data), offsets, lengths
