"""Regression: a run that describes a map for native updates must release its lock at the end.

A run that starts with no described maps and whose first map helper call goes through Python
describes (and then locks, "arms") the map after that call; the runner must still release the lock
when native code returns, or the next Python-side update of the map waits for ever.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from functools import partial

from pybpf.isa.assembler import assemble
from pybpf.jit import JitEngine
from pybpf.maps import MapSpec, create_map
from pybpf.maps.base import BpfMap
from pybpf.maps.constants import MapType
from pybpf.vm.memory import Memory

# r1 = key, r2 = value: map[key] = value (BPF_ANY), return the helper's result.
UPDATE = """
    *(u32 *)(r10 - 4) = r1
    *(u64 *)(r10 - 16) = r2
    r1 = map_fd(0) ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call 2
    exit
"""

# r1 = key: return map[key] + 1, or 0 when the key is absent.
LOOKUP = """
    *(u32 *)(r10 - 4) = r1
    r1 = map_fd(0) ll
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto none
    r0 = *(u64 *)(r0 + 0)
    r0 += 1
    exit
none:
    r0 = 0
    exit
"""


def _engine(source: str, bpf_map: BpfMap, memory: Memory) -> JitEngine:
    return JitEngine(assemble(source), memory=memory, pseudo_resolver=lambda src, imm, nxt, pc: bpf_map.handle)


def _finishes(action: Callable[[], object], timeout: float = 10.0) -> object:
    """Run ``action`` in a daemon thread; fail (rather than hang) if it does not finish."""
    result: list[object] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(action())
        except BaseException as exc:  # re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked: a map lock was left held after a JIT run"
    if errors:
        raise errors[0]
    return result[0]


def _key(k: int) -> bytes:
    return struct.pack("<I", k)


def _value(v: int) -> bytes:
    return struct.pack("<Q", v)


def _check(kind: MapType) -> None:
    bpf_map = create_map(MapSpec("shared", kind, 4, 8, 8))
    memory = Memory()
    memory.add(bpf_map.region)
    writer = _engine(UPDATE, bpf_map, memory)
    reader = _engine(LOOKUP, bpf_map, memory)
    assert not writer.runner.maps.entries  # the first run starts with no described map

    assert writer.run(None, r1=1, r2=10) == 0  # through Python; describes the map, arms it
    assert not bpf_map._tlock.locked()
    assert _finishes(lambda: bpf_map.update(_key(1), _value(20))) == 0  # Python-side update
    assert reader.run(None, r1=1) == 21  # the other program sees it

    for step in range(3):  # native from now on; the lock is released after every run
        assert writer.run(None, r1=2, r2=100 + step) == 0
        assert not bpf_map._tlock.locked()
        assert _finishes(partial(bpf_map.update, _key(2), _value(200 + step))) == 0
        assert reader.run(None, r1=2) == 201 + step
        assert not bpf_map._tlock.locked()
    assert bpf_map.check_consistency() == []


def test_first_python_map_call_does_not_leave_a_hash_map_locked() -> None:
    _check(MapType.HASH)


def test_first_python_map_call_does_not_leave_an_array_map_locked() -> None:
    _check(MapType.ARRAY)


def test_execute_releases_the_lock_too() -> None:
    """The register-list entry point (used for tail calls and by callers that pass registers)."""
    bpf_map = create_map(MapSpec("shared", MapType.HASH, 4, 8, 8))
    memory = Memory()
    memory.add(bpf_map.region)
    writer = _engine(UPDATE, bpf_map, memory)
    regs = [0, 3, 30] + [0] * 8
    assert writer.runner.execute(regs) == 0
    assert not bpf_map._tlock.locked()
    assert _finishes(lambda: bpf_map.update(_key(3), _value(31))) == 0
    assert bpf_map.lookup(_key(3)) != 0
