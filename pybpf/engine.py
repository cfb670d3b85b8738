"""Choosing an execution engine by name: ``interp``, ``jit`` or ``auto``.

Every API and command that runs a program takes ``engine=``; this module is the one place that
maps the name to an implementation, so engines stay interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pybpf.errors import PybpfError
from pybpf.isa.instruction import Instruction
from pybpf.vm.interpreter import Interpreter

ENGINES = ("interp", "jit", "auto")


def jit_available() -> bool:
    """Whether the JIT engine can be used on this machine."""
    return False


def make_engine(program: bytes | Sequence[Instruction], engine: str = "auto", **options: Any) -> Interpreter:
    """An engine instance for ``program``; options go to the engine (budget, helpers, ...)."""
    if engine not in ENGINES:
        raise PybpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if engine == "jit" and not jit_available():
        raise PybpfError("the JIT engine is not available in this version of pybpf; use engine='interp'")
    return Interpreter(program, **options)
