"""The scalar domain: a tnum plus signed and unsigned ranges at 64 and 32 bits.

A :class:`Scalar` describes the set of 64-bit values a register may hold by five facts that must
all hold at once: the tnum ``(v, m)``, the unsigned range ``[umin, umax]``, the signed range
``[smin, smax]``, and the same two ranges for the low 32 bits (the sub-register that 32-bit
instructions read).  Keeping all of them is what lets the verifier follow C code compiled for
``-mcpu=v3``, which mixes ``w`` and ``r`` registers, and masks (``& 0xff``), signed tests
(``s< 0``) and unsigned tests (``< 10``) on the same value.

:func:`_normalize` is the one place where the facts are made consistent: each fact is narrowed
by what the others imply, repeatedly, until nothing changes.  Every narrowing keeps exactly the
values allowed by the current facts, so it never loses a concrete value; an empty result means
the situation is impossible (a branch that cannot be taken) and is reported as ``None``.

Transfer functions compute each fact of the result from the operands' facts at the instruction's
width, then normalize.  When a fact cannot be bounded (overflow, unknown shift amounts) it is
left unbounded and recovered, where possible, from the tnum.
"""

from __future__ import annotations

from pybpf.verifier import tnum

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
HIGH32 = M64 ^ M32
SIGN64 = 1 << 63
SIGN32 = 1 << 31
S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1

# A view of a scalar at one width: (v, m, umin, umax, smin, smax).
View = tuple[int, int, int, int, int, int]


def s64(x: int) -> int:
    x &= M64
    return x - (1 << 64) if x & SIGN64 else x


def s32(x: int) -> int:
    x &= M32
    return x - (1 << 32) if x & SIGN32 else x


def signed_at(x: int, width: int) -> int:
    return s64(x) if width == 64 else s32(x)


def _limits(width: int) -> tuple[int, int, int]:
    """(unsigned max, signed min, signed max) at ``width``."""
    if width == 64:
        return M64, S64_MIN, S64_MAX
    return M32, S32_MIN, S32_MAX


