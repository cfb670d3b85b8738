"""Native map helpers (pybpf.jit.maps) against the interpreter and the Python helpers.

Every test runs the same operations through an interpreter over one set of maps and through the
JIT over a second, identical set, and compares what programs see (return values, values read
through the returned pointers), the map contents afterwards and the maps' own consistency
checks.  Others check *that* calls are native once a map is known, and every case where native
code must defer to Python: replaced helpers, pinned maps, busy locks, dirty maps, closed maps.
"""

from __future__ import annotations

import random
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import pybpf.object as bpfobj
from pybpf.errors import HelperError, MemoryAccessError
from pybpf.helpers import Helper
from pybpf.helpers.registry import default_registry
from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine, TieredEngine
from pybpf.maps import MapSpec, create_map
from pybpf.maps.base import OFF_DIRTY
from pybpf.maps.constants import BPF_F_RDONLY_PROG, LIBBPF_PIN_BY_NAME, MapType
from pybpf.maps.percpu import cpus as cpu_count
from pybpf.maps.percpu import on_cpu
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Memory, Region

OBJECTS = Path(__file__).resolve().parent.parent / "bpf"
LOOKUP, UPDATE, DELETE = 1, 2, 3

# One operation per run.  Input (u64 words): op, map index, flags, key, value[0], value[1].
# lookup returns 0 for NULL, else (first 8 value bytes << 1) | 1, and adds 1 to the first value
# byte through the pointer (so the pointer must be right and its memory reachable).
OP_PROGRAM = """
    r6 = r1
    r2 = *(u64 *)(r6 + 24)
    *(u64 *)(r10 - 8) = r2
    r2 = *(u64 *)(r6 + 32)
    *(u64 *)(r10 - 24) = r2
    r2 = *(u64 *)(r6 + 40)
    *(u64 *)(r10 - 16) = r2
    r7 = *(u64 *)(r6 + 0)
    r8 = *(u64 *)(r6 + 8)
{select}
have:
    r2 = r10
    r2 += -8
    if r7 == 1 goto lookup
    if r7 == 2 goto update
    call 3
    exit
update:
    r3 = r10
    r3 += -24
    r4 = *(u64 *)(r6 + 16)
    call 2
    exit
lookup:
    call 1
    if r0 == 0 goto null
    r1 = *(u64 *)(r0 + 0)
    r2 = *(u8 *)(r0 + 0)
    r2 += 1
    *(u8 *)(r0 + 0) = r2
    r1 <<= 1
    r1 |= 1
    r0 = r1
    exit
null:
    r0 = 0
    exit
"""


def op_program(n_maps: int) -> str:
    select = []
    for k in range(n_maps):
        select += [f"    if r8 != {k} goto m{k + 1}", f"    r1 = map_fd({k}) ll", "    goto have", f"m{k + 1}:"]
    select += ["    r0 = -1", "    exit"]
    return OP_PROGRAM.format(select="\n".join(select))


SPECS = [
    MapSpec("h4", MapType.HASH, 4, 8, 16),
    MapSpec("h8", MapType.HASH, 8, 12, 8),
    MapSpec("h3", MapType.HASH, 3, 16, 5),  # key with a 3-byte tail, value with padding
    MapSpec("ph", MapType.PERCPU_HASH, 4, 8, 8),
    MapSpec("a", MapType.ARRAY, 4, 16, 8),
    MapSpec("pa", MapType.PERCPU_ARRAY, 4, 8, 4),
    MapSpec("lru", MapType.LRU_HASH, 4, 8, 4),  # not native: Python all the way
]


class Machine:
    """An engine over its own maps, with the op program and a count of Python map-helper calls."""

    def __init__(self, engine: type[Interpreter], specs: list[MapSpec], *, cpus: int = 2, **options: Any) -> None:
        self.maps = [create_map(MapSpec(**{**s.__dict__}), cpus=cpus) for s in specs]
        self.memory = Memory()
        for m in self.maps:
            self.memory.add(m.region)
        self.vm = engine(
            assemble(op_program(len(self.maps))),
            memory=self.memory,
            pseudo_resolver=lambda src, imm, nxt, pc: self.maps[imm].handle,
            **options,
        )
        self.python_calls = 0
        original = self.vm.call_helper

        def counting(helper_id: int, regs: list[int], pc: int) -> int:
            if helper_id in (LOOKUP, UPDATE, DELETE):
                self.python_calls += 1
            return original(helper_id, regs, pc)

        self.vm.call_helper = counting  # type: ignore[method-assign]
        self.input = Region("in", 48)
        self.memory.add(self.input)

    def op(self, op: int, index: int, key: int, value: bytes = bytes(16), flags: int = 0) -> int:
        self.input.buf[:] = struct.pack("<QQQQ", op, index, flags, key) + value.ljust(16, b"\0")
        return self.vm.run(self.input)

    def contents(self) -> list[Any]:
        return [sorted(m.items()) for m in self.maps]  # type: ignore[attr-defined]


