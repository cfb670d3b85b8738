"""Assemble eBPF text in either syntax people meet.

* the kernel / llvm-objdump syntax: ``r1 = 5``, ``w1 += w2``, ``*(u32 *)(r10 - 4) = r1``,
  ``if r1 > 5 goto +3``, ``lock *(u64 *)(r1 + 0) += r2``, ``call 1`` (pasted llvm-objdump lines,
  with their address and raw bytes, are accepted too);
* the bpf_conformance syntax: ``mov32 %r1, 0xffffffff``, ``ldxh %r0, [%r1+2]``,
  ``lock fetch add [%r1+0], %r2``, ``call local L``.

Both may be mixed, one instruction per line.  Labels (``name:``) work in both, and jump targets are
``+N``, ``-N`` or a label.  Comments start with ``#``, ``;`` or ``//``.  Everything about opcodes is
looked up in :mod:`pybpf.isa.opcodes`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pybpf.errors import AssemblerError, BytecodeError
from pybpf.isa.disassembler import ALU_SYMBOL, ATOMIC_SYMBOL, JUMP_SYMBOL, LDDW_PSEUDO, SIGNED_SIZE_TYPE, SIZE_TYPE
from pybpf.isa.instruction import Instruction, encode_program, lddw, validate
from pybpf.isa.opcodes import FORMS, Form, Kind, forms_by_mnemonic

HelperLookup = Callable[[str], int | None]

_NUM = r"[+-]?\s*(?:0[xX][0-9a-fA-F]+|\d+)"
_REG = r"([rw])(\d+)"
_MEMREF = r"r(\d+)\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|\d+))?"
_SIZES = {v: k for k, v in SIZE_TYPE.items()}
_SSIZES = {v: k for k, v in SIGNED_SIZE_TYPE.items()}
_ALU_OPS = {v: k for k, v in ALU_SYMBOL.items()}
_JUMP_OPS = {v: k for k, v in JUMP_SYMBOL.items()}
_ATOMIC_OPS = {v: k for k, v in ATOMIC_SYMBOL.items()}
_PSEUDO = {v: k for k, v in LDDW_PSEUDO.items()}
_OBJDUMP_PREFIX = re.compile(r"^\s*\d+:\s+(?:[0-9a-fA-F]{2}\s){8}\s*")
_LABEL = re.compile(r"^\s*([A-Za-z_.$][\w.$]*)\s*:(?!\S)")


@dataclass
class _Pending:
    """An instruction whose jump target is a label, patched after every label is known."""

    slot: int
    line: int
    text: str
    label: str
    field: str  # "off" or "imm"


def _int(text: str, line: int, raw: str) -> int:
    try:
        return int(text.replace(" ", ""), 0)
    except ValueError:
        raise AssemblerError(line, f"bad number {text!r}", raw) from None


def _imm32(value: int, line: int, raw: str) -> int:
    """Fit a value into the signed 32-bit imm field (unsigned spellings of negatives allowed)."""
    if -(1 << 31) <= value < (1 << 31):
        return value
    if (1 << 31) <= value < (1 << 32):
        return value - (1 << 32)
    raise AssemblerError(line, f"immediate {value} does not fit in 32 bits", raw)


def _off16(value: int, line: int, raw: str) -> int:
    if not -(1 << 15) <= value < (1 << 15):
        raise AssemblerError(line, f"offset {value} does not fit in 16 bits", raw)
    return value


def _regno(text: str, line: int, raw: str) -> int:
    n = int(text)
    if n > 10:
        raise AssemblerError(line, f"no register r{n} (r0-r10 exist)", raw)
    return n


def _memoff(sign: str | None, value: str | None, line: int, raw: str) -> int:
    if value is None:
        return 0
    off = _int(value, line, raw)
    return _off16(-off if sign == "-" else off, line, raw)


class Assembler:
    """Two-pass assembler; ``helpers`` resolves ``call name`` to a helper id."""

    def __init__(self, helpers: HelperLookup | None = None) -> None:
        self.helpers = helpers
        self._by_mnemonic = forms_by_mnemonic()

    def assemble(self, text: str) -> list[Instruction]:
        insns: list[Instruction] = []
        labels: dict[str, int] = {}
        pending: list[_Pending] = []
        first_exit: int | None = None
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = _strip(raw)
            while True:
                m = _LABEL.match(line)
                if not m:
                    break
                name = m.group(1)
                if name in labels:
                    raise AssemblerError(lineno, f"label {name!r} defined twice", raw)
                labels[name] = len(insns)
                line = line[m.end() :].strip()
            if not line:
                continue
            slot = len(insns)
            new, label_ref = self._line(line, lineno, raw)
            if label_ref is not None:
                label, fld = label_ref
                pending.append(_Pending(slot, lineno, raw, label, fld))
            if first_exit is None and new and new[0].opcode == 0x95:
                first_exit = slot
            insns.extend(new)
        if first_exit is not None:
            labels.setdefault("exit", first_exit)
        for p in pending:
            if p.field == "callname" and p.label not in labels:
                insns[p.slot] = Instruction(0x85, 0, 0, 0, self._helper_id(p.label, p.line, p.text))
                continue
            if p.label not in labels:
                raise AssemblerError(p.line, f"unknown label {p.label!r}", p.text)
            rel = labels[p.label] - p.slot - 1
            old = insns[p.slot]
            if p.field == "off":
                insns[p.slot] = Instruction(old.opcode, old.dst, old.src, _off16(rel, p.line, p.text), old.imm)
            else:  # "imm" and "callname" (a local call to a label)
                insns[p.slot] = Instruction(old.opcode, old.dst, old.src, old.off, rel)
        return insns

    # -- one line ---------------------------------------------------------------------------
    def _line(self, line: str, lineno: int, raw: str) -> tuple[list[Instruction], tuple[str, str] | None]:
        """One instruction in either syntax: ``%r`` or ``[`` operands mean the conformance syntax;
        otherwise the kernel syntax is tried first and a bare conformance mnemonic (``ja +1``) second."""
        if "%r" in line or ("[" in line and "skb[" not in line):
            return self._conformance(line, lineno, raw)
        for pattern, handler in _KERNEL_RULES:
            m = pattern.fullmatch(line)
            if m:
                return handler(self, m, lineno, raw)
        word = line.split()[0]
        if "=" not in line and (word in self._by_mnemonic or _strip64(word) in self._by_mnemonic or word == "lock"):
            return self._conformance(line, lineno, raw)
        raise AssemblerError(lineno, "cannot parse instruction", raw)

    # -- conformance syntax -------------------------------------------------------------------------
    def _conformance(self, line: str, lineno: int, raw: str) -> tuple[list[Instruction], tuple[str, str] | None]:
        tokens = [t.rstrip(",") for t in line.replace(",", " , ").split() if t != ","]
        mnem = tokens[0]
        args = tokens[1:]
        if mnem == "lock":
            words = []
            while args and not args[0].startswith("["):
                words.append(args.pop(0))
            mnem = "lock " + " ".join(words)
        elif mnem == "call" and args and args[0] in ("local", "runtime"):
            mnem = "call " + args.pop(0)
        elif mnem == "call" and args and args[0].startswith("%r"):
            mnem = "callx"
        forms = self._by_mnemonic.get(mnem) or self._by_mnemonic.get(_strip64(mnem))
        if mnem in ("swap16", "swap32", "swap64"):
            forms = self._by_mnemonic["b" + mnem]
        if not forms:
            raise AssemblerError(lineno, f"unknown mnemonic {mnem!r}", raw)
        return self._conformance_operands(forms, args, lineno, raw)

    def _conformance_operands(
        self, forms: list[Form], args: list[str], lineno: int, raw: str
    ) -> tuple[list[Instruction], tuple[str, str] | None]:
        form = forms[0]
        kind = form.kind

        def reg(t: str) -> int:
            m = re.fullmatch(r"%r(\d+)", t)
            if not m:
                raise AssemblerError(lineno, f"expected a register like %r1, got {t!r}", raw)
            return _regno(m.group(1), lineno, raw)

        def mem(t: str) -> tuple[int, int]:
            m = re.fullmatch(r"\[%r(\d+)\s*(?:([+-])\s*(0[xX][0-9a-fA-F]+|\d+))?\]", t)
            if not m:
                raise AssemblerError(lineno, f"expected a memory operand like [%r1+8], got {t!r}", raw)
            return _regno(m.group(1), lineno, raw), _memoff(m.group(2), m.group(3), lineno, raw)

        def need(n: int) -> None:
            if len(args) != n:
                raise AssemblerError(lineno, f"{form.mnemonic} takes {n} operand(s), got {len(args)}", raw)

        def pick(source: str) -> Form:
            for f in forms:
                if f.source == source:
                    return f
            raise AssemblerError(
                lineno, f"{form.mnemonic} has no {'register' if source == 'X' else 'immediate'} form", raw
            )

        # Join memory operands that were split at spaces ("[%r1 + 2]").
        joined: list[str] = []
        for t in args:
            if joined and joined[-1].startswith("[") and not joined[-1].endswith("]"):
                joined[-1] += t
            else:
                joined.append(t)
        args = joined
        if kind is Kind.ALU:
            if form.op == "neg":
                need(1)
                return [Instruction(form.opcode, reg(args[0]))], None
            need(2)
            if args[1].startswith("%r"):
                f = pick("X")
                return [Instruction(f.opcode, reg(args[0]), reg(args[1]), f.value if f.discriminator else 0)], None
            f = pick("K")
            imm = _imm32(_int(args[1], lineno, raw), lineno, raw)
            return [Instruction(f.opcode, reg(args[0]), 0, f.value if f.discriminator else 0, imm)], None
        if kind is Kind.END:
            need(1)
            return [Instruction(form.opcode, reg(args[0]), 0, 0, form.value)], None
        if kind is Kind.LDDW:
            need(2)
            value = _int(args[1], lineno, raw)
            if not -(1 << 63) <= value < (1 << 64):
                raise AssemblerError(lineno, "lddw value does not fit in 64 bits", raw)
            return list(lddw(reg(args[0]), value)), None
        if kind in (Kind.LOAD, Kind.LOADSX):
            need(2)
            base, off = mem(args[1])
            return [Instruction(form.opcode, reg(args[0]), base, off)], None
        if kind is Kind.STORE_IMM or kind is Kind.STORE_REG:
            need(2)
            base, off = mem(args[0])
            if args[1].startswith("%r"):
                f = next((f for f in FORMS if f.kind is Kind.STORE_REG and f.width == form.width), form)
                return [Instruction(f.opcode, base, reg(args[1]), off)], None
            f = next((f for f in FORMS if f.kind is Kind.STORE_IMM and f.width == form.width), form)
            return [Instruction(f.opcode, base, 0, off, _imm32(_int(args[1], lineno, raw), lineno, raw))], None
        if kind is Kind.ATOMIC:
            need(2)
            base, off = mem(args[0])
            return [Instruction(form.opcode, base, reg(args[1]), off, form.value)], None
        if kind is Kind.JUMP:
            if form.op == "ja":
                need(1)
                fld = "imm" if form.opcode == 0x06 else "off"
                return self._target(form.opcode, 0, 0, 0, args[0], fld, lineno, raw)
            need(3)
            if args[1].startswith("%r"):
                f = pick("X")
                return self._target(f.opcode, reg(args[0]), reg(args[1]), 0, args[2], "off", lineno, raw)
            f = pick("K")
            imm = _imm32(_int(args[1], lineno, raw), lineno, raw)
            return self._target(f.opcode, reg(args[0]), 0, imm, args[2], "off", lineno, raw)
        if kind is Kind.CALL:
            need(1)
            return _rule_call(self, re.fullmatch(r"call\s+(.+)", "call " + args[0]), lineno, raw)  # type: ignore[arg-type]
        if kind is Kind.CALL_LOCAL:
            need(1)
            return self._target(0x85, 0, 1, 0, args[0], "imm", lineno, raw)
        if kind is Kind.CALL_KFUNC:
            need(1)
            return [Instruction(0x85, 0, 2, 0, _imm32(_int(args[0], lineno, raw), lineno, raw))], None
        if kind is Kind.CALLX:
            need(1)
            return [Instruction(0x8D, reg(args[0]))], None
        if kind is Kind.EXIT:
            need(0)
            return [Instruction(0x95)], None
        if kind is Kind.LD_ABS:
            need(1)
            return [Instruction(form.opcode, 0, 0, 0, _imm32(_int(args[0], lineno, raw), lineno, raw))], None
        if kind is Kind.LD_IND:
            need(2)
            return [Instruction(form.opcode, 0, reg(args[0]), 0, _imm32(_int(args[1], lineno, raw), lineno, raw))], None
        raise AssemblerError(lineno, f"cannot assemble {form.mnemonic}", raw)

    def _target(
        self, opcode: int, dst: int, src: int, imm: int, target: str, fld: str, lineno: int, raw: str
    ) -> tuple[list[Instruction], tuple[str, str] | None]:
        if re.fullmatch(r"[+-]\s*\d+|\d+", target):
            rel = _int(target, lineno, raw)
            if fld == "off":
                return [Instruction(opcode, dst, src, _off16(rel, lineno, raw), imm)], None
            return [Instruction(opcode, dst, src, 0, _imm32(rel, lineno, raw))], None
        if not re.fullmatch(r"[A-Za-z_.$][\w.$]*", target):
            raise AssemblerError(lineno, f"bad jump target {target!r}", raw)
        return [Instruction(opcode, dst, src, 0, imm)], (target, fld)

    def _helper_id(self, text: str, lineno: int, raw: str) -> int:
        if re.fullmatch(_NUM, text):
            return _imm32(_int(text, lineno, raw), lineno, raw)
        name = text[4:] if text.startswith("bpf_") else text
        if self.helpers is not None:
            hid = self.helpers(name)
            if hid is not None:
                return hid
        raise AssemblerError(lineno, f"{text!r} is neither a label nor a known helper", raw)


def _strip(raw: str) -> str:
    line = raw
    for marker in ("#", "//", ";"):
        cut = line.find(marker)
        if cut >= 0:
            line = line[:cut]
    m = _OBJDUMP_PREFIX.match(line)
    if m:
        line = line[m.end() :]
    return line.strip()


def _strip64(mnem: str) -> str:
    return mnem[:-2] if mnem.endswith("64") and not mnem.startswith(("le", "be", "bswap", "swap")) else mnem


def _find(kind: Kind, op: str, width: int, source: str = "", bits: int = 0) -> Form:
    for f in FORMS:
        if f.kind is kind and f.op == op and f.width == width and (not source or f.source == source):
            if bits and f.bits != bits:
                continue
            return f
    raise KeyError((kind, op, width, source))


Rule = Callable[[Assembler, re.Match[str], int, str], tuple[list[Instruction], tuple[str, str] | None]]


def _check_width(m: re.Match[str], groups: tuple[int, ...], lineno: int, raw: str) -> int:
    """All register prefixes in ``groups`` must agree; returns 32 for w, 64 for r."""
    prefixes = {m.group(g) for g in groups if m.group(g)}
    if len(prefixes) > 1:
        raise AssemblerError(lineno, "mixes 32-bit (w) and 64-bit (r) registers", raw)
    return 32 if prefixes == {"w"} else 64


def _rule_alu(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    width = _check_width(m, (1, 4), lineno, raw)
    dst = _regno(m.group(2), lineno, raw)
    op = _ALU_OPS[(m.group(3) or "") + "="]
    if m.group(4):
        f = _find(Kind.ALU, op, width, "X")
        return [Instruction(f.opcode, dst, _regno(m.group(5), lineno, raw), f.value if f.discriminator else 0)], None
    f = _find(Kind.ALU, op, width, "K")
    imm = _imm32(_int(m.group(6), lineno, raw), lineno, raw)
    return [Instruction(f.opcode, dst, 0, f.value if f.discriminator else 0, imm)], None


def _rule_neg(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    width = _check_width(m, (1, 3), lineno, raw)
    if m.group(2) != m.group(4):
        raise AssemblerError(lineno, "negation must use the same register on both sides", raw)
    f = _find(Kind.ALU, "neg", width)
    return [Instruction(f.opcode, _regno(m.group(2), lineno, raw))], None


def _rule_movsx(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    width = _check_width(m, (1, 4), lineno, raw)
    bits = int(m.group(3)[1:])
    try:
        f = _find(Kind.ALU, "movsx", width, "X", bits)
    except KeyError:
        raise AssemblerError(lineno, f"no {width}-bit sign extension from {bits} bits", raw) from None
    return [Instruction(f.opcode, _regno(m.group(2), lineno, raw), _regno(m.group(5), lineno, raw), bits)], None


def _rule_end(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    if m.group(1) != m.group(4):
        raise AssemblerError(lineno, "byte swap must use the same register on both sides", raw)
    opcode = {"le": 0xD4, "be": 0xDC, "bswap": 0xD7}[m.group(2)]
    return [Instruction(opcode, _regno(m.group(1), lineno, raw), 0, 0, int(m.group(3)))], None


def _rule_lddw(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    dst = _regno(m.group(1), lineno, raw)
    value = m.group(2).strip()
    pm = re.fullmatch(rf"(\w+)\(\s*(pc)?\s*({_NUM})\s*\)(?:\s*\+\s*({_NUM}))?", value)
    if pm:
        name = pm.group(1)
        if name not in _PSEUDO:
            raise AssemblerError(lineno, f"unknown lddw source {name!r}", raw)
        src = _PSEUDO[name]
        imm = _imm32(_int(pm.group(3), lineno, raw), lineno, raw)
        hi = _int(pm.group(4), lineno, raw) if pm.group(4) else 0
        return list(lddw(dst, ((hi & 0xFFFF_FFFF) << 32) | (imm & 0xFFFF_FFFF), src)), None
    number = _int(value, lineno, raw)
    if not -(1 << 63) <= number < (1 << 64):
        raise AssemblerError(lineno, "lddw value does not fit in 64 bits", raw)
    return list(lddw(dst, number)), None


def _rule_load(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    dst = _regno(m.group(2), lineno, raw)
    typ = m.group(3)
    off = _memoff(m.group(5), m.group(6), lineno, raw)
    base = _regno(m.group(4), lineno, raw)
    if typ in _SIZES:
        f = _find(Kind.LOAD, "load", _SIZES[typ])
    else:
        f = _find(Kind.LOADSX, "loadsx", _SSIZES[typ])
    return [Instruction(f.opcode, dst, base, off)], None


def _rule_store(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    size = _SIZES[m.group(1)]
    base = _regno(m.group(2), lineno, raw)
    off = _memoff(m.group(3), m.group(4), lineno, raw)
    if m.group(6):
        f = _find(Kind.STORE_REG, "store", size)
        return [Instruction(f.opcode, base, _regno(m.group(6), lineno, raw), off)], None
    f = _find(Kind.STORE_IMM, "store", size)
    return [Instruction(f.opcode, base, 0, off, _imm32(_int(m.group(7), lineno, raw), lineno, raw))], None


def _rule_lock(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    size = _SIZES[m.group(1)]
    if size not in (4, 8):
        raise AssemblerError(lineno, "atomics exist only for u32 and u64", raw)
    f = _find(Kind.ATOMIC, _ATOMIC_OPS[m.group(5) + "="], size)
    base = _regno(m.group(2), lineno, raw)
    off = _memoff(m.group(3), m.group(4), lineno, raw)
    return [Instruction(f.opcode, base, _regno(m.group(7), lineno, raw), off, f.value)], None


def _rule_fetch(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    size = _SIZES[m.group(4)]
    if size not in (4, 8):
        raise AssemblerError(lineno, "atomics exist only for u32 and u64", raw)
    if m.group(2) != m.group(9):
        raise AssemblerError(lineno, "atomic fetch must return into its source register", raw)
    f = _find(Kind.ATOMIC, "fetch_" + m.group(3), size)
    base = _regno(m.group(5), lineno, raw)
    off = _memoff(m.group(6), m.group(7), lineno, raw)
    return [Instruction(f.opcode, base, _regno(m.group(9), lineno, raw), off, f.value)], None


def _rule_xchg(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    size = 8 if m.group(3) == "xchg_64" else 4
    if m.group(2) != m.group(8):
        raise AssemblerError(lineno, "xchg must return into its source register", raw)
    f = _find(Kind.ATOMIC, "xchg", size)
    off = _memoff(m.group(5), m.group(6), lineno, raw)
    return [Instruction(f.opcode, _regno(m.group(4), lineno, raw), _regno(m.group(8), lineno, raw), off, f.value)], None


def _rule_cmpxchg(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    size = 8 if m.group(3) == "cmpxchg_64" else 4
    if m.group(2) != "0" or m.group(8) != "0":
        raise AssemblerError(lineno, "cmpxchg compares with and returns into r0", raw)
    f = _find(Kind.ATOMIC, "cmpxchg", size)
    off = _memoff(m.group(5), m.group(6), lineno, raw)
    return [
        Instruction(f.opcode, _regno(m.group(4), lineno, raw), _regno(m.group(10), lineno, raw), off, f.value)
    ], None


def _rule_jump(
    asm: Assembler, m: re.Match[str], lineno: int, raw: str
) -> tuple[list[Instruction], tuple[str, str] | None]:
    width = _check_width(m, (1, 4), lineno, raw)
    op = _JUMP_OPS[m.group(3)]
    dst = _regno(m.group(2), lineno, raw)
    if m.group(4):
        f = _find(Kind.JUMP, op, width, "X")
        return asm._target(f.opcode, dst, _regno(m.group(5), lineno, raw), 0, m.group(7), "off", lineno, raw)
    f = _find(Kind.JUMP, op, width, "K")
    imm = _imm32(_int(m.group(6), lineno, raw), lineno, raw)
    return asm._target(f.opcode, dst, 0, imm, m.group(7), "off", lineno, raw)


def _rule_goto(
    asm: Assembler, m: re.Match[str], lineno: int, raw: str
) -> tuple[list[Instruction], tuple[str, str] | None]:
    if m.group(1) == "gotol":
        return asm._target(0x06, 0, 0, 0, m.group(2), "imm", lineno, raw)
    return asm._target(0x05, 0, 0, 0, m.group(2), "off", lineno, raw)


def _rule_call(
    asm: Assembler, m: re.Match[str], lineno: int, raw: str
) -> tuple[list[Instruction], tuple[str, str] | None]:
    target = m.group(1).strip()
    pc = re.fullmatch(r"pc\s*([+-]\s*\d+)", target)
    if pc:
        return asm._target(0x85, 0, 1, 0, pc.group(1).replace(" ", ""), "imm", lineno, raw)
    kf = re.fullmatch(rf"kfunc\(\s*({_NUM})\s*\)|runtime\s+({_NUM})", target)
    if kf:
        btf_id = kf.group(1) or kf.group(2)
        return [Instruction(0x85, 0, 2, 0, _imm32(_int(btf_id, lineno, raw), lineno, raw))], None
    local = re.fullmatch(r"local\s+(\S+)", target)
    if local:
        return asm._target(0x85, 0, 1, 0, local.group(1), "imm", lineno, raw)
    if re.fullmatch(r"[A-Za-z_.$][\w.$]*", target):
        # A label in this program makes it a local call; otherwise a helper by name.
        return [Instruction(0x85, 0, 1, 0, 0)], (target, "callname")
    return [Instruction(0x85, 0, 0, 0, asm._helper_id(target, lineno, raw))], None


def _rule_callx(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    return [Instruction(0x8D, _regno(m.group(1), lineno, raw))], None


def _rule_exit(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    return [Instruction(0x95)], None


def _rule_ldpkt(asm: Assembler, m: re.Match[str], lineno: int, raw: str) -> tuple[list[Instruction], None]:
    if m.group(1) != "0":
        raise AssemblerError(lineno, "legacy packet loads always write r0", raw)
    size = _SIZES[m.group(2)]
    if size == 8:
        raise AssemblerError(lineno, "legacy packet loads exist for u8, u16 and u32 only", raw)
    imm = _imm32(_int(m.group(4), lineno, raw), lineno, raw)
    if m.group(3) is not None:
        f = _find(Kind.LD_IND, "ld_ind", size)
        return [Instruction(f.opcode, 0, _regno(m.group(3), lineno, raw), 0, imm)], None
    f = _find(Kind.LD_ABS, "ld_abs", size)
    return [Instruction(f.opcode, 0, 0, 0, imm)], None


_ALU_SYM = r"(\+|-|\*|/|\||&|<<|>>|%|\^|s>>|s/|s%)?="
_JMP_SYM = r"(==|!=|s>=|s<=|s>|s<|>=|<=|>|<|&)"
_TARGET = r"([+-]?\s*\d+|[A-Za-z_.$][\w.$]*)"
_TYPES = r"(u8|u16|u32|u64|s8|s16|s32)"
_KERNEL_RULES: list[tuple[re.Pattern[str], Rule]] = [
    (re.compile(rf"r(\d+)\s*=\s*\*\((u8|u16|u32|u64)\s*\*\)\s*skb\[\s*(?:r(\d+)\s*\+\s*)?({_NUM})\s*\]"), _rule_ldpkt),
    (re.compile(rf"([rw])(\d+)\s*=\s*\*\({_TYPES}\s*\*\)\s*\(\s*{_MEMREF}\s*\)"), _rule_load),
    (
        re.compile(rf"\*\((u8|u16|u32|u64)\s*\*\)\s*\(\s*{_MEMREF}\s*\)\s*=\s*(?:([rw])(\d+)|({_NUM}))"),
        _rule_store,
    ),
    (
        re.compile(rf"lock\s+\*\((u8|u16|u32|u64)\s*\*\)\s*\(\s*{_MEMREF}\s*\)\s*(\+|\||&|\^)=\s*([rw])(\d+)"),
        _rule_lock,
    ),
    (
        re.compile(
            rf"([rw])(\d+)\s*=\s*atomic_fetch_(add|and|or|xor)\(\s*\((u8|u16|u32|u64)\s*\*\)\s*\(\s*{_MEMREF}\s*\)\s*,\s*([rw])(\d+)\s*\)"
        ),
        _rule_fetch,
    ),
    (re.compile(rf"([rw])(\d+)\s*=\s*(xchg_64|xchg32_32)\(\s*{_MEMREF}\s*,\s*([rw])(\d+)\s*\)"), _rule_xchg),
    (
        re.compile(
            rf"([rw])(\d+)\s*=\s*(cmpxchg_64|cmpxchg32_32)\(\s*{_MEMREF}\s*,\s*([rw])(\d+)\s*,\s*([rw])(\d+)\s*\)"
        ),
        _rule_cmpxchg,
    ),
    (re.compile(r"r(\d+)\s*=\s*(.+?)\s+ll"), _rule_lddw),
    (re.compile(r"r(\d+)\s*=\s*(be|le|bswap)(16|32|64)\s+r(\d+)"), _rule_end),
    (re.compile(r"([rw])(\d+)\s*=\s*-\s*([rw])(\d+)"), _rule_neg),
    (re.compile(r"([rw])(\d+)\s*=\s*\((s8|s16|s32)\)\s*([rw])(\d+)"), _rule_movsx),
    (re.compile(rf"([rw])(\d+)\s*{_ALU_SYM}\s*(?:([rw])(\d+)|({_NUM}))"), _rule_alu),
    (re.compile(rf"if\s+([rw])(\d+)\s*{_JMP_SYM}\s*(?:([rw])(\d+)|({_NUM}))\s+goto\s+{_TARGET}"), _rule_jump),
    (re.compile(rf"(gotol|goto)\s+{_TARGET}"), _rule_goto),
    (re.compile(r"callx\s+r(\d+)"), _rule_callx),
    (re.compile(r"call\s+(.+)"), _rule_call),
    (re.compile(r"exit"), _rule_exit),
]


def assemble(text: str, *, helpers: HelperLookup | None = None, check: bool = True) -> list[Instruction]:
    """Assemble text into instruction slots; with ``check`` the result is also validated.

    A validation failure is reported as an :class:`AssemblerError` naming the source line of the
    offending instruction.
    """
    insns = Assembler(helpers).assemble(text)
    if check:
        try:
            validate(insns)
        except BytecodeError as exc:
            line = _line_of_slot(text, exc.index)
            raise AssemblerError(line, exc.reason, text.splitlines()[line - 1] if line else "") from exc
    return insns


def assemble_bytes(text: str, **kwargs: object) -> bytes:
    return encode_program(assemble(text, **kwargs))  # type: ignore[arg-type]


def _line_of_slot(text: str, slot: int) -> int:
    """Source line that produced instruction slot ``slot`` (0 if it cannot be told)."""
    asm = Assembler()
    count = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip(raw)
        while True:
            m = _LABEL.match(line)
            if not m:
                break
            line = line[m.end() :].strip()
        if not line:
            continue
        try:
            new, _ = asm._line(line, lineno, raw)
        except AssemblerError:
            return lineno
        if count <= slot < count + len(new):
            return lineno
        count += len(new)
    return 0
