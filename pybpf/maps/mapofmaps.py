"""ARRAY_OF_MAPS and HASH_OF_MAPS: maps whose values are other maps.

The kernel's value_size is 4 (a map fd on the syscall side); inside the map a slot holds the inner
map itself.  pybpf stores the inner map's :attr:`~pybpf.maps.base.BpfMap.handle` (its real
address, a u64) and keeps the inner map object alive while it is referenced.

* ARRAY_OF_MAPS layout after the header: ``max_entries`` x u64 handles (0 = empty).
* HASH_OF_MAPS: the hash layout of :mod:`pybpf.maps.hash` with 8-byte values holding handles.

A program lookup returns the inner map's handle (the kernel returns the inner map pointer, which
programs then pass to map helpers), 0 when absent; programs cannot update or delete (verifier
rule), so those calls return ``-EINVAL``.  Host side: ``m[k] = inner_map`` checks the inner map
against the template (``MapSpec.inner``: same type, key_size, value_size, map_flags, and
max_entries unless the template has ``BPF_F_INNER_MAP``) and fails with ``-EINVAL`` otherwise;
``m[k]`` returns the inner map object.  ARRAY_OF_MAPS updates take ``BPF_ANY`` only (``-EINVAL``),
an index past the end is ``-E2BIG``, deleting an empty slot ``-ENOENT``; HASH_OF_MAPS uses the
hash rules.  Handles are process-local, so these maps cannot be pinned.
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.maps.array import array_next_key
from pybpf.maps.base import HEADER_SIZE, U64, BpfMap, MapSpec, Plan, fail_create, hexbytes, map_by_handle
from pybpf.maps.codec import Codec
from pybpf.maps.constants import BPF_ANY, BPF_F_INNER_MAP, MapType, type_name
from pybpf.maps.errors import MapError
from pybpf.maps.hash import HashMap
from pybpf.maps.hashing import hash32
from pybpf.maps.host import KeyedMap
from pybpf.maps.progarray import validate_fd_array

MAP_IN_MAP_TYPES = (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)


def validate_template(spec: MapSpec) -> None:
    """The outer map's checks on its inner-map template (``bpf_map_meta_alloc``)."""
    inner = spec.inner
    if inner is None:
        fail_create(spec, -errno.EBADF, "map-of-maps needs an inner map template (MapSpec.inner)")
    if inner.map_type in MAP_IN_MAP_TYPES:
        fail_create(spec, -errno.EINVAL, "an inner map cannot itself be a map-of-maps")
    if inner.map_type == MapType.PROG_ARRAY:
        fail_create(spec, -errno.EINVAL, "a PROG_ARRAY cannot be an inner map")


def mismatch(template: MapSpec, m: BpfMap) -> str:
    """Why ``m`` cannot be stored in a map whose inner template is ``template`` ('' if it can)."""
    checks = [
        ("type", type_name(template.map_type), type_name(m.map_type)),
        ("key_size", template.key_size, m.key_size),
        ("value_size", template.value_size, m.value_size),
        ("map_flags", template.map_flags, m.map_flags),
    ]
    if not template.map_flags & BPF_F_INNER_MAP:
        checks.append(("max_entries", template.max_entries, m.max_entries))
    for field, want, got in checks:
        if want != got:
            return f"inner map {m.name!r} has {field} {got}, the template has {want}"
    if m.closed:
        return f"inner map {m.name!r} is closed"
    return ""


class _InnerRefs:
    """Strong references to the inner maps a map-of-maps holds, counted per handle."""

    def __init__(self) -> None:
        self._refs: dict[int, tuple[BpfMap, int]] = {}

    def add(self, m: BpfMap) -> None:
        held = self._refs.get(m.handle)
        self._refs[m.handle] = (m, held[1] + 1 if held else 1)

    def drop(self, handle: int) -> None:
        held = self._refs.get(handle)
        if held is None:
            return
        if held[1] <= 1:
            del self._refs[handle]
        else:
            self._refs[handle] = (held[0], held[1] - 1)

    def clear(self) -> None:
        self._refs.clear()


def _inner_from(obj: Any) -> BpfMap:
    if isinstance(obj, BpfMap):
        return obj
    if isinstance(obj, int) and not isinstance(obj, bool):
        m = map_by_handle(obj)
        if m is not None:
            return m
    raise TypeError(f"a map-of-maps value must be a map (or a map handle), got {obj!r}")


