"""Print instructions in the kernel / llvm-objdump syntax.

The output is accepted by :mod:`pybpf.isa.assembler`, and assembling it gives back the same bytes
(a property the tests check for every form).  Forms llvm-objdump has no spelling for (lddw pseudo
sources, kfunc calls, local calls) use a spelling close to the kernel verifier's log.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pybpf.isa.instruction import Instruction, lddw_value
from pybpf.isa.opcodes import Form, Kind, form_for

ALU_SYMBOL = {
    "add": "+=",
    "sub": "-=",
    "mul": "*=",
    "div": "/=",
    "sdiv": "s/=",
    "or": "|=",
    "and": "&=",
    "lsh": "<<=",
    "rsh": ">>=",
    "mod": "%=",
    "smod": "s%=",
    "xor": "^=",
    "arsh": "s>>=",
    "mov": "=",
}
JUMP_SYMBOL = {
    "jeq": "==",
    "jne": "!=",
    "jgt": ">",
    "jge": ">=",
    "jlt": "<",
    "jle": "<=",
    "jset": "&",
    "jsgt": "s>",
    "jsge": "s>=",
    "jslt": "s<",
    "jsle": "s<=",
}
ATOMIC_SYMBOL = {"add": "+=", "or": "|=", "and": "&=", "xor": "^="}
SIZE_TYPE = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}
SIGNED_SIZE_TYPE = {1: "s8", 2: "s16", 4: "s32"}
LDDW_PSEUDO = {1: "map_fd", 2: "map_value", 3: "btf_var", 4: "func", 5: "map_idx", 6: "map_idx_value"}

# Optional hook for callers that know more (the ELF loader names maps and helpers).
Annotator = Callable[[int, Instruction], str | None]


def number(value: int) -> str:
    """Signed decimal for small values, hex for large ones (both assemble back the same)."""
    if -0x10000 < value < 0x10000:
        return str(value)
    return f"-{-value:#x}" if value < 0 else f"{value:#x}"


def _rel(offset: int) -> str:
    return f"+{offset}" if offset >= 0 else str(offset)


def _mem(reg: int, off: int) -> str:
    return f"r{reg} + {off}" if off >= 0 else f"r{reg} - {-off}"


def disassemble_one(insn: Instruction, nxt: Instruction | None = None) -> str:
    """Text of one instruction (``nxt`` is the second slot, needed for lddw)."""
    form = form_for(insn.opcode, insn.src, insn.off, insn.imm)
    if form is None:
        return f".insn 0x{insn.encode().hex()}  ; invalid"
    return _format(insn, form, nxt)


def _format(insn: Instruction, form: Form, nxt: Instruction | None) -> str:
    d, s, kind = insn.dst, insn.src, form.kind
    reg = "w" if form.width == 32 else "r"
    if kind is Kind.ALU:
        if form.op == "neg":
            return f"{reg}{d} = -{reg}{d}"
        if form.op == "movsx":
            return f"{reg}{d} = (s{form.bits}){reg}{s}"
        src = number(insn.imm) if form.source == "K" else f"{reg}{s}"
        return f"{reg}{d} {ALU_SYMBOL[form.op]} {src}"
    if kind is Kind.END:
        return f"r{d} = {form.op}{form.bits} r{d}"
    if kind is Kind.JUMP:
        if form.op == "ja":
            return f"gotol {_rel(insn.imm)}" if form.opcode == 0x06 else f"goto {_rel(insn.off)}"
        src = number(insn.imm) if form.source == "K" else f"{reg}{s}"
        return f"if {reg}{d} {JUMP_SYMBOL[form.op]} {src} goto {_rel(insn.off)}"
    if kind is Kind.CALL:
        return f"call {insn.imm}"
    if kind is Kind.CALL_LOCAL:
        return f"call pc{_rel(insn.imm)}"
    if kind is Kind.CALL_KFUNC:
        return f"call kfunc({insn.imm})"
    if kind is Kind.CALLX:
        return f"callx r{d}"
    if kind is Kind.EXIT:
        return "exit"
    if kind is Kind.LOAD:
        return f"r{d} = *({SIZE_TYPE[form.width]} *)({_mem(s, insn.off)})"
    if kind is Kind.LOADSX:
        return f"r{d} = *({SIGNED_SIZE_TYPE[form.width]} *)({_mem(s, insn.off)})"
    if kind is Kind.STORE_IMM:
        return f"*({SIZE_TYPE[form.width]} *)({_mem(d, insn.off)}) = {number(insn.imm)}"
    if kind is Kind.STORE_REG:
        return f"*({SIZE_TYPE[form.width]} *)({_mem(d, insn.off)}) = r{s}"
    if kind is Kind.ATOMIC:
        return _atomic(insn, form)
    if kind is Kind.LDDW:
        hi = nxt.imm if nxt is not None else 0
        if form.op == "imm64":
            value = lddw_value(insn, nxt if nxt is not None else Instruction(0))
            return f"r{d} = {value:#x} ll"
        name = LDDW_PSEUDO[insn.src]
        if name == "func":
            return f"r{d} = func(pc{_rel(insn.imm)}) ll"
        if name in ("map_value", "map_idx_value"):
            return f"r{d} = {name}({insn.imm}) + {hi} ll"
        return f"r{d} = {name}({insn.imm}) ll"
    if kind is Kind.LD_ABS:
        return f"r0 = *({SIZE_TYPE[form.width]} *)skb[{insn.imm}]"
    if kind is Kind.LD_IND:
        return f"r0 = *({SIZE_TYPE[form.width]} *)skb[r{s} + {insn.imm}]"
    raise AssertionError(kind)


def _atomic(insn: Instruction, form: Form) -> str:
    d, s, size = insn.dst, insn.src, form.width
    reg = "w" if size == 4 else "r"
    ptr = f"({SIZE_TYPE[size]} *)({_mem(d, insn.off)})"
    if form.op in ATOMIC_SYMBOL:
        return f"lock *{ptr} {ATOMIC_SYMBOL[form.op]} {reg}{s}"
    if form.op.startswith("fetch_"):
        return f"{reg}{s} = atomic_{form.op}({ptr}, {reg}{s})"
    if form.op == "xchg":
        fn = "xchg_64" if size == 8 else "xchg32_32"
        return f"{reg}{s} = {fn}({_mem(d, insn.off)}, {reg}{s})"
    fn = "cmpxchg_64" if size == 8 else "cmpxchg32_32"
    return f"{reg}0 = {fn}({_mem(d, insn.off)}, {reg}0, {reg}{s})"


def disassemble(insns: Sequence[Instruction], *, annotate: Annotator | None = None) -> list[tuple[int, str]]:
    """``(index, text)`` for every instruction, skipping the second slots of lddw."""
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(insns):
        insn = insns[i]
        form = form_for(insn.opcode, insn.src, insn.off, insn.imm)
        wide = form is not None and form.is_wide
        text = disassemble_one(insn, insns[i + 1] if wide and i + 1 < len(insns) else None)
        if annotate is not None:
            note = annotate(i, insn)
            if note:
                text = f"{text}  ; {note}"
        out.append((i, text))
        i += 2 if wide else 1
    return out


def listing(insns: Sequence[Instruction], *, annotate: Annotator | None = None) -> str:
    """A listing in llvm-objdump's layout: index, the raw bytes, the instruction."""
    lines = []
    for i, text in disassemble(insns, annotate=annotate):
        raw = insns[i].encode().hex(" ")
        lines.append(f"{i:>6}:\t{raw}\t{text}")
    return "\n".join(lines)
