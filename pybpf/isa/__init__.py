"""The eBPF instruction set: the opcode table, encoding, assembler and disassembler."""

from pybpf.isa.instruction import Instruction, decode_program, encode_program, load_program, validate
from pybpf.isa.opcodes import FORMS, Form, InsnClass, Kind

__all__ = [
    "FORMS",
    "Form",
    "InsnClass",
    "Instruction",
    "Kind",
    "decode_program",
    "encode_program",
    "load_program",
    "validate",
]