class ArrayOfMapsMap(KeyedMap):
    """BPF_MAP_TYPE_ARRAY_OF_MAPS."""

    map_type = MapType.ARRAY_OF_MAPS
    pinnable = False

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        validate_fd_array(spec)
        validate_template(spec)

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        return {"size": HEADER_SIZE + 8 * spec.max_entries, "vis_lo": HEADER_SIZE, "vis_hi": HEADER_SIZE}

    def _attach(self, plan: Plan) -> None:
        self._refs = _InnerRefs()

    def _slot(self, index: int) -> int:
        return int(U64.unpack_from(self._buf, HEADER_SIZE + 8 * index)[0])

    def lookup(self, key: bytes) -> int:
        if len(key) != 4:
            return 0
        index = int.from_bytes(key, "little")
        return self._slot(index) if index < self.max_entries else 0

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        return array_next_key(key, self.max_entries)

    def _encode_value(self, obj: Any, codec: Codec) -> Any:
        return _inner_from(obj)

    def _decode_value(self, raw: Any, codec: Codec) -> Any:
        return raw

    def _host_lookup(self, key: bytes) -> Any | None:
        index = int.from_bytes(key, "little")
        handle = self._slot(index) if index < self.max_entries else 0
        return map_by_handle(handle) if handle else None

    def _host_update(self, key: bytes, value: Any, flags: int) -> int:
        if flags != BPF_ANY:
            return -errno.EINVAL
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        assert self.spec.inner is not None
        why = mismatch(self.spec.inner, value)
        if why:
            raise MapError(self.name, "update", errno.EINVAL, why)
        with self._wguard:
            old = self._slot(index)
            U64.pack_into(self._buf, HEADER_SIZE + 8 * index, value.handle)
            self._refs.add(value)
            self._refs.drop(old)
        return 0

    def _host_delete(self, key: bytes) -> int:
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -errno.E2BIG
        with self._wguard:
            old = self._slot(index)
            if not old:
                return -errno.ENOENT
            U64.pack_into(self._buf, HEADER_SIZE + 8 * index, 0)
            self._refs.drop(old)
        return 0

    def _host_keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i in range(self.max_entries) if self._slot(i)]

    def _host_len(self) -> int:
        return sum(1 for i in range(self.max_entries) if self._slot(i))

    def _host_clear(self) -> None:
        with self._wguard:
            self._buf[HEADER_SIZE : self._size] = bytes(self._size - HEADER_SIZE)
            self._refs.clear()

    def _explain(self, op: str, err: int, flags: int = 0) -> str:
        if op == "update" and abs(err) == errno.EINVAL:
            return "ARRAY_OF_MAPS updates take BPF_ANY only"
        if abs(err) == errno.E2BIG:
            return f"index out of range, max_entries {self.max_entries}"
        return super()._explain(op, err, flags)

    def _dump_rows(self) -> list[tuple[str, str]]:
        return [
            (hexbytes(i.to_bytes(4, "little")), _describe(self._slot(i)))
            for i in range(self.max_entries)
            if self._slot(i)
        ]


class HashOfMapsMap(HashMap):
    """BPF_MAP_TYPE_HASH_OF_MAPS (hash layout, 8-byte values holding inner-map handles)."""

    map_type = MapType.HASH_OF_MAPS
    pinnable = False

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        if spec.value_size != 4:
            fail_create(spec, -errno.EINVAL, f"value_size must be 4, got {spec.value_size}")
        super().validate(spec)
        validate_template(spec)

    @classmethod
    def stored_value_size(cls, spec: MapSpec) -> int:
        return 8

    def _attach(self, plan: Plan) -> None:
        super()._attach(plan)
        self._refs = _InnerRefs()

    def _handle_at(self, slot: int) -> int:
        return int(U64.unpack_from(self._buf, self._voff(slot))[0])

    def lookup(self, key: bytes) -> int:
        if len(key) != self._ks:
            return 0
        with self._rguard:
            slot = self._find(key, hash32(key))
            return self._handle_at(slot) if slot else 0

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        return -errno.EINVAL

    def delete(self, key: bytes) -> int:
        return -errno.EINVAL

    def _encode_value(self, obj: Any, codec: Codec) -> Any:
        return _inner_from(obj)

    def _decode_value(self, raw: Any, codec: Codec) -> Any:
        return raw

    def _host_lookup(self, key: bytes) -> Any | None:
        with self._rguard:
            slot = self._find(key, hash32(key))
            return map_by_handle(self._handle_at(slot)) if slot else None

    def _host_update(self, key: bytes, value: Any, flags: int) -> int:
        err = self._check_flags(flags)
        if err:
            return err
        assert self.spec.inner is not None
        why = mismatch(self.spec.inner, value)
        if why:
            raise MapError(self.name, "update", errno.EINVAL, why)
        with self._wguard:
            slot = self._find(key, hash32(key))
            old = self._handle_at(slot) if slot else 0
            err = self._upd(key, value.handle.to_bytes(8, "little"), flags, None)
            if not err:
                self._refs.add(value)
                self._refs.drop(old)
            return err

    def _host_delete(self, key: bytes) -> int:
        with self._wguard:
            slot = self._find(key, hash32(key))
            if not slot:
                return -errno.ENOENT
            old = self._handle_at(slot)
            self._remove_slot(slot)
            self._refs.drop(old)
            return 0

    def _host_clear(self) -> None:
        super()._host_clear()
        self._refs.clear()

    def _dump_rows(self) -> list[tuple[str, str]]:
        with self._rguard:
            return [(hexbytes(self._key_of(s)), _describe(self._handle_at(s))) for s in self._slots()]


def _describe(handle: int) -> str:
    m = map_by_handle(handle)
    return f"map {m.name!r} (handle 0x{handle:x})" if m is not None else f"handle 0x{handle:x}"