class Scalar:
    """An abstract 64-bit value; immutable (transfer functions return new objects)."""

    __slots__ = ("m", "s32max", "s32min", "smax", "smin", "u32max", "u32min", "umax", "umin", "v")

    v: int
    m: int
    umin: int
    umax: int
    smin: int
    smax: int
    u32min: int
    u32max: int
    s32min: int
    s32max: int

    def __init__(
        self,
        v: int,
        m: int,
        umin: int,
        umax: int,
        smin: int,
        smax: int,
        u32min: int,
        u32max: int,
        s32min: int,
        s32max: int,
    ) -> None:
        self.v = v
        self.m = m
        self.umin = umin
        self.umax = umax
        self.smin = smin
        self.smax = smax
        self.u32min = u32min
        self.u32max = u32max
        self.s32min = s32min
        self.s32max = s32max

    # -- construction ---------------------------------------------------------------------------
    @staticmethod
    def const(value: int) -> Scalar:
        value &= M64
        lo = value & M32
        return Scalar(value, 0, value, value, s64(value), s64(value), lo, lo, s32(lo), s32(lo))

    @staticmethod
    def unknown() -> Scalar:
        return UNKNOWN

    @staticmethod
    def urange(lo: int, hi: int) -> Scalar:
        """Any value in the unsigned range ``[lo, hi]``."""
        result = _normalize(*tnum.from_range(lo, hi), lo, hi, S64_MIN, S64_MAX, 0, M32, S32_MIN, S32_MAX)
        assert result is not None
        return result

    @staticmethod
    def srange(lo: int, hi: int) -> Scalar:
        """Any value in the signed range ``[lo, hi]``."""
        result = _normalize(0, M64, 0, M64, lo, hi, 0, M32, S32_MIN, S32_MAX)
        assert result is not None
        return result

    @staticmethod
    def of_bytes(nbytes: int) -> Scalar:
        """Any zero-extended value of ``nbytes`` bytes (what a load of that size gives)."""
        return _BYTES[nbytes]

    # -- queries --------------------------------------------------------------------------------
    @property
    def is_const(self) -> bool:
        return self.m == 0

    @property
    def is_unknown(self) -> bool:
        return self.m == M64 and self.umin == 0 and self.umax == M64 and self.smin == S64_MIN and self.smax == S64_MAX

    def view(self, width: int) -> View:
        if width == 64:
            return self.v, self.m, self.umin, self.umax, self.smin, self.smax
        return self.v & M32, self.m & M32, self.u32min, self.u32max, self.s32min, self.s32max

    def contains_value(self, x: int) -> bool:
        """Whether the concrete 64-bit value ``x`` is described by this scalar."""
        x &= M64
        lo = x & M32
        return (
            tnum.contains_value(self.v, self.m, x)
            and self.umin <= x <= self.umax
            and self.smin <= s64(x) <= self.smax
            and self.u32min <= lo <= self.u32max
            and self.s32min <= s32(lo) <= self.s32max
        )

    def includes(self, other: Scalar) -> bool:
        """Whether every value of ``other`` is a value of ``self`` (fact by fact)."""
        return (
            self.umin <= other.umin
            and other.umax <= self.umax
            and self.smin <= other.smin
            and other.smax <= self.smax
            and self.u32min <= other.u32min
            and other.u32max <= self.u32max
            and self.s32min <= other.s32min
            and other.s32max <= self.s32max
            and tnum.contains(self.v, self.m, other.v, other.m)
        )

    def key(self) -> tuple[int, ...]:
        """All facts as a tuple (equality, hashing, memoisation)."""
        return (
            self.v,
            self.m,
            self.umin,
            self.umax,
            self.smin,
            self.smax,
            self.u32min,
            self.u32max,
            self.s32min,
            self.s32max,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scalar) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"Scalar({self.describe()})"

    def describe(self) -> str:
        """Kernel-like notation: the constant, or the facts that say something (e.g.
        ``umax=255,var_off=(0x0; 0xff)``; signed bounds only when the value may be negative)."""
        if self.m == 0:
            return str(s64(self.v)) if self.smin < 0 and self.v > 0xFFFF_FFFF else str(self.v)
        parts: list[str] = []
        if self.smin < 0:
            if self.smin != S64_MIN:
                parts.append(f"smin={self.smin}")
            if self.smax != S64_MAX:
                parts.append(f"smax={self.smax}")
        if self.umin != 0:
            parts.append(f"umin={self.umin}")
        if self.umax != M64 and not (self.smin < 0 and self.umax == (self.smax & M64)):
            parts.append(f"umax={self.umax}")
        implied32 = self.umax <= M32 and (self.u32min, self.u32max) == (self.umin, self.umax)
        if not implied32 and (self.u32min, self.u32max) != (0, M32):
            if self.u32min:
                parts.append(f"umin32={self.u32min}")
            parts.append(f"umax32={self.u32max}")
        s32_implied = (self.s32min, self.s32max) in ((S32_MIN, S32_MAX), (self.smin, self.smax)) or (
            self.u32max <= S32_MAX and (self.s32min, self.s32max) == (self.u32min, self.u32max)
        )
        if not s32_implied:
            parts.append(f"smin32={self.s32min},smax32={self.s32max}")
        if self.m != M64:
            parts.append(f"var_off={tnum.format_tnum(self.v, self.m)}")
        return ",".join(parts)


