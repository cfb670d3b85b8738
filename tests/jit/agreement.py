"""One program over one data region on the interpreter and on the JIT: the outcomes must be
the same (r0 or the fault's type and instruction, the count, the region's bytes)."""

from __future__ import annotations

from pybpf.errors import VMError
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Region


def outcome(engine: type[Interpreter], text: str, data: bytes, budget: int, writable: bool) -> tuple[object, ...]:
    vm = engine(assemble(text), budget=budget)
    region = vm.memory.add(Region("data", bytearray(data), writable=writable))
    try:
        result: object = vm.run(region)
    except VMError as exc:
        result = (type(exc).__name__, exc.pc)
    return result, vm.instructions_executed, bytes(region.buf)


def agree(text: str, data: bytes, budget: int = 10**9, writable: bool = True) -> tuple[object, ...]:
    expected = outcome(Interpreter, text, data, budget, writable)
    got = outcome(JitEngine, text, data, budget, writable)
    assert got == expected
    return got