def both(specs: list[MapSpec] = SPECS, **options: Any) -> tuple[Machine, Machine]:
    return Machine(Interpreter, specs, **options), Machine(JitEngine, specs, **options)


def same(a: Machine, b: Machine, *args: Any, **kw: Any) -> int:
    results = []
    for m in (a, b):
        try:
            results.append(("ok", m.op(*args, **kw)))
        except Exception as exc:  # the point is that both engines raise alike
            results.append((type(exc).__name__, getattr(exc, "pc", None)))
    assert results[0] == results[1], (args, kw)
    return int(results[0][1]) if results[0][0] == "ok" else -1


def check(a: Machine, b: Machine) -> None:
    assert a.contents() == b.contents()
    for m in b.maps:
        assert m.check_consistency() == [], m.name


def test_random_operations_agree_with_the_interpreter() -> None:
    rng = random.Random(7)
    a, b = both()
    flags_choices = [0, 0, 0, 1, 2, 4, 3, 8, 1 << 40]  # ANY, NOEXIST, EXIST, F_LOCK and invalid ones
    cpus = min(2, cpu_count())
    for step in range(2500):
        index = rng.randrange(len(SPECS))
        key = rng.choice([rng.randrange(12), rng.getrandbits(64)])
        op = rng.choice([LOOKUP, LOOKUP, UPDATE, UPDATE, DELETE])
        value = rng.randbytes(16)
        with on_cpu(rng.randrange(cpus)):
            same(a, b, op, index, key, value, flags=rng.choice(flags_choices))
        if step % 250 == 0:
            check(a, b)
    check(a, b)


def test_calls_are_native_once_a_map_is_known() -> None:
    a, b = both(SPECS[:6])
    for index in range(6):
        same(a, b, UPDATE, index, 1, b"\x05")  # first call per map: Python describes the map
        same(a, b, LOOKUP, index, 1)
    before = b.python_calls
    for index in range(6):
        for key in range(6):
            same(a, b, UPDATE, index, key, bytes([key]) * 16)
            same(a, b, LOOKUP, index, key)
            same(a, b, DELETE, index, key)
    assert b.python_calls == before  # every one of them native
    check(a, b)
    kinds = {e.bpf_map.name: e.kind for e in b.vm.runner.maps.entries}
    assert set(kinds) == {s.name for s in SPECS[:6]}


def test_lru_and_other_types_stay_in_python() -> None:
    a, b = both([SPECS[-1]])
    for key in range(10):
        same(a, b, UPDATE, 0, key, b"\x01")
        same(a, b, LOOKUP, 0, key % 3)
    assert b.vm.runner.maps.entries == []
    check(a, b)
    assert a.maps[0].lru_order() == b.maps[0].lru_order()  # type: ignore[attr-defined]


@pytest.mark.parametrize("map_cpus", [1, 2])
def test_per_cpu_values_go_to_the_current_cpu(map_cpus: int) -> None:
    """Values land in the current virtual CPU's slot (modulo the map's CPUs, as ``_cpu`` does),
    also through lookup sites' inline caches, which hold one CPU's addresses."""
    a, b = both([SPECS[3], SPECS[5]], cpus=map_cpus)
    cpus = min(2, cpu_count())
    for cpu in [*range(cpus), *range(cpus)]:
        with on_cpu(cpu):
            for index in range(2):
                same(a, b, UPDATE, index, 1, bytes([cpu + 1]))
                same(a, b, LOOKUP, index, 1)
                same(a, b, LOOKUP, index, 1)
    check(a, b)
    values = b.maps[0].lookup_elem((1).to_bytes(4, "little"))  # type: ignore[attr-defined]
    assert values[(cpus - 1) % map_cpus][0] == cpus + 2


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[4], SPECS[5]], ids=["hash", "array", "percpu_array"])
def test_a_replaced_helper_is_never_bypassed(spec: MapSpec) -> None:
    """Not even by a lookup site's inline cache (arrays), which the runner clears."""
    registry = default_registry()
    seen: list[int] = []
    standard = registry.get(LOOKUP)
    assert standard is not None

    def spy(env: Any, *args: int) -> int:
        seen.append(args[1])
        return int(standard.func(env, *args))

    m = Machine(JitEngine, [spec], helpers=registry)
    m.op(UPDATE, 0, 1, b"\x07")
    m.op(LOOKUP, 0, 1)
    m.op(LOOKUP, 0, 1)  # native (inline for arrays) by now
    calls = m.python_calls
    m.op(LOOKUP, 0, 1)
    assert m.python_calls == calls
    registry.add(Helper(LOOKUP, "map_lookup_elem", spy))
    assert m.op(LOOKUP, 0, 1) == (10 << 1) | 1
    assert len(seen) == 1  # the replacement ran although the map is described for native code


