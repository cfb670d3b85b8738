"""Plugin memory: a persistent heap, a scratch area and keyed shared memory.

Every block handed to a bytecode is its own :class:`~pybpf.vm.memory.Region` (a view into one
arena per heap), added to the plugin's :class:`~pybpf.vm.memory.Memory` while the block is live and
removed when it is freed.  The runtime memory check of both engines consults exactly that region
set, so:

* a read or write through a freed pointer faults (use after free), in the interpreter and in the
  JIT alike (the JIT rebuilds its region table whenever the region set changes);
* blocks are separated by a 16-byte red zone that belongs to no region, so running off the end of
  a block faults (heap overflow) instead of silently entering the neighbour;
* ``free`` of a pointer that is not the start of a live block is refused: a double free when the
  pointer was a block that has been freed, an invalid free otherwise.

The verifier is told (:mod:`pybpf.plugins.platform`) that these regions are checked at run time,
so their accesses are never compiled without a check.

Allocator: sizes are rounded up to 16 bytes; a chunk is the red zone plus the rounded size.
Chunks up to :data:`SMALL_LIMIT` bytes come from exact-size free lists (size classes), larger ones
from a sorted list of free spans (first fit, split, coalesced on free), and both fall back to the
untouched top of the arena.  When an allocation finds nothing, the size-class lists are returned
to the span list, coalesced, and the search repeats: a heap full of small freed blocks can always
serve a larger request when enough adjacent space is free, and many small blocks never fail from
fragmentation while their total fits.  The arena size bounds the heap.
"""

from __future__ import annotations

import bisect
import ctypes
from dataclasses import dataclass, field
from typing import cast

from pybpf.vm.memory import Memory, Region

ALIGN = 16
REDZONE = 16
SMALL_LIMIT = 512 + REDZONE  # chunks up to this size use the size-class free lists
_FREED_REMEMBERED = 4096  # freed blocks remembered to name use-after-free and double free


def _round(size: int) -> int:
    return (size + ALIGN - 1) & ~(ALIGN - 1)


class Block(Region):
    """A region that is a window on an arena (no buffer of its own)."""

    __slots__ = ()

    def __init__(self, name: str, kind: str, arena: Arena, offset: int, size: int) -> None:
        # Region.__init__ would export a new buffer; a block borrows the arena's bytes instead.
        self.name = name
        self.kind = kind
        # A memoryview behaves like the bytearray the accessors expect (indexing, slicing,
        # struct pack/unpack) and pins the arena so it can never move.
        self.buf = cast(bytearray, memoryview(arena.buf)[offset : offset + size])
        self.size = size
        self.base = arena.base + offset
        self.end = self.base + size
        self.lo = 0
        self.hi = size
        self.readable = True
        self.writable = True
        self._cview = arena.view  # keeps the arena's address export alive with the block


class Arena:
    """A fixed-size buffer with a stable address."""

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = size
        self.buf = bytearray(max(size, 1))
        self.view = (ctypes.c_char * len(self.buf)).from_buffer(self.buf)
        self.base = ctypes.addressof(self.view)

    def contains(self, address: int) -> bool:
        return self.base <= address < self.base + self.size


@dataclass
class HeapStats:
    capacity: int
    in_use: int = 0  # bytes of live blocks (rounded sizes)
    blocks: int = 0
    allocations: int = 0
    frees: int = 0
    failures: int = 0


class FreeError(Exception):
    """``free``/``realloc`` of a pointer that is not a live block; ``double`` tells which."""

    def __init__(self, message: str, double: bool) -> None:
        super().__init__(message)
        self.double = double


