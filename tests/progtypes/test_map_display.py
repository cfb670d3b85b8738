"""The README's main command shows its counters decoded through BTF, in text and in JSON.

``pybpf run examples/xdp_counter.o --pcap examples/sample.pcap`` counts packets and bytes per
protocol class in an array of ``struct counter { __u64 packets; __u64 bytes; }``.  The expected
numbers are worked out here from the capture itself (dpkt), not from the program.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from collections import Counter

import dpkt  # type: ignore[import-untyped]

from .support import ROOT, sample_frames

# enum proto_class of examples/xdp_counter.c
IPV4 = {6: 1, 17: 2, 1: 3}
IPV4_OTHER = 4
IPV6 = {6: 5, 17: 6, 58: 7}
IPV6_OTHER = 8
ARP, VLAN_TAGGED, MALFORMED, OTHER = 9, 10, 11, 0

ROW = re.compile(r"^  (\d+) +\{packets: (\d+), bytes: (\d+)\}$")


def expected_counters() -> dict[int, tuple[int, int]]:
    """(packets, bytes) per class, classifying every frame of the sample capture with dpkt."""
    packets: Counter[int] = Counter()
    sizes: Counter[int] = Counter()
    for frame in sample_frames():
        classes = []
        try:
            eth = dpkt.ethernet.Ethernet(frame)
        except dpkt.UnpackError:
            classes = [MALFORMED]
        else:
            if getattr(eth, "vlan_tags", None):
                classes.append(VLAN_TAGGED)
            if isinstance(eth.data, dpkt.ip.IP):
                classes.append(IPV4.get(eth.data.p, IPV4_OTHER))
            elif isinstance(eth.data, dpkt.ip6.IP6):
                classes.append(IPV6.get(eth.data.nxt, IPV6_OTHER))
            elif eth.type == dpkt.ethernet.ETH_TYPE_ARP:
                classes.append(ARP)
            else:
                classes.append(OTHER)
        for cls in classes:
            packets[cls] += 1
            sizes[cls] += len(frame)
    return {cls: (packets[cls], sizes[cls]) for cls in sorted(packets)}


def pybpf(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pybpf", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_readme_command_shows_packets_and_bytes() -> None:
    expected = expected_counters()
    assert len(expected) >= 5 and VLAN_TAGGED in expected  # the capture exercises several classes
    out = pybpf("run", "examples/xdp_counter.o", "--pcap", "examples/sample.pcap")
    lines = out.splitlines()
    start = lines.index(f"map stats: {len(expected)} non-empty entries")
    rows = [ROW.match(line) for line in lines[start + 1 : start + 1 + len(expected)]]
    assert all(rows), lines[start:]
    shown = {int(m[1]): (int(m[2]), int(m[3])) for m in rows if m}
    assert shown == expected
    # The keys are __u32, so they show as numbers and line up.
    assert len({line.index("{") for line in lines[start + 1 : start + 1 + len(expected)]}) == 1


def test_readme_command_json_keeps_hex_and_adds_decoded_entries() -> None:
    expected = expected_counters()
    data = json.loads(pybpf("run", "examples/xdp_counter.o", "--pcap", "examples/sample.pcap", "--json"))
    hex_rows = data["maps"]["stats"]
    assert [len(row) for row in hex_rows] == [2] * len(expected)  # the old form is unchanged
    from_hex = {int.from_bytes(bytes.fromhex(k), "little"): struct.unpack("<QQ", bytes.fromhex(v)) for k, v in hex_rows}
    assert from_hex == expected
    entries = data["map_entries"]["stats"]
    assert [(e["key_hex"], e["value_hex"]) for e in entries] == [tuple(row) for row in hex_rows]
    assert {e["key"]: (e["value"]["packets"], e["value"]["bytes"]) for e in entries} == expected
    assert all(set(e["value"]) == {"packets", "bytes"} for e in entries)
