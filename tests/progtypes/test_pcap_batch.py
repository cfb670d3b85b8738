"""The capture runner's fast paths against its reference path.

``run_capture`` reads a capture into memory and indexes it in bulk (natively when llvmlite is
there), and runs XDP programs through the JIT's batch entry point.  Both must be invisible: the
summary, verdicts, map contents, errors and the output capture are compared with the
packet-by-packet run (``batch=False``), on the example programs and the sample capture and on
generated captures of every supported kind (pcap both byte orders and resolutions, pcapng,
truncated files, records over the snaplen, frames over the XDP linear limit, limits).
"""

from __future__ import annotations

import importlib.util
import random
import socket
import struct
from pathlib import Path
from types import ModuleType
from typing import Any

import dpkt  # type: ignore[import-untyped]
import pytest

import pybpf.object as bpfobj
from pybpf.engine import jit_available
from pybpf.progtypes import pcaprun
from pybpf.progtypes.pcaprun import XdpBatch, index_capture, open_capture, records, run_capture

from .support import EXAMPLES, SAMPLE

pytestmark = pytest.mark.skipif(not jit_available(), reason="the batch path needs llvmlite")

VIP = "10.0.0.100"
BACKENDS = [(bytes.fromhex("02000000aa01"), "10.0.9.1"), (bytes.fromhex("02000000aa02"), "10.0.9.2")]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_pcap", EXAMPLES / "make_sample_pcap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load(example: str, engine: str, budget: int | None = None) -> tuple[bpfobj.BpfObject, str]:
    """A fresh object (fresh maps) of an example, configured as the README runs it; ``budget``
    makes runs that take longer fail (a program fault in the middle of a batch)."""
    opened = bpfobj.open_object(EXAMPLES / f"{example}.o")
    if example == "xdp_lb":
        opened.rodata["vip"] = socket.inet_aton(VIP)
        opened.rodata["n_backends"] = len(BACKENDS)
    obj = opened.load(engine=engine)
    name = {"xdp_counter": "count_packets", "xdp_firewall": "firewall", "xdp_lb": "balance",
            "port_acl": "port_acl", "l2_switch": "l2_switch"}[example]
    if budget is not None:
        obj.program(name).engine.budget = budget
    if example == "xdp_firewall":
        for port in (22, 53, 443):
            obj.maps["blocked_ports"][struct.pack("<H", port)] = bytes(8)
    if example == "xdp_lb":
        for i, (mac, ip) in enumerate(BACKENDS):
            obj.maps["backends"][i] = mac + b"\0\0" + socket.inet_aton(ip)
    return obj, name


def outcome(
    example: str, engine: str, capture: Path, tmp: Path, tag: str, budget: int | None = None, **options: Any
) -> dict[str, Any]:
    obj, name = load(example, engine, budget)
    suffix = ".pcapng" if capture.suffix == ".pcapng" else ".pcap"
    out = tmp / f"{example}-{tag}{suffix}"
    summary = run_capture(obj.program(name), capture, out, **options)
    data = summary.as_dict()
    for volatile in ("elapsed_s", "program_s", "packets_per_second", "output"):
        data.pop(volatile)
    data["written_bytes"] = out.read_bytes() if suffix == ".pcap" else read_any(out)
    return data


def read_any(path: Path) -> list[tuple[float, bytes]]:
    """pcapng output holds a creation-time header; compare the packets and their timestamps."""
    with path.open("rb") as f:
        return [(ts, bytes(b)) for ts, b in dpkt.pcapng.Reader(f)]


def same_both_ways(example: str, engine: str, capture: Path, tmp: Path, **options: Any) -> dict[str, Any]:
    reference = outcome(example, engine, capture, tmp, "ref", batch=False, **options)
    batched = outcome(example, engine, capture, tmp, "batch", **options)
    assert batched == reference
    return batched


EXAMPLE_XDP = ["xdp_counter", "xdp_firewall", "xdp_lb", "port_acl", "l2_switch"]


@pytest.mark.parametrize("example", EXAMPLE_XDP)
def test_examples_on_the_sample(example: str, tmp_path: Path) -> None:
    data = same_both_ways(example, "jit", SAMPLE, tmp_path)
    assert data["packets"] == 240


def test_the_batch_path_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples that call no packet-state helper run batched; l2_switch (redirect_map) not."""
    used: list[int] = []
    real = XdpBatch._account

    def spy(self: XdpBatch, run: Any, index: Any, a: int, n: int, out: Any) -> None:
        used.append(n)
        real(self, run, index, a, n, out)

    monkeypatch.setattr(XdpBatch, "_account", spy)
    for example in ("xdp_counter", "xdp_firewall", "xdp_lb", "port_acl"):
        obj, name = load(example, "jit")
        assert XdpBatch.create(obj.program(name), verify=True, engine="jit") is not None
        used.clear()
        run_capture(obj.program(name), SAMPLE)
        assert sum(used) == 240, example
    obj, name = load("l2_switch", "jit")
    assert XdpBatch.create(obj.program(name), verify=True, engine="jit") is None
    obj, name = load("xdp_counter", "jit")
    assert XdpBatch.create(obj.program(name), verify=False, engine="interp") is None


def write_capture(path: Path, frames: list[bytes], *, nano: bool = False, big: bool = False, snaplen: int = 65535) -> Path:
    """A classic pcap in any byte order and resolution (dpkt writes only the host's)."""
    order = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    parts = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, 1)]
    for i, frame in enumerate(frames):
        parts.append(struct.pack(order + "IIII", 1_700_000_000 + i, (i * 7919) % (10**9 if nano else 10**6),
                                 len(frame), len(frame)))
        parts.append(frame)
    path.write_bytes(b"".join(parts))
    return path