def test_rdonly_prog_maps_and_flags() -> None:
    specs = [
        MapSpec("ro", MapType.HASH, 4, 8, 4, map_flags=BPF_F_RDONLY_PROG),
        MapSpec("roa", MapType.ARRAY, 4, 8, 4, map_flags=BPF_F_RDONLY_PROG),
        MapSpec("lock", MapType.HASH, 4, 16, 4, spin_lock_off=4),
        MapSpec("locka", MapType.ARRAY, 4, 16, 4, spin_lock_off=8),
    ]
    a, b = both(specs)
    for m in (a, b):  # host writes (syscall side) are allowed
        m.maps[0].update_elem((1).to_bytes(4, "little"), bytes(8))  # type: ignore[attr-defined]
    for index in range(4):
        for flags in (0, 1, 2, 4, 5, 6, 7):
            for key in (1, 2, 9):
                same(a, b, UPDATE, index, key, bytes(range(1, 17)), flags=flags)
                same(a, b, LOOKUP, index, key)
        same(a, b, DELETE, index, 1)
        same(a, b, DELETE, index, 1)
    check(a, b)


def test_full_maps_and_slot_reuse() -> None:
    a, b = both([MapSpec("small", MapType.HASH, 4, 8, 3)])
    for round_ in range(5):
        for key in range(6):
            assert same(a, b, UPDATE, 0, key, bytes([round_])) in (0, (-7) & (2**64 - 1))  # E2BIG when full
        for key in range(0, 6, 2):
            same(a, b, DELETE, 0, key)
    check(a, b)


def test_bad_key_pointer_faults_like_the_interpreter() -> None:
    text = "r1 = map_fd(0) ll\nr2 = 64\ncall 1\nexit"
    messages = []
    for engine in (Interpreter, JitEngine):
        m = create_map(MapSpec("h", MapType.HASH, 4, 8, 4))
        memory = Memory([m.region])
        vm = engine(assemble(text), memory=memory, pseudo_resolver=lambda *_, m=m: m.handle)
        with pytest.raises(MemoryAccessError) as info:
            vm.run()
        messages.append((info.value.pc, str(info.value).split("nearest")[0]))
    assert messages[0] == messages[1] and messages[0][0] == 3  # the call (lddw takes two slots)


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[4]], ids=["hash", "array"])
def test_closed_map_is_dropped(spec: MapSpec) -> None:
    b = Machine(JitEngine, [spec])
    b.op(UPDATE, 0, 1, b"\x01")
    b.op(LOOKUP, 0, 1)
    b.op(LOOKUP, 0, 1)
    assert b.vm.runner.maps.entries
    b.maps[0].close()
    with pytest.raises(HelperError):
        b.op(LOOKUP, 0, 1)
    assert b.vm.runner.maps.entries == []


def test_busy_lock_defers_updates_to_python() -> None:
    """A thread holding the map's lock (as the Python helpers do) keeps native code from
    updating the map: the update waits for the lock in Python, as the interpreter's would."""
    b = Machine(JitEngine, [SPECS[0]])
    b.op(UPDATE, 0, 1, b"\x01")
    b.op(UPDATE, 0, 1, b"\x02")  # now described as natively updatable
    m = b.maps[0]
    held = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with m._wguard:
            held.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    threading.Timer(0.2, release.set).start()
    t0 = time.perf_counter()
    calls = b.python_calls
    assert b.op(UPDATE, 0, 2, b"\x03") == 0
    waited = time.perf_counter() - t0
    thread.join()
    assert b.python_calls == calls + 1 and waited >= 0.1  # went to Python and waited for the lock
    assert b.op(LOOKUP, 0, 2) == (3 << 1) | 1
    assert m.check_consistency() == []
    b.op(UPDATE, 0, 3, b"\x04")
    assert b.python_calls == calls + 1  # native again once the lock is free


