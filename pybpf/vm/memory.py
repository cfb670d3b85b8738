"""The memory model: regions with real addresses, and checked loads and stores.

Every byte a program can reach lives in a :class:`Region`: a fixed-size buffer whose address is
the buffer's real address in this process.  Pointers are therefore plain 64-bit integers that mean
the same thing to the interpreter, to helpers written in Python and to JIT-compiled native code.

The interpreter checks every access against the regions (:class:`Memory`); an access outside all
of them, or against a region's permissions, raises :class:`~pybpf.errors.MemoryAccessError` naming
the instruction, the address, the size and the nearest regions.  Nothing is ever read or written
outside a region.
"""

from __future__ import annotations

import bisect
import ctypes
import itertools
import mmap
import struct
from collections.abc import Iterator

from pybpf.errors import MemoryAccessError

Buffer = bytearray | mmap.mmap

_U = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"), 8: struct.Struct("<Q")}
_U8, _U16, _U32, _U64 = _U[1], _U[2], _U[4], _U[8]


class Region:
    """A contiguous range of program-visible memory.

    ``lo``/``hi`` bound the *live* part of the buffer (offsets); they equal ``0``/``size`` except
    for the stack, whose live part grows downwards as local calls push frames.
    """

    __slots__ = ("name", "kind", "buf", "size", "base", "end", "lo", "hi", "readable", "writable", "_cview")

    def __init__(
        self,
        name: str,
        data: int | bytes | Buffer,
        *,
        kind: str = "memory",
        readable: bool = True,
        writable: bool = True,
    ) -> None:
        if isinstance(data, int):
            buf: Buffer = bytearray(data)
        elif isinstance(data, (bytearray, mmap.mmap)):
            buf = data
        else:
            buf = bytearray(data)
        self.name = name
        self.kind = kind
        self.buf = buf
        self.size = len(buf)
        # A zero-length buffer has no address of its own; give it one byte nobody can reach.
        backing = buf if self.size else bytearray(1)
        self._cview = (ctypes.c_char * max(self.size, 1)).from_buffer(backing)
        self.base = ctypes.addressof(self._cview)
        self.end = self.base + self.size
        self.lo = 0
        self.hi = self.size
        self.readable = readable
        self.writable = writable

    def __repr__(self) -> str:
        return f"<Region {self.name} {self.kind} 0x{self.base:x}+{self.size}>"

    def contains(self, address: int, size: int = 1) -> bool:
        off = address - self.base
        return self.lo <= off and off + size <= self.hi

    def release(self) -> None:
        """Drop the address export so the buffer can be resized or closed by its owner."""
        del self._cview


_versions = itertools.count(1)  # Memory.version: one sequence for every memory


