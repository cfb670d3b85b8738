"""Fault records: what went wrong in a plugin, where, and why.

A fault is anything a plugin does at run time that the framework refuses (a memory violation, an
exhausted budget, a cycle through operations, a bad API argument, a missing permission, a double
free, ...).  The framework turns it into a :class:`Fault` -- plugin, bytecode, operation, reason
kind, message and instruction index -- removes the plugin from its scope and lets the host's policy
decide about the session.  Faults are data, not exceptions, so a host can log, count or display
them after the fact.

:class:`PluginFaultError` is how API functions report a refusal from inside a running bytecode:
it is a :class:`~pybpf.errors.HelperError`, so both engines let it pass unchanged (the interpreter
and the JIT only wrap exceptions that are not VM errors), and the dispatcher recognises its kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pybpf.errors import (
    BudgetExceededError,
    CallDepthError,
    HelperError,
    MemoryAccessError,
    PybpfError,
    VMError,
)


class FaultKind(Enum):
    """Why a plugin was stopped."""

    MEMORY = "memory"  # load or store outside every region the plugin may touch
    NULL_POINTER = "null_pointer"  # the same, at address 0
    HEAP_OVERFLOW = "heap_overflow"  # just past the end of a live heap block
    USE_AFTER_FREE = "use_after_free"  # inside a heap block that was freed
    DOUBLE_FREE = "double_free"  # free of a block already freed
    INVALID_FREE = "invalid_free"  # free of a pointer that is not a live block
    OUT_OF_MEMORY = "out_of_memory"  # an allocation larger than the whole heap
    BUDGET = "budget"  # instruction budget of one invocation exhausted
    CALL_DEPTH = "call_depth"  # bpf-to-bpf calls nested too deep
    NESTING = "nesting"  # operations nested too deep through the API
    CYCLE = "cycle"  # an operation re-entered while already on the call stack
    PERMISSION = "permission"  # an API use the manifest does not grant
    BAD_ARGUMENT = "bad_argument"  # an API function refused its arguments
    UNKNOWN_OPERATION = "unknown_operation"  # call of an operation that does not exist
    NO_IMPLEMENTATION = "no_implementation"  # call of an operation nothing implements
    VM = "vm"  # any other run-time error of the virtual machine


@dataclass(frozen=True)
class Fault:
    """One recorded fault.  ``pc`` is the instruction index in the bytecode (None if unknown)."""

    plugin: str
    bytecode: str
    operation: str
    kind: FaultKind
    message: str
    pc: int | None = None
    scope: str = "session"  # the scope the plugin was removed from: "session" or "endpoint"

    def __str__(self) -> str:
        where = f" at instruction {self.pc}" if self.pc is not None else ""
        return (
            f"plugin {self.plugin}: bytecode {self.bytecode} (operation {self.operation}){where}: "
            f"{self.kind.value}: {self.message}"
        )


class PluginError(PybpfError):
    """A plugin that cannot be used: bad manifest, bytecode rejected, unknown operation, ..."""


class SessionClosedError(PluginError):
    """An operation was called on a session the host policy closed."""


class PluginFaultError(HelperError):
    """Raised by API functions (and the dispatcher) inside a running bytecode."""

    def __init__(self, pc: int, kind: FaultKind, reason: str) -> None:
        self.kind = kind
        super().__init__(pc, reason)


def classify(exc: VMError) -> FaultKind:
    """The fault kind of a VM error a bytecode raised (API refusals carry their own)."""
    if isinstance(exc, PluginFaultError):
        return exc.kind
    if isinstance(exc, MemoryAccessError):
        return FaultKind.NULL_POINTER if exc.address == 0 else FaultKind.MEMORY
    if isinstance(exc, BudgetExceededError):
        return FaultKind.BUDGET
    if isinstance(exc, CallDepthError):
        return FaultKind.CALL_DEPTH
    return FaultKind.VM


__all__ = ["Fault", "FaultKind", "PluginError", "PluginFaultError", "SessionClosedError", "classify"]
