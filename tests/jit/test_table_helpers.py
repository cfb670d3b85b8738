"""Table helpers (``Helper.table``): the JIT answers them from the argument table inline.

Inside the table the native answer must be the helper's own; outside it (and whenever the table
is empty) the helper runs, so its errors are the interpreter's.  The tiered engine keeps the table
across its switch to native code.
"""

from __future__ import annotations

from typing import Any

import pytest

from pybpf.errors import HelperError
from pybpf.helpers import Helper
from pybpf.helpers.registry import HelperRegistry
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine
from pybpf.jit.engine import calls_table_helpers
from pybpf.jit.tiered import TieredEngine
from pybpf.vm.interpreter import Interpreter

GET = 900

# r0 = get(0) * 1000 + get(1) * 10 + get(r6) where r6 comes from the input's first byte.
PROGRAM = assemble(f"""
    r6 = *(u8 *)(r1 + 0)
    r1 = 0
    call {GET}
    r7 = r0
    r7 *= 1000
    r1 = 1
    call {GET}
    r0 *= 10
    r7 += r0
    r1 = r6
    call {GET}
    r0 += r7
    exit
""")


class Source:
    """What the helper reads: the same values the table is set to (a helper and its table agree)."""

    def __init__(self) -> None:
        self.values: list[int] = []
        self.calls = 0

    def get(self, env: Any, i: int, *_: int) -> int:
        self.calls += 1
        if i >= len(self.values):
            raise HelperError(env.pc, f"no value {i}")
        return self.values[i]


def registry(source: Source) -> HelperRegistry:
    return HelperRegistry([Helper(GET, "get", source.get, table=True)])


def engines(source: Source) -> list[Interpreter]:
    reg = registry(source)
    return [Interpreter(PROGRAM, helpers=reg), JitEngine(PROGRAM, helpers=reg, cache=False)]


def run(engine: Interpreter, source: Source, values: list[int], index: int) -> tuple[object, int]:
    source.values = values
    engine.set_table(values)
    try:
        result: object = engine.run(bytes([index]))
    except HelperError as exc:
        result = ("HelperError", exc.pc)
    return result, engine.instructions_executed


def test_native_answers_match_the_helper_and_errors_come_from_it() -> None:
    source = Source()
    interp, jit = engines(source)
    assert not interp.uses_table and jit.uses_table
    for values, index in [([1, 2, 3], 2), ([7, 8], 1), ([4, 5, 6, 9], 3), ([1, 2], 5), ([3, 3, 3], 0)]:
        assert run(interp, source, values, index) == run(jit, source, values, index), (values, index)
    assert run(jit, source, [1, 2, 3], 2) == (1023, 13)
    assert run(jit, source, [1, 2], 5) == (("HelperError", 10), 13)  # one block of 13, counted at its start


def test_jit_reads_the_table_without_calling_the_helper_inside_it() -> None:
    source = Source()
    _, jit = engines(source)
    run(jit, source, [1, 2, 3], 1)
    assert source.calls == 0
    run(jit, source, [1, 2], 4)  # the third call is outside the table: the helper runs (and fails)
    assert source.calls == 1


def test_values_beyond_u64_are_reduced_as_registers_are() -> None:
    source = Source()
    interp, jit = engines(source)
    values = [-1 & (2**64 - 1), 5, 2**63]
    assert run(jit, source, values, 2) == run(interp, source, values, 2)
    jit.set_table([-1, 5, 2**63])  # negative: taken modulo 2**64
    source.values = values
    assert jit.run(bytes([2])) == interp.run(bytes([2]))


def test_tiered_engine_keeps_the_table_across_its_switch() -> None:
    source = Source()
    engine = TieredEngine(PROGRAM, helpers=registry(source), cache=False, tier_threshold_ns=0)
    assert engine.uses_table
    source.values = [2, 4, 6]
    engine.set_table(source.values)
    results = []
    for _ in range(4):  # the first run is interpreted, then it switches to native code
        results.append(engine.run(bytes([1])))
    assert engine.tiered and results == [2044] * 4
    calls = source.calls
    assert engine.run(bytes([2])) == 2046 and source.calls == calls  # native: answered from the table


@pytest.mark.parametrize("table", [False, True])
def test_only_programs_calling_table_helpers_use_the_table(table: bool) -> None:
    source = Source()
    reg = HelperRegistry([Helper(GET, "get", source.get, table=table)])
    assert calls_table_helpers(Interpreter(PROGRAM, helpers=reg)) is table
    assert not calls_table_helpers(Interpreter(assemble("r0 = 0\nexit"), helpers=reg))
