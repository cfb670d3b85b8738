"""Map helpers called from JIT code: nanoseconds per call, native (pybpf.jit.maps) vs Python.

Usage: python bench/map_helpers.py [--calls N] [--repeats R]

Each case is a loop of N helper calls in one run; the same loop with the call replaced by a
register move is timed too and subtracted, so the figure is the cost of the call alone (the
lddw of the map is in both).  Columns: the JIT with native helpers, the JIT with the helpers in
Python (a registry whose map helpers are wrappers, so native code must defer), and the
interpreter.  Goals (printed, not asserted): hash lookup < 40 ns, array lookup < 5 ns.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this tree's pybpf

from pybpf.helpers import Helper
from pybpf.helpers.registry import HelperRegistry, default_registry
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine
from pybpf.maps import MapSpec, create_map
from pybpf.maps.base import BpfMap
from pybpf.maps.constants import MapType
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Memory

LOOP = """
    r6 = {n}
    r7 = 0
    r1 = {key}
    *(u64 *)(r10 - 8) = r1
    *(u64 *)(r10 - 16) = r1
    *(u64 *)(r10 - 24) = r6
    *(u64 *)(r10 - 32) = r6
loop:
    r1 = map_fd(0) ll
    r2 = r10
    r2 += -16
    r3 = r10
    r3 += -32
    r4 = 0
{call}
    r7 += r0
    r6 -= 1
    if r6 != 0 goto loop
    r0 = r7
    exit
"""

CASES: list[tuple[str, MapSpec, str, int]] = [
    ("array lookup", MapSpec("a", MapType.ARRAY, 4, 8, 64), "call 1", 1),
    ("percpu array lookup", MapSpec("pa", MapType.PERCPU_ARRAY, 4, 8, 64), "call 1", 1),
    ("hash lookup (4-byte key)", MapSpec("h4", MapType.HASH, 4, 8, 1024), "call 1", 1),
    ("hash lookup (16-byte key)", MapSpec("h16", MapType.HASH, 16, 8, 1024), "call 1", 1),
    ("hash lookup, absent key", MapSpec("h4m", MapType.HASH, 4, 8, 1024), "call 1", 999),
    ("array update", MapSpec("au", MapType.ARRAY, 4, 8, 64), "call 2", 1),
    ("hash update (existing key)", MapSpec("hu", MapType.HASH, 4, 8, 1024), "call 2", 1),
]


def python_helpers() -> HelperRegistry:
    """The default helpers with map lookup/update/delete wrapped: same behaviour, but not pybpf's
    own functions, so native code must call them through Python."""
    registry = default_registry()
    for hid in (1, 2, 3):
        helper = registry.get(hid)
        assert helper is not None
        func = helper.func

        def wrapper(env: Any, *args: int, func: Callable[..., int] = func) -> int:
            return func(env, *args)

        registry.add(Helper(hid, helper.name, wrapper))
    return registry


def engine(kind: str, text: str, bpf_map: BpfMap) -> Interpreter:
    memory = Memory([bpf_map.region])
    options: dict[str, Any] = {"memory": memory, "pseudo_resolver": lambda *_: bpf_map.handle, "budget": 10**12}
    if kind == "interp":
        return Interpreter(assemble(text), **options)
    helpers = python_helpers() if kind == "python" else default_registry()
    return JitEngine(assemble(text), helpers=helpers, **options)


def best_ns(fn: Callable[[], object], repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        best = min(best, time.perf_counter_ns() - t0)
    return best


def per_call(kind: str, spec: MapSpec, call: str, key: int, n: int, repeats: int) -> float:
    timings = []
    for body in (call, "    r0 = r2"):
        bpf_map = create_map(MapSpec(**{**spec.__dict__}))
        key_bytes = key.to_bytes(8, "little")[: spec.key_size].ljust(spec.key_size, b"\0")
        bpf_map.update_elem(key_bytes, (5).to_bytes(8, "little"))  # type: ignore[attr-defined]
        vm = engine(kind, LOOP.format(n=n, key=key, call=body), bpf_map)
        timings.append(best_ns(vm.run, repeats))
    return (timings[0] - timings[1]) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(f"{'ns per call':<28} {'jit native':>11} {'jit python':>11} {'interp':>9}")
    for name, spec, call, key in CASES:
        cells = []
        for kind in ("native", "python", "interp"):
            n = args.calls if kind == "native" else max(args.calls // 20, 200)
            cells.append(per_call(kind, spec, call, key, n, args.repeats))
        goal = ""
        if name.startswith("array lookup"):
            goal = "  (goal < 5 ns)"
        elif name.startswith("hash lookup (4"):
            goal = "  (goal < 40 ns)"
        print(f"{name:<28} {cells[0]:>11.1f} {cells[1]:>11.1f} {cells[2]:>9.1f}{goal}")


if __name__ == "__main__":
    main()
