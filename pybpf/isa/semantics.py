"""Reference semantics of every operation, as Python expressions.

This is the readable definition of what each ``op`` in :mod:`pybpf.isa.opcodes` computes.  The
interpreter turns these templates into Python code once per program (see :mod:`pybpf.vm.codegen`);
tests and the verifier's soundness checks evaluate them directly through :func:`alu`,
:func:`condition` and :func:`atomic`.

Conventions: values are unsigned Python ints.  In an ALU template ``{a}`` is the destination and
``{b}`` the source (register or immediate), both already reduced to the operation's width ``{w}``
(32 or 64) where :data:`NEEDS_TRUNCATED_INPUTS` says the result depends on high bits; the caller
masks the result to the width, which also gives the zero-extension of 32-bit results.
"""

from __future__ import annotations

from typing import Any

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF


def signed(value: int, bits: int) -> int:
    """Two's-complement reading of the low ``bits`` bits of ``value``."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def signed8(v: int) -> int:
    return signed(v, 8)


def signed16(v: int) -> int:
    return signed(v, 16)


def signed32(v: int) -> int:
    return signed(v, 32)


def signed64(v: int) -> int:
    return signed(v, 64)


def _sdiv(a: int, b: int, bits: int) -> int:
    """Truncating signed division; x / 0 = 0 and INT_MIN / -1 = INT_MIN (wraps when masked)."""
    sa, sb = signed(a, bits), signed(b, bits)
    if sb == 0:
        return 0
    q = abs(sa) // abs(sb)
    return -q if (sa < 0) != (sb < 0) else q


def _smod(a: int, b: int, bits: int) -> int:
    """Remainder taking the dividend's sign; x % 0 = x and INT_MIN % -1 = 0."""
    sa, sb = signed(a, bits), signed(b, bits)
    if sb == 0:
        return sa
    r = abs(sa) % abs(sb)
    return -r if sa < 0 else r


def sdiv32(a: int, b: int) -> int:
    return _sdiv(a, b, 32)


def sdiv64(a: int, b: int) -> int:
    return _sdiv(a, b, 64)


def smod32(a: int, b: int) -> int:
    return _smod(a, b, 32)


def smod64(a: int, b: int) -> int:
    return _smod(a, b, 64)


def bswap16(v: int) -> int:
    return ((v & 0xFF) << 8) | ((v >> 8) & 0xFF)


def bswap32(v: int) -> int:
    return int.from_bytes((v & M32).to_bytes(4, "little"), "big")


def bswap64(v: int) -> int:
    return int.from_bytes((v & M64).to_bytes(8, "little"), "big")


# ALU operations.  {sh} is the shift mask (31 or 63).
ALU: dict[str, str] = {
    "add": "{a} + {b}",
    "sub": "{a} - {b}",
    "mul": "{a} * {b}",
    "div": "({a} // {b} if {b} else 0)",
    "sdiv": "sdiv{w}({a}, {b})",
    "mod": "({a} % {b} if {b} else {a})",
    "smod": "smod{w}({a}, {b})",
    "or": "{a} | {b}",
    "and": "{a} & {b}",
    "xor": "{a} ^ {b}",
    "lsh": "{a} << ({b} & {sh})",
    "rsh": "{a} >> ({b} & {sh})",
    "arsh": "signed{w}({a}) >> ({b} & {sh})",
    "neg": "-{a}",
    "mov": "{b}",
    "movsx": "signed{bits}({b})",
}

# Operations whose low bits depend on more than the low bits of the inputs; for the 32-bit forms
# their inputs must be truncated first.  (add, sub, mul, bitwise ops, lsh and mov need no
# truncation: the final mask gives the same result.)
NEEDS_TRUNCATED_INPUTS = frozenset({"div", "sdiv", "mod", "smod", "rsh", "arsh"})

# Byte-order operations on the low {bits} bits (little-endian host).
END: dict[str, str] = {
    "le": "{a} & {mask}",
    "be": "bswap{bits}({a} & {mask})",
    "bswap": "bswap{bits}({a} & {mask})",
}

# Jump conditions: (Python operator, signed?).  Signed compares flip the sign bit of both sides,
# which turns them into unsigned compares of the same order.
JUMP: dict[str, tuple[str, bool]] = {
    "jeq": ("==", False),
    "jne": ("!=", False),
    "jgt": (">", False),
    "jge": (">=", False),
    "jlt": ("<", False),
    "jle": ("<=", False),
    "jset": ("&", False),
    "jsgt": (">", True),
    "jsge": (">=", True),
    "jslt": ("<", True),
    "jsle": ("<=", True),
}

# Atomic read-modify-write: new memory value from the old one and the source.  xchg and cmpxchg
# are special-cased by the engines (cmpxchg compares with r0).
ATOMIC: dict[str, str] = {
    "add": "{old} + {v}",
    "or": "{old} | {v}",
    "and": "{old} & {v}",
    "xor": "{old} ^ {v}",
    "xchg": "{v}",
    "cmpxchg": "{v}",
}


def atomic_base(op: str) -> str:
    """``fetch_add`` -> ``add``; the fetch flag only changes what the source register receives."""
    return op[6:] if op.startswith("fetch_") else op


def atomic_fetches(op: str) -> bool:
    return op.startswith("fetch_") or op in ("xchg", "cmpxchg")


NAMESPACE: dict[str, Any] = {
    "signed8": signed8,
    "signed16": signed16,
    "signed32": signed32,
    "signed64": signed64,
    "sdiv32": sdiv32,
    "sdiv64": sdiv64,
    "smod32": smod32,
    "smod64": smod64,
    "bswap16": bswap16,
    "bswap32": bswap32,
    "bswap64": bswap64,
}


def alu_expression(op: str, width: int, a: str, b: str, bits: int = 0) -> str:
    """The unmasked Python expression of ALU ``op`` at ``width`` over operand expressions."""
    sh = 31 if width == 32 else 63
    return ALU[op].format(a=a, b=b, w=width, sh=sh, bits=bits)


def _evaluate(expr: str) -> int:
    result: int = eval(expr, dict(NAMESPACE))
    return result


def alu(op: str, width: int, dst: int, src: int, bits: int = 0) -> int:
    """Result of an ALU operation on register values (64-bit unsigned in, 64-bit unsigned out)."""
    mask = M32 if width == 32 else M64
    if width == 32 and op in NEEDS_TRUNCATED_INPUTS:
        dst, src = dst & M32, src & M32
    return _evaluate(alu_expression(op, width, str(dst), str(src), bits)) & mask


def condition(op: str, width: int, dst: int, src: int) -> bool:
    """Whether a conditional jump is taken."""
    mask = M32 if width == 32 else M64
    a, b = dst & mask, src & mask
    pyop, is_signed = JUMP[op]
    if is_signed:
        a, b = signed(a, width), signed(b, width)
    return bool(_evaluate(f"{a} {pyop} {b}"))


def end(op: str, bits: int, value: int) -> int:
    return int(_evaluate(END[op].format(a=value, bits=bits, mask=(1 << bits) - 1)))


def atomic(op: str, old: int, value: int) -> int:
    """New memory value of an atomic read-modify-write (unmasked)."""
    return int(_evaluate(ATOMIC[atomic_base(op)].format(old=old, v=value)))
