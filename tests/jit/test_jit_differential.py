"""Interpreter vs JIT on random valid programs: same r0, registers, memory, stack and count.

Registers and stack are compared after a normal end (after a fault they are unspecified for
the JIT).  Programs are built from structured pieces so that they are valid and terminate: straight-line
ALU/byte-order code over every ALU form, loads and stores to an input buffer within its bounds and
to the stack frame, atomics on the stack and on the buffer (aligned and not), forward branches over
sub-blocks, bounded counted loops (nested at most twice), helper calls, ``callx`` of a helper id,
``lddw`` constants, and local calls to subprograms (a subprogram only calls later ones, so depth is
bounded).  r6 holds the buffer address and r10 the frame; neither is ever used as a value, so the
registers of both engines can be compared exactly even though their buffers and stacks live at
different addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.errors import VMError
from pybpf.helpers import Helper, HelperRegistry
from pybpf.isa.instruction import Instruction, lddw
from pybpf.isa.opcodes import FORMS, Field, Form, Kind
from pybpf.jit import JitEngine
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Region

SCRATCH = (0, 1, 2, 3, 4, 5, 7)
BUF = 6  # holds the input buffer's address for the whole run
LOOP_COUNTERS = (9, 8)  # by loop nesting depth; never written by anything else
HELPER_ID = 1000
T = TypeVar("T")
INTERESTING = (0, 1, -1, 2, 7, 31, 32, 33, 63, 64, 0x7FFFFFFF, -0x80000000, 0x12345678, -0x1234)

ALU_FORMS = [f for f in FORMS if f.kind is Kind.ALU]
END_FORMS = [f for f in FORMS if f.kind is Kind.END]
COND_FORMS = [f for f in FORMS if f.kind is Kind.JUMP and f.op != "ja"]
LOAD_FORMS = [f for f in FORMS if f.kind in (Kind.LOAD, Kind.LOADSX)]
STORE_FORMS = [f for f in FORMS if f.kind in (Kind.STORE_IMM, Kind.STORE_REG)]
ATOMIC_FORMS = [f for f in FORMS if f.kind is Kind.ATOMIC]
JA_FORMS = {f.width: f for f in FORMS if f.kind is Kind.JUMP and f.op == "ja"}
JNE_K = next(f for f in COND_FORMS if f.op == "jne" and f.width == 64 and f.source == "K")
SUB_K = next(f for f in ALU_FORMS if f.op == "sub" and f.width == 64 and f.source == "K")
MOV_K = next(f for f in ALU_FORMS if f.op == "mov" and f.width == 64 and f.source == "K")
MOV_X = next(f for f in ALU_FORMS if f.op == "mov" and f.width == 64 and f.source == "X" and f.bits == 0)
CALL = next(f for f in FORMS if f.kind is Kind.CALL)
CALL_LOCAL = next(f for f in FORMS if f.kind is Kind.CALL_LOCAL)
CALLX = next(f for f in FORMS if f.kind is Kind.CALLX)
EXIT = next(f for f in FORMS if f.kind is Kind.EXIT)


def make(form: Form, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> Instruction:
    """An instruction of ``form``: fields it does not use are zeroed, the discriminating field
    is set from the table."""
    dst, src, off, imm = (
        v if name in form.uses else 0 for name, v in (("dst", dst), ("src", src), ("off", off), ("imm", imm))
    )
    if form.discriminator is Field.OFF:
        off = form.value
    elif form.discriminator is Field.IMM:
        imm = form.value
    elif form.discriminator is Field.SRC:
        src = form.value
    return Instruction(form.opcode, dst, src, off, imm)


@dataclass
class Jump:
    """A jump or call whose target is a label, patched once the layout is known."""

    form: Form
    dst: int
    src: int
    imm: int
    label: str


class Builder:
    def __init__(self, data: st.DataObject, mem_size: int, subs: int) -> None:
        self.data = data
        self.mem_size = mem_size
        self.subs = subs
        self.items: list[Instruction | Jump | str] = []
        self.labels = 0

    def draw(self, strategy: st.SearchStrategy[T]) -> T:
        return self.data.draw(strategy)

    def reg(self) -> int:
        return int(self.draw(st.sampled_from(SCRATCH)))

    def imm(self) -> int:
        return int(self.draw(st.sampled_from(INTERESTING) | st.integers(-(2**31), 2**31 - 1)))

    def label(self) -> str:
        self.labels += 1
        return f"L{self.labels}"

    def block(self, length: int, depth: int, sub: int) -> None:
        for _ in range(length):
            self.statement(depth, sub)

    def statement(self, depth: int, sub: int) -> None:
        kinds = ["alu"] * 6 + ["end", "load", "load", "store", "store", "stack", "stack", "atomic", "lddw"]
        kinds += ["if", "helper", "skip"]
        if depth < len(LOOP_COUNTERS):
            kinds.append("loop")
        if sub + 1 < self.subs:
            kinds.append("call")
        kind = self.draw(st.sampled_from(kinds))
        getattr(self, "s_" + str(kind))(depth, sub)

    # -- statements --------------------------------------------------------------------------
    def s_alu(self, depth: int, sub: int) -> None:
        form: Form = self.draw(st.sampled_from(ALU_FORMS))
        self.items.append(make(form, self.reg(), self.reg() if form.source == "X" else 0, 0, self.imm()))

    def s_end(self, depth: int, sub: int) -> None:
        self.items.append(make(self.draw(st.sampled_from(END_FORMS)), self.reg()))

    def _buffer_offset(self, size: int) -> int:
        return int(self.draw(st.integers(0, self.mem_size - size)))

    def _stack_offset(self, size: int) -> int:
        return int(self.draw(st.integers(-512, -size)))

    def s_load(self, depth: int, sub: int) -> None:
        form: Form = self.draw(st.sampled_from(LOAD_FORMS))
        self.items.append(make(form, self.reg(), BUF, self._buffer_offset(form.width)))

    def s_store(self, depth: int, sub: int) -> None:
        form: Form = self.draw(st.sampled_from(STORE_FORMS))
        src = self.reg() if form.kind is Kind.STORE_REG else 0
        self.items.append(make(form, BUF, src, self._buffer_offset(form.width), self.imm()))

    def s_stack(self, depth: int, sub: int) -> None:
        form: Form = self.draw(st.sampled_from(LOAD_FORMS + STORE_FORMS))
        off = self._stack_offset(form.width)
        if form.kind in (Kind.LOAD, Kind.LOADSX):
            self.items.append(make(form, self.reg(), 10, off))
        else:
            src = self.reg() if form.kind is Kind.STORE_REG else 0
            self.items.append(make(form, 10, src, off, self.imm()))

    def s_atomic(self, depth: int, sub: int) -> None:
        form: Form = self.draw(st.sampled_from(ATOMIC_FORMS))
        size = form.width
        aligned = self.draw(st.booleans())
        if self.draw(st.booleans()):
            off = self._stack_offset(size)
            if aligned:
                off -= off % size
            self.items.append(make(form, 10, self.reg(), off))
        else:
            off = self._buffer_offset(size)
            self.items.append(make(form, BUF, self.reg(), off))

    def s_lddw(self, depth: int, sub: int) -> None:
        value = int(self.draw(st.integers(0, 2**64 - 1)))
        self.items.extend(lddw(self.reg(), value))

    def s_if(self, depth: int, sub: int) -> None:
        form: Form = self.draw(st.sampled_from(COND_FORMS))
        end = self.label()
        src = self.reg() if form.source == "X" else 0
        self.items.append(Jump(form, self.reg(), src, self.imm(), end))
        self.block(int(self.draw(st.integers(1, 4))), depth, sub)
        self.items.append(end)

    def s_skip(self, depth: int, sub: int) -> None:
        """An unconditional jump (ja or ja32) over dead code."""
        end = self.label()
        self.items.append(Jump(JA_FORMS[int(self.draw(st.sampled_from((32, 64))))], 0, 0, 0, end))
        self.s_alu(depth, sub)
        self.items.append(end)

    def s_loop(self, depth: int, sub: int) -> None:
        counter = LOOP_COUNTERS[depth]
        top = self.label()
        self.items.append(make(MOV_K, counter, imm=int(self.draw(st.integers(1, 4)))))
        self.items.append(top)
        self.block(int(self.draw(st.integers(1, 5))), depth + 1, sub)
        self.items.append(make(SUB_K, counter, imm=1))
        self.items.append(Jump(JNE_K, counter, 0, 0, top))

    def s_helper(self, depth: int, sub: int) -> None:
        if self.draw(st.booleans()):
            self.items.append(make(CALL, imm=HELPER_ID))
        else:
            reg = self.reg()
            self.items.append(make(MOV_K, reg, imm=HELPER_ID))
            self.items.append(make(CALLX, reg))

    def s_call(self, depth: int, sub: int) -> None:
        target = int(self.draw(st.integers(sub + 1, self.subs - 1)))
        self.items.append(Jump(CALL_LOCAL, 0, 0, 0, f"sub{target}"))

    # -- layout ------------------------------------------------------------------------------
    def program(self) -> list[Instruction]:
        self.items += [make(MOV_X, BUF, 1), make(MOV_K, 1, imm=0)]  # r6 = buffer; r1 is a value from now on
        self.block(int(self.draw(st.integers(1, 12))), 0, 0)
        self.items.append(make(EXIT))
        for k in range(1, self.subs):
            self.items.append(f"sub{k}")
            self.block(int(self.draw(st.integers(1, 8))), 0, k)
            self.items.append(make(EXIT))
        where: dict[str, int] = {}
        slot = 0
        for item in self.items:
            if isinstance(item, str):
                where[item] = slot
            else:
                slot += 1
        out: list[Instruction] = []
        for item in self.items:
            if isinstance(item, Instruction):
                out.append(item)
            elif isinstance(item, Jump):
                delta = where[item.label] - (len(out) + 1)
                if item.form.kind is Kind.CALL_LOCAL or (item.form.op == "ja" and item.form.width == 32):
                    out.append(make(item.form, item.dst, item.src, 0, delta))
                else:
                    out.append(make(item.form, item.dst, item.src, delta, item.imm))
        return out


def helpers() -> HelperRegistry:
    reg = HelperRegistry()

    def mix(env: object, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        return (r1 * 3 + (r2 ^ r3) - r4 + (r5 >> 3)) & 0xFFFF_FFFF_FFFF_FFFF

    reg.add(Helper(HELPER_ID, "mix", mix))
    return reg


def run_both(program: list[Instruction], mem: bytes, opt_level: int) -> None:
    engines = (
        Interpreter(program, helpers=helpers()),
        JitEngine(program, helpers=helpers(), opt_level=opt_level, cache=False),
    )
    results = []
    for vm in engines:
        region = Region("mem", bytearray(mem))
        vm.memory.add(region)
        try:
            outcome: object = vm.run(region)
        except VMError as exc:
            outcome = (type(exc).__name__, exc.pc)
        regs = list(vm.regs)
        regs[BUF] -= region.base
        regs[10] -= vm.stack.end
        stack = bytes(vm.stack.buf)
        if isinstance(outcome, tuple):  # after a fault the JIT's registers and stack are unspecified
            regs, stack = [], b""
        results.append((outcome, regs, bytes(region.buf), stack, vm.instructions_executed))
    names = ("r0 or fault", "registers", "input memory", "stack", "instructions executed")
    for name, a, b in zip(names, results[0], results[1], strict=True):
        assert a == b, f"{name} differ: interpreter {a!r} vs jit {b!r}"


@st.composite
def programs(draw: st.DrawFn) -> tuple[list[Instruction], bytes]:
    mem_size = draw(st.integers(8, 48))
    mem = draw(st.binary(min_size=mem_size, max_size=mem_size))
    data = draw(st.data())
    return Builder(data, mem_size, draw(st.integers(1, 3))).program(), mem


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_programs_agree_at_o2(case: tuple[list[Instruction], bytes]) -> None:
    run_both(*case, opt_level=2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_programs_agree_at_o0(case: tuple[list[Instruction], bytes]) -> None:
    """-O0 keeps every alloca and branch: a different code path through LLVM, same semantics."""
    run_both(*case, opt_level=0)


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("op", ["div", "mod", "sdiv", "smod"])
def test_division_edge_cases_from_memory(op: str, width: int) -> None:
    """Divisors and dividends only known at run time (loaded from memory, so LLVM cannot fold):
    zero, -1 with INT_MIN, and ordinary values."""
    form = next(f for f in ALU_FORMS if f.op == op and f.width == width and f.source == "X")
    load = next(f for f in LOAD_FORMS if f.kind is Kind.LOAD and f.width == 8)
    program = [make(MOV_X, BUF, 1), make(MOV_K, 1), make(load, 2, BUF, 0), make(load, 3, BUF, 8)]
    program += [make(form, 2, 3), make(MOV_X, 0, 2), make(EXIT)]
    int_min = 1 << (width - 1)
    for a, b in [(int_min, -1), (int_min, 0), (-13, 4), (13, -4), (7, 0), (0, 0), (-1, -1), (5, 2**32)]:
        mem = (a & (2**64 - 1)).to_bytes(8, "little") + (b & (2**64 - 1)).to_bytes(8, "little")
        run_both(program, mem, opt_level=2)
