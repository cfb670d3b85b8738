"""The JIT runs packet programs exactly like the interpreter (verified code, shadows, helpers)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import pybpf.object as bpfobj
from pybpf.engine import jit_available
from pybpf.progtypes.testrun import test_run

from .support import control

pytestmark = pytest.mark.skipif(not jit_available(), reason="the JIT needs llvmlite")


def test_jit_matches_the_interpreter(ops_path: Path, frames: list[bytes]) -> None:
    objs = {engine: bpfobj.load(ops_path, engine=engine) for engine in ("interp", "jit")}
    for obj in objs.values():
        obj.maps["tx_ports"][3] = 9
    rng = random.Random(3)
    cases = [("xdp_ops", control(rng.choice(frames), op, d, rng.choice([0, 2, 8])))
             for op in range(1, 9) for d in (-216, -20, 0, 14, 100, 3000)]
    cases += [("tc_ops", control(rng.choice(frames), op, d, rng.choice([0, 1, 2, 4, 0x10, 0x24])))
              for op in range(1, 13) for d in (-8, 0, 12, 24, 34, 100, 4000)]
    cases += [("sock_ops", f) for f in frames[:30]]  # LD_ABS / LD_IND through the packet window
    for name, frame in cases:
        a, b = (test_run(objs[e].program(name), frame) for e in ("interp", "jit"))
        assert (a.retval, a.data_out, a.redirect) == (b.retval, b.data_out, b.redirect), (name, frame[6:12].hex())
    engine = type(objs["jit"].program("xdp_ops").engine).__name__
    assert engine == "JitEngine"
