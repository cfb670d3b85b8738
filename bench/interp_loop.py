"""Interpreter speed on tight ALU/branch loops: prints nanoseconds per executed eBPF instruction.

Usage: python bench/interp_loop.py [--iterations N]

Three loops: a pure ALU/branch loop (the figure the core goal is stated on), a loop with stack
loads and stores, and a 32-bit ALU loop.  Each is run several times; the best run is reported.
"""

from __future__ import annotations

import argparse
import time

from pybpf.isa.assembler import assemble
from pybpf.vm.interpreter import Interpreter

PROGRAMS = {
    "alu-branch": """
        r0 = 0
        r1 = {n}
        r2 = 7
    loop:
        r3 = r1
        r3 *= r2
        r3 ^= r0
        r0 += r3
        r0 &= 0xffffff
        r1 -= 1
        if r1 != 0 goto loop
        exit
    """,
    "stack-memory": """
        r0 = 0
        r1 = {n}
        *(u64 *)(r10 - 8) = r0
    loop:
        r2 = *(u64 *)(r10 - 8)
        r2 += r1
        *(u64 *)(r10 - 8) = r2
        r1 -= 1
        if r1 s> 0 goto loop
        r0 = *(u64 *)(r10 - 8)
        exit
    """,
    "alu32": """
        w0 = 1
        w1 = {n}
    loop:
        w0 *= 3
        w0 ^= w1
        w0 >>= 1
        w1 -= 1
        if w1 != 0 goto loop
        exit
    """,
}


def measure(name: str, text: str, n: int, repeats: int) -> tuple[float, int]:
    vm = Interpreter(assemble(text.format(n=n)), budget=10**12)
    vm.run()  # compile outside the timing
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        vm.run()
        best = min(best, time.perf_counter_ns() - t0)
    return best / vm.instructions_executed, vm.instructions_executed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000, help="loop iterations per run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'program':<14} {'insns/run':>12} {'ns/insn':>9}")
    for name, text in PROGRAMS.items():
        ns, count = measure(name, text, args.iterations, args.repeats)
        print(f"{name:<14} {count:>12,} {ns:>9.1f}")


if __name__ == "__main__":
    main()
