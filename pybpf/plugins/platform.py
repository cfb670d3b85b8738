"""The verifier's view of a plugin bytecode: program type, API prototypes, heap regions.

Every bytecode is verified against a :class:`~pybpf.progtypes.platform.Platform` built for its
manifest entry:

* one program type, ``plugin``: the context (r1) is empty -- bytecode gets everything through the
  API -- so any access through r1 is refused;
* the prototypes of the API functions the entry may call (its permissions and mode), and only
  those: a function it is not granted does not exist for it;
* the regions API functions return pointers into: ``heap`` (malloc, calloc, realloc), ``scratch``
  and ``shm``.  All three are *runtime checked*: with a constant size argument the verifier knows
  the block's size and rejects what is provably out of bounds; with a non-constant size it lets
  accesses through and the engines check them against the live blocks; and no heap access is ever
  compiled without that check, which is what catches use after free.

:func:`check_calls` runs before the verifier and names the culprit precisely: which instruction
calls which function, and which permission (or mode) it lacks.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence

from pybpf.helpers.prototypes import PrototypeTable
from pybpf.isa.instruction import Instruction
from pybpf.plugins.api import ALL_FUNCTIONS, BY_ID, REGION_HEAP, REGION_SCRATCH, REGION_SHM, available
from pybpf.plugins.faults import PluginError
from pybpf.plugins.operations import Mode
from pybpf.progtypes.platform import Platform, ProgTypeSpec, RegionSpec, raw_context
from pybpf.verifier.result import VerifierOptions

PROG_TYPE = "plugin"
_CALL = 0x85
# Instructions the verifier may process per bytecode (Linux: 1,000,000).  Lower, because pybpf's
# verifier runs in Python and a hostile plugin (an unbounded loop) must not make insertion take a
# minute; plugin bytecode is small (a loop of 64 iterations of 20 instructions is 1,280).
VERIFIER_INSNS = 100_000


def verifier_options() -> VerifierOptions:
    return VerifierOptions(max_insns=VERIFIER_INSNS)


@functools.cache
def plugin_platform(permissions: frozenset[str], mode: Mode) -> Platform:
    """The platform for a bytecode with these permissions in this mode (cached: immutable)."""
    ids = frozenset(f.id for f in ALL_FUNCTIONS if available(f, permissions, mode))
    spec = ProgTypeSpec(PROG_TYPE, raw_context("plugin", 0, writable=False), helpers=ids)
    regions = {
        name: RegionSpec(name, -1, writable=True, runtime_checked=True)
        for name in (REGION_HEAP, REGION_SCRATCH, REGION_SHM)
    }
    table = PrototypeTable.of(f.proto for f in ALL_FUNCTIONS if f.id in ids)
    return Platform({PROG_TYPE: spec}, table, regions, name=f"pybpf-plugin/{mode.value}")


def check_recursion(insns: Sequence[Instruction], where: str) -> None:
    """Refuse recursive bpf-to-bpf calls, as Linux does, before the verifier would explore them
    up to its instruction budget (a hostile plugin must not make insertion slow)."""
    calls = [(i, i + 1 + insn.imm) for i, insn in enumerate(insns) if insn.opcode == _CALL and insn.src == 1]
    if not calls:
        return
    entries = sorted({0, *(t for _, t in calls)})

    def function_of(i: int) -> int:
        return entries[bisect.bisect_right(entries, i) - 1]

    graph: dict[int, list[tuple[int, int]]] = {}
    for i, target in calls:
        graph.setdefault(function_of(i), []).append((i, target))
    state: dict[int, int] = {}  # 1: on the path, 2: done

    def visit(fn: int) -> None:
        state[fn] = 1
        for i, target in graph.get(fn, ()):
            if state.get(target) == 1:
                raise PluginError(
                    f"{where}: instruction {i} makes a recursive call (to the function at instruction {target})"
                )
            if target not in state:
                visit(target)
        state[fn] = 2

    for fn in entries:
        if fn not in state:
            visit(fn)


def check_calls(insns: Sequence[Instruction], permissions: frozenset[str], mode: Mode, where: str) -> None:
    """Refuse calls of API functions the bytecode may not use, naming function and permission,
    and recursive functions."""
    check_recursion(insns, where)
    for i, insn in enumerate(insns):
        if insn.opcode != _CALL or insn.src != 0:
            continue
        fn = BY_ID.get(insn.imm)
        if fn is None:
            raise PluginError(f"{where}: instruction {i} calls helper {insn.imm}, which is not part of the plugin API")
        if fn.permission is not None and fn.permission not in permissions:
            raise PluginError(
                f"{where}: instruction {i} calls {fn.name}, which needs permission {fn.permission!r} "
                f"(not granted by the manifest's permissions)"
            )
        if fn.replace_only and mode is not Mode.REPLACE:
            raise PluginError(
                f"{where}: instruction {i} calls {fn.name}, which only replace bytecodes may call "
                f"(this one is a {mode.value} observer)"
            )


__all__ = ["PROG_TYPE", "VERIFIER_INSNS", "check_calls", "check_recursion", "plugin_platform", "verifier_options"]