def _normalize(
    v: int,
    m: int,
    umin: int,
    umax: int,
    smin: int,
    smax: int,
    u32min: int,
    u32max: int,
    s32min: int,
    s32max: int,
) -> Scalar | None:
    """Make the five facts agree; None if they describe no value at all."""
    if m == 0:
        c = v
        lo = c & M32
        if umin <= c <= umax and smin <= s64(c) <= smax and u32min <= lo <= u32max and s32min <= s32(lo) <= s32max:
            return Scalar.const(c)
        return None
    for _ in range(4):
        if umin > umax or smin > smax or u32min > u32max or s32min > s32max:
            return None
        before = (v, m, umin, umax, smin, smax, u32min, u32max, s32min, s32max)
        # the tnum bounds every range
        hi = v | m
        umin = max(umin, v)
        umax = min(umax, hi)
        smin = max(smin, s64(v | (m & SIGN64)))
        smax = min(smax, s64(v | (m & ~SIGN64)))
        lv, lm = v & M32, m & M32
        u32min = max(u32min, lv)
        u32max = min(u32max, lv | lm)
        s32min = max(s32min, s32(lv | (lm & SIGN32)))
        s32max = min(s32max, s32(lv | (lm & (M32 ^ SIGN32))))
        if umin > umax or smin > smax or u32min > u32max or s32min > s32max:
            return None
        # signed <-> unsigned, when the range does not cross the sign boundary
        if not ((umin ^ umax) & SIGN64):
            smin = max(smin, s64(umin))
            smax = min(smax, s64(umax))
        if smin >= 0 or smax < 0:
            umin = max(umin, smin & M64)
            umax = min(umax, smax & M64)
        if not ((u32min ^ u32max) & SIGN32):
            s32min = max(s32min, s32(u32min))
            s32max = min(s32max, s32(u32max))
        if s32min >= 0 or s32max < 0:
            u32min = max(u32min, s32min & M32)
            u32max = min(u32max, s32max & M32)
        if umin > umax or smin > smax or u32min > u32max or s32min > s32max:
            return None
        # 64 -> 32: when the high halves agree the low halves form a contiguous range
        if (umin >> 32) == (umax >> 32):
            a, b = umin & M32, umax & M32
            u32min = max(u32min, a)
            u32max = min(u32max, b)
            if not ((a ^ b) & SIGN32):
                s32min = max(s32min, s32(a))
                s32max = min(s32max, s32(b))
        if (smin >> 32) == (smax >> 32):
            a, b = smin & M32, smax & M32
            u32min = max(u32min, a)
            u32max = min(u32max, b)
            if not ((a ^ b) & SIGN32):
                s32min = max(s32min, s32(a))
                s32max = min(s32max, s32(b))
        if S32_MIN <= smin and smax <= S32_MAX:
            # the value is its own sign-extended low half
            s32min = max(s32min, smin)
            s32max = min(s32max, smax)
            smin = max(smin, s32min)
            smax = min(smax, s32max)
        if umin > umax or smin > smax or u32min > u32max or s32min > s32max:
            return None
        # 32 -> 64: with a fixed high half, the low ranges bound the whole value
        if (umin >> 32) == (umax >> 32):
            base = umin & HIGH32
            umin = max(umin, base | u32min)
            umax = min(umax, base | u32max)
        if (smin >> 32) == (smax >> 32):
            base = (smin >> 32) << 32
            smin = max(smin, base + u32min)
            smax = min(smax, base + u32max)
        if umin > umax or smin > smax:
            return None
        # ranges -> tnum
        t = tnum.intersect(v, m, *tnum.from_range(umin, umax))
        if t is None:
            return None
        v, m = t
        if smin >= 0 or smax < 0:
            t = tnum.intersect(v, m, *tnum.from_range(smin & M64, smax & M64))
            if t is None:
                return None
            v, m = t
        rv, rm = tnum.from_range(u32min, u32max, 32)
        t = tnum.intersect(v, m, rv, rm | HIGH32)
        if t is None:
            return None
        v, m = t
        if s32min >= 0 or s32max < 0:
            rv, rm = tnum.from_range(s32min & M32, s32max & M32, 32)
            t = tnum.intersect(v, m, rv, rm | HIGH32)
            if t is None:
                return None
            v, m = t
        if m == 0:
            return _normalize(v, 0, umin, umax, smin, smax, u32min, u32max, s32min, s32max)
        if (v, m, umin, umax, smin, smax, u32min, u32max, s32min, s32max) == before:
            break
    if umin > umax or smin > smax or u32min > u32max or s32min > s32max:
        return None
    return Scalar(v, m, umin, umax, smin, smax, u32min, u32max, s32min, s32max)


UNKNOWN = Scalar(0, M64, 0, M64, S64_MIN, S64_MAX, 0, M32, S32_MIN, S32_MAX)
ZERO = Scalar.const(0)


def _bytes_scalar(n: int) -> Scalar:
    top = (1 << (8 * n)) - 1
    if n == 8:
        return UNKNOWN
    result = _normalize(0, top, 0, top, 0, top, 0, min(top, M32), S32_MIN, S32_MAX)
    assert result is not None
    return result


