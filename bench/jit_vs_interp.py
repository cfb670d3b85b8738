"""JIT vs interpreter: run time, speedup, compile time (cold and from the disk cache), call overhead.

Usage: python bench/jit_vs_interp.py [--iterations N] [--repeats R]

Programs: a tight ALU/branch loop, a stack load/store loop, a byte-summing loop over a 64 KiB
input buffer (every load region-checked), a loop calling a helper (native -> Python callbacks),
and a 1,000-instruction synthetic straight-line/branchy program (for compile time).  A trivial
program measures the fixed cost of one Python -> native run.  Compile times use a temporary
cache directory: "cold" is a fresh LLVM compile, "disk" a new engine after the in-memory cache
was cleared (object file loaded from disk), as a second process would see it.  Numbers are
printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interp_loop import PROGRAMS as SHARED

from pybpf.isa.assembler import assemble
from pybpf.isa.instruction import Instruction
from pybpf.jit import JitEngine, cache
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Region

LOOPS = {
    "alu loop": SHARED["alu-branch"],
    "stack loop": SHARED["stack-memory"],
    "memory loop": """
        r0 = 0
        r3 = 0
    loop:
        r4 = r1
        r4 += r3
        r5 = *(u8 *)(r4 + 0)
        r0 += r5
        r3 += 1
        if r3 < r2 goto loop
        exit
    """,
    "helper loop": """
        r6 = {n_small}
        r7 = 0
    loop:
        call 5
        r7 += 1
        r6 -= 1
        if r6 != 0 goto loop
        r0 = r7
        exit
    """,
}
MEMORY = bytes(range(256)) * 256  # 64 KiB for the memory loop


def synthetic(n: int, seed: int = 1) -> list[Instruction]:
    """A valid straight-line/branchy program of about ``n`` instructions: ALU on r0-r9, stack
    stores and loads, forward conditional jumps over short stretches."""
    rng = random.Random(seed)
    ops = ["+=", "-=", "*=", "|=", "&=", "^=", "<<=", ">>=", "s>>=", "/=", "%="]
    conds = ["==", "!=", ">", ">=", "<", "<=", "s>", "s<"]
    lines = [f"r{r} = {rng.randrange(1, 1000)}" for r in range(10)]
    while len(lines) < n - 1:
        kind = rng.random()
        d, s = rng.randrange(10), rng.randrange(10)
        if kind < 0.6:
            op = rng.choice(ops)
            imm = rng.randrange(1, 64) if op in ("<<=", ">>=", "s>>=") else rng.randrange(-500, 500)
            width = "w" if rng.random() < 0.2 else "r"
            rhs = f"{width}{s}" if rng.random() < 0.3 else str(imm)
            lines.append(f"{width}{d} {op} {rhs}")
        elif kind < 0.75:
            lines.append(f"*(u64 *)(r10 - {8 * rng.randrange(1, 64)}) = r{s}")
        elif kind < 0.9:
            lines.append(f"r{d} = *(u64 *)(r10 - {8 * rng.randrange(1, 64)})")
        else:
            lines.append(f"if r{d} {rng.choice(conds)} r{s} goto +{rng.randrange(1, 6)}")
    lines += ["r0 = 0"] * 6 + ["exit"]
    return assemble("\n".join(lines))


def best_ns(fn: Callable[[], object], repeats: int, inner: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / inner)
    return best


def compile_ms(program: list[Instruction]) -> tuple[float, float, float]:
    """(cold, from disk, from memory) milliseconds to construct a JitEngine."""
    cache.memory_clear()
    t0 = time.perf_counter()
    vm = JitEngine(program)
    cold = (time.perf_counter() - t0) * 1e3
    assert vm.compile_times.source == "compiled"
    cache.memory_clear()
    t0 = time.perf_counter()
    vm = JitEngine(program)
    disk = (time.perf_counter() - t0) * 1e3
    assert vm.compile_times.source == "disk"
    t0 = time.perf_counter()
    vm = JitEngine(program)
    memory = (time.perf_counter() - t0) * 1e3
    return cold, disk, memory


def fmt_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:,.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:,.1f} us"
    return f"{ns:,.0f} ns"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100_000, help="loop iterations per run")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ[cache.ENV_DIR] = tempfile.mkdtemp(prefix="pybpf-bench-")

    t0 = time.perf_counter()
    JitEngine(assemble("r0 = 0\nexit"), cache=False)  # import LLVM and set up MCJIT once
    print(f"LLVM import and first compile: {(time.perf_counter() - t0) * 1e3:.1f} ms (once per process)\n")

    programs: dict[str, tuple[list[Instruction], bytes | None]] = {}
    for name, text in LOOPS.items():
        src = text.format(n=args.iterations, n_small=max(args.iterations // 100, 1))
        programs[name] = (assemble(src), MEMORY if name == "memory loop" else None)
    programs["synthetic 1000"] = (synthetic(1000), None)

    header = f"{'program':<16} {'insns/run':>10} {'interp/run':>11} {'jit/run':>10} {'speedup':>9}"
    header += f" {'cold ms':>8} {'disk ms':>8} {'mem ms':>7}"
    print(header)
    for name, (program, mem) in programs.items():
        interp = Interpreter(program, budget=10**12)
        interp.run(mem)
        count = interp.instructions_executed
        cold, disk, memory = compile_ms(program)
        jit = JitEngine(program, budget=10**12)
        assert jit.run(mem) == interp.run(mem), name
        inner = 1 if count > 10_000 else 200
        ti = best_ns(lambda interp=interp, mem=mem: interp.run(mem), args.repeats, inner)
        tj = best_ns(lambda jit=jit, mem=mem: jit.run(mem), args.repeats, max(inner, 20))
        print(
            f"{name:<16} {count:>10,} {fmt_ns(ti):>11} {fmt_ns(tj):>10} {ti / tj:>8.1f}x"
            f" {cold:>8.1f} {disk:>8.2f} {memory:>7.3f}"
        )

    synth = synthetic(1000)
    print("\nCompile time of the synthetic 1000-instruction program by level (cold, best of 3; goal < 30 ms)")
    print(f"{'level':<7} {'total ms':>9} {'lower':>7} {'parse':>7} {'passes':>7} {'codegen':>8} {'load':>6} {'run':>10}")
    for level in (0, 1, 2, 3):
        best = None
        for _ in range(3):
            vm = JitEngine(synth, opt_level=level, cache=False)
            if best is None or vm.compile_times.total_ms < best.total_ms:
                best = vm.compile_times
        assert best is not None
        run_ns = best_ns(lambda vm=vm: vm.run(), args.repeats, 200)
        print(
            f"{level:<7} {best.total_ms:>9.1f} {best.lower_ms:>7.1f} {best.parse_ms:>7.1f} {best.optimise_ms:>7.1f}"
            f" {best.codegen_ms:>8.1f} {best.load_ms:>6.1f} {fmt_ns(run_ns):>10}"
        )

    trivial = assemble("r0 = 1\nexit")
    interp, jit = Interpreter(trivial), JitEngine(trivial)
    regs = [0] * 11
    runner = jit.runner
    print("\nPython -> native per-call overhead (trivial program: r0 = 1; exit)")
    print(f"  interpreter run():          {fmt_ns(best_ns(interp.run, args.repeats, 100_000))}")
    print(f"  JIT run():                  {fmt_ns(best_ns(jit.run, args.repeats, 100_000))}")
    print(f"  JIT run(8-byte input):      {fmt_ns(best_ns(lambda: jit.run(b'12345678'), args.repeats, 50_000))}")
    print(f"  JIT execute(regs):          {fmt_ns(best_ns(lambda: jit.execute(regs), args.repeats, 100_000))}")
    print(f"  bare ctypes call of entry:  {fmt_ns(best_ns(runner._run, args.repeats, 100_000))}")

    # A program that takes one context pointer and reads it (the region check included).
    reader = assemble("r0 = *(u64 *)(r1 + 0)\nexit")
    interp, jit = Interpreter(reader), JitEngine(reader)
    ctx = Region("ctx", bytearray(64), kind="memory")
    print("\nA program taking one context pointer (r0 = *(u64 *)(r1 + 0); exit), same region each run")
    print(f"  interpreter run(ctx):       {fmt_ns(best_ns(lambda: interp.run(ctx), args.repeats, 100_000))}")
    print(f"  JIT run(ctx):               {fmt_ns(best_ns(lambda: jit.run(ctx), args.repeats, 100_000))}")
    print(f"  JIT caller(ctx)():          {fmt_ns(best_ns(jit.caller(ctx), args.repeats, 100_000))}  (goal < 300 ns)")

if __name__ == "__main__":
    main()
