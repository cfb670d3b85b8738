"""Translate a validated program into Python functions, one per basic block.

The interpreter does not decode instructions while it runs: each basic block becomes a small
Python function built from the templates in :mod:`pybpf.isa.semantics`, compiled once per program.
A block function takes the register list ``r`` and returns the index of the next block (or -1
when the program has ended).  Everything a block needs from the running machine (memory
accessors, helper dispatch, frame push/pop) is bound by name when the blocks are instantiated for
one :class:`~pybpf.vm.interpreter.Interpreter`; that keeps compilation per program and binding per
machine.

With ``single_step`` every instruction is its own block, which is how ``--trace`` sees each one.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pybpf.isa import semantics
from pybpf.isa.instruction import Instruction, branch_target, is_function_address, lddw_value
from pybpf.isa.opcodes import Form, Kind

M32 = semantics.M32
M64 = semantics.M64
SIGN64 = 1 << 63
SIGN32 = 1 << 31

# Names a block may use, bound per machine by the interpreter.
BINDINGS = (
    "ld1",
    "ld2",
    "ld4",
    "ld8",
    "st",
    "helper",
    "kfunc",
    "push",
    "pop",
    "callx",
    "atomic",
    "ldpkt",
    "pseudo",
    "sbuf",
    "sbase",
)

BlockFunc = Callable[[list[int]], int]

_ENDS_BLOCK = frozenset({Kind.JUMP, Kind.CALL_LOCAL, Kind.CALLX, Kind.EXIT})


def function_entries(insns: Sequence[Instruction], forms: Sequence[Form]) -> set[int]:
    """Slots a call may enter: 0, local call targets and function addresses taken by lddw."""
    entries = {0}
    for i in instruction_starts(forms):
        form = forms[i]
        if form.kind is Kind.CALL_LOCAL or is_function_address(form):
            entries.add(branch_target(i, insns[i], form))
    return entries


def block_leaders(insns: Sequence[Instruction], forms: Sequence[Form]) -> list[int]:
    """Indices where a basic block starts."""
    n = len(insns)
    leaders = {0}
    i = 0
    while i < n:
        form = forms[i]
        step = 2 if form.is_wide else 1
        if form.kind in _ENDS_BLOCK:
            if i + step < n:
                leaders.add(i + step)
            if form.kind in (Kind.JUMP, Kind.CALL_LOCAL):
                leaders.add(branch_target(i, insns[i], form))
        elif is_function_address(form):
            leaders.add(branch_target(i, insns[i], form))
        i += step
    return sorted(leaders)


def _reg(i: int) -> str:
    return f"r[{i}]"


def _const(v: int) -> str:
    return hex(v) if v > 9 else str(v)


def _source(insn: Instruction, form: Form, width: int, truncate: bool) -> str:
    """Expression of the second operand: sign-extended imm or the source register."""
    mask = M32 if width == 32 else M64
    if form.source == "K":
        return _const(insn.imm & mask)
    if width == 32 and truncate:
        return f"({_reg(insn.src)} & {M32:#x})"
    return _reg(insn.src)


def _address(base: int, off: int) -> str:
    if off == 0:
        return _reg(base)
    return f"(({_reg(base)} + {off}) & {M64:#x})"


_PACK = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _frame_slot(base: int, off: int, size: int, frame_size: int) -> bool:
    """Whether ``[base + off]`` is provably inside the current stack frame.

    r10 is read-only and always points at the top of the current frame, so an access through r10
    with a constant offset in ``[-frame_size, 0)`` needs no run-time check; the block reads the
    stack buffer directly.
    """
    return frame_size > 0 and base == 10 and -frame_size <= off and off + size <= 0


def translate(
    index: int, insn: Instruction, form: Form, nxt: Instruction | None, frame_size: int = 0
) -> tuple[list[str], bool]:
    """Python statements for one instruction, and whether they end the block with a return.

    ``frame_size`` > 0 enables direct stack access for r10-relative loads and stores that stay in
    the frame (see :func:`_frame_slot`).
    """
    d, s, kind = insn.dst, insn.src, form.kind
    width = form.width
    if kind in (Kind.LOAD, Kind.STORE_IMM, Kind.STORE_REG):
        base = s if kind is Kind.LOAD else d
        if _frame_slot(base, insn.off, width, frame_size):
            where = f"r[10] - sbase {'+' if insn.off >= 0 else '-'} {abs(insn.off)}"
            code = _PACK[width]
            if kind is Kind.LOAD:
                return [f"{_reg(d)} = unpack_{code}(sbuf, {where})[0]"], False
            if kind is Kind.STORE_IMM:
                value = _const(insn.imm & ((1 << (8 * width)) - 1))
            else:
                value = _reg(s) if width == 8 else f"{_reg(s)} & {(1 << (8 * width)) - 1:#x}"
            return [f"pack_{code}(sbuf, {where}, {value})"], False
    if kind is Kind.ALU:
        mask = M32 if width == 32 else M64
        truncate = form.op in semantics.NEEDS_TRUNCATED_INPUTS
        if form.op == "mov" and width == 64:
            return [f"{_reg(d)} = {_source(insn, form, 64, False)}"], False
        a = f"({_reg(d)} & {M32:#x})" if (width == 32 and truncate) else _reg(d)
        b = _source(insn, form, width, truncate)
        expr = semantics.alu_expression(form.op, width, a, b, form.bits)
        return [f"{_reg(d)} = ({expr}) & {mask:#x}"], False
    if kind is Kind.END:
        expr = semantics.END[form.op].format(a=_reg(d), bits=form.bits, mask=hex((1 << form.bits) - 1))
        return [f"{_reg(d)} = {expr}"], False
    if kind is Kind.JUMP:
        target = branch_target(index, insn, form)
        if form.op == "ja":
            return [f"return {target}"], True
        pyop, is_signed = semantics.JUMP[form.op]
        mask = M32 if width == 32 else M64
        a = f"({_reg(d)} & {M32:#x})" if width == 32 else _reg(d)
        if form.source == "K":
            bval = insn.imm & mask
            b = _const(bval ^ (SIGN32 if width == 32 else SIGN64) if is_signed else bval)
        else:
            b = f"({_reg(s)} & {M32:#x})" if width == 32 else _reg(s)
            if is_signed:
                b = f"({b} ^ {(SIGN32 if width == 32 else SIGN64):#x})"
        if is_signed:
            a = f"({a} ^ {(SIGN32 if width == 32 else SIGN64):#x})"
        return [f"if {a} {pyop} {b}: return {target}", f"return {index + 1}"], True
    if kind is Kind.LOAD:
        return [f"{_reg(d)} = ld{width}({_address(s, insn.off)}, {index})"], False
    if kind is Kind.LOADSX:
        return [f"{_reg(d)} = signed{8 * width}(ld{width}({_address(s, insn.off)}, {index})) & {M64:#x}"], False
    if kind is Kind.STORE_IMM:
        stored = insn.imm & ((1 << (8 * width)) - 1)
        return [f"st({_address(d, insn.off)}, {width}, {_const(stored)}, {index})"], False
    if kind is Kind.STORE_REG:
        return [f"st({_address(d, insn.off)}, {width}, {_reg(s)}, {index})"], False
    if kind is Kind.ATOMIC:
        return [f"atomic({_address(d, insn.off)}, {width}, {form.op!r}, r, {s}, {index})"], False
    if kind is Kind.LDDW:
        assert nxt is not None
        if form.op == "imm64":
            return [f"{_reg(d)} = {_const(lddw_value(insn, nxt))}"], False
        return [f"{_reg(d)} = pseudo({insn.src}, {insn.imm}, {nxt.imm}, {index})"], False
    if kind is Kind.CALL:
        return [f"r[0] = helper({insn.imm}, r, {index})"], False
    if kind is Kind.CALL_KFUNC:
        return [f"r[0] = kfunc({insn.imm}, r, {index})"], False
    if kind is Kind.CALL_LOCAL:
        return [f"return push({index + 1}, {branch_target(index, insn, form)}, {index})"], True
    if kind is Kind.CALLX:
        return [f"return callx(r, {d}, {index}, {index + 1})"], True
    if kind is Kind.EXIT:
        return ["return pop()"], True
    if kind is Kind.LD_ABS:
        return [f"r[0] = ldpkt({insn.imm}, {width}, {index})"], False
    if kind is Kind.LD_IND:
        return [f"r[0] = ldpkt(signed32({_reg(s)} + {insn.imm}), {width}, {index})"], False
    raise AssertionError(f"no translation for {kind}")  # every Kind is covered above


@dataclass
class CompiledProgram:
    """Generated source for a program, ready to be bound to a machine."""

    source: str
    leaders: list[int]
    lengths: list[int]  # instructions executed by the block starting at each leader
    size: int
    _factory: Callable[..., list[BlockFunc]]

    def bind(self, **bindings: Any) -> list[BlockFunc | None]:
        """Instantiate the block functions for one machine; the list is indexed by slot."""
        funcs = self._factory(**bindings)
        table: list[BlockFunc | None] = [None] * self.size
        for leader, fn in zip(self.leaders, funcs, strict=True):
            table[leader] = fn
        return table

    def length_table(self) -> list[int]:
        table = [0] * self.size
        for leader, n in zip(self.leaders, self.lengths, strict=True):
            table[leader] = n
        return table


def compile_program(
    insns: Sequence[Instruction], forms: Sequence[Form], *, single_step: bool = False, frame_size: int = 0
) -> CompiledProgram:
    """Generate and compile block functions for a validated program.

    With ``frame_size`` (the machine's stack frame size) r10-relative accesses inside the frame
    read and write the stack buffer directly; leave it 0 when every store must go through ``st``
    (tracing records stores there).
    """
    n = len(insns)
    if single_step:
        leaders = instruction_starts(forms)
    else:
        leaders = block_leaders(insns, forms)
    leader_set = set(leaders)
    lines = [f"def _factory({', '.join(BINDINGS)}):"]
    names: list[str] = []
    lengths: list[int] = []
    for leader in leaders:
        name = f"b{leader}"
        names.append(name)
        lines.append(f"    def {name}(r):")
        i = leader
        count = 0
        ended = False
        while i < n:
            if i != leader and i in leader_set:
                break
            form = forms[i]
            stmts, ended = translate(
                i, insns[i], form, insns[i + 1] if form.is_wide and i + 1 < n else None, frame_size
            )
            lines.extend("        " + st for st in stmts)
            count += 1
            i += 2 if form.is_wide else 1
            if ended:
                break
        if not ended:
            # Falling off the end of the program is rejected at load time unless a block simply
            # runs into the next leader.
            lines.append(f"        return {i if i < n else -2}")
        lengths.append(count)
    lines.append(f"    return [{', '.join(names)}]")
    source = "\n".join(lines) + "\n"
    namespace: dict[str, Any] = dict(semantics.NAMESPACE)
    for code in _PACK.values():
        packer = struct.Struct("<" + code)
        namespace["pack_" + code] = packer.pack_into
        namespace["unpack_" + code] = packer.unpack_from
    exec(compile(source, "<pybpf blocks>", "exec"), namespace)
    return CompiledProgram(source, leaders, lengths, n, namespace["_factory"])


def instruction_starts(forms: Sequence[Form]) -> list[int]:
    """Slot indices that start an instruction (every slot but the tails of lddw)."""
    starts: list[int] = []
    i = 0
    while i < len(forms):
        starts.append(i)
        i += 2 if forms[i].is_wide else 1
    return starts
