"""Instruction encoding, decoding and load-time validation.

A program is a list of 8-byte *slots*.  ``lddw`` occupies two slots; its second slot is kept in
the list as a plain :class:`Instruction` whose ``imm`` holds the upper 32 bits, so that list
indices are exactly the instruction indices the kernel, llvm-objdump and jump offsets use.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pybpf.errors import BytecodeError
from pybpf.isa.opcodes import Form, Kind, form_for

SLOT = struct.Struct("<BBhi")
MAX_SLOTS = 1_000_000  # the kernel's BPF_COMPLEXITY_LIMIT_INSNS bounds program length too
NUM_REGS = 11  # r0-r10
# lddw variants whose second slot carries something: the constant's high half or a value offset.
LDDW_WITH_OFFSET = frozenset({"imm64", "map_value", "map_idx_value"})
FRAME_POINTER = 10


@dataclass(frozen=True, slots=True)
class Instruction:
    """One 8-byte slot with its fields decoded; ``imm`` and ``off`` are signed."""

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        return SLOT.pack(self.opcode, (self.src << 4) | self.dst, self.off, self.imm)

    @classmethod
    def decode(cls, raw: bytes | bytearray | memoryview, index: int = 0) -> Instruction:
        opcode, regs, off, imm = SLOT.unpack_from(raw, index * 8)
        return cls(opcode, regs & 0x0F, regs >> 4, off, imm)

    @property
    def form(self) -> Form | None:
        return form_for(self.opcode, self.src, self.off, self.imm)


def lddw(dst: int, value: int, src: int = 0) -> tuple[Instruction, Instruction]:
    """The two slots of ``lddw dst, value`` (value taken modulo 2**64)."""
    value &= 0xFFFF_FFFF_FFFF_FFFF
    lo, hi = value & 0xFFFF_FFFF, value >> 32
    return (
        Instruction(0x18, dst, src, 0, _s32(lo)),
        Instruction(0x00, 0, 0, 0, _s32(hi)),
    )


def _s32(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - (1 << 32) if v & 0x8000_0000 else v


def lddw_value(first: Instruction, second: Instruction) -> int:
    """The 64-bit constant of an ``lddw`` pair."""
    return (first.imm & 0xFFFF_FFFF) | ((second.imm & 0xFFFF_FFFF) << 32)


def decode_program(raw: bytes | bytearray | memoryview) -> list[Instruction]:
    """Split raw bytecode into slots without validating them (see :func:`validate`)."""
    if len(raw) % 8:
        raise BytecodeError(len(raw) // 8, f"program length {len(raw)} is not a multiple of 8 bytes")
    return [Instruction.decode(raw, i) for i in range(len(raw) // 8)]


def encode_program(insns: Iterable[Instruction]) -> bytes:
    return b"".join(i.encode() for i in insns)


def load_program(raw: bytes | bytearray | memoryview, *, max_slots: int = 0) -> list[Instruction]:
    """Decode and validate; the one entry point for untrusted bytecode."""
    insns = decode_program(raw)
    validate(insns, max_slots=max_slots or MAX_SLOTS)
    return insns


def is_function_address(form: Form) -> bool:
    """``lddw`` with src 4 (BPF_PSEUDO_FUNC): the address of a function in this program."""
    return form.kind is Kind.LDDW and form.op == "func"


def branch_target(index: int, insn: Instruction, form: Form) -> int:
    """Slot index a jump, local call or function-address lddw at ``index`` refers to."""
    if form.kind is Kind.CALL_LOCAL or is_function_address(form) or (form.kind is Kind.JUMP and form.opcode == 0x06):
        return index + 1 + insn.imm
    return index + 1 + insn.off


def validate(insns: Sequence[Instruction], *, max_slots: int = MAX_SLOTS, require_exit: bool = True) -> list[Form]:
    """Check what a loader must check before anything runs; return the form of every slot.

    Rejects: empty or over-long programs, unknown opcodes or variants, registers out of range,
    writes to r10, non-zero unused fields, ``lddw`` cut in half or with a bad second slot, jumps
    and local calls out of range or into the middle of an ``lddw``.  The form list has ``None``-free
    entries for real instructions; the second slot of an ``lddw`` maps to the ``lddw`` form.
    """
    n = len(insns)
    if n == 0:
        raise BytecodeError(0, "program is empty")
    if n > max_slots:
        raise BytecodeError(max_slots, f"program has {n} instructions, more than the limit of {max_slots}")
    forms: list[Form] = []
    tails: set[int] = set()
    i = 0
    while i < n:
        insn = insns[i]  # first pass: forms and field checks
        form = insn.form
        if form is None:
            raise BytecodeError(i, _unknown_reason(insn))
        _check_fields(i, insn, form)
        forms.append(form)
        if form.is_wide:
            if i + 1 >= n:
                raise BytecodeError(i, "lddw is cut in half: its second slot is missing")
            tail = insns[i + 1]
            if tail.opcode or tail.dst or tail.src or tail.off:
                raise BytecodeError(i + 1, "second slot of lddw must have opcode, registers and offset zero")
            if tail.imm and form.op not in LDDW_WITH_OFFSET:
                raise BytecodeError(i + 1, f"second slot of lddw ({form.op}) must have immediate 0, not {tail.imm}")
            forms.append(form)
            tails.add(i + 1)
            i += 2
            continue
        i += 1
    for i, insn in enumerate(insns):
        if i in tails:
            continue
        form = forms[i]
        if form.kind is Kind.JUMP or form.kind is Kind.CALL_LOCAL or is_function_address(form):
            target = branch_target(i, insn, form)
            what = {Kind.JUMP: "jump", Kind.CALL_LOCAL: "local call"}.get(form.kind, "function address")
            if not 0 <= target < n:
                raise BytecodeError(i, f"{what} target {target} is outside the program (0..{n - 1})")
            if target in tails:
                raise BytecodeError(i, f"{what} target {target} is the second half of an lddw")
    if require_exit and not any(f.kind is Kind.EXIT for f in forms):
        raise BytecodeError(n - 1, "program has no exit instruction")
    last = n - 2 if n - 1 in tails else n - 1
    if forms[last].kind is not Kind.EXIT and not (forms[last].kind is Kind.JUMP and forms[last].op == "ja"):
        # Linux's rule ("last insn is not an exit or jmp"): execution can never run off the end.
        raise BytecodeError(last, "the last instruction must be exit or an unconditional jump")
    return forms


def _unknown_reason(insn: Instruction) -> str:
    from pybpf.isa.opcodes import OPCODES, Field

    entry = OPCODES.get(insn.opcode)
    if entry is None:
        return f"unknown opcode 0x{insn.opcode:02x}"
    field = entry.discriminator
    assert field is not None
    value = {Field.OFF: insn.off, Field.IMM: insn.imm, Field.SRC: insn.src}[field]
    allowed = ", ".join(str(f.value) for f in entry.forms)
    return (
        f"opcode 0x{insn.opcode:02x} ({entry.forms[0].mnemonic}) has invalid {field.value} {value} (allowed: {allowed})"
    )


_WRITES_DST = frozenset({Kind.ALU, Kind.END, Kind.LOAD, Kind.LOADSX, Kind.LDDW})


def _check_fields(i: int, insn: Instruction, form: Form) -> None:
    uses = form.uses
    disc = form.discriminator.value if form.discriminator else None
    if insn.dst >= NUM_REGS:
        raise BytecodeError(i, f"invalid destination register r{insn.dst}")
    if insn.src >= NUM_REGS and disc != "src":
        raise BytecodeError(i, f"invalid source register r{insn.src}")
    if "dst" in uses:
        if insn.dst == FRAME_POINTER and form.kind in _WRITES_DST:
            raise BytecodeError(i, f"{form.mnemonic} writes r10, which is read-only")
    elif insn.dst:
        raise BytecodeError(i, f"{form.mnemonic} must have dst register 0, not r{insn.dst}")
    if form.kind is Kind.ATOMIC and insn.src == FRAME_POINTER and (form.op.startswith("fetch_") or form.op == "xchg"):
        raise BytecodeError(i, f"{form.mnemonic} writes the old value into r10, which is read-only")
    if "src" not in uses and disc != "src" and insn.src:
        raise BytecodeError(i, f"{form.mnemonic} must have src register 0, not r{insn.src}")
    if "off" not in uses and disc != "off" and insn.off:
        raise BytecodeError(i, f"{form.mnemonic} must have offset 0, not {insn.off}")
    if "imm" not in uses and disc != "imm" and insn.imm:
        raise BytecodeError(i, f"{form.mnemonic} must have immediate 0, not {insn.imm}")
    if form.kind is Kind.CALLX and insn.dst == FRAME_POINTER:
        raise BytecodeError(i, "callx through r10 is not allowed")
