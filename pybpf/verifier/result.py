"""What verification produces: the error on rejection, the result on acceptance, the options.

A rejection is a :class:`VerifierError` carrying the instruction index, a one-sentence reason and
the abstract values of the registers involved, so a reader sees at once *where*, *why* and *with
what*.  An acceptance is a :class:`VerifierResult`: the work done (instructions processed, states
stored, time), what was proven per instruction (``safe``: memory accesses proven in bounds), and
the rewritten program the runtime should execute (context pointer loads converted to loads of the
shadow fields, see :mod:`pybpf.progtypes.platform`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pybpf.errors import PybpfError
from pybpf.isa.instruction import Instruction

COMPLEXITY_LIMIT_INSNS = 1_000_000  # Linux BPF_COMPLEXITY_LIMIT_INSNS
COMPLEXITY_LIMIT_JMP_SEQ = 8192  # pending branches (Linux BPF_COMPLEXITY_LIMIT_JMP_SEQ)


class Reject(Exception):
    """Internal: a check failed; the analyzer adds the location and state."""

    def __init__(self, reason: str, regs: tuple[int, ...] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.regs = regs


class VerifierError(PybpfError):
    """The program was rejected.

    ``index`` is the instruction, ``reason`` one sentence, ``insn`` the disassembled instruction,
    ``state`` the abstract values of the registers involved and ``log`` the verifier log up to the
    failure (with ``log_level`` >= 1).
    """

    def __init__(self, index: int, reason: str, *, insn: str = "", state: str = "", log: str = "") -> None:
        self.index = index
        self.reason = reason
        self.insn = insn
        self.state = state
        self.log = log
        where = f"instruction {index}" + (f" ({insn})" if insn else "")
        text = f"{where}: {reason}"
        if state:
            text += f"\n  {state}"
        super().__init__(text)


@dataclass
class VerifierOptions:
    """Policy switches and limits (defaults follow Linux for a privileged loader, except that
    pointer leaks are refused)."""

    max_insns: int = COMPLEXITY_LIMIT_INSNS
    max_pending: int = COMPLEXITY_LIMIT_JMP_SEQ
    max_call_depth: int = 8
    stack_size: int = 512
    allow_ptr_leaks: bool = False
    allow_div_by_zero: bool | None = None  # None: the platform decides
    imprecise_pruning: bool = True  # ignore scalars whose value cannot matter when pruning
    record_states: bool = False  # keep every abstract register file per instruction
    max_tail_call_stack: int = 256


@dataclass
class InsnProof:
    """What the verifier established about one instruction over all paths that reached it."""

    visits: int = 0
    regions: set[str] = field(default_factory=set)  # kinds of memory it accessed
    ctx_fields: set[str] = field(default_factory=set)
    rewritten: bool = False


@dataclass
class VerifierResult:
    """An accepted program and the proof facts the runtime can rely on."""

    prog_type: str
    instructions: int
    insns_processed: int
    states_explored: int
    peak_states: int
    pruned: int
    time_s: float
    safe: frozenset[int]
    proof: dict[int, InsnProof]
    rewritten: list[Instruction]
    stack_depth: dict[int, int]
    log: str = ""
    recorded: dict[int, list[Any]] = field(default_factory=dict)
    accepted: bool = True

    def summary(self) -> dict[str, Any]:
        return {
            "verdict": "accept",
            "prog_type": self.prog_type,
            "instructions": self.instructions,
            "insns_processed": self.insns_processed,
            "states_explored": self.states_explored,
            "peak_states": self.peak_states,
            "pruned": self.pruned,
            "time_s": round(self.time_s, 6),
            "safe_accesses": len(self.safe),
            "rewritten_ctx_loads": sum(1 for p in self.proof.values() if p.rewritten),
            "stack_depth": dict(self.stack_depth),
        }
