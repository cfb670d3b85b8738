"""Tristate numbers: which bits of a value are known, and what they are.

A tnum is a pair ``(value, mask)``: bits set in ``mask`` are unknown, the other bits are known
and equal to the bits of ``value`` (which is zero wherever ``mask`` is one).  The verifier keeps a
tnum next to the numeric ranges of every scalar because ranges cannot express alignment or the
effect of bit masks (``r1 &= 0xff`` gives ``(0x0; 0xff)``) while tnums cannot express ``x < 10``.

Every operation here is written for an explicit bit width (32 or 64) because 32-bit ALU
instructions compute on the low half of a register.  The algorithms for addition, subtraction and
multiplication follow the published descriptions (Vishwanathan et al., CGO 2022); the others are
direct consequences of the definition.  Functions work on plain ints so the verifier's hot paths
do not allocate objects; :class:`Tnum` is a convenience wrapper for tests and logs.
"""

from __future__ import annotations

from dataclasses import dataclass

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1

TnumPair = tuple[int, int]


def width_mask(width: int) -> int:
    return M64 if width == 64 else (1 << width) - 1


def const(value: int, width: int = 64) -> TnumPair:
    return value & width_mask(width), 0


def unknown(width: int = 64) -> TnumPair:
    return 0, width_mask(width)


def from_range(lo: int, hi: int, width: int = 64) -> TnumPair:
    """The smallest tnum containing every value of the unsigned range ``[lo, hi]``.

    All values in the range share the bits above the highest bit in which ``lo`` and ``hi``
    differ; everything below that bit may take any value.
    """
    if lo == hi:
        return lo, 0
    if lo > hi:
        return unknown(width)
    bits = (lo ^ hi).bit_length()
    delta = (1 << bits) - 1
    return lo & ~delta & width_mask(width), delta


def add(av: int, am: int, bv: int, bm: int, width: int = 64) -> TnumPair:
    """Sum: carries out of unknown bits make every higher bit they may reach unknown."""
    mask = width_mask(width)
    sm = am + bm
    sv = av + bv
    sigma = sm + sv
    chi = sigma ^ sv
    mu = (chi | am | bm) & mask
    return sv & ~mu & mask, mu


def sub(av: int, am: int, bv: int, bm: int, width: int = 64) -> TnumPair:
    mask = width_mask(width)
    dv = av - bv
    alpha = dv + am
    beta = dv - bm
    chi = alpha ^ beta
    mu = (chi | am | bm) & mask
    return dv & ~mu & mask, mu


def and_(av: int, am: int, bv: int, bm: int) -> TnumPair:
    alpha = av | am
    beta = bv | bm
    v = av & bv
    return v, alpha & beta & ~v


def or_(av: int, am: int, bv: int, bm: int) -> TnumPair:
    v = av | bv
    mu = am | bm
    return v, mu & ~v


def xor(av: int, am: int, bv: int, bm: int) -> TnumPair:
    mu = am | bm
    return (av ^ bv) & ~mu, mu


def mul(av: int, am: int, bv: int, bm: int, width: int = 64) -> TnumPair:
    """Product by shift-and-add: each bit of ``a`` contributes ``b`` shifted (or an unknown
    multiple of it when the bit is unknown); known contributions are summed exactly, unknown
    ones accumulate in a tnum of their own."""
    mask = width_mask(width)
    acc_v = (av * bv) & mask
    acc_m_v, acc_m_m = 0, 0
    while av or am:
        if av & 1:
            acc_m_v, acc_m_m = add(acc_m_v, acc_m_m, 0, bm, width)
        elif am & 1:
            acc_m_v, acc_m_m = add(acc_m_v, acc_m_m, 0, (bv | bm) & mask, width)
        av >>= 1
        am >>= 1
        bv = (bv << 1) & mask
        bm = (bm << 1) & mask
    return add(acc_v, 0, acc_m_v, acc_m_m, width)


def lshift(v: int, m: int, shift: int, width: int = 64) -> TnumPair:
    mask = width_mask(width)
    return (v << shift) & mask, (m << shift) & mask


def rshift(v: int, m: int, shift: int) -> TnumPair:
    return v >> shift, m >> shift


def arshift(v: int, m: int, shift: int, width: int = 64) -> TnumPair:
    """Arithmetic shift: the sign bit (known or not) is copied into the vacated high bits."""
    mask = width_mask(width)
    sign = 1 << (width - 1)

    def sar(x: int) -> int:
        if x & sign:
            x -= 1 << width
        return (x >> shift) & mask

    return sar(v), sar(m)


def intersect(av: int, am: int, bv: int, bm: int) -> TnumPair | None:
    """Values in both tnums, or None when a known bit disagrees."""
    if (av ^ bv) & ~am & ~bm:
        return None
    mu = am & bm
    return (av | bv) & ~mu, mu


def union(av: int, am: int, bv: int, bm: int) -> TnumPair:
    """Smallest tnum containing both (a join)."""
    mu = am | bm | (av ^ bv)
    return av & ~mu, mu


def contains(av: int, am: int, bv: int, bm: int) -> bool:
    """Whether every value of ``b`` is a value of ``a``."""
    return not (bm & ~am) and not ((av ^ bv) & ~am)


def truncate(v: int, m: int, nbytes: int) -> TnumPair:
    keep = (1 << (8 * nbytes)) - 1
    return v & keep, m & keep


def byteswap(v: int, m: int, nbytes: int) -> TnumPair:
    """Reverse the low ``nbytes`` bytes (known bits stay known)."""
    return (
        int.from_bytes((v & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big"),
        int.from_bytes((m & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big"),
    )


def sign_extend(v: int, m: int, bits: int, width: int = 64) -> TnumPair:
    """Sign-extend the low ``bits`` bits to ``width``; an unknown sign bit makes the new high
    bits unknown."""
    field = (1 << bits) - 1
    high = width_mask(width) & ~field
    sign = 1 << (bits - 1)
    v &= field
    m &= field
    if m & sign:
        return v, m | high
    if v & sign:
        return v | high, m
    return v, m


def contains_value(v: int, m: int, x: int) -> bool:
    return (x & ~m) == v


def format_tnum(v: int, m: int) -> str:
    return f"(0x{v:x}; 0x{m:x})"


@dataclass(frozen=True)
class Tnum:
    """A tnum as a value object (tests and logs); the verifier uses the functions above."""

    value: int
    mask: int

    @classmethod
    def const(cls, value: int) -> Tnum:
        return cls(*const(value))

    @classmethod
    def unknown(cls) -> Tnum:
        return cls(*unknown())

    def contains(self, x: int) -> bool:
        return contains_value(self.value, self.mask, x)

    def __str__(self) -> str:
        return format_tnum(self.value, self.mask)
