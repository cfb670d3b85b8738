"""The kernel's printf-like formatting for ``trace_printk``, ``trace_vprintk`` and ``snprintf``.

The kernel accepts a small set of conversions (``%d %i %u %x %X``, with ``l``/``ll`` length
modifiers, ``%p``, ``%s``, ``%c``, ``%%``) plus flags, width and precision; anything else makes the
helper fail with ``-EINVAL``.  Arguments are u64 values; ``%s`` arguments are pointers read
through the memory model (a bad pointer prints as the kernel's ``(efault)``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_SPEC = re.compile(
    r"%(?P<flags>[-+ #0]*)(?P<width>\d+)?(?:\.(?P<prec>\d+))?(?P<len>ll|l|h|hh|z)?(?P<conv>[diuxXpsc%]|\S)?"
)
MAX_STRING = 4096


class FormatError(ValueError):
    """The format uses something the kernel refuses."""


StringReader = Callable[[int], bytes | None]


def _to_signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def count_args(fmt: bytes) -> int:
    """How many arguments ``fmt`` consumes (``%%`` consumes none)."""
    text = fmt.decode("latin-1")
    return sum(1 for m in _SPEC.finditer(text) if m.group("conv") not in ("%", None))


def format_kernel(fmt: bytes, args: Sequence[int], read_string: StringReader) -> bytes:
    """Format like the kernel's ``bstr_printf`` for the conversions BPF helpers allow."""
    text = fmt.decode("latin-1")
    out: list[str] = []
    pos = 0
    argi = 0
    for m in _SPEC.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        conv = m.group("conv")
        if conv is None:
            raise FormatError("format ends inside a conversion")
        if conv == "%":
            out.append("%")
            continue
        if conv not in "diuxXpsc":
            raise FormatError(f"unsupported conversion %{conv}")
        if argi >= len(args):
            raise FormatError("more conversions than arguments")
        value = args[argi] & 0xFFFF_FFFF_FFFF_FFFF
        argi += 1
        bits = 64 if m.group("len") in ("l", "ll", "z") else 32
        flags = m.group("flags") or ""
        width = m.group("width") or ""
        prec = m.group("prec")
        spec = "%" + flags + width + (f".{prec}" if prec is not None else "")
        if conv in "di":
            out.append((spec + "d") % _to_signed(value, bits))
        elif conv == "u":
            out.append((spec + "d") % (value & ((1 << bits) - 1)))
        elif conv in "xX":
            out.append((spec + conv) % (value & ((1 << bits) - 1)))
        elif conv == "p":
            out.append((spec + "s") % f"0x{value:x}" if value else (spec + "s") % "(null)")
        elif conv == "c":
            out.append((spec + "c") % chr(value & 0xFF))
        else:  # %s
            raw = read_string(value) if value else None
            shown = "(null)" if value == 0 else "(efault)" if raw is None else raw.decode("latin-1")
            out.append((spec + "s") % shown)
    out.append(text[pos:])
    return "".join(out).encode("latin-1")
