"""The one table of eBPF instruction forms (RFC 9669, cpu v1-v4, plus the legacy packet loads).

Every other part of pybpf (decoder, assembler, disassembler, interpreter, JIT, verifier) reads
this table; nothing else lists opcodes.  A *form* is an opcode plus, where the opcode alone is
ambiguous, the value of the field that tells the variants apart: the offset for sdiv/smod/movsx,
the immediate for byte swaps and atomics, the source register for calls and ``lddw``.

Each form names its *operation* (``op``), the key the semantic modules look up: the interpreter's
expression table in :mod:`pybpf.isa.semantics`, the JIT's lowering, the verifier's transfer
functions.  The table also records which fields the form uses, so the decoder can insist that the
unused ones are zero, and which cpu version and conformance group introduced it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum


class InsnClass(IntEnum):
    """The low three bits of every opcode."""

    LD = 0x0
    LDX = 0x1
    ST = 0x2
    STX = 0x3
    ALU = 0x4
    JMP = 0x5
    JMP32 = 0x6
    ALU64 = 0x7


class Kind(Enum):
    """What an instruction does, at the level the engines dispatch on."""

    ALU = "alu"  # dst = dst OP src/imm (or a unary op on dst)
    END = "end"  # byte-order conversion of dst
    JUMP = "jump"  # conditional or unconditional jump
    CALL = "call"  # helper call by id
    CALL_LOCAL = "call_local"  # bpf-to-bpf call (src 1)
    CALL_KFUNC = "call_kfunc"  # call by BTF id (src 2)
    CALLX = "callx"  # call through a register
    EXIT = "exit"
    LOAD = "load"  # dst = *(size *)(src + off), zero-extended
    LOADSX = "loadsx"  # sign-extended load
    STORE_IMM = "store_imm"  # *(size *)(dst + off) = imm
    STORE_REG = "store_reg"  # *(size *)(dst + off) = src
    ATOMIC = "atomic"  # read-modify-write on *(size *)(dst + off)
    LDDW = "lddw"  # 64-bit immediate or a relocation placeholder
    LD_ABS = "ld_abs"  # legacy packet load, packet offset imm
    LD_IND = "ld_ind"  # legacy packet load, packet offset src + imm


class Field(Enum):
    """Instruction fields whose value may select a variant of an opcode."""

    OFF = "off"
    IMM = "imm"
    SRC = "src"


@dataclass(frozen=True)
class Form:
    """One instruction form.

    ``uses`` lists the fields the form reads from the instruction; the decoder rejects a non-zero
    value in any other field (dst, src, off, imm), except the discriminating field, which must hold
    ``value``.
    """

    opcode: int
    kind: Kind
    op: str  # semantic key: "add", "sdiv", "jsgt", "fetch_add", "le", "imm64", ...
    mnemonic: str  # conformance-suite assembler mnemonic (without operands)
    width: int  # 32 or 64 for ALU/JMP/atomics; access size in bytes for memory forms
    source: str  # "K" (immediate), "X" (register) or "" (neither)
    uses: frozenset[str]
    cpu: int  # minimum -mcpu version
    group: str  # RFC 9669 conformance group
    discriminator: Field | None = None
    value: int = 0
    # For movsx: number of source bits sign-extended; for end/bswap: bit width swapped.
    bits: int = 0

    @property
    def cls(self) -> InsnClass:
        return InsnClass(self.opcode & 0x07)

    @property
    def is_jump(self) -> bool:
        return self.kind is Kind.JUMP

    @property
    def is_wide(self) -> bool:
        """True for the two-slot ``lddw``."""
        return self.kind is Kind.LDDW


SIZE_BITS = {4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18}
SIZE_SUFFIX = {1: "b", 2: "h", 4: "w", 8: "dw"}
MODE_IMM, MODE_ABS, MODE_IND, MODE_MEM, MODE_MEMSX, MODE_ATOMIC = 0x00, 0x20, 0x40, 0x60, 0x80, 0xC0
SOURCE_X = 0x08


# ---------------------------------------------------------------------------------------------
# Arithmetic: (name, code, binary?) — binary ops take a source, neg does not.
ALU_OPS: tuple[tuple[str, int], ...] = (
    ("add", 0x00),
    ("sub", 0x10),
    ("mul", 0x20),
    ("div", 0x30),
    ("or", 0x40),
    ("and", 0x50),
    ("lsh", 0x60),
    ("rsh", 0x70),
    ("neg", 0x80),
    ("mod", 0x90),
    ("xor", 0xA0),
    ("mov", 0xB0),
    ("arsh", 0xC0),
)
# Ops that are in the divmul groups rather than base.
_DIVMUL = {"mul", "div", "mod", "sdiv", "smod"}

# Jumps: name, code, whether the comparison is signed.
JUMP_OPS: tuple[tuple[str, int], ...] = (
    ("jeq", 0x10),
    ("jgt", 0x20),
    ("jge", 0x30),
    ("jset", 0x40),
    ("jne", 0x50),
    ("jsgt", 0x60),
    ("jsge", 0x70),
    ("jlt", 0xA0),
    ("jle", 0xB0),
    ("jslt", 0xC0),
    ("jsle", 0xD0),
)
_JUMP_V2 = {"jlt", "jle", "jslt", "jsle"}

# Atomic operations by imm value.
ATOMIC_OPS: tuple[tuple[str, int], ...] = (
    ("add", 0x00),
    ("or", 0x40),
    ("and", 0x50),
    ("xor", 0xA0),
    ("fetch_add", 0x01),
    ("fetch_or", 0x41),
    ("fetch_and", 0x51),
    ("fetch_xor", 0xA1),
    ("xchg", 0xE1),
    ("cmpxchg", 0xF1),
)

# lddw source-register variants (RFC 9669 section 4.4; UAPI names in comments).
LDDW_VARIANTS: tuple[tuple[str, int], ...] = (
    ("imm64", 0),
    ("map_fd", 1),  # BPF_PSEUDO_MAP_FD
    ("map_value", 2),  # BPF_PSEUDO_MAP_VALUE
    ("btf_var", 3),  # BPF_PSEUDO_BTF_ID
    ("func", 4),  # BPF_PSEUDO_FUNC
    ("map_idx", 5),  # BPF_PSEUDO_MAP_IDX
    ("map_idx_value", 6),  # BPF_PSEUDO_MAP_IDX_VALUE
)


def _alu_forms() -> list[Form]:
    forms: list[Form] = []
    for cls, width in ((InsnClass.ALU, 32), (InsnClass.ALU64, 64)):
        suffix = "32" if width == 32 else ""
        for name, code in ALU_OPS:
            group_base = "base32" if width == 32 else "base64"
            group_dm = "divmul32" if width == 32 else "divmul64"
            group = group_dm if name in _DIVMUL else group_base
            if name == "neg":
                forms.append(Form(code | cls, Kind.ALU, "neg", "neg" + suffix, width, "", frozenset({"dst"}), 1, group))
                continue
            for source, sbit in (("K", 0), ("X", SOURCE_X)):
                opcode = code | sbit | cls
                uses = frozenset({"dst", "imm"} if source == "K" else {"dst", "src"})
                if name in ("div", "mod"):
                    signed = "s" + name
                    forms.append(
                        Form(opcode, Kind.ALU, name, name + suffix, width, source, uses, 1, group, Field.OFF, 0)
                    )
                    forms.append(
                        Form(opcode, Kind.ALU, signed, signed + suffix, width, source, uses, 4, group, Field.OFF, 1)
                    )
                elif name == "mov":
                    forms.append(
                        Form(opcode, Kind.ALU, "mov", "mov" + suffix, width, source, uses, 1, group, Field.OFF, 0)
                    )
                    if source == "X":
                        for bits in (8, 16, 32) if width == 64 else (8, 16):
                            mnem = f"movsx{bits}{width}"
                            forms.append(
                                Form(opcode, Kind.ALU, "movsx", mnem, width, "X", uses, 4, group, Field.OFF, bits, bits)
                            )
                else:
                    forms.append(Form(opcode, Kind.ALU, name, name + suffix, width, source, uses, 1, group))
    # Byte order: 0xd4 (to little-endian), 0xdc (to big-endian), 0xd7 (unconditional swap).
    for opcode, op, mnem, cpu in ((0xD4, "le", "le", 1), (0xDC, "be", "be", 1), (0xD7, "bswap", "bswap", 4)):
        for bits in (16, 32, 64):
            group = "base64" if bits == 64 or opcode == 0xD7 else "base32"
            forms.append(
                Form(
                    opcode, Kind.END, op, f"{mnem}{bits}", 64, "", frozenset({"dst"}), cpu, group, Field.IMM, bits, bits
                )
            )
    return forms


def _jump_forms() -> list[Form]:
    forms: list[Form] = [
        Form(0x05, Kind.JUMP, "ja", "ja", 64, "", frozenset({"off"}), 1, "base32"),
        Form(0x06, Kind.JUMP, "ja", "ja32", 32, "", frozenset({"imm"}), 4, "base32"),
        Form(0x85, Kind.CALL, "call", "call", 64, "K", frozenset({"imm"}), 1, "base32", Field.SRC, 0),
        Form(0x85, Kind.CALL_LOCAL, "call_local", "call local", 64, "K", frozenset({"imm"}), 3, "base32", Field.SRC, 1),
        Form(
            0x85, Kind.CALL_KFUNC, "call_kfunc", "call runtime", 64, "K", frozenset({"imm"}), 3, "base32", Field.SRC, 2
        ),
        # callx: bpf_conformance and LLVM put the register in dst.
        Form(0x8D, Kind.CALLX, "callx", "callx", 64, "X", frozenset({"dst"}), 1, "callx"),
        Form(0x95, Kind.EXIT, "exit", "exit", 64, "", frozenset(), 1, "base32"),
    ]
    for cls, width in ((InsnClass.JMP, 64), (InsnClass.JMP32, 32)):
        suffix = "32" if width == 32 else ""
        for name, code in JUMP_OPS:
            for source, sbit in (("K", 0), ("X", SOURCE_X)):
                uses = frozenset({"dst", "off", "imm"} if source == "K" else {"dst", "src", "off"})
                cpu = 3 if width == 32 else (2 if name in _JUMP_V2 else 1)
                group = "base32" if width == 32 else "base64"
                forms.append(Form(code | sbit | cls, Kind.JUMP, name, name + suffix, width, source, uses, cpu, group))
    return forms


def _memory_forms() -> list[Form]:
    forms: list[Form] = []
    for size, sbits in SIZE_BITS.items():
        sfx = SIZE_SUFFIX[size]
        group = "base64" if size == 8 else "base32"
        forms.append(
            Form(
                MODE_MEM | sbits | InsnClass.LDX,
                Kind.LOAD,
                "load",
                "ldx" + sfx,
                size,
                "X",
                frozenset({"dst", "src", "off"}),
                1,
                group,
            )
        )
        if size != 8:
            forms.append(
                Form(
                    MODE_MEMSX | sbits | InsnClass.LDX,
                    Kind.LOADSX,
                    "loadsx",
                    "ldxs" + sfx,
                    size,
                    "X",
                    frozenset({"dst", "src", "off"}),
                    4,
                    group,
                )
            )
        forms.append(
            Form(
                MODE_MEM | sbits | InsnClass.ST,
                Kind.STORE_IMM,
                "store",
                "st" + sfx,
                size,
                "K",
                frozenset({"dst", "off", "imm"}),
                1,
                group,
            )
        )
        forms.append(
            Form(
                MODE_MEM | sbits | InsnClass.STX,
                Kind.STORE_REG,
                "store",
                "stx" + sfx,
                size,
                "X",
                frozenset({"dst", "src", "off"}),
                1,
                group,
            )
        )
        if size != 8:
            forms.append(
                Form(
                    MODE_ABS | sbits | InsnClass.LD,
                    Kind.LD_ABS,
                    "ld_abs",
                    "ldabs" + sfx,
                    size,
                    "K",
                    frozenset({"imm"}),
                    1,
                    "packet",
                )
            )
            forms.append(
                Form(
                    MODE_IND | sbits | InsnClass.LD,
                    Kind.LD_IND,
                    "ld_ind",
                    "ldind" + sfx,
                    size,
                    "X",
                    frozenset({"src", "imm"}),
                    1,
                    "packet",
                )
            )
    for size in (4, 8):
        opcode = MODE_ATOMIC | SIZE_BITS[size] | InsnClass.STX
        group = "atomic32" if size == 4 else "atomic64"
        for name, imm in ATOMIC_OPS:
            # clang emits the plain 64-bit add even at -mcpu=v1.
            cpu = 1 if (size == 8 and name == "add") else 3
            mnem = "lock " + name.replace("_", " ") + ("32" if size == 4 else "")
            forms.append(
                Form(
                    opcode,
                    Kind.ATOMIC,
                    name,
                    mnem,
                    size,
                    "X",
                    frozenset({"dst", "src", "off"}),
                    cpu,
                    group,
                    Field.IMM,
                    imm,
                )
            )
    for name, src in LDDW_VARIANTS:
        forms.append(
            Form(0x18, Kind.LDDW, name, "lddw", 64, "K", frozenset({"dst", "imm"}), 1, "base64", Field.SRC, src)
        )
    return forms


FORMS: tuple[Form, ...] = tuple(_alu_forms() + _jump_forms() + _memory_forms())


@dataclass(frozen=True)
class _OpcodeEntry:
    """The forms of one opcode: a single one, or several told apart by one field."""

    forms: tuple[Form, ...]
    discriminator: Field | None


def _index() -> dict[int, _OpcodeEntry]:
    by_opcode: dict[int, list[Form]] = {}
    for form in FORMS:
        by_opcode.setdefault(form.opcode, []).append(form)
    table: dict[int, _OpcodeEntry] = {}
    for opcode, forms in by_opcode.items():
        discs = {f.discriminator for f in forms}
        if len(forms) > 1 and (len(discs) != 1 or None in discs):
            raise AssertionError(f"opcode 0x{opcode:02x} has ambiguous forms")  # table bug
        table[opcode] = _OpcodeEntry(tuple(forms), forms[0].discriminator)
    return table


OPCODES: dict[int, _OpcodeEntry] = _index()


def form_for(opcode: int, src: int, off: int, imm: int) -> Form | None:
    """The form an encoded instruction belongs to, or None if the encoding is not valid."""
    entry = OPCODES.get(opcode)
    if entry is None:
        return None
    disc = entry.discriminator
    if disc is None:
        return entry.forms[0]
    value = {Field.OFF: off, Field.IMM: imm, Field.SRC: src}[disc]
    for form in entry.forms:
        if form.value == value:
            return form
    return None


def forms_by_mnemonic() -> dict[str, list[Form]]:
    """Conformance mnemonic to forms (K and X variants share a mnemonic)."""
    table: dict[str, list[Form]] = {}
    for form in FORMS:
        table.setdefault(form.mnemonic, []).append(form)
    return table


def find_form(kind: Kind, op: str, *, width: int | None = None, source: str | None = None) -> Form:
    """Look a form up by meaning, for code that builds instructions (assembler, tests)."""
    for form in FORMS:
        if form.kind is kind and form.op == op:
            if width is not None and form.width != width:
                continue
            if source is not None and form.source != source:
                continue
            return form
    raise KeyError(f"no form {kind.value} {op} width={width} source={source}")