class Heap:
    """A bounded allocator over one arena whose live blocks are regions of ``memories``."""

    def __init__(self, name: str, capacity: int, memories: list[Memory] | None = None, kind: str = "heap") -> None:
        self.name = name
        self.kind = kind
        self.arena = Arena(name, capacity)
        self.capacity = capacity
        self.memories: list[Memory] = memories if memories is not None else []
        self.stats = HeapStats(capacity)
        self._top = 0  # first never-used offset
        self._classes: dict[int, list[int]] = {}  # chunk size -> chunk offsets (small chunks)
        self._spans: list[tuple[int, int]] = []  # sorted (offset, size) free spans (large chunks)
        self._live: dict[int, tuple[int, Block]] = {}  # block address -> (chunk size, region)
        self._freed: dict[int, int] = {}  # address -> size of blocks freed and not reused

    # -- allocation -----------------------------------------------------------------------------
    def malloc(self, size: int) -> int:
        """Address of a new zero-filled block of ``size`` bytes, or 0 if the heap is full."""
        if size <= 0 or size > self.capacity:
            return 0
        offset, chunk = self._take(_round(size) + REDZONE)
        if offset < 0:
            self._coalesce_classes()
            offset, chunk = self._take(_round(size) + REDZONE)
        if offset < 0:
            self.stats.failures += 1
            return 0
        start = offset + REDZONE
        a = self.arena
        a.buf[start : start + size] = bytes(size)
        block = Block(f"{self.name}[{size}]", self.kind, a, start, size)
        address = block.base
        self._live[address] = (chunk, block)
        self._freed.pop(address, None)
        for memory in self.memories:
            memory.add(block)
        st = self.stats
        st.in_use += chunk - REDZONE
        st.blocks += 1
        st.allocations += 1
        return address

    def free(self, address: int) -> None:
        """Free a live block; raises :class:`FreeError` for anything else."""
        entry = self._live.pop(address, None)
        if entry is None:
            if address in self._freed:
                raise FreeError(f"double free of heap block 0x{address:x} ({self._freed[address]} bytes)", True)
            raise FreeError(f"free of 0x{address:x}, which is not the start of a live block of {self.name}", False)
        chunk, block = entry
        for memory in self.memories:
            memory.remove(block)
        offset = block.base - self.arena.base - REDZONE
        if len(self._freed) >= _FREED_REMEMBERED:
            self._freed.pop(next(iter(self._freed)))
        self._freed[address] = block.size
        if chunk <= SMALL_LIMIT:
            self._classes.setdefault(chunk, []).append(offset)
        else:
            self._give_span(offset, chunk)
        st = self.stats
        st.in_use -= chunk - REDZONE
        st.blocks -= 1
        st.frees += 1

    def realloc(self, address: int, size: int) -> int:
        """C ``realloc``: a block of ``size`` bytes holding the old contents (0 on failure, the
        old block then stays live); ``address`` 0 allocates, ``size`` 0 frees."""
        if address == 0:
            return self.malloc(size)
        entry = self._live.get(address)
        if entry is None:
            self.free(address)  # raises the right FreeError
        assert entry is not None
        old = entry[1]
        if size <= 0:
            self.free(address)
            return 0
        if size == old.size:
            return address
        new = self.malloc(size)
        if new == 0:
            return 0
        keep = min(size, old.size)
        self.block(new).buf[:keep] = bytes(old.buf[:keep])
        self.free(address)
        return new

    def block(self, address: int) -> Block:
        return self._live[address][1]

    def size_of(self, address: int) -> int | None:
        entry = self._live.get(address)
        return entry[1].size if entry is not None else None

    def blocks(self) -> list[Block]:
        return [b for _, b in self._live.values()]

    def attach(self, memory: Memory) -> None:
        """Make every live block (and later ones) reachable from ``memory`` too."""
        if memory not in self.memories:
            self.memories.append(memory)
            for _, block in self._live.values():
                memory.add(block)

    def detach(self, memory: Memory) -> None:
        if memory in self.memories:
            self.memories.remove(memory)
            for _, block in self._live.values():
                memory.remove(block)

    def reset(self) -> None:
        """Free everything at once and zero what was used (scratch areas, after each invocation)."""
        for _, block in self._live.values():
            for memory in self.memories:
                memory.remove(block)
        self._live.clear()
        self._classes.clear()
        self._spans.clear()
        self._freed.clear()
        self.arena.buf[: self._top] = bytes(self._top)
        self._top = 0
        self.stats.in_use = 0
        self.stats.blocks = 0

    @property
    def used(self) -> int:
        return self._top

    # -- diagnosis --------------------------------------------------------------------------------
    def explain(self, address: int, size: int) -> str | None:
        """Why an access at ``address`` missed, if it is about this heap: "use_after_free" or
        "heap_overflow" (with a message), else None."""
        a = self.arena
        if not a.contains(address):
            return None
        for start, length in self._freed.items():
            if start <= address < start + length:
                return f"use after free: {size}-byte access at offset {address - start} of a freed {length}-byte block"
        for start, (_, block) in self._live.items():
            if block.end <= address < block.end + REDZONE or (start <= address < block.end < address + size):
                return f"heap overflow: {size}-byte access at offset {address - start} of a {block.size}-byte block"
            if start - REDZONE <= address < start:
                return f"heap underflow: {size}-byte access {start - address} bytes before a {block.size}-byte block"
        return None

    def kind_of_miss(self, address: int, size: int) -> str | None:
        text = self.explain(address, size)
        if text is None:
            return None
        return "use_after_free" if text.startswith("use after free") else "heap_overflow"

    # -- internals --------------------------------------------------------------------------------
    def _take(self, chunk: int) -> tuple[int, int]:
        """(offset, chunk size taken) or (-1, chunk)."""
        if chunk <= SMALL_LIMIT:
            free = self._classes.get(chunk)
            if free:
                return free.pop(), chunk
        spans = self._spans
        for i, (off, length) in enumerate(spans):
            if length >= chunk:
                rest = length - chunk
                if rest >= ALIGN + REDZONE:
                    spans[i] = (off + chunk, rest)
                else:
                    del spans[i]
                    chunk = length  # the sliver stays with the chunk
                return off, chunk
        if self._top + chunk <= self.capacity:
            off = self._top
            self._top += chunk
            return off, chunk
        return -1, chunk

    def _give_span(self, offset: int, length: int) -> None:
        spans = self._spans
        i = bisect.bisect_left(spans, (offset, 0))
        if i > 0 and spans[i - 1][0] + spans[i - 1][1] == offset:
            i -= 1
            offset, length = spans[i][0], spans[i][1] + length
            del spans[i]
        if i < len(spans) and offset + length == spans[i][0]:
            length += spans[i][1]
            del spans[i]
        if offset + length == self._top:  # give it back to the top
            self._top = offset
            return
        spans.insert(i, (offset, length))

    def _coalesce_classes(self) -> None:
        classes, self._classes = self._classes, {}
        for chunk, offsets in classes.items():
            for off in offsets:
                self._give_span(off, chunk)


