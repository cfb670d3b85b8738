"""pybpf: a user-space eBPF platform for Python."""

from pybpf.errors import (
    AssemblerError,
    BudgetExceededError,
    BytecodeError,
    CallDepthError,
    HelperError,
    MemoryAccessError,
    PybpfError,
    VMError,
)

__version__ = "0.1.0"

__all__ = [
    "AssemblerError",
    "BudgetExceededError",
    "BytecodeError",
    "CallDepthError",
    "HelperError",
    "MemoryAccessError",
    "PybpfError",
    "VMError",
    "__version__",
]