_BYTES = {n: _bytes_scalar(n) for n in (1, 2, 4, 8)}


def from_view(width: int, view: View) -> Scalar | None:
    """A scalar from an operation's result at ``width``; 32-bit results are zero-extended."""
    v, m, umin, umax, smin, smax = view
    if width == 64:
        return _normalize(v, m, umin, umax, smin, smax, 0, M32, S32_MIN, S32_MAX)
    # Zero extension: the 64-bit value equals the unsigned 32-bit value.
    return _normalize(v & M32, m & M32, 0, M32, 0, M32, umin, umax, smin, smax)


def with_view(s: Scalar, width: int, view: View) -> Scalar | None:
    """``s`` with the facts of one width replaced by a narrower ``view`` (branch refinement)."""
    v, m, umin, umax, smin, smax = view
    if width == 64:
        return _normalize(v, m, umin, umax, smin, smax, s.u32min, s.u32max, s.s32min, s.s32max)
    nv = (s.v & HIGH32) | (v & M32)
    nm = (s.m & HIGH32) | (m & M32)
    return _normalize(nv, nm, s.umin, s.umax, s.smin, s.smax, umin, umax, smin, smax)


def truncate(s: Scalar, nbytes: int) -> Scalar:
    """The low ``nbytes`` bytes, zero-extended (a narrow store, then a load of the same size)."""
    if nbytes == 8:
        return s
    top = (1 << (8 * nbytes)) - 1
    if s.umax <= top:
        return s
    if s.m == 0:
        return Scalar.const(s.v & top)
    if nbytes == 4:
        result = from_view(32, s.view(32))
        assert result is not None
        return result
    v, m = tnum.truncate(s.v, s.m, nbytes)
    result = _normalize(v, m, 0, top, 0, top, 0, top, 0, top)
    assert result is not None
    return result


def sign_extend(s: Scalar, bits: int, width: int = 64) -> Scalar:
    """Sign-extend the low ``bits`` bits to ``width`` (movsx, sign-extending loads)."""
    v, m, umin, umax, _smin, _smax = s.view(width)
    field_top = (1 << bits) - 1
    half = 1 << (bits - 1)
    if m == 0:
        value = v & field_top
        value = value - (1 << bits) if value & half else value
        result = from_view(width, (value & tnum.width_mask(width), 0, 0, M64, S64_MIN, S64_MAX))
        assert result is not None
        return result
    tv, tm = tnum.sign_extend(v, m, bits, width)
    umask, _lo, _hi = _limits(width)
    if umax < half:
        rs = (tv, tm, umin, umax, umin, umax)
    else:
        rs = (tv, tm, 0, umask, -half, half - 1)
    result = from_view(width, rs)
    assert result is not None
    return result


def _full(width: int) -> View:
    umask, lo, hi = _limits(width)
    return 0, umask, 0, umask, lo, hi


# -- concrete evaluation (constant folding) ------------------------------------------------------
def concrete_alu(op: str, width: int, a: int, b: int, bits: int = 0) -> int:
    """The result of an ALU operation on concrete values (64-bit in, 64-bit zero-extended out)."""
    umask = tnum.width_mask(width)
    a &= umask
    b &= umask
    sh = width - 1
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "mul":
        r = a * b
    elif op == "div":
        r = a // b if b else 0
    elif op == "mod":
        r = a % b if b else a
    elif op == "sdiv":
        sa, sb = signed_at(a, width), signed_at(b, width)
        if sb == 0:
            r = 0
        else:
            q = abs(sa) // abs(sb)
            r = -q if (sa < 0) != (sb < 0) else q
    elif op == "smod":
        sa, sb = signed_at(a, width), signed_at(b, width)
        if sb == 0:
            r = sa
        else:
            q = abs(sa) % abs(sb)
            r = -q if sa < 0 else q
    elif op == "or":
        r = a | b
    elif op == "and":
        r = a & b
    elif op == "xor":
        r = a ^ b
    elif op == "lsh":
        r = a << (b & sh)
    elif op == "rsh":
        r = a >> (b & sh)
    elif op == "arsh":
        r = signed_at(a, width) >> (b & sh)
    elif op == "neg":
        r = -a
    elif op == "mov":
        r = b
    elif op == "movsx":
        field = b & ((1 << bits) - 1)
        r = field - (1 << bits) if field >> (bits - 1) else field
    else:
        raise ValueError(f"unknown ALU operation {op}")
    return r & umask


