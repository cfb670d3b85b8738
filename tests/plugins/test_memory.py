"""The plugin allocator and the verifier's view of heap memory."""

from __future__ import annotations

import itertools
import random

import pytest

from pybpf.errors import MemoryAccessError
from pybpf.isa.assembler import assemble
from pybpf.plugins.memory import REDZONE, FreeError, Heap, MemorySizes, PluginMemory, SharedMemory
from pybpf.plugins.operations import Mode
from pybpf.plugins.platform import PROG_TYPE, plugin_platform
from pybpf.verifier import VerifierError, verify
from pybpf.vm.memory import Memory


def test_blocks_are_regions_while_live() -> None:
    mem = Memory()
    heap = Heap("heap", 1024, [mem])
    a = heap.malloc(10)
    assert a and mem.load(a, 8) == 0
    mem.store(a + 2, 8, 0x1122334455667788)
    assert mem.load(a + 2, 8) == 0x1122334455667788
    with pytest.raises(MemoryAccessError):
        mem.load(a + 9, 2)  # straddles the end of the 10-byte block
    with pytest.raises(MemoryAccessError):
        mem.store(a + 10, 1, 0)  # the red zone belongs to no region
    assert heap.kind_of_miss(a + 10, 1) == "heap_overflow"
    heap.free(a)
    with pytest.raises(MemoryAccessError):
        mem.load(a, 1)
    assert heap.kind_of_miss(a, 1) == "use_after_free"
    with pytest.raises(FreeError, match="double free") as info:
        heap.free(a)
    assert info.value.double
    b = heap.malloc(10)
    with pytest.raises(FreeError, match="not the start of a live block") as info:
        heap.free(b + 1)
    assert not info.value.double


def test_bounded_and_zeroed() -> None:
    heap = Heap("heap", 256, [])
    assert heap.malloc(0) == 0 and heap.malloc(257) == 0
    blocks = [heap.malloc(16) for _ in range(8)]  # 8 chunks of 32 bytes fill 256
    assert all(blocks) and heap.malloc(1) == 0 and heap.stats.failures == 1
    heap.block(blocks[0]).buf[:4] = b"abcd"
    heap.free(blocks[0])
    again = heap.malloc(16)
    assert again == blocks[0] and bytes(heap.block(again).buf) == bytes(16)  # reused and zeroed


def test_fragmentation_is_healed() -> None:
    """A heap full of freed small blocks serves a large request (size classes coalesce)."""
    heap = Heap("heap", 64 * 1024, [])
    small = [heap.malloc(24) for _ in range(1000)]
    assert all(small)
    for a in small:
        heap.free(a)
    big = heap.malloc(40_000)
    assert big and heap.stats.blocks == 1


def test_random_workload_never_fails_when_it_fits() -> None:
    rng = random.Random(7)
    heap = Heap("heap", 32 * 1024, [])
    live: dict[int, int] = {}
    for _ in range(5000):
        if live and (rng.random() < 0.5 or sum(s + 32 for s in live.values()) > 12_000):
            a = rng.choice(list(live))
            heap.free(a)
            del live[a]
        else:
            size = rng.choice([8, 16, 24, 40, 100, 300, 700])
            a = heap.malloc(size)
            assert a, f"allocation of {size} failed with {len(live)} live blocks"
            live[a] = size
    addresses = sorted(live)
    for x, y in itertools.pairwise(addresses):
        assert x + live[x] + REDZONE <= y  # blocks never overlap, red zones in between


def test_realloc_keeps_contents() -> None:
    heap = Heap("heap", 4096, [])
    a = heap.malloc(8)
    heap.block(a).buf[:8] = b"12345678"
    b = heap.realloc(a, 100)
    assert bytes(heap.block(b).buf[:8]) == b"12345678" and heap.size_of(a) is None
    assert heap.realloc(b, 0) == 0 and heap.stats.blocks == 0
    assert heap.realloc(0, 4) != 0


def test_shared_memory_and_reset() -> None:
    mem = Memory()
    shm = SharedMemory(Heap("shm", 1024, [mem]))
    a = shm.new(1, 16)
    assert a and shm.new(1, 16) == 0  # the key exists
    assert shm.get(1, 16) == a and shm.get(1, 17) == 0 and shm.get(2, 1) == 0
    assert shm.remove(1) and not shm.remove(1)
    pm = PluginMemory(MemorySizes(heap=512, scratch=128, shm=128))
    s = pm.scratch.malloc(64)
    pm.memory.store(s, 8, 5)
    pm.scratch.reset()
    with pytest.raises(MemoryAccessError):
        pm.memory.load(s, 8)
    s2 = pm.scratch.malloc(64)
    assert pm.memory.load(s2, 8) == 0


def _verify(text: str, perms: frozenset[str] = frozenset({"heap"})) -> frozenset[int]:
    return verify(assemble(text), PROG_TYPE, platform=plugin_platform(perms, Mode.REPLACE)).safe


def test_constant_size_block_is_bounded_statically() -> None:
    ok = "r1 = 16\ncall 1030\nif r0 == 0 goto +1\n*(u64 *)(r0 + 8) = 1\nr0 = 0\nexit\n"
    safe = _verify(ok)
    assert 3 not in safe  # heap accesses are never compiled without the run-time check
    with pytest.raises(VerifierError, match="invalid access to memory, mem_size=16 off=16 size=8"):
        _verify(ok.replace("r0 + 8", "r0 + 16"))


def test_unknown_size_block_is_checked_at_run_time() -> None:
    text = "r1 = 0\ncall 1000\nr1 = r0\ncall 1030\nif r0 == 0 goto +1\n*(u64 *)(r0 + 4096) = 1\nr0 = 0\nexit\n"
    assert 5 not in _verify(text, frozenset({"heap"}))


def test_stack_accesses_stay_proven() -> None:
    safe = _verify("r1 = 1\n*(u64 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nexit\n")
    assert {1, 2} <= safe


def test_linux_platform_still_refuses_unknown_alloc_sizes() -> None:
    from pybpf.helpers.prototypes import Arg, ArgKind, HelperProto, RetKind
    from pybpf.progtypes.platform import Platform, ProgTypeSpec, RegionSpec, raw_context

    proto = HelperProto(900, "alloc", (Arg(ArgKind.CONST_ALLOC_SIZE_OR_ZERO),), RetKind.REGION_OR_NULL, region="r")
    spec = ProgTypeSpec("p", raw_context("p", 0, writable=False))
    text = "call 1000\nr1 = r0\ncall 900\nr0 = 0\nexit\n"
    proto_in = HelperProto(1000, "get", (), RetKind.INTEGER)
    platform = Platform({"p": spec}, {900: proto, 1000: proto_in}, {"r": RegionSpec("r", 64)})
    with pytest.raises(VerifierError, match="is not a known constant"):
        verify(assemble(text), "p", platform=platform)
