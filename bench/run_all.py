"""The benchmark suite: every program of ``bench/programs`` on the interpreter, the JIT and natively.

Usage: python bench/run_all.py [--only NAME,...] [--repeats R] [--min-time S] [--cpu v3] [--split]

Each ``bench/programs/NAME.c`` is compiled twice from the same source: to eBPF (``clang -target
bpf -O2``, a ``SEC("syscall")`` entry taking a pointer to its input buffer) and natively (``cc
-O2 -shared``; ``shim.h`` turns maps into a native hash table), the native build being the
physical limit.  Every engine and the native build must return the same value on a fresh state
(checked, and the run stops if they do not).

Columns (ns per run unless marked):

* ``interp``: the reference interpreter, best of several runs, or a single run (marked ``*``)
  when one run takes longer than ``--min-time``;
* ``jit``: ``engine.run(region)`` from Python (includes the ~0.5 us Python -> native crossing);
* ``jit batch``: ``JitEngine.run_batch`` running the program N times over the same input in one
  native call: the JIT's own speed, comparable to the native loop;
* ``native``: the C build called in a C loop through a function pointer;
* ``jit/nat``: ``jit batch`` / ``native``, both the best of samples taken alternately (goal: <= 1.3
  on prime, log2, strcmp and parser);
* ``compile``: cold JIT compile (ms; lowering, LLVM, load);
* ``O3 batch`` / ``O3 ms``: the JIT at level 3 (LLVM's whole -O2 pipeline instead of the
  default short pass list): run time (batch) and cold compile time -- the tiered engine moves a
  hot program there by itself, and back when it runs slower there;
* ``auto 1st`` / ``interp 1st``: wall time of the first run of a freshly loaded object on the
  ``auto`` (tiered) engine and on the interpreter: the one-shot case, where ``auto`` must never
  lose; ``auto`` is the steady state of the tiered engine after it has settled (and, for hot
  programs, tried at level 3: ``(O3)`` marks those that stayed there).

Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE / "programs"
BUILD = PROGRAMS / "build"
sys.path[:0] = [str(HERE.parent), str(PROGRAMS)]  # this tree's pybpf, whatever is installed

from packets import make_packets, pack_packets  # noqa: E402

import pybpf.object  # noqa: E402
from pybpf.jit import cache  # noqa: E402
from pybpf.toolchain import compile_bpf  # noqa: E402
from pybpf.vm.memory import Region  # noqa: E402

BUDGET = 10**12


# -- inputs -----------------------------------------------------------------------------------------
def prime_input() -> bytearray:
    return bytearray(struct.pack("<QQ", 10_000, 0))


def log2_input() -> bytearray:
    rng = random.Random(1)
    values = [rng.getrandbits(rng.randrange(1, 65)) | 1 for _ in range(1000)]
    data = bytearray(struct.pack("<Q", len(values)) + struct.pack(f"<{len(values)}Q", *values))
    return data + bytes(8 * 4096 + 8 - len(data))


def memcpy_input() -> bytearray:
    size = 1 << 20
    return bytearray(struct.pack("<Q", size) + random.Random(2).randbytes(size) + bytes(size))


def strcmp_input() -> bytearray:
    size = 1 << 20
    rng = random.Random(3)
    text = bytes(rng.randrange(1, 256) for _ in range(size - 1)) + b"\0"
    return bytearray(text + b"\0" + text + b"\0")


def switch_input() -> bytearray:
    rng = random.Random(4)
    values = [rng.getrandbits(64) for _ in range(4096)]
    return bytearray(struct.pack("<Q", len(values)) + struct.pack(f"<{len(values)}Q", *values))


def hash_input() -> bytearray:
    rng = random.Random(5)
    keys = [rng.randrange(512) for _ in range(1000)]
    data = bytearray(struct.pack("<Q", len(keys)) + struct.pack(f"<{len(keys)}I", *keys))
    return data + bytes(8 + 4 * 4096 - len(data))


PARSER_PACKETS, PARSER_DATA = 1024, 1024 * 256


def parser_input() -> bytearray:
    packets = make_packets(1000)
    data, offsets, lengths = pack_packets(packets)
    desc = b"".join(struct.pack("<II", o, n) for o, n in zip(offsets, lengths, strict=True))
    head = struct.pack("<II", len(packets), 0) + bytes(80)
    return bytearray(head + desc + bytes(8 * PARSER_PACKETS - len(desc)) + data + bytes(PARSER_DATA - len(data)))


@dataclass
class Bench:
    name: str
    source: str
    entry: str
    make_input: Callable[[], bytearray]
    goal: bool = False  # JIT within 1.3x of native is a goal for this one


BENCHES = [
    Bench("prime", "prime.c", "prime", prime_input, goal=True),
    Bench("log2", "log2.c", "log2_int", log2_input, goal=True),
    Bench("memcpy", "memcpy.c", "byte_memcpy", memcpy_input),
    Bench("strcmp", "strcmp.c", "str_cmp", strcmp_input, goal=True),
    Bench("switch", "switch.c", "big_switch", switch_input),
    Bench("hashmap", "hashmap.c", "hash_loop", hash_input),
    Bench("parser", "parser.c", "parse_packets", parser_input, goal=True),
]


# -- building ---------------------------------------------------------------------------------------
def build(bench: Bench, cpu: str = "") -> tuple[Path, Path]:
    """The eBPF object (for ``-mcpu=cpu``, clang's default when empty) and the native shared
    library for ``bench`` (rebuilt when stale)."""
    BUILD.mkdir(exist_ok=True)
    source = PROGRAMS / bench.source
    stem = source.stem
    obj, lib = BUILD / (f"{stem}-{cpu}.o" if cpu else f"{stem}.o"), BUILD / f"{stem}.so"
    newest = max(source.stat().st_mtime, (PROGRAMS / "shim.h").stat().st_mtime)
    if not obj.exists() or obj.stat().st_mtime < newest:
        compile_bpf(Path(source.name), obj, cpu=cpu, cwd=PROGRAMS)
    if not lib.exists() or lib.stat().st_mtime < newest:
        cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True, cwd=PROGRAMS)
    return obj, lib


# -- timing -----------------------------------------------------------------------------------------
def best_ns(fn: Callable[[], object], repeats: int, min_time: float) -> float:
    """Best mean time per call over ``repeats`` samples, each looping for about ``min_time`` s."""
    t0 = time.perf_counter_ns()
    fn()
    single = max(time.perf_counter_ns() - t0, 1)
    inner = max(1, int(min_time * 1e9 / single))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter_ns() - t0) / inner)
    return best


def load(path: Path, engine: str) -> tuple[Any, Any]:
    obj = pybpf.object.load(path, engine=engine, verify=False)  # loops too long for a verifier
    prog = next(iter(obj.programs.values()))
    prog.engine.budget = BUDGET
    return obj, prog


def bind(obj: Any, data: bytearray) -> Region:
    region = Region("input", data, kind="memory")
    obj.memory.add(region)
    return region


def native_run(lib: Path, entry: str, data: bytearray, iters: int) -> tuple[float, int]:
    so = ctypes.CDLL(str(lib))
    fn = ctypes.cast(getattr(so, entry), ctypes.c_void_p)
    timer = so.shim_time
    timer.restype = ctypes.c_uint64
    timer.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(ctypes.c_int)]
    buf = (ctypes.c_char * len(data)).from_buffer(data)
    last = ctypes.c_int()
    first = None
    ns = float("inf")
    for k in range(6):
        n = 1 if k == 0 else iters
        elapsed = timer(fn, buf, n, ctypes.byref(last))
        if k == 0:
            first = last.value
            iters = max(1, min(1_000_000, int(0.05e9 / max(elapsed, 1))))
        else:
            ns = min(ns, elapsed / n)
    assert first is not None
    return ns, first


def fmt(ns: float | None, star: bool = False) -> str:
    if ns is None:
        return "-"
    if ns >= 1e9:
        text = f"{ns / 1e9:.2f} s"
    elif ns >= 1e6:
        text = f"{ns / 1e6:.2f} ms"
    elif ns >= 1e3:
        text = f"{ns / 1e3:.1f} us"
    else:
        text = f"{ns:.0f} ns"
    return text + ("*" if star else "")


def run_one(bench: Bench, repeats: int, min_time: float, cpu: str = "") -> dict[str, Any]:
    obj_path, lib = build(bench, cpu)
    row: dict[str, Any] = {"name": bench.name}
    results: dict[str, int] = {}

    # native first: its first call (fresh static state) is the reference result
    data = bench.make_input()
    row["native"], results["native"] = native_run(lib, bench.entry, data, 1)

    # interpreter: first run on a fresh object (one-shot), then best of a few if affordable
    obj, prog = load(obj_path, "interp")
    region = bind(obj, bench.make_input())
    t0 = time.perf_counter_ns()
    results["interp"] = prog.engine.run(region)
    first = time.perf_counter_ns() - t0
    row["interp 1st"] = first
    row["insns"] = prog.engine.instructions_executed
    if first * repeats < 2e9:
        row["interp"] = min(first, best_ns(lambda: prog.engine.run(region), min(repeats, 3), min_time))
        row["interp*"] = False
    else:
        row["interp"], row["interp*"] = first, True

    # JIT: cold compile, then runs
    cache.memory_clear()
    obj, prog = load(obj_path, "jit")
    times = prog.engine.compile_times
    row["compile"] = times.total_ms
    row["split"] = times
    region = bind(obj, bench.make_input())
    results["jit"] = prog.engine.run(region)
    row["jit"] = best_ns(lambda: prog.engine.run(region), repeats, min_time)
    if hasattr(prog.engine, "run_batch"):
        n = max(1, min(1000, int(2e7 / max(row["jit"], 1))))
        offsets, lengths, out = array("Q", [0] * n), array("Q", [len(region.buf)] * n), array("Q", [0] * n)
        batch = prog.engine.run_batch(region, offsets, lengths, out=out)
        assert len(set(batch)) == 1 or bench.name == "hashmap", batch[:4]
        # The ratio to native: on a shared machine speed drifts over seconds, so native and JIT
        # samples alternate, and each keeps its best.
        row["jit batch"] = float("inf")
        for _ in range(repeats):
            native_ns, _ = native_run(lib, bench.entry, bench.make_input(), 1)
            row["native"] = min(row["native"], native_ns)
            jit_ns = best_ns(lambda: prog.engine.run_batch(region, offsets, lengths, out=out), 1, min_time) / n
            row["jit batch"] = min(row["jit batch"], jit_ns)

    # JIT at level 3 (LLVM's whole pipeline), on the same object
    cache.memory_clear()
    from pybpf.jit import JitEngine

    eng3 = JitEngine(
        prog.engine.insns,
        helpers=obj.helpers,
        memory=obj.memory,
        pseudo_resolver=obj._resolve,
        opt_level=3,
        budget=BUDGET,
    )
    row["O3 ms"] = eng3.compile_times.total_ms
    n = max(1, min(1000, int(2e7 / max(row["jit"], 1))))
    offsets, lengths, out = array("Q", [0] * n), array("Q", [len(region.buf)] * n), array("Q", [0] * n)
    row["O3 batch"] = best_ns(lambda: eng3.run_batch(region, offsets, lengths, out=out), repeats, min_time) / n

    # auto: a fresh object's first run (one-shot), then the settled steady state
    cache.memory_clear()
    obj, prog = load(obj_path, "auto")
    region = bind(obj, bench.make_input())
    t0 = time.perf_counter_ns()
    results["auto"] = prog.engine.run(region)
    row["auto 1st"] = time.perf_counter_ns() - t0
    deadline = time.perf_counter() + 20
    engine = prog.engine
    while time.perf_counter() < deadline and not engine.jit_rejected:
        settled = engine.tiered and not engine.on_probation and not engine.on_trial
        done = engine.optimised_times is not None or engine.upgrade_rejected
        if settled and (done or engine.native_total_ns >= engine._upgrade_ns * 4):
            break
        engine.run(region)
    row["auto"] = best_ns(lambda: prog.engine.run(region), repeats, min_time)
    if engine._compiling is not None:  # a background compile must not slow the next benchmark down
        engine._compiling[0].join()
    row["auto tier"] = (
        ("O3" if engine.optimised_times is not None else "jit, O3 slower" if engine.upgrade_rejected else "jit")
        if engine.tiered
        else ("rejected" if engine.jit_rejected else "interp")
    )

    results = {k: (v & 0xFFFF_FFFF) - ((v & 0x8000_0000) << 1) for k, v in results.items()}  # entries return int
    if len(set(results.values())) != 1:
        raise SystemExit(f"{bench.name}: engines disagree: {results}")
    row["result"] = results["native"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per timing sample")
    parser.add_argument("--split", action="store_true", help="also print where compile time went")
    parser.add_argument("--cpu", default="", help="clang -mcpu for the eBPF builds (v1-v4; default: clang's)")
    args = parser.parse_args()
    os.environ[cache.ENV_DIR] = tempfile.mkdtemp(prefix="pybpf-bench-")
    wanted = {n for n in args.only.split(",") if n}
    benches = [b for b in BENCHES if not wanted or b.name in wanted]

    from pybpf.isa.assembler import assemble
    from pybpf.jit import JitEngine

    JitEngine(assemble("r0 = 0\nexit"), cache=False)  # LLVM import and MCJIT set-up, once per process

    cols = ["insns", "interp", "jit", "jit batch", "native", "jit/nat", "compile", "O3 batch", "O3 ms"]
    cols += ["interp 1st", "auto 1st", "auto"]
    print(f"{'program':<9}" + "".join(f"{c:>11}" for c in cols[:-1]) + f"{cols[-1]:>16}")
    rows = []
    for bench in benches:
        row = run_one(bench, args.repeats, args.min_time, args.cpu)
        rows.append(row)
        jit_best = row.get("jit batch", row["jit"])
        ratio = jit_best / row["native"] if row["native"] else float("nan")
        cells = [
            f"{row['insns']:,}",
            fmt(row["interp"], row["interp*"]),
            fmt(row["jit"]),
            fmt(row.get("jit batch")),
            fmt(row["native"]),
            f"{ratio:.2f}x" + ("!" if bench.goal and ratio > 1.3 else ""),
            f"{row['compile']:.1f} ms",
            fmt(row.get("O3 batch")),
            f"{row['O3 ms']:.1f} ms" if "O3 ms" in row else "-",
            fmt(row["interp 1st"]),
            fmt(row["auto 1st"]),
            fmt(row["auto"]) + ("" if row["auto tier"] in ("jit", "jit, O3 slower") else f" ({row['auto tier']})"),
        ]
        print(f"{bench.name:<9}" + "".join(f"{c:>11}" for c in cells[:-1]) + f"{cells[-1]:>16}", flush=True)
    print("\n* a single run (too slow to repeat); ! misses the 1.3x goal")
    if args.split:
        print(f"\n{'program':<9} {'lower':>7} {'parse':>7} {'opt':>7} {'codegen':>8} {'load':>6}  (ms, cold compile)")
        for row in rows:
            t = row["split"]
            print(
                f"{row['name']:<9} {t.lower_ms:>7.1f} {t.parse_ms:>7.1f} {t.optimise_ms:>7.1f}"
                f" {t.codegen_ms:>8.1f} {t.load_ms:>6.1f}"
            )


if __name__ == "__main__":
    main()