# -- transfer functions ---------------------------------------------------------------------------
# Transfer functions are pure, and path exploration repeats the same computations (loop
# iterations, re-explored branches), so results are memoised by the operands' facts.
_MEMO: dict[tuple[object, ...], object] = {}
_MEMO_LIMIT = 200_000


def _remember(key: tuple[object, ...], value: object) -> None:
    if len(_MEMO) >= _MEMO_LIMIT:
        _MEMO.clear()
    _MEMO[key] = value


def alu(op: str, width: int, a: Scalar, b: Scalar, bits: int = 0) -> Scalar:
    """Abstract ``a op b`` at ``width`` (``b`` is ignored by ``neg``)."""
    if a.m == 0 and b.m == 0:
        return Scalar.const(concrete_alu(op, width, a.v, b.v, bits))
    key = (op, width, bits, a.key(), b.key())
    found = _MEMO.get(key)
    if found is not None:
        assert isinstance(found, Scalar)
        return found
    result = _alu(op, width, a, b, bits)
    _remember(key, result)
    return result


def _alu(op: str, width: int, a: Scalar, b: Scalar, bits: int) -> Scalar:
    if op == "mov":
        if width == 64:
            return b
        result = from_view(32, b.view(32))
        assert result is not None
        return result
    if op == "movsx":
        return sign_extend(b, bits, width)
    av, bv = a.view(width), b.view(width)
    handler = _OPS[op]
    view = handler(width, av, bv)
    result = from_view(width, view)
    if result is None:  # cannot happen for sound transfer functions of non-empty inputs
        raise AssertionError(f"empty result for {op}/{width} of {a} and {b}")
    return result


def _add(w: int, a: View, b: View) -> View:
    umask, lo, hi = _limits(w)
    v, m = tnum.add(a[0], a[1], b[0], b[1], w)
    umin, umax = a[2] + b[2], a[3] + b[3]
    if umax > umask:
        if umin > umask:
            umin, umax = umin - umask - 1, umax - umask - 1
        else:
            umin, umax = 0, umask
    smin, smax = a[4] + b[4], a[5] + b[5]
    if smin < lo or smax > hi:
        smin, smax = lo, hi
    return v, m, umin, umax, smin, smax


def _sub(w: int, a: View, b: View) -> View:
    umask, lo, hi = _limits(w)
    v, m = tnum.sub(a[0], a[1], b[0], b[1], w)
    if a[2] >= b[3]:
        umin, umax = a[2] - b[3], a[3] - b[2]
    elif a[3] < b[2]:
        umin, umax = a[2] - b[3] + umask + 1, a[3] - b[2] + umask + 1
    else:
        umin, umax = 0, umask
    smin, smax = a[4] - b[5], a[5] - b[4]
    if smin < lo or smax > hi:
        smin, smax = lo, hi
    return v, m, umin, umax, smin, smax


def _neg(w: int, a: View, b: View) -> View:
    return _sub(w, (0, 0, 0, 0, 0, 0), a)


def _mul(w: int, a: View, b: View) -> View:
    umask, lo, hi = _limits(w)
    v, m = tnum.mul(a[0], a[1], b[0], b[1], w)
    if a[3] * b[3] <= umask:
        umin, umax = a[2] * b[2], a[3] * b[3]
    else:
        umin, umax = 0, umask
    corners = (a[4] * b[4], a[4] * b[5], a[5] * b[4], a[5] * b[5])
    smin, smax = min(corners), max(corners)
    if smin < lo or smax > hi:
        smin, smax = lo, hi
    return v, m, umin, umax, smin, smax


