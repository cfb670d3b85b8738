"""Map, ring-buffer and tail-call helpers: the program side of :mod:`pybpf.maps`.

A map argument is a map handle (the value ``lddw map`` puts in a register); anything else is
refused with a helper error rather than guessed at.  Keys and values are read from and written to
program memory through the memory model, so a bad pointer faults exactly like a bad load.  A
pointer a helper returns (a map value, a ring-buffer record) points into a region that is made
visible to the calling program first: inner maps of a map-in-map become reachable only once the
program has looked them up.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.errors import HelperError
from pybpf.helpers.registry import Helper, HelperRegistry
from pybpf.maps import MAX_TAIL_CALLS, BpfMap, MapType, find_ringbuf, map_by_handle
from pybpf.vm.memory import Region

BPF_MAX_FOR_EACH_FLAGS = 0


def _map(env: Any, handle: int, arg: str = "map") -> BpfMap:
    bpf_map = map_by_handle(handle)
    if bpf_map is None or bpf_map.closed:
        raise HelperError(env.pc, f"{arg} argument 0x{handle:x} is not a map")
    return bpf_map


def _visible(env: Any, bpf_map: BpfMap, address: int) -> int:
    if address:
        env.memory.ensure(bpf_map.region)
    return address


def _key(env: Any, bpf_map: BpfMap, key: int) -> bytes:
    return env.memory.read(key, bpf_map.key_size, env.pc) if bpf_map.key_size else b""


def map_lookup_elem(env: Any, handle: int, key: int, *_: int) -> int:
    """Pointer to the value for ``key`` (the current CPU's for per-CPU maps), or NULL (1)."""
    bpf_map = _map(env, handle)
    return _visible(env, bpf_map, bpf_map.lookup(_key(env, bpf_map, key)))


def map_update_elem(env: Any, handle: int, key: int, value: int, flags: int, *_: int) -> int:
    """Create or replace an element; 0 or -errno (2)."""
    bpf_map = _map(env, handle)
    data = env.memory.read(value, bpf_map.value_size, env.pc)
    return bpf_map.update(_key(env, bpf_map, key), data, flags)


def map_delete_elem(env: Any, handle: int, key: int, *_: int) -> int:
    """Delete an element; 0 or -errno (3)."""
    bpf_map = _map(env, handle)
    return bpf_map.delete(_key(env, bpf_map, key))


def map_push_elem(env: Any, handle: int, value: int, flags: int, *_: int) -> int:
    """Push onto a queue/stack, or add to a bloom filter (87)."""
    bpf_map = _map(env, handle)
    return bpf_map.push(env.memory.read(value, bpf_map.value_size, env.pc), flags)


def map_pop_elem(env: Any, handle: int, value: int, *_: int) -> int:
    """Pop from a queue/stack into ``value`` (zeroed on failure) (88)."""
    bpf_map = _map(env, handle)
    rc, data = bpf_map.pop()
    env.memory.write(value, data if rc == 0 else bytes(bpf_map.value_size), env.pc)
    return rc


def map_peek_elem(env: Any, handle: int, value: int, *_: int) -> int:
    """Peek a queue/stack into ``value``; for a bloom filter, test ``value`` (89)."""
    bpf_map = _map(env, handle)
    if bpf_map.map_type == MapType.BLOOM_FILTER:
        return bpf_map.peek(env.memory.read(value, bpf_map.value_size, env.pc))[0]
    rc, data = bpf_map.peek()
    env.memory.write(value, data if rc == 0 else bytes(bpf_map.value_size), env.pc)
    return rc


def map_lookup_percpu_elem(env: Any, handle: int, key: int, cpu: int, *_: int) -> int:
    """Pointer to ``cpu``'s value for ``key``, or NULL (195)."""
    bpf_map = _map(env, handle)
    return _visible(env, bpf_map, bpf_map.lookup_percpu(_key(env, bpf_map, key), cpu & 0xFFFF_FFFF))


def ringbuf_output(env: Any, handle: int, data: int, size: int, flags: int, *_: int) -> int:
    """Copy ``size`` bytes into a new record; 0, -EAGAIN when full, -EINVAL on bad flags (130)."""
    rb = _map(env, handle, "ring buffer")
    return int(rb.output(env.memory.read(data, size, env.pc) if size else b"", flags))  # type: ignore[attr-defined]


def ringbuf_reserve(env: Any, handle: int, size: int, flags: int, *_: int) -> int:
    """Reserve a record; pointer or NULL (131)."""
    rb = _map(env, handle, "ring buffer")
    return _visible(env, rb, int(rb.reserve(size, flags)))  # type: ignore[attr-defined]


def _ringbuf_of(env: Any, address: int) -> Any:
    rb = find_ringbuf(address)
    if rb is None:
        raise HelperError(env.pc, f"0x{address:x} is not a reserved ring buffer record")
    return rb


def ringbuf_submit(env: Any, data: int, flags: int, *_: int) -> int:
    """Publish a reserved record (132)."""
    _ringbuf_of(env, data).submit(data, flags)
    return 0


def ringbuf_discard(env: Any, data: int, flags: int, *_: int) -> int:
    """Drop a reserved record; consumers skip it (133)."""
    _ringbuf_of(env, data).discard(data, flags)
    return 0


def ringbuf_query(env: Any, handle: int, flags: int, *_: int) -> int:
    """Available data, ring size, consumer or producer position (134)."""
    rb = _map(env, handle, "ring buffer")
    return int(rb.query(flags))  # type: ignore[attr-defined]


def tail_call(env: Any, ctx: int, handle: int, index: int, *_: int) -> int:
    """Replace the running program by slot ``index`` of a prog array; returns only on failure (12).

    Fails with -ENOENT when the index is out of range, the slot is empty, or 33 tail calls have
    already been made in this chain; the program then simply continues.
    """
    from pybpf.vm.interpreter import TailCall

    prog_array = _map(env, handle, "prog array")
    if prog_array.map_type != MapType.PROG_ARRAY:
        return -errno.EINVAL
    if getattr(env, "tail_calls", 0) >= MAX_TAIL_CALLS:
        return -errno.ENOENT
    target = prog_array.get_program(index & 0xFFFF_FFFF)  # type: ignore[attr-defined]
    if target is None:
        return -errno.ENOENT
    raise TailCall(getattr(target, "engine", target))


def for_each_map_elem(env: Any, handle: int, callback: int, ctx: int, flags: int, *_: int) -> int:
    """Call ``callback(map, key*, value*, ctx)`` per element until it returns 1 (164)."""
    if flags:
        return -errno.EINVAL
    bpf_map = _map(env, handle)
    if bpf_map.key_size == 0:
        return -errno.ENOTSUP
    key_region = Region("for_each_key", bpf_map.key_size, kind="helper", writable=False)
    env.memory.add(key_region)
    env.memory.ensure(bpf_map.region)
    visited = 0
    try:
        rc, key = bpf_map.get_next_key(None)
        while rc == 0:
            value = bpf_map.lookup(key)
            nxt_rc, nxt = bpf_map.get_next_key(key)
            if value:
                key_region.buf[:] = key
                visited += 1
                if env.call_function(callback, handle, key_region.base, value, ctx) & 0xFFFF_FFFF_FFFF_FFFF:
                    break
            rc, key = nxt_rc, nxt
    finally:
        env.memory.remove(key_region)
        key_region.release()
    return visited


MAP_HELPERS: tuple[tuple[int, str, Any], ...] = (
    (1, "map_lookup_elem", map_lookup_elem),
    (2, "map_update_elem", map_update_elem),
    (3, "map_delete_elem", map_delete_elem),
    (12, "tail_call", tail_call),
    (87, "map_push_elem", map_push_elem),
    (88, "map_pop_elem", map_pop_elem),
    (89, "map_peek_elem", map_peek_elem),
    (130, "ringbuf_output", ringbuf_output),
    (131, "ringbuf_reserve", ringbuf_reserve),
    (132, "ringbuf_submit", ringbuf_submit),
    (133, "ringbuf_discard", ringbuf_discard),
    (134, "ringbuf_query", ringbuf_query),
    (164, "for_each_map_elem", for_each_map_elem),
    (195, "map_lookup_percpu_elem", map_lookup_percpu_elem),
)


def register_map_helpers(registry: HelperRegistry) -> HelperRegistry:
    for hid, name, func in MAP_HELPERS:
        registry.add(Helper(hid, name, func, (func.__doc__ or "").strip()))
    return registry