def mixed_frames(count: int, seed: int = 3) -> list[bytes]:
    return list(generator().frames(count, random.Random(seed)))


@pytest.mark.parametrize("kind", ["le", "be", "nano-le", "nano-be", "pcapng"])
def test_capture_kinds(kind: str, tmp_path: Path) -> None:
    frames = mixed_frames(300)
    if kind == "pcapng":
        capture = tmp_path / "in.pcapng"
        generator().write(capture, 300, pcapng=True, seed=5)
    else:
        capture = write_capture(tmp_path / "in.pcap", frames, nano="nano" in kind, big=kind.endswith("be"))
    for example in ("xdp_firewall", "xdp_lb"):
        assert same_both_ways(example, "jit", capture, tmp_path)["packets"] == 300


def test_native_and_python_indexes_agree(tmp_path: Path) -> None:
    frames = mixed_frames(200, seed=9)
    paths = [
        write_capture(tmp_path / "a.pcap", frames),
        write_capture(tmp_path / "b.pcap", frames, big=True, nano=True),
        SAMPLE,
    ]
    ng = tmp_path / "c.pcapng"
    generator().write(ng, 200, pcapng=True, seed=2)
    paths.append(ng)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(paths[0].read_bytes()[:-7])
    paths.append(cut)
    for path in paths:
        indexes = []
        for native in (True, False):
            capture = open_capture(path)
            try:
                indexes.append(index_capture(capture, native=native))
            finally:
                capture.close()
        a, b = indexes
        assert (a.offsets, a.lengths, a.ts_a, a.ts_b, a.stop) == (b.offsets, b.lengths, b.ts_a, b.ts_b, b.stop)
        # and records() from the index equals dpkt reading the whole file
        capture = open_capture(path)
        try:
            fast = [(r.number, r.timestamp, r.data) if isinstance(r, pcaprun.Record) else str(r)
                    for r in records(capture, a)]
        finally:
            capture.close()
        assert fast == dpkt_records(path)


def dpkt_records(path: Path) -> list[Any]:
    """What the runner read before it had an index: dpkt over the whole file."""
    capture = open_capture(path)
    try:
        return [(r.number, r.timestamp, r.data) if isinstance(r, pcaprun.Record) else str(r)
                for r in pcaprun._dpkt_records(capture, capture.tracker.position, 0)]
    finally:
        capture.close()


def test_bad_records_long_frames_and_limits(tmp_path: Path) -> None:
    frames = mixed_frames(700, seed=11)
    rng = random.Random(4)
    for i in rng.sample(range(700), 12):  # over the 3520-byte linear limit: fragments, per packet
        frames[i] = frames[i] + bytes(rng.getrandbits(8) for _ in range(3600))
    long_ok = write_capture(tmp_path / "long.pcap", frames)
    snap = write_capture(tmp_path / "snap.pcap", frames, snaplen=1000)  # the long ones are errors
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(long_ok.read_bytes()[:-100])
    for capture in (long_ok, snap, cut):
        for options in ({}, {"limit": 300}, {"limit": 256}, {"limit": 1}, {"stop_on_error": True}):
            same_both_ways("xdp_lb", "jit", capture, tmp_path, **options)
            same_both_ways("xdp_counter", "jit", capture, tmp_path, **options)


def test_auto_engine_and_small_files(tmp_path: Path) -> None:
    for count in (0, 1, 5):
        capture = write_capture(tmp_path / f"n{count}.pcap", mixed_frames(count))
        same_both_ways("xdp_firewall", "auto", capture, tmp_path)
    same_both_ways("xdp_lb", "auto", SAMPLE, tmp_path)


def test_program_faults_inside_a_batch(tmp_path: Path) -> None:
    """Runs that exceed the budget fail on some packets: the batch stops at each, Python raises
    what the run raises, the packet is reported, and the batch goes on after it."""
    capture = write_capture(tmp_path / "in.pcap", mixed_frames(600, seed=13))
    failed = 0
    for budget in (30, 45, 60):
        for options in ({}, {"stop_on_error": True}, {"limit": 256}):
            data = same_both_ways("xdp_counter", "jit", capture, tmp_path, budget=budget, **options)
            failed += data["verdicts"].get("ERROR", 0)
            assert all("program failed" in e["error"] for e in data["errors"])
    assert failed  # the budgets did make runs fail
