"""Map errors: one exception type that names the map, the operation and the kernel errno.

Program-facing map operations return ``-errno`` exactly as the kernel would, so helpers can pass
the number straight to r0.  The host (Python) API turns the same numbers into :class:`MapError`,
so a caller sees ``map 'counters': update failed: EEXIST (key exists, BPF_NOEXIST)`` rather than a
bare ``-17``.
"""

from __future__ import annotations

import errno

from pybpf.errors import PybpfError

#: The kernel-internal ``ENOTSUPP`` (524), returned by some map operations; not in :mod:`errno`.
ENOTSUPP = 524


def errno_name(code: int) -> str:
    """``EEXIST`` for 17 or -17; ``ENOTSUPP`` for 524; ``errno 999`` for unknown numbers."""
    code = abs(code)
    if code == ENOTSUPP:
        return "ENOTSUPP"
    return errno.errorcode.get(code, f"errno {code}")


class MapError(PybpfError):
    """A map operation or map creation that the kernel would refuse.

    ``errno`` is the positive error number, ``errno_name`` its symbolic name, ``op`` the operation
    (``create``, ``update``, ``lookup`` ...) and ``detail`` the reason in words.
    """

    def __init__(self, map_name: str, op: str, err: int, detail: str = "") -> None:
        self.map_name = map_name
        self.op = op
        self.errno = abs(err)
        self.errno_name = errno_name(err)
        self.detail = detail
        self.message = f"map {map_name!r}: {op} failed: {self.errno_name}" + (f" ({detail})" if detail else "")
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class MapKeyError(MapError, KeyError):
    """An absent key in the mapping protocol (``m[key]``, ``del m[key]``): both a MapError and a KeyError."""

    def __str__(self) -> str:
        return self.message
