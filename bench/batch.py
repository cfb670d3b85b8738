"""Packets per second through ``JitEngine.run_batch`` for an XDP-style filter.

Usage: python bench/batch.py [--packets N] [--repeats R]

The program is ``bench/programs/filter.c`` (drop UDP/53 and TCP/23, drop malformed frames, pass
the rest), compiled for eBPF.  Its context holds the packet's start and end as 64-bit pointers
(as pybpf's shadow slots hold ``xdp_md``'s), rebuilt natively for every packet by
``run_batch(context=BatchContext(...))``.  The packets are the mixed synthetic traffic of
``bench/programs/packets.py`` laid out in one buffer.  Compared with the same filter driven from
Python one packet at a time (context written with ``struct``, ``engine.run``), on the JIT and on
the interpreter.  The goal (printed, not asserted): more than 10 million packets per second.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE / "programs")]  # this tree's pybpf, the packet generator

from packets import make_packets, pack_packets  # noqa: E402

import pybpf.object  # noqa: E402
from pybpf.jit.batch import DATA, DATA_END, BatchContext  # noqa: E402
from pybpf.toolchain import compile_bpf  # noqa: E402
from pybpf.vm.memory import Region  # noqa: E402

CTX = struct.Struct("<QQ")


def build() -> Path:
    source = HERE / "programs" / "filter.c"
    out = HERE / "programs" / "build" / "filter.o"
    out.parent.mkdir(exist_ok=True)
    newest = max(source.stat().st_mtime, (source.parent / "shim.h").stat().st_mtime)
    if not out.exists() or out.stat().st_mtime < newest:
        compile_bpf(Path(source.name), out, cwd=source.parent)
    return out


def setup(engine: str, data: bytes) -> tuple[object, Region, Region]:
    obj = pybpf.object.load(build(), engine=engine, verify=False)
    prog = obj.program("filter")
    ctx = Region("ctx", CTX.size, kind="context")
    buffer = Region("packets", bytearray(data))
    obj.memory.add(ctx)
    obj.memory.add(buffer)
    return prog.engine, ctx, buffer


def one_by_one(engine: object, ctx: Region, buffer: Region, offsets: list[int], lengths: list[int]) -> list[int]:
    """What a Python packet loop does without batches: write the context, narrow the buffer's
    live part to the packet, run."""
    out = []
    run = engine.run  # type: ignore[attr-defined]
    for off, length in zip(offsets, lengths, strict=True):
        start = buffer.base + off
        CTX.pack_into(ctx.buf, 0, start, start + length)
        buffer.lo, buffer.hi = off, off + length
        out.append(run(r1=ctx.base))
    buffer.lo, buffer.hi = 0, buffer.size
    return out


def best(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    sample = make_packets(1000)
    packets = [sample[i % len(sample)] for i in range(args.packets)]
    data, offsets, lengths = pack_packets(packets)
    offs, lens = array("Q", offsets), array("Q", lengths)

    jit, ctx, buffer = setup("jit", data)
    context = BatchContext(ctx, bytes(CTX.size), [(0, 8, DATA), (8, 8, DATA_END)])
    out = array("Q", bytes(8 * len(offs)))
    print(f"{len(packets):,} packets, {len(data) / len(packets):.0f} bytes on average\n")
    print(f"{'method':<44} {'ns/packet':>10} {'Mpps':>8}")

    def show(name: str, ns: float, count: int) -> None:
        per = ns / count
        print(f"{name:<44} {per:>10.1f} {1e3 / per:>8.2f}")

    batch_results: list[int] = []
    for size in (64, 1024, len(offs)):
        size = min(size, len(offs))

        def run(size: int = size) -> None:
            for start in range(0, len(offs), size):
                jit.run_batch(buffer, offs[start : start + size], lens[start : start + size], context=context)  # type: ignore[attr-defined]

        show(f"jit run_batch, batches of {size:,}", best(run, args.repeats), len(offs))
    batch_results = list(jit.run_batch(buffer, offs, lens, out=out, context=context))  # type: ignore[attr-defined]

    frame = Region("frame", 4096, kind="packet")
    jit.memory.add(frame)  # type: ignore[attr-defined]
    xdp = BatchContext(ctx, bytes(CTX.size), [(0, 8, DATA), (8, 8, DATA_END)], frame, 256)
    show(
        "jit run_batch, copied into a 4 KiB frame",
        best(lambda: jit.run_batch(buffer, offs, lens, out=out, context=xdp), args.repeats),  # type: ignore[attr-defined]
        len(offs),
    )
    assert list(out) == batch_results

    few = min(len(offs), 20_000)
    show(
        "jit, one run() per packet from Python",
        best(lambda: one_by_one(jit, ctx, buffer, offsets[:few], lengths[:few]), 3),
        few,
    )
    assert one_by_one(jit, ctx, buffer, offsets[:few], lengths[:few]) == batch_results[:few]
    interp, ictx, ibuffer = setup("interp", data)
    few = min(len(offs), 2_000)
    show(
        "interpreter, one run() per packet",
        best(lambda: one_by_one(interp, ictx, ibuffer, offsets[:few], lengths[:few]), 3),
        few,
    )
    assert one_by_one(interp, ictx, ibuffer, offsets[:few], lengths[:few]) == batch_results[:few]
    drops = batch_results.count(1)
    print(f"\n{drops:,} dropped, {len(batch_results) - drops:,} passed (all methods agree)")
    print("goal: > 10 Mpps from Python for a simple filter")


if __name__ == "__main__":
    main()
