"""The exceptions pybpf raises.

Every error a user can provoke with bad input is a subclass of :class:`PybpfError`, so a caller
(or the CLI) can catch one type and print one clear line.  Each error carries the location that
matters for its input kind (instruction index, source line, section, address) as attributes, so
tools can report it without parsing the message.
"""

from __future__ import annotations


class PybpfError(Exception):
    """Base class of every error pybpf raises on purpose."""


class BytecodeError(PybpfError):
    """Malformed bytecode, rejected at load time before anything runs."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"instruction {index}: {reason}")


class AssemblerError(PybpfError):
    """Assembly text that cannot be turned into bytecode."""

    def __init__(self, line: int, reason: str, text: str = "") -> None:
        self.line = line
        self.reason = reason
        self.text = text
        where = f"line {line}"
        shown = f" ({text.strip()!r})" if text.strip() else ""
        super().__init__(f"{where}{shown}: {reason}")


class VMError(PybpfError):
    """A fault while a program runs; ``pc`` is the instruction index that faulted."""

    def __init__(self, pc: int, reason: str) -> None:
        self.pc = pc
        self.reason = reason
        super().__init__(f"instruction {pc}: {reason}")


class MemoryAccessError(VMError):
    """A load or store outside every region the program may touch, or against its permissions."""

    def __init__(self, pc: int, address: int, size: int, write: bool, detail: str) -> None:
        self.address = address
        self.size = size
        self.write = write
        kind = "write" if write else "read"
        super().__init__(pc, f"invalid {size}-byte {kind} at 0x{address:x}: {detail}")


class BudgetExceededError(VMError):
    """The program ran more instructions than its budget allows (a runaway loop)."""

    def __init__(self, pc: int, budget: int) -> None:
        self.budget = budget
        super().__init__(pc, f"instruction budget of {budget} exhausted")


class CallDepthError(VMError):
    """Local calls nested deeper than the call-depth limit."""


class HelperError(VMError):
    """A helper call that cannot be made: unknown id, or a helper that refused its arguments."""


class ElfError(PybpfError):
    """An object file pybpf cannot load; ``where`` names the section or symbol at fault."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class BtfError(ElfError):
    """Malformed or unsupported BTF type information."""
