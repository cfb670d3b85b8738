"""Packets per second through an XDP program: from a pcap file, and the program alone.

Usage: python bench/pcap_throughput.py [--count N] [--slow-count M] [--distinct D] [--repeats R]
       [--programs xdp_counter,xdp_firewall]

A capture of ``--count`` packets (default 1,000,000) is written to a temporary directory from
examples/make_sample_pcap.py's generator (``--distinct`` different frames, default 4096, cycled
with fresh timestamps: generating every frame with dpkt would take longer than the runs).  For
each example program it prints, in packets per second:

* ``interp`` and ``jit per-packet``: ``run_capture(batch=False)`` -- one program run per packet
  from Python -- over the first ``--slow-count`` packets (default 20,000; these paths run at
  tens of thousands of packets per second), end to end (reading, context set-up, the program,
  verdict counting) and the program alone (``XdpRunner.execute`` on one loaded frame);
* ``jit batch``: ``run_capture`` over the whole file through the JIT's batch entry point, end to
  end (file read and indexed in bulk, chunks of packets per native call) and the program alone
  (the time inside ``run_batch``, which includes copying each packet into its frame and back).

Best of ``--repeats`` runs (default 3) for the batch path: the machine is shared, so numbers are
noisy.  Goals (issue 6): > 2 M packets/s end to end, > 10 M packets/s for the program alone.
A program the verifier rejects runs unverified, which only the interpreter can do.
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

import dpkt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pybpf.object as bpfobj  # noqa: E402
from pybpf.engine import jit_available  # noqa: E402
from pybpf.progtypes.pcaprun import XdpBatch, run_capture  # noqa: E402
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
    return f"{n / seconds:>13,.0f} pkt/s  ({seconds / n * 1e6:7.3f} us/pkt)"


def per_packet(example: str, engine: str, capture: Path, frames: list[bytes], slow: int) -> None:
    obj = load(example, engine)
    program = obj.program(PROGRAMS[example])
    rejected = verifies(program)
    if rejected and engine != "interp":
        print(f"  {engine:6} skipped: the verifier rejects {example} ({rejected}); unverified runs need the interpreter")
        return
    verify = rejected is None
    label = "interp" if engine == "interp" else "jit per-packet"
    summary = run_capture(program, capture, verify=verify, engine=engine, batch=False, limit=slow)
    print(f"  {label:15} end to end   {rate(summary.packets, summary.elapsed_s)}  verdicts {dict(summary.verdicts)}")
    runner = XdpRunner(program, verify=verify, engine=engine)
    runner.load(frames[0])
    start = time.perf_counter()
    for _ in range(slow):
        runner.execute()
    bare = time.perf_counter() - start
    print(f"  {label:15} program only {rate(slow, bare)}")


def batched(example: str, capture: Path, repeats: int) -> None:
    runs = []
    for _ in range(repeats):
        program = load(example, "jit").program(PROGRAMS[example])
        if verifies(program) is not None or XdpBatch.create(program, verify=True, engine="jit") is None:
            print("  jit batch       not available for this program")
            return
        runs.append(run_capture(program, capture, engine="jit"))
    best = min(runs, key=lambda s: s.elapsed_s)
    fastest = min(runs, key=lambda s: s.program_s)
    print(f"  {'jit batch':15} end to end   {rate(best.packets, best.elapsed_s)}  verdicts {dict(best.verdicts)}")
    print(f"  {'jit batch':15} program only {rate(fastest.packets, fastest.program_s)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="packets in the capture (default 1,000,000)")
    parser.add_argument("--slow-count", type=int, default=20_000, help="packets for the per-packet paths")
    parser.add_argument("--distinct", type=int, default=4096, help="different frames cycled through (default 4096)")
    parser.add_argument("--repeats", type=int, default=3, help="batch runs per program, best shown (default 3)")
    parser.add_argument("--programs", default=",".join(PROGRAMS), help="examples to run (default: all)")
    args = parser.parse_args()
    slow = min(args.slow_count, args.count)
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "bench.pcap"
        start = time.perf_counter()
        frames = write_capture(capture, args.count, args.distinct)
        size = capture.stat().st_size
        print(f"capture: {args.count:,} packets, {size / 1e6:.1f} MB, written in {time.perf_counter() - start:.1f} s")
        for example in args.programs.split(","):
            print(f"{example}:")
            per_packet(example, "interp", capture, frames, slow)
            if jit_available():
                per_packet(example, "jit", capture, frames, slow)
                batched(example, capture, args.repeats)
        print("goals (issue 6): > 2,000,000 pkt/s end to end, > 10,000,000 pkt/s program only (jit batch)")


if __name__ == "__main__":
    main()
