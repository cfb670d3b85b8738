"""The verifier log, in the spirit of the kernel's verbose log.

``log_level=1`` records one line per rejection (and the summary); ``log_level=2`` records, for
every processed instruction, the instruction (index, opcode, kernel-syntax text) followed by the
abstract state it is executed in, e.g.::

    3: (bf) r2 = r10                         ; R1=ctx(off=0) R10=fp0
    4: (07) r2 += -4                         ; R1=ctx(off=0) R2=fp0 R10=fp0 fp-8=mmmm????

so that a reader can follow how each fact was established.
"""

from __future__ import annotations

from collections.abc import Sequence

from pybpf.isa.disassembler import disassemble_one
from pybpf.isa.instruction import Instruction
from pybpf.verifier.state import K, VState


def insn_text(insns: Sequence[Instruction], i: int) -> str:
    insn = insns[i]
    nxt = insns[i + 1] if insn.opcode == 0x18 and i + 1 < len(insns) else None
    return disassemble_one(insn, nxt)


def state_text(state: VState, regs: Sequence[int] | None = None, *, stack: bool = True) -> str:
    """Registers (all initialised ones, or ``regs``) and the current frame's stack."""
    frame = state.cur
    if regs is None:
        nums = [i for i, r in enumerate(frame.regs) if r.kind != K.NOT_INIT]
    else:
        nums = sorted({r for r in regs if 0 <= r <= 10})
    parts = [f"R{i}={frame.regs[i].describe()}" for i in nums]
    if stack:
        s = frame.stack.describe()
        if s:
            parts.append(s)
    prefix = f"frame{len(state.frames) - 1}: " if len(state.frames) > 1 else ""
    return prefix + " ".join(parts)


class VerifierLog:
    """Collects log lines when a level is set (level 0 costs nothing)."""

    def __init__(self, level: int, insns: Sequence[Instruction]) -> None:
        self.level = level
        self.insns = insns
        self.lines: list[str] = []

    def insn(self, i: int, state: VState) -> None:
        text = insn_text(self.insns, i)
        self.lines.append(f"{i}: ({self.insns[i].opcode:02x}) {text:<36} ; {state_text(state)}")

    def note(self, text: str) -> None:
        if self.level:
            self.lines.append(text)

    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")
