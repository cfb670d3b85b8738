"""Control-flow structure of a program: functions, edges, and the structural checks.

Before any abstract interpretation the program must be well formed as a graph: every
instruction decodes (:func:`pybpf.isa.instruction.validate`), functions are the contiguous ranges
starting at instruction 0 and at every local-call or callback target, jumps stay inside their
function, no function falls off its end into the next one, every instruction is reachable, and
local calls do not recurse.  These are the Linux ``check_cfg`` rules; failing them is reported
like any other rejection.

The result, :class:`ProgramInfo`, also lists the *pruning points* where the analyzer stores and
compares states: jump targets (loop heads among them), the fall-through of conditional jumps and
the return point of local calls.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from pybpf.errors import BytecodeError
from pybpf.isa.instruction import Instruction, branch_target, is_function_address, validate
from pybpf.isa.opcodes import Form, Kind
from pybpf.verifier.result import VerifierError


@dataclass
class ProgramInfo:
    insns: list[Instruction]
    forms: list[Form]
    tails: set[int]  # second slots of lddw
    entries: list[int]  # sorted function entries (0 first)
    callbacks: set[int]  # entries whose address is taken (lddw func)
    prune_points: list[bool]
    func_of: list[int] = field(default_factory=list)  # entry of the function holding each insn

    def function_end(self, entry: int) -> int:
        k = bisect.bisect_right(self.entries, entry)
        return self.entries[k] if k < len(self.entries) else len(self.insns)

    def successors(self, i: int) -> list[int]:
        """Intra-function successors of instruction ``i``."""
        form = self.forms[i]
        kind = form.kind
        nxt = i + 2 if form.is_wide else i + 1
        if kind is Kind.EXIT:
            return []
        if kind is Kind.JUMP:
            target = branch_target(i, self.insns[i], form)
            if form.op == "ja":
                return [target]
            return [nxt, target] if target != nxt else [nxt]
        return [nxt]


def analyze_structure(insns: Sequence[Instruction]) -> ProgramInfo:
    """Decode and check the graph; raise :class:`VerifierError` on a structural fault."""
    insns = list(insns)
    try:
        forms = validate(insns)
    except BytecodeError as exc:
        raise VerifierError(exc.index, exc.reason) from None
    n = len(insns)
    tails: set[int] = set()
    i = 0
    while i < n:
        if forms[i].is_wide:
            tails.add(i + 1)
            i += 2
        else:
            i += 1
    entries = {0}
    callbacks: set[int] = set()
    for i in range(n):
        if i in tails:
            continue
        form = forms[i]
        if form.kind is Kind.CALL_LOCAL:
            entries.add(branch_target(i, insns[i], form))
        elif is_function_address(form):
            target = branch_target(i, insns[i], form)
            entries.add(target)
            callbacks.add(target)
    info = ProgramInfo(insns, forms, tails, sorted(entries), callbacks, [False] * n)
    func_of = [0] * n
    for entry in info.entries:
        end = info.function_end(entry)
        for j in range(entry, end):
            func_of[j] = entry
    info.func_of = func_of
    _check_functions(info)
    _check_reachable(info)
    _check_recursion(info)
    _mark_prune_points(info)
    return info


def _check_functions(info: ProgramInfo) -> None:
    insns, forms = info.insns, info.forms
    for entry in info.entries:
        end = info.function_end(entry)
        for i in range(entry, end):
            if i in info.tails:
                continue
            form = forms[i]
            if form.kind is Kind.JUMP:
                target = branch_target(i, insns[i], form)
                if not entry <= target < end:
                    raise VerifierError(i, f"jump out of range from insn {i} to {target}")
        last = end - 1
        if last in info.tails:
            last -= 1
        lf = forms[last]
        if not (lf.kind is Kind.EXIT or (lf.kind is Kind.JUMP and lf.op == "ja")):
            raise VerifierError(last, "last insn is not an exit or jmp")


def _check_reachable(info: ProgramInfo) -> None:
    n = len(info.insns)
    seen = [False] * n
    work = [0]
    seen[0] = True
    while work:
        i = work.pop()
        form = info.forms[i]
        nexts = info.successors(i)
        if form.kind is Kind.CALL_LOCAL or is_function_address(form):
            nexts = [*nexts, branch_target(i, info.insns[i], form)]
        for j in nexts:
            if j < n and not seen[j]:
                seen[j] = True
                work.append(j)
    for i in range(n):
        if not seen[i] and i not in info.tails:
            raise VerifierError(i, f"unreachable insn {i}")


def _check_recursion(info: ProgramInfo) -> None:
    calls: dict[int, set[int]] = {e: set() for e in info.entries}
    for i, form in enumerate(info.forms):
        if i in info.tails:
            continue
        if form.kind is Kind.CALL_LOCAL:
            calls[info.func_of[i]].add(branch_target(i, info.insns[i], form))
    state: dict[int, int] = {}  # 1 = on the DFS path, 2 = done

    def visit(f: int, site: int) -> None:
        state[f] = 1
        for g in sorted(calls[f]):
            if state.get(g) == 1:
                raise VerifierError(site, f"recursive call from function at insn {f} to function at insn {g}")
            if g not in state:
                visit(g, g)
        state[f] = 2

    for entry in info.entries:
        if entry not in state:
            visit(entry, entry)


def _mark_prune_points(info: ProgramInfo) -> None:
    marks = info.prune_points
    for i, form in enumerate(info.forms):
        if i in info.tails:
            continue
        if form.kind is Kind.JUMP:
            target = branch_target(i, info.insns[i], form)
            marks[target] = True
            if form.op != "ja" and i + 1 < len(marks):
                marks[i + 1] = True
        elif form.kind in (Kind.CALL_LOCAL, Kind.CALLX) and i + 1 < len(marks):
            marks[i + 1] = True
