"""Malformed bytecode is rejected at load time with the instruction index and the reason."""

from __future__ import annotations

import pytest

from pybpf.errors import BytecodeError
from pybpf.isa.instruction import Instruction, encode_program, load_program
from pybpf.vm.interpreter import Interpreter

EXIT = Instruction(0x95)
MOV0 = Instruction(0xB7, 0, 0, 0, 0)


def reject(insns: list[Instruction] | bytes) -> BytecodeError:
    raw = insns if isinstance(insns, bytes) else encode_program(insns)
    with pytest.raises(BytecodeError) as info:
        load_program(raw)
    # The interpreter refuses it the same way.
    with pytest.raises(BytecodeError):
        Interpreter(raw)
    return info.value


@pytest.mark.parametrize(
    ("insns", "index", "reason"),
    [
        ([MOV0, Instruction(0xFF), EXIT], 1, "unknown opcode 0xff"),
        ([MOV0, Instruction(0x06 | 0x08 | 0x00), EXIT], 1, "unknown opcode 0x0e"),
        ([Instruction(0xB7, 11, 0, 0, 1), EXIT], 0, "invalid destination register r11"),
        ([Instruction(0xBF, 0, 12), EXIT], 0, "invalid source register r12"),
        ([Instruction(0xB7, 10, 0, 0, 1), EXIT], 0, "writes r10, which is read-only"),
        ([Instruction(0x18, 0, 0, 0, 1)], 0, "lddw is cut in half"),
        ([Instruction(0x18, 0, 0, 0, 1), Instruction(0x95), EXIT], 1, "second slot of lddw"),
        ([Instruction(0x05, 0, 0, 5), EXIT], 0, "jump target 6 is outside the program"),
        ([Instruction(0x05, 0, 0, -3), EXIT], 0, "jump target -2 is outside the program"),
        (
            [Instruction(0x15, 1, 0, 1, 0), *[Instruction(0x18, 0, 0, 0, 1), Instruction(0)], EXIT],
            0,
            "second half of an lddw",
        ),
        ([Instruction(0x85, 0, 1, 0, 10), EXIT], 0, "local call target 11 is outside the program"),
        ([Instruction(0x3F, 0, 1, 2), EXIT], 0, "invalid off 2"),
        ([Instruction(0xD4, 0, 0, 0, 8), EXIT], 0, "invalid imm 8"),
        ([Instruction(0xDB, 1, 2, 0, 0x02), EXIT], 0, "invalid imm 2"),
        ([Instruction(0x18, 1, 7, 0, 0), Instruction(0), EXIT], 0, "invalid src 7"),
        ([Instruction(0x85, 0, 3, 0, 1), EXIT], 0, "invalid src 3"),
        ([Instruction(0x18, 1, 1, 0, 0), Instruction(0, 0, 0, 0, 4), EXIT], 1, "(map_fd) must have immediate 0"),
        ([Instruction(0xBC, 0, 1, 32), EXIT], 0, "invalid off 32"),
        ([Instruction(0x07, 0, 1, 0, 1), EXIT], 0, "must have src register 0"),
        ([Instruction(0x0F, 0, 1, 0, 5), EXIT], 0, "must have immediate 0"),
        ([Instruction(0x07, 0, 0, 3, 5), EXIT], 0, "must have offset 0"),
        (
            [
                Instruction(0x95, 1),
            ],
            0,
            "must have dst register 0",
        ),
        ([MOV0], 0, "no exit instruction"),
        ([Instruction(0x06, 0, 0, 1, 0), EXIT], 0, "must have offset 0"),
        ([Instruction(0xDB, 1, 10, 0, 0x01), EXIT], 0, "writes the old value into r10"),
        ([Instruction(0xC3, 1, 10, 0, 0xE1), EXIT], 0, "writes the old value into r10"),
        ([EXIT, Instruction(0xB7, 0, 0, 0, 1)], 1, "last instruction must be exit or an unconditional jump"),
    ],
)
def test_rejected(insns: list[Instruction], index: int, reason: str) -> None:
    err = reject(insns)
    assert err.index == index
    assert reason in err.reason
    assert str(err).startswith(f"instruction {index}:")


def test_length_not_multiple_of_eight() -> None:
    err = reject(encode_program([MOV0, EXIT]) + b"\x95\x00")
    assert "not a multiple of 8" in err.reason


def test_empty_program() -> None:
    assert "empty" in reject(b"").reason


def test_too_long() -> None:
    with pytest.raises(BytecodeError) as info:
        load_program(encode_program([MOV0] * 10 + [EXIT]), max_slots=5)
    assert "more than the limit" in info.value.reason


def test_stores_through_r10_are_fine() -> None:
    load_program(encode_program([Instruction(0x7A, 10, 0, -8, 1), MOV0, EXIT]))
