"""The project's clang-built test objects verify as ``syscall`` programs with a 64-byte context.

They use map helpers of every kind, global data (read-only data folded to constants), bpf_loop
and for_each_map_elem callbacks, tail calls, ring buffers and map-in-map lookups, compiled for
cpu v1, v3 (32-bit sub-registers) and v4 (sign extension, new jumps).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.cli.objects import load_object
from pybpf.verifier import VerifierError, verify_object

OBJECTS = sorted((Path(__file__).resolve().parent.parent / "bpf").glob("*.o"))


@pytest.mark.parametrize("path", OBJECTS, ids=[p.name for p in OBJECTS])
def test_object_verifies_as_syscall(path: Path) -> None:
    obj = load_object(path)
    results = verify_object(obj, "syscall", ctx_size=64)
    assert set(results) == {p.name for p in obj.programs}
    for name, result in results.items():
        assert not isinstance(result, VerifierError), f"{path.name}:{name}: {result}"
        prog = obj.program(name)
        assert result.rewritten == prog.insns  # a syscall context has no pointer fields
        assert result.insns_processed >= 1


def test_objects_exist() -> None:
    assert {p.name for p in OBJECTS} >= {"control.o", "maps.v3.o", "globals.v4.o"}


def test_section_type_is_used_without_override() -> None:
    obj = load_object(next(p for p in OBJECTS if p.name == "maps.o"))
    results = verify_object(obj, ctx_size=64)
    assert all(not isinstance(r, VerifierError) and r.prog_type == "syscall" for r in results.values())


def test_callback_loop_converges() -> None:
    """bpf_loop's callback accumulates into the caller's stack; widening ends the iteration."""
    obj = load_object(next(p for p in OBJECTS if p.name == "control.o"))
    result = verify_object(obj, "syscall", section="loop_sum", ctx_size=64)["loop_sum"]
    assert not isinstance(result, VerifierError)
    assert result.insns_processed < 5000
