"""Packets per second through an XDP program: from a pcap file, and the program alone.

Usage: python bench/pcap_throughput.py [--count N] [--distinct D] [--programs xdp_counter,xdp_firewall]

A capture of ``--count`` packets (default 1,000,000) is written to a temporary directory from
examples/make_sample_pcap.py's generator (``--distinct`` different frames, default 4096, cycled
with fresh timestamps: generating every frame with dpkt would take longer than the runs).  For
each example program and each available engine it prints:

* end to end: ``run_capture`` over the whole file -- dpkt reading, context set-up, the program,
  verdict counting -- in packets per second;
* per packet: the same frames from memory (``XdpRunner.load`` + ``execute``), no file;
* program only: ``execute`` on one loaded frame, the bare execution rate.

Engines: ``interp`` always, ``jit`` when ``pybpf.engine.jit_available()``.  A program the
verifier rejects runs unverified, which only the interpreter can do; the JIT is then skipped
with the reason.
"""

from __future__ import annotations

import argparse
import importlib.util
import struct
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import dpkt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pybpf.object as bpfobj  # noqa: E402
from pybpf.engine import jit_available  # noqa: E402
from pybpf.progtypes.pcaprun import run_capture  # noqa: E402
from pybpf.progtypes.runtime import map_definitions  # noqa: E402
from pybpf.progtypes.xdp import XdpRunner  # noqa: E402

PROGRAMS = {"xdp_counter": "count_packets", "xdp_firewall": "firewall"}


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_pcap", ROOT / "examples" / "make_sample_pcap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_capture(path: Path, count: int, distinct: int) -> list[bytes]:
    import random

    frames = list(generator().frames(distinct, random.Random(1)))
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f)
        for i in range(count):
            writer.writepkt(frames[i % distinct], ts=1_700_000_000 + i / 1_000_000)
    return frames


def load(example: str, engine: str) -> bpfobj.BpfObject:
    obj = bpfobj.load(ROOT / "examples" / f"{example}.o", engine=engine)
    if example == "xdp_firewall":
        for port in (22, 53):
            obj.maps["blocked_ports"][struct.pack("<H", port)] = bytes(8)
    return obj


def verifies(program: bpfobj.Program) -> str | None:
    from pybpf.verifier import VerifierError, verify

    try:
        verify(program.definition.insns, "xdp", maps=map_definitions(program.object))
    except VerifierError as exc:
        return str(exc).splitlines()[0]
    return None


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} pkt/s  ({seconds / n * 1e6:6.2f} us/pkt)"


def bench(example: str, engine: str, capture: Path, frames: list[bytes], count: int) -> dict[str, Any]:
    obj = load(example, engine)
    program = obj.program(PROGRAMS[example])
    rejected = verifies(program)
    if rejected and engine != "interp":
        print(f"  {engine:6} skipped: the verifier rejects {example} ({rejected}); unverified runs need the interpreter")
        return {}
    verify = rejected is None
    mode = "" if verify else " (unverified)"
    summary = run_capture(program, capture, verify=verify, engine=engine)
    print(f"  {engine:6} end to end{mode:14} {rate(summary.packets, summary.elapsed_s)}  verdicts {dict(summary.verdicts)}")
    runner = XdpRunner(program, verify=verify, engine=engine)
    n = min(count, 200_000)
    start = time.perf_counter()
    for i in range(n):
        runner.load(frames[i % len(frames)])
        runner.execute()
    per_packet = time.perf_counter() - start
    print(f"  {engine:6} per packet{mode:14} {rate(n, per_packet)}")
    runner.load(frames[0])
    start = time.perf_counter()
    for _ in range(n):
        runner.execute()
    bare = time.perf_counter() - start
    print(f"  {engine:6} program only{mode:12} {rate(n, bare)}")
    return {"end_to_end": summary.packets / summary.elapsed_s, "per_packet": n / per_packet, "program": n / bare}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="packets in the capture (default 1,000,000)")
    parser.add_argument("--distinct", type=int, default=4096, help="different frames cycled through (default 4096)")
    parser.add_argument("--programs", default=",".join(PROGRAMS), help="examples to run (default: all)")
    args = parser.parse_args()
    engines = ["interp"] + (["jit"] if jit_available() else [])
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "bench.pcap"
        start = time.perf_counter()
        frames = write_capture(capture, args.count, args.distinct)
        size = capture.stat().st_size
        print(f"capture: {args.count:,} packets, {size / 1e6:.1f} MB, written in {time.perf_counter() - start:.1f} s")
        for example in args.programs.split(","):
            print(f"{example}:")
            for engine in engines:
                bench(example, engine, capture, frames, args.count)


if __name__ == "__main__":
    main()
