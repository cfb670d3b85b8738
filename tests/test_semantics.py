"""The interpreter against an independent, deliberately plain oracle written from RFC 9669.

The oracle below shares no code with pybpf's semantic templates: if a template or the block
translator gets a corner wrong (truncation, sign extension, shift masking, division by zero), the
property tests find a counterexample.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pybpf.isa.instruction import Instruction, lddw
from pybpf.isa.opcodes import FORMS, Form, Kind
from pybpf.vm.interpreter import Interpreter

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


def sx(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


def trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def oracle_alu(op: str, width: int, dst: int, src: int, bits: int) -> int:
    m = U32 if width == 32 else U64
    a, b = dst & m, src & m
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "mul":
        r = a * b
    elif op == "div":
        r = 0 if b == 0 else a // b
    elif op == "mod":
        r = a if b == 0 else a % b
    elif op == "sdiv":
        r = 0 if b == 0 else trunc_div(sx(a, width), sx(b, width))
    elif op == "smod":
        if b == 0:
            r = a
        else:
            sa, sb = sx(a, width), sx(b, width)
            r = sa - trunc_div(sa, sb) * sb
    elif op == "or":
        r = a | b
    elif op == "and":
        r = a & b
    elif op == "xor":
        r = a ^ b
    elif op == "lsh":
        r = a << (b % width)
    elif op == "rsh":
        r = a >> (b % width)
    elif op == "arsh":
        r = sx(a, width) >> (b % width)
    elif op == "neg":
        r = -a
    elif op == "mov":
        r = b
    elif op == "movsx":
        r = sx(src, bits)
    else:
        raise AssertionError(op)
    return r & m


def oracle_jump(op: str, width: int, dst: int, src: int) -> bool:
    m = U32 if width == 32 else U64
    a, b = dst & m, src & m
    sa, sb = sx(a, width), sx(b, width)
    return {
        "jeq": a == b,
        "jne": a != b,
        "jgt": a > b,
        "jge": a >= b,
        "jlt": a < b,
        "jle": a <= b,
        "jset": (a & b) != 0,
        "jsgt": sa > sb,
        "jsge": sa >= sb,
        "jslt": sa < sb,
        "jsle": sa <= sb,
    }[op]


u64s = st.one_of(
    st.integers(0, U64),
    st.sampled_from([0, 1, 2, U64, U32, 1 << 31, 1 << 63, (1 << 63) - 1, 0x80000000_00000000, 0xFFFFFFFF_80000000]),
)
s32s = st.one_of(st.integers(-(1 << 31), (1 << 31) - 1), st.sampled_from([0, 1, -1, -(1 << 31), 63, 64, 31, 32]))

ALU_FORMS = [f for f in FORMS if f.kind is Kind.ALU]
JUMP_FORMS = [f for f in FORMS if f.kind is Kind.JUMP and f.op != "ja"]


def run_regs(insns: list[Instruction], r1: int, r2: int) -> int:
    return Interpreter(insns).run(r1=r1, r2=r2)


@pytest.mark.parametrize("form", ALU_FORMS, ids=[f"{f.mnemonic}-{f.source}" for f in ALU_FORMS])
@settings(max_examples=60, deadline=None)
@given(dst=u64s, src=u64s, imm=s32s)
def test_alu_matches_oracle(form: Form, dst: int, src: int, imm: int) -> None:
    off = form.value if form.discriminator else 0
    if form.op == "neg":
        insn, operand = Instruction(form.opcode, 1), 0
    elif form.source == "K":
        insn = Instruction(form.opcode, 1, 0, off, imm)
        operand = imm & U64  # sign-extended to 64 bits; the 32-bit forms look at the low half
    else:
        insn = Instruction(form.opcode, 1, 2, off, 0)
        operand = src
    program = [insn, Instruction(0xBF, 0, 1), Instruction(0x95)]
    assert run_regs(program, dst, src) == oracle_alu(form.op, form.width, dst, operand, form.bits)


@pytest.mark.parametrize("form", JUMP_FORMS, ids=[f"{f.mnemonic}-{f.source}" for f in JUMP_FORMS])
@settings(max_examples=60, deadline=None)
@given(dst=u64s, src=u64s, imm=s32s)
def test_jumps_match_oracle(form: Form, dst: int, src: int, imm: int) -> None:
    if form.source == "K":
        insn, operand = Instruction(form.opcode, 1, 0, 1, imm), imm & U64
    else:
        insn, operand = Instruction(form.opcode, 1, 2, 1, 0), src
    program = [Instruction(0xB7, 0, 0, 0, 0), insn, Instruction(0x95), Instruction(0xB7, 0, 0, 0, 1), Instruction(0x95)]
    assert run_regs(program, dst, src) == int(oracle_jump(form.op, form.width, dst, operand))


@settings(max_examples=100, deadline=None)
@given(value=u64s)
def test_byte_swaps(value: int) -> None:
    for form in (f for f in FORMS if f.kind is Kind.END):
        program = [Instruction(form.opcode, 1, 0, 0, form.value), Instruction(0xBF, 0, 1), Instruction(0x95)]
        low = value & ((1 << form.bits) - 1)
        swapped = int.from_bytes(low.to_bytes(form.bits // 8, "little"), "big")
        expected = low if form.op == "le" else swapped
        assert run_regs(program, value, 0) == expected, form.mnemonic


@settings(max_examples=100, deadline=None)
@given(old=u64s, value=u64s, r0=u64s, op=st.sampled_from([f for f in FORMS if f.kind is Kind.ATOMIC]))
def test_atomics(old: int, value: int, r0: int, op: Form) -> None:
    size = op.width
    m = (1 << (8 * size)) - 1
    # *(r10-8) = old (64-bit); r2 = value; r0 = r0; atomic on [r10-8]; then return memory, r2 and r0
    prog = [
        *lddw(1, old),
        Instruction(0x7B, 10, 1, -8),
        *lddw(2, value),
        *lddw(0, r0),
        Instruction(op.opcode, 10, 2, -8, op.value),
    ]
    outputs = []
    for reg_read in ("mem", "r2", "r0"):
        tail = {
            "mem": [Instruction(0x79, 0, 10, -8)],
            "r2": [Instruction(0xBF, 0, 2)],
            "r0": [],
        }[reg_read]
        outputs.append(Interpreter([*prog, *tail, Instruction(0x95)]).run())
    mem, r2, r0_after = outputs
    low_old = old & m
    base = op.op.removeprefix("fetch_")
    new = {
        "add": low_old + (value & m),
        "or": low_old | (value & m),
        "and": low_old & (value & m),
        "xor": low_old ^ (value & m),
        "xchg": value & m,
        "cmpxchg": (value & m) if low_old == (r0 & m) else low_old,
    }[base] & m
    assert mem == (old & ~m & U64) | new
    fetches = op.op.startswith("fetch_") or op.op == "xchg"
    assert r2 == (low_old if fetches else value)
    assert r0_after == (low_old if op.op == "cmpxchg" else r0)


@settings(max_examples=100, deadline=None)
@given(value=u64s, size=st.sampled_from([1, 2, 4, 8]), signed=st.booleans())
def test_loads_and_stores(value: int, size: int, signed: bool) -> None:
    if signed and size == 8:
        signed = False
    size_bits = {4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18}[size]
    load = (0x80 if signed else 0x60) | size_bits | 0x01
    prog = [
        *lddw(1, value),
        Instruction(0x60 | size_bits | 0x03, 10, 1, -16),
        Instruction(load, 0, 10, -16),
        Instruction(0x95),
    ]
    low = value & ((1 << (8 * size)) - 1)
    expected = (sx(low, 8 * size) & U64) if signed else low
    assert Interpreter(prog).run() == expected
