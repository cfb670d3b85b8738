"""Verification cost: a generated 1000-instruction program with loops, and the test objects.

Prints, per program: verification time, program size, instructions processed (abstract steps),
states stored at pruning points, peak states, and pruned paths.  Run from the repository root::

    python bench/verify_bench.py

The generated program is a ``syscall`` program (64-byte context) made of blocks, each a pair of
nested bounded loops whose body loads context bytes, branches on them, indexes a stack array with
masked values and accumulates a result; the blocks are chained until the program reaches 1000
instructions.  Times are printed, never asserted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pybpf.cli.objects import load_object  # noqa: E402
from pybpf.isa.assembler import assemble  # noqa: E402
from pybpf.isa.instruction import Instruction  # noqa: E402
from pybpf.verifier import VerifierError, verify, verify_object  # noqa: E402


def _block(k: int, outer: int, inner: int) -> list[str]:
    """Two nested loops over the context bytes with a data-dependent branch in the body."""
    return [
        "  r8 = 0",
        f"outer{k}:",
        "  r9 = 0",
        f"inner{k}:",
        "  r1 = r9",
        "  r1 += r8",
        "  r1 &= 63",
        "  r2 = r6",
        "  r2 += r1",
        "  r3 = *(u8 *)(r2 + 0)",
        f"  if r3 > {k % 200 + 20} goto big{k}",
        "  r7 += r3",
        f"  goto join{k}",
        f"big{k}:",
        "  r7 ^= r3",
        "  r3 &= 7",
        "  r4 = r10",
        "  r4 += -64",
        "  r3 <<= 3",
        "  r4 += r3",
        "  r5 = *(u64 *)(r4 + 0)",
        "  r5 += r7",
        "  *(u64 *)(r4 + 0) = r5",
        f"join{k}:",
        "  r7 *= 3",
        f"  r7 += {k}",
        "  r9 += 1",
        f"  if r9 < {inner} goto inner{k}",
        "  r8 += 1",
        f"  if r8 < {outer} goto outer{k}",
        "  w0 = w7",
        "  w0 &= 56",
        "  r1 = r10",
        "  r1 += -64",
        "  r1 += r0",
        "  r5 = *(u64 *)(r1 + 0)",
        "  r7 += r5",
    ]


def generated_program(target: int = 1000, outer: int = 4, inner: int = 4) -> list[Instruction]:
    lines = ["  r6 = r1", "  r7 = 0", "  r1 = 0"]
    lines += [f"  *(u64 *)(r10 - {8 * (i + 1)}) = r1" for i in range(8)]
    k = 0
    body: list[str] = []
    while True:
        blk = _block(k, outer, inner)
        # each block is ~36 slots; stop before the epilogue would pass the target
        if len(lines) + len(body) + len(blk) > target:
            break
        body += blk
        k += 1
    size = len(assemble("\n".join([*lines, *body, "  r0 = r7", "  exit"])))
    tail = ["  r7 += 1"] * (target - size) + ["  r0 = r7", "  exit"]
    return assemble("\n".join(lines + body + tail))


def _row(name: str, n: int, seconds: float, processed: int, states: int, peak: int, pruned: int) -> str:
    return f"{name:<34} {n:>6} {seconds * 1000:>10.1f} {processed:>10} {states:>8} {peak:>6} {pruned:>7}"


def main() -> None:
    print(f"{'program':<34} {'insns':>6} {'time ms':>10} {'processed':>10} {'states':>8} {'peak':>6} {'pruned':>7}")
    for outer, inner in ((4, 4), (8, 8)):
        prog = generated_program(1000, outer, inner)
        start = time.perf_counter()
        r = verify(prog, "syscall", ctx_size=64)
        seconds = time.perf_counter() - start
        name = f"generated ({outer}x{inner} loops/block)"
        print(_row(name, len(prog), seconds, r.insns_processed, r.states_explored, r.peak_states, r.pruned))
    for path in sorted((ROOT / "tests" / "bpf").glob("*.o")):
        obj = load_object(path)
        start = time.perf_counter()
        results = verify_object(obj, "syscall", ctx_size=64)
        seconds = time.perf_counter() - start
        for name, res in results.items():
            label = f"{path.name}:{name}"
            if isinstance(res, VerifierError):
                print(f"{label:<34} REJECTED: {res.reason}")
                continue
            print(
                _row(
                    label,
                    res.instructions,
                    res.time_s,
                    res.insns_processed,
                    res.states_explored,
                    res.peak_states,
                    res.pruned,
                )
            )
        print(f"{'  (whole object, incl. setup)':<34} {'':>6} {seconds * 1000:>10.1f}")


if __name__ == "__main__":
    main()