def test_dirty_map_is_repaired_by_python_first() -> None:
    b = Machine(JitEngine, [SPECS[0]])
    for key in range(4):
        b.op(UPDATE, 0, key, bytes([key + 1]))
    m = b.maps[0]
    m._buf[OFF_DIRTY] = 1  # as if a writer died half-way
    calls = b.python_calls
    assert b.op(LOOKUP, 0, 2) == (3 << 1) | 1
    assert b.python_calls == calls + 1
    assert m._buf[OFF_DIRTY] == 0 and m.check_consistency() == []


def test_pinned_maps(tmp_path: Path) -> None:
    specs = [
        MapSpec("pin_hash", MapType.HASH, 4, 8, 4, pinning=LIBBPF_PIN_BY_NAME),
        MapSpec("pin_array", MapType.ARRAY, 4, 8, 4, pinning=LIBBPF_PIN_BY_NAME),
    ]

    def machine(root: Path, engine: type[Interpreter]) -> Machine:
        m = Machine.__new__(Machine)
        m.maps = [create_map(MapSpec(**{**s.__dict__}), pin_root=root) for s in specs]
        m.memory = Memory([x.region for x in m.maps])
        m.vm = engine(
            assemble(op_program(2)), memory=m.memory, pseudo_resolver=lambda src, imm, nxt, pc: m.maps[imm].handle
        )
        m.python_calls = 0
        m.input = Region("in", 48)
        m.memory.add(m.input)
        return m

    a, b = machine(tmp_path / "a", Interpreter), machine(tmp_path / "b", JitEngine)
    for key in range(6):
        for index in range(2):
            same(a, b, UPDATE, index, key, bytes([key + 7]))
            same(a, b, LOOKUP, index, key)
            same(a, b, DELETE, index, key)
    check(a, b)
    entries = {e.bpf_map.name: e for e in b.vm.runner.maps.entries}
    assert set(entries) == {"pin_array"} and not entries["pin_array"].mutable  # lookups only


@pytest.mark.parametrize("variant", ["", ".v3", ".v4"])
def test_compiled_objects(variant: str) -> None:
    """tests/bpf/maps.c, every program that uses hash/array maps, both engines."""
    objs = [bpfobj.load(OBJECTS / f"maps{variant}.o", engine=e) for e in ("interp", "jit")]
    rng = random.Random(3)
    for _ in range(60):
        args = [rng.randrange(6), rng.randrange(3), rng.randrange(1000)]
        for name in ("count_flow", "bump", "lru_insert"):
            with on_cpu(rng.randrange(min(2, cpu_count()))):
                results = [o.program(name).run(bytearray(struct.pack("<3I", *args))) for o in objs]
            assert results[0] == results[1], name
    for name in ("flows", "counters", "pc_hash", "pc_array", "lru", "lru_pc"):
        assert sorted(objs[0].maps[name].items()) == sorted(objs[1].maps[name].items()), name


def test_tiered_engine_uses_native_maps_after_tier_up() -> None:
    a = Machine(Interpreter, [SPECS[0]])
    t = Machine(TieredEngine, [SPECS[0]], tier_threshold_ns=0)
    for key in range(20):
        same(a, t, UPDATE, 0, key % 5, bytes([key]))
        same(a, t, LOOKUP, 0, key % 7)
    assert isinstance(t.vm, TieredEngine) and t.vm.tiered
    check(a, t)


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[4]], ids=["hash", "array"])
def test_lookups_only_return_memory_the_program_can_reach(spec: MapSpec) -> None:
    """A map whose memory left the region set is looked up in Python again, which makes its
    memory visible first (as ``bpf_map_lookup_elem`` does); native lookups never hand out a
    pointer the program could not use."""
    b = Machine(JitEngine, [spec])
    b.op(UPDATE, 0, 1, b"\x01")
    b.op(LOOKUP, 0, 1)
    b.op(LOOKUP, 0, 1)
    b.memory.remove(b.maps[0].region)
    calls = b.python_calls
    assert b.op(LOOKUP, 0, 1) == (3 << 1) | 1
    assert b.python_calls == calls + 1
    assert b.maps[0].region in list(b.memory)
    b.op(LOOKUP, 0, 1)
    assert b.python_calls == calls + 1