class SharedMemory:
    """Keyed blocks (xBGP's shmnew/shmget): zeroed on creation, live until removed."""

    def __init__(self, heap: Heap) -> None:
        self.heap = heap
        self._blocks: dict[int, int] = {}  # key -> address

    def new(self, key: int, size: int) -> int:
        """A new block under ``key`` (0 if the key exists or the heap is full)."""
        if key in self._blocks:
            return 0
        address = self.heap.malloc(size)
        if address:
            self._blocks[key] = address
        return address

    def get(self, key: int, size: int) -> int:
        """The block under ``key`` if it has at least ``size`` bytes, else 0."""
        address = self._blocks.get(key)
        if address is None:
            return 0
        have = self.heap.size_of(address)
        return address if have is not None and have >= size else 0

    def remove(self, key: int) -> bool:
        address = self._blocks.pop(key, None)
        if address is None:
            return False
        self.heap.free(address)
        return True

    def keys(self) -> list[int]:
        return list(self._blocks)

    def read(self, key: int) -> bytes | None:
        """The block's bytes (for the host)."""
        address = self._blocks.get(key)
        return bytes(self.heap.block(address).buf) if address is not None else None


@dataclass
class MemorySizes:
    """Sizes of a plugin's memory, from its manifest."""

    heap: int = 64 * 1024
    scratch: int = 4096
    shm: int = 16 * 1024


@dataclass
class PluginMemory:
    """All memory of one plugin instance, reachable from its bytecodes through ``memory``."""

    sizes: MemorySizes
    memory: Memory = field(default_factory=Memory)
    heap: Heap = field(init=False)
    scratch: Heap = field(init=False)
    shm: SharedMemory = field(init=False)

    def __post_init__(self) -> None:
        self.heap = Heap("heap", self.sizes.heap, [self.memory])
        self.scratch = Heap("scratch", self.sizes.scratch, [self.memory], kind="scratch")
        self.shm = SharedMemory(Heap("shm", self.sizes.shm, [self.memory], kind="shm"))

    def heaps(self) -> list[Heap]:
        return [self.heap, self.scratch, self.shm.heap]


__all__ = ["Arena", "Block", "FreeError", "Heap", "HeapStats", "MemorySizes", "PluginMemory", "SharedMemory"]
