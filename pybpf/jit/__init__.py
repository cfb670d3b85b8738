"""The LLVM JIT engine (llvmlite), interchangeable with the reference interpreter.

* :class:`JitEngine` compiles a program to native code and runs it with the interpreter's memory
  model, helpers and exceptions.
* :class:`TieredEngine` (``engine="auto"``) interprets first and switches to native code once
  the time spent interpreting exceeds what compiling is expected to cost.

* :meth:`JitEngine.run_batch` runs a program over many inputs (packets) in one native call.

Modules: :mod:`~pybpf.jit.abi` (context layout shared with native code), :mod:`~pybpf.jit.lower`
(eBPF to LLVM IR text), :mod:`~pybpf.jit.compiler` (llvmlite), :mod:`~pybpf.jit.cache` (memory and
disk caches), :mod:`~pybpf.jit.rtlib` (native code shared by all programs),
:mod:`~pybpf.jit.maps` (native map helpers), :mod:`~pybpf.jit.batch` (batches),
:mod:`~pybpf.jit.runtime` (context, callbacks, faults, hand-overs to the interpreter),
:mod:`~pybpf.jit.engine`, :mod:`~pybpf.jit.tiered`.  Importing this package does not load LLVM;
compiling does.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pybpf.jit.batch import BatchContext
    from pybpf.jit.compiler import JitError
    from pybpf.jit.engine import JitEngine
    from pybpf.jit.tiered import TieredEngine

_LAZY = {
    "BatchContext": "pybpf.jit.batch",
    "JitError": "pybpf.jit.compiler",
    "JitEngine": "pybpf.jit.engine",
    "TieredEngine": "pybpf.jit.tiered",
}


def available() -> bool:
    """Whether llvmlite is installed (checked without importing it, which would load LLVM)."""
    return importlib.util.find_spec("llvmlite") is not None


def __getattr__(name: str) -> Any:
    """Engines are imported on first use, so ``pybpf.jit.available()`` costs nothing."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["BatchContext", "JitEngine", "JitError", "TieredEngine", "available"]