def _div(w: int, a: View, b: View) -> View:
    _umask, lo, hi = _limits(w)
    if b[3] == 0:
        return 0, 0, 0, 0, 0, 0
    if b[2] >= 1:
        umin, umax = a[2] // b[3], a[3] // b[2]
    else:
        umin, umax = 0, a[3]
    v, m = tnum.from_range(umin, umax, w)
    return v, m, umin, umax, lo, hi


def _mod(w: int, a: View, b: View) -> View:
    _umask, lo, hi = _limits(w)
    if b[3] == 0:
        return a
    if b[2] >= 1 and a[3] < b[2]:
        return a  # the dividend is always smaller than the divisor
    if b[2] >= 1:
        umax = min(a[3], b[3] - 1)
    else:
        umax = a[3]
    v, m = tnum.from_range(0, umax, w)
    return v, m, 0, umax, lo, hi


def _trunc_div(x: int, y: int) -> int:
    q = abs(x) // abs(y)
    return -q if (x < 0) != (y < 0) else q


def _sdiv(w: int, a: View, b: View) -> View:
    umask, lo, _hi = _limits(w)
    if b[1] == 0:
        c = signed_at(b[0], w)
        if c == 0:
            return 0, 0, 0, 0, 0, 0
        if c == -1:
            if a[4] > lo:
                return 0, umask, 0, umask, -a[5], -a[4]
            return _full(w)
        if c > 0:
            smin, smax = _trunc_div(a[4], c), _trunc_div(a[5], c)
        else:
            smin, smax = _trunc_div(a[5], c), _trunc_div(a[4], c)
        return 0, umask, 0, umask, smin, smax
    return _full(w)


def _smod(w: int, a: View, b: View) -> View:
    umask, _lo, _hi = _limits(w)
    if b[1] == 0 and b[0] != 0:
        c = abs(signed_at(b[0], w))
        if a[4] >= 0:
            smin, smax = 0, min(a[5], c - 1)
        elif a[5] <= 0:
            smin, smax = max(a[4], -(c - 1)), 0
        else:
            smin, smax = -(c - 1), c - 1
        return 0, umask, 0, umask, smin, smax
    return _full(w)


def _and(w: int, a: View, b: View) -> View:
    _umask, lo, hi = _limits(w)
    v, m = tnum.and_(a[0], a[1], b[0], b[1])
    umax = min(a[3], b[3])
    if a[4] >= 0 or b[4] >= 0:
        smin, smax = 0, hi
    else:
        smin, smax = lo, hi
    return v, m, v, umax, smin, smax


def _or(w: int, a: View, b: View) -> View:
    _umask, lo, hi = _limits(w)
    v, m = tnum.or_(a[0], a[1], b[0], b[1])
    return v, m, max(a[2], b[2], v), v | m, lo, hi


def _xor(w: int, a: View, b: View) -> View:
    _umask, lo, hi = _limits(w)
    v, m = tnum.xor(a[0], a[1], b[0], b[1])
    return v, m, v, v | m, lo, hi


def _shift_amounts(w: int, b: View) -> tuple[int, int]:
    """The range of effective shift amounts (the ISA masks the amount to width - 1)."""
    if b[3] < w:
        return b[2], b[3]
    if b[1] == 0:
        k = b[0] & (w - 1)
        return k, k
    return 0, w - 1


def _lsh(w: int, a: View, b: View) -> View:
    umask, lo, hi = _limits(w)
    k0, k1 = _shift_amounts(w, b)
    if k0 == k1:
        v, m = tnum.lshift(a[0], a[1], k0, w)
        if a[3] << k0 <= umask:
            umin, umax = a[2] << k0, a[3] << k0
        else:
            umin, umax = 0, umask
        smin, smax = a[4] << k0, a[5] << k0
        if smin < lo or smax > hi:
            smin, smax = lo, hi
        return v, m, umin, umax, smin, smax
    if a[3] << k1 <= umask:
        umin, umax = a[2] << k0, a[3] << k1
        v, m = tnum.from_range(umin, umax, w)
        return v, m, umin, umax, lo, hi
    return _full(w)