class Memory:
    """The set of regions a running program may touch, with checked accessors.

    Accessors take the instruction index ``pc`` only to put it in the error they raise.  The last
    region that served a load (and a store) is tried first, which makes the common case one range
    check.
    """

    def __init__(self, regions: list[Region] | None = None) -> None:
        self._regions: list[Region] = []
        self._bases: list[int] = []
        self._last_r: Region | None = None
        self._last_w: Region | None = None
        self.version = next(_versions)
        """Changes whenever a region is added or removed, and is unique among all Memory objects:
        equal versions mean the same memory with the same region set (a cheap test for it)."""
        for region in regions or ():
            self.add(region)

    # -- region set -----------------------------------------------------------------------------
    def add(self, region: Region) -> Region:
        i = bisect.bisect_left(self._bases, region.base)
        self._bases.insert(i, region.base)
        self._regions.insert(i, region)
        self.version = next(_versions)
        return region

    def ensure(self, region: Region) -> Region:
        """Add ``region`` unless it is already in the set (cheap enough for a helper's fast path)."""
        if self.region_at(region.base) is not region:
            self.add(region)
        return region

    def remove(self, region: Region) -> None:
        i = bisect.bisect_left(self._bases, region.base)
        while i < len(self._regions) and self._regions[i] is not region:
            i += 1
        if i < len(self._regions):
            del self._regions[i]
            del self._bases[i]
            self.version = next(_versions)
        if self._last_r is region:
            self._last_r = None
        if self._last_w is region:
            self._last_w = None

    def __iter__(self) -> Iterator[Region]:
        return iter(self._regions)

    def region_at(self, address: int) -> Region | None:
        """The region whose buffer holds ``address`` (live or not)."""
        i = bisect.bisect_right(self._bases, address) - 1
        if i >= 0:
            r = self._regions[i]
            if address < r.end:
                return r
        return None

    # -- checked access ---------------------------------------------------------------------
    def _find(self, address: int, size: int, write: bool, pc: int) -> tuple[Region, int]:
        region = self.region_at(address)
        if region is None or not region.contains(address, size):
            raise MemoryAccessError(pc, address, size, write, self.describe_miss(address, size))
        if write and not region.writable:
            raise MemoryAccessError(pc, address, size, write, f"region {region.name} is read-only")
        if not write and not region.readable:
            raise MemoryAccessError(pc, address, size, write, f"region {region.name} is not readable")
        if write:
            self._last_w = region
        else:
            self._last_r = region
        return region, address - region.base

    def describe_miss(self, address: int, size: int) -> str:
        if address == 0:
            return "null pointer"
        i = bisect.bisect_right(self._bases, address) - 1
        near: list[str] = []
        if i >= 0:
            r = self._regions[i]
            live_lo, live_hi = r.base + r.lo, r.base + r.hi
            if address < r.end and address >= r.base:
                if address < live_lo:
                    return (
                        f"{r.lo - (address - r.base)} bytes below the live part of {r.name} "
                        f"[0x{live_lo:x}, 0x{live_hi:x})"
                    )
                return f"runs {address + size - live_hi} bytes past the end of {r.name} [0x{live_lo:x}, 0x{live_hi:x})"
            near.append(f"{address - live_hi} bytes after {r.name} [0x{live_lo:x}, 0x{live_hi:x})")
        if i + 1 < len(self._regions):
            r = self._regions[i + 1]
            near.append(f"{r.base + r.lo - address} bytes before {r.name} [0x{r.base + r.lo:x}, 0x{r.base + r.hi:x})")
        if not near:
            return "no region is mapped"
        return "outside every region; nearest: " + "; ".join(near)

    def load(self, address: int, size: int, pc: int = -1) -> int:
        """Unsigned little-endian load of ``size`` bytes."""
        r = self._last_r
        if r is not None:
            off = address - r.base
            if r.lo <= off and off + size <= r.hi:
                return int(_U[size].unpack_from(r.buf, off)[0])
        r, off = self._find(address, size, False, pc)
        return int(_U[size].unpack_from(r.buf, off)[0])

    def store(self, address: int, size: int, value: int, pc: int = -1) -> None:
        """Little-endian store of the low ``size`` bytes of ``value``."""
        r = self._last_w
        if r is not None:
            off = address - r.base
            if r.lo <= off and off + size <= r.hi:
                _U[size].pack_into(r.buf, off, value & ((1 << (8 * size)) - 1))
                return
        r, off = self._find(address, size, True, pc)
        _U[size].pack_into(r.buf, off, value & ((1 << (8 * size)) - 1))

    # Size-specialised loads, used by generated code (one call, one range check).
    def ld1(self, address: int, pc: int) -> int:
        r = self._last_r
        if r is not None:
            off = address - r.base
            if r.lo <= off < r.hi:
                return r.buf[off]
        return self.load(address, 1, pc)

    def ld2(self, address: int, pc: int) -> int:
        r = self._last_r
        if r is not None:
            off = address - r.base
            if r.lo <= off and off + 2 <= r.hi:
                return int(_U16.unpack_from(r.buf, off)[0])
        return self.load(address, 2, pc)

    def ld4(self, address: int, pc: int) -> int:
        r = self._last_r
        if r is not None:
            off = address - r.base
            if r.lo <= off and off + 4 <= r.hi:
                return int(_U32.unpack_from(r.buf, off)[0])
        return self.load(address, 4, pc)

    def ld8(self, address: int, pc: int) -> int:
        r = self._last_r
        if r is not None:
            off = address - r.base
            if r.lo <= off and off + 8 <= r.hi:
                return int(_U64.unpack_from(r.buf, off)[0])
        return self.load(address, 8, pc)

    def read(self, address: int, length: int, pc: int = -1) -> bytes:
        """Copy ``length`` bytes out (for helpers); the whole range must sit in one region."""
        if length == 0:
            return b""
        r, off = self._find(address, length, False, pc)
        return bytes(r.buf[off : off + length])

    def write(self, address: int, data: bytes, pc: int = -1) -> None:
        """Copy ``data`` in (for helpers); the whole range must sit in one writable region."""
        if not data:
            return
        r, off = self._find(address, len(data), True, pc)
        r.buf[off : off + len(data)] = data

    def read_cstring(self, address: int, limit: int, pc: int = -1) -> bytes:
        """A NUL-terminated string of at most ``limit`` bytes (the NUL excluded)."""
        r, off = self._find(address, 1, False, pc)
        stop = min(r.hi, off + limit)
        chunk = bytes(r.buf[off:stop])
        nul = chunk.find(b"\0")
        return chunk if nul < 0 else chunk[:nul]
