"""Choosing an execution engine by name: ``interp``, ``jit`` or ``auto``.

Every API and command that runs a program takes ``engine=``; this module is the one place that
maps the name to an implementation, so engines stay interchangeable.

* ``interp``: the reference interpreter.
* ``jit``: :class:`pybpf.jit.JitEngine`, compiled with LLVM (llvmlite) when constructed.
* ``auto``: :class:`pybpf.jit.TieredEngine` when llvmlite is installed: it interprets first and
  compiles once the time spent interpreting reaches the estimated compile cost, so a one-shot run
  is never slower than the interpreter; without llvmlite, the interpreter.

All engines are :class:`~pybpf.vm.interpreter.Interpreter` instances with the same surface.
JIT-only options (``safe``, ``opt_level``, ``cache``, ``tier_threshold_ns``) are ignored by the
interpreter, so callers can pass them regardless of the engine chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pybpf.errors import PybpfError
from pybpf.isa.instruction import Instruction
from pybpf.vm.interpreter import Interpreter

ENGINES = ("interp", "jit", "auto")
_JIT_ONLY_OPTIONS = ("safe", "opt_level", "cache", "tier_threshold_ns")


def jit_available() -> bool:
    """Whether the JIT engine can be used on this machine (llvmlite is installed)."""
    from pybpf.jit import available

    return available()


def make_engine(program: bytes | Sequence[Instruction], engine: str = "auto", **options: Any) -> Interpreter:
    """An engine instance for ``program``; options go to the engine (budget, helpers, ...)."""
    if engine not in ENGINES:
        raise PybpfError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if engine == "jit" and not jit_available():
        raise PybpfError("the JIT engine needs llvmlite (pip install llvmlite); use engine='interp'")
    if engine == "interp" or not jit_available():
        for name in _JIT_ONLY_OPTIONS:
            options.pop(name, None)
        return Interpreter(program, **options)
    if engine == "jit":
        from pybpf.jit.engine import JitEngine

        options.pop("tier_threshold_ns", None)
        return JitEngine(program, **options)
    from pybpf.jit.tiered import TieredEngine

    return TieredEngine(program, **options)