def _rsh(w: int, a: View, b: View) -> View:
    _umask, lo, hi = _limits(w)
    k0, k1 = _shift_amounts(w, b)
    if k0 == k1:
        v, m = tnum.rshift(a[0], a[1], k0)
        return v, m, a[2] >> k0, a[3] >> k0, lo, hi
    umin, umax = a[2] >> k1, a[3] >> k0
    v, m = tnum.from_range(umin, umax, w)
    return v, m, umin, umax, lo, hi


def _arsh(w: int, a: View, b: View) -> View:
    umask, _lo, _hi = _limits(w)
    k0, k1 = _shift_amounts(w, b)
    smin = min(a[4] >> k0, a[4] >> k1)
    smax = max(a[5] >> k0, a[5] >> k1)
    if k0 == k1:
        v, m = tnum.arshift(a[0], a[1], k0, w)
    else:
        v, m = 0, umask
    return v, m, 0, umask, smin, smax


_OPS = {
    "add": _add,
    "sub": _sub,
    "mul": _mul,
    "div": _div,
    "mod": _mod,
    "sdiv": _sdiv,
    "smod": _smod,
    "and": _and,
    "or": _or,
    "xor": _xor,
    "lsh": _lsh,
    "rsh": _rsh,
    "arsh": _arsh,
    "neg": _neg,
}


def byte_order(op: str, bits: int, a: Scalar) -> Scalar:
    """``le``/``be``/``bswap`` of the low ``bits`` bits (little-endian host: ``le`` truncates)."""
    nbytes = bits // 8
    if a.m == 0:
        value = a.v & ((1 << bits) - 1)
        if op != "le":
            value = int.from_bytes(value.to_bytes(nbytes, "little"), "big")
        return Scalar.const(value)
    if op == "le":
        return truncate(a, nbytes)
    v, m = tnum.byteswap(a.v, a.m, nbytes)
    top = (1 << bits) - 1
    result = _normalize(v, m, 0, top, S64_MIN, S64_MAX, 0, M32, S32_MIN, S32_MAX)
    assert result is not None
    return result


# -- branch refinement ----------------------------------------------------------------------------
# (jump op, branch taken?) -> the relation that holds between the operands on that branch.
RELATION = {
    ("jeq", True): "eq",
    ("jeq", False): "ne",
    ("jne", True): "ne",
    ("jne", False): "eq",
    ("jgt", True): "gt",
    ("jgt", False): "le",
    ("jge", True): "ge",
    ("jge", False): "lt",
    ("jlt", True): "lt",
    ("jlt", False): "ge",
    ("jle", True): "le",
    ("jle", False): "gt",
    ("jsgt", True): "sgt",
    ("jsgt", False): "sle",
    ("jsge", True): "sge",
    ("jsge", False): "slt",
    ("jslt", True): "slt",
    ("jslt", False): "sge",
    ("jsle", True): "sle",
    ("jsle", False): "sgt",
    ("jset", True): "set",
    ("jset", False): "nset",
}


def _refine_views(rel: str, w: int, a: View, b: View) -> tuple[View, View] | None:
    umask, _lo, _hi = _limits(w)
    av, am, aumin, aumax, asmin, asmax = a
    bv, bm, bumin, bumax, bsmin, bsmax = b
    if rel == "eq":
        t = tnum.intersect(av, am, bv, bm)
        if t is None:
            return None
        both = (t[0], t[1], max(aumin, bumin), min(aumax, bumax), max(asmin, bsmin), min(asmax, bsmax))
        return both, both
    if rel == "ne":
        if am == 0 and bm == 0:
            return None if av == bv else (a, b)
        if bm == 0:
            return _exclude(a, bv, w), b
        if am == 0:
            return a, _exclude(b, av, w)
        return a, b
    if rel in ("gt", "ge", "lt", "le"):
        if rel in ("lt", "le"):
            swapped = _refine_views("gt" if rel == "lt" else "ge", w, b, a)
            return None if swapped is None else (swapped[1], swapped[0])
        d = 1 if rel == "gt" else 0
        aumin = max(aumin, bumin + d)
        bumax = min(bumax, aumax - d)
        return (av, am, aumin, aumax, asmin, asmax), (bv, bm, bumin, bumax, bsmin, bsmax)
    if rel in ("sgt", "sge", "slt", "sle"):
        if rel in ("slt", "sle"):
            swapped = _refine_views("sgt" if rel == "slt" else "sge", w, b, a)
            return None if swapped is None else (swapped[1], swapped[0])
        d = 1 if rel == "sgt" else 0
        asmin = max(asmin, bsmin + d)
        bsmax = min(bsmax, asmax - d)
        return (av, am, aumin, aumax, asmin, asmax), (bv, bm, bumin, bumax, bsmin, bsmax)
    if rel == "set":
        if not ((av | am) & (bv | bm)):
            return None
        if bm == 0 and bv and not (bv & (bv - 1)):
            t = tnum.intersect(av, am, bv, umask & ~bv)
            if t is None:
                return None
            a = (t[0], t[1], aumin, aumax, asmin, asmax)
        elif am == 0 and av and not (av & (av - 1)):
            t = tnum.intersect(bv, bm, av, umask & ~av)
            if t is None:
                return None
            b = (t[0], t[1], bumin, bumax, bsmin, bsmax)
        return a, b
    if rel == "nset":
        if av & bv:
            return None
        if bm == 0:
            a = (av & ~bv, am & ~bv, aumin, aumax, asmin, asmax)
        if am == 0:
            b = (bv & ~av, bm & ~av, bumin, bumax, bsmin, bsmax)
        return a, b
    raise ValueError(rel)


def _exclude(a: View, c: int, w: int) -> View:
    """``a`` without the single value ``c`` (only the range ends can move)."""
    v, m, umin, umax, smin, smax = a
    sc = signed_at(c, w)
    if umin == c:
        umin += 1
    if umax == c:
        umax -= 1
    if smin == sc:
        smin += 1
    if smax == sc:
        smax -= 1
    return v, m, umin, umax, smin, smax


_INFEASIBLE = object()


def refine(op: str, width: int, a: Scalar, b: Scalar, taken: bool) -> tuple[Scalar, Scalar] | None:
    """The operands narrowed by knowing that jump ``op`` was (or was not) taken; None when that
    outcome is impossible."""
    key = ("refine", op, width, taken, a.key(), b.key())
    found = _MEMO.get(key)
    if found is not None:
        return None if found is _INFEASIBLE else found  # type: ignore[return-value]
    result = _refine(op, width, a, b, taken)
    _remember(key, _INFEASIBLE if result is None else result)
    return result


def _refine(op: str, width: int, a: Scalar, b: Scalar, taken: bool) -> tuple[Scalar, Scalar] | None:
    rel = RELATION[(op, taken)]
    views = _refine_views(rel, width, a.view(width), b.view(width))
    if views is None:
        return None
    na = with_view(a, width, views[0])
    if na is None:
        return None
    nb = with_view(b, width, views[1])
    if nb is None:
        return None
    return na, nb


# -- lattice operations (pruning and callback widening) -------------------------------------------
def join(a: Scalar, b: Scalar) -> Scalar:
    """Smallest scalar (in this domain) containing both."""
    v, m = tnum.union(a.v, a.m, b.v, b.m)
    result = _normalize(
        v,
        m,
        min(a.umin, b.umin),
        max(a.umax, b.umax),
        min(a.smin, b.smin),
        max(a.smax, b.smax),
        min(a.u32min, b.u32min),
        max(a.u32max, b.u32max),
        min(a.s32min, b.s32min),
        max(a.s32max, b.s32max),
    )
    assert result is not None
    return result


def widen(old: Scalar, new: Scalar) -> Scalar:
    """``join(old, new)`` with every bound that moved pushed to its limit, so that repeated
    widening reaches a fixpoint after a few steps."""
    j = join(old, new)
    result = _normalize(
        j.v,
        j.m,
        0 if j.umin < old.umin else j.umin,
        M64 if j.umax > old.umax else j.umax,
        S64_MIN if j.smin < old.smin else j.smin,
        S64_MAX if j.smax > old.smax else j.smax,
        0 if j.u32min < old.u32min else j.u32min,
        M32 if j.u32max > old.u32max else j.u32max,
        S32_MIN if j.s32min < old.s32min else j.s32min,
        S32_MAX if j.s32max > old.s32max else j.s32max,
    )
    assert result is not None
    return result
