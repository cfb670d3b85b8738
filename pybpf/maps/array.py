"""ARRAY and PERCPU_ARRAY maps (``kernel/bpf/arraymap.c`` semantics).

Layout after the 256-byte header: ``max_entries x n x vs`` bytes of values, ``vs =
round8(value_size)`` (the kernel's element stride), ``n`` = ncpus for PERCPU_ARRAY else 1; element
``i`` on CPU ``c`` is at ``256 + (i*n + c)*vs``.  All of it is program-visible, zero-filled at
creation, and there are no state words: every slot always exists.  A lookup is a bounds check
and an add, so it takes no lock.

Keys are u32 little-endian indices.  Results: lookup past the end is NULL, update past the end
``-E2BIG``, update with ``BPF_NOEXIST`` ``-EEXIST``, delete ``-EINVAL``; ``get_next_key`` of an
index past the end is 0 and of the last index ``-ENOENT``.  The host ``clear()`` zero-fills every
value (arrays cannot delete).
"""

from __future__ import annotations

import errno
from typing import Any

from pybpf.maps.base import (
    HEADER_SIZE,
    MapSpec,
    Plan,
    access_flags_ok,
    fail_create,
    round8,
)
from pybpf.maps.codec import Codec
from pybpf.maps.constants import (
    BPF_EXIST,
    BPF_F_ACCESS_MASK,
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_MMAPABLE,
    BPF_F_NUMA_NODE,
    BPF_F_PRESERVE_ELEMS,
    BPF_F_RDONLY_PROG,
    BPF_NOEXIST,
    PCPU_MIN_UNIT_SIZE,
    MapType,
    type_name,
)
from pybpf.maps.host import KeyedMap

ARRAY_CREATE_FLAG_MASK = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | BPF_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP
U32_MAX = 0xFFFFFFFF
INT_MAX = 0x7FFFFFFF


def validate_array_attrs(spec: MapSpec, percpu: bool = False) -> None:
    """``array_map_alloc_check``: shared by ARRAY, PERCPU_ARRAY, PROG_ARRAY and ARRAY_OF_MAPS."""
    flags = spec.map_flags
    if spec.max_entries == 0:
        fail_create(spec, -errno.EINVAL, "max_entries must be non-zero")
    if spec.key_size != 4:
        fail_create(spec, -errno.EINVAL, f"key_size must be 4 for {type_name(spec.map_type)}, got {spec.key_size}")
    if spec.value_size == 0:
        fail_create(spec, -errno.EINVAL, "value_size must be non-zero")
    if flags & ~ARRAY_CREATE_FLAG_MASK or not access_flags_ok(flags) or (percpu and flags & BPF_F_NUMA_NODE):
        fail_create(spec, -errno.EINVAL, f"map_flags 0x{flags:x} not valid for {type_name(spec.map_type)}")
    if spec.map_type != MapType.ARRAY and flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP):
        fail_create(spec, -errno.EINVAL, "BPF_F_MMAPABLE and BPF_F_INNER_MAP are only valid for ARRAY")
    if flags & BPF_F_PRESERVE_ELEMS:
        fail_create(spec, -errno.EINVAL, "BPF_F_PRESERVE_ELEMS is only valid for PERF_EVENT_ARRAY")
    if spec.value_size > INT_MAX:
        fail_create(spec, -errno.E2BIG, "value_size too large")
    if percpu and round8(spec.value_size) > PCPU_MIN_UNIT_SIZE:
        fail_create(spec, -errno.E2BIG, f"per-CPU value_size is limited to {PCPU_MIN_UNIT_SIZE}")


def array_next_key(key: bytes | None, max_entries: int) -> tuple[int, bytes]:
    """``array_map_get_next_key``: NULL or an index past the end → 0; the last index → -ENOENT."""
    if key is not None and len(key) != 4:
        return -errno.EINVAL, b""
    index = U32_MAX if key is None else int.from_bytes(key, "little")
    if index >= max_entries:
        return 0, bytes(4)
    if index == max_entries - 1:
        return -errno.ENOENT, b""
    return 0, (index + 1).to_bytes(4, "little")


class ArrayMap(KeyedMap):
    """BPF_MAP_TYPE_ARRAY."""

    map_type = MapType.ARRAY

    @classmethod
    def validate(cls, spec: MapSpec) -> None:
        validate_array_attrs(spec, cls.is_percpu)
        if spec.spin_lock_off >= 0 and (cls.is_percpu or spec.spin_lock_off + 4 > spec.value_size):
            fail_create(spec, -errno.EINVAL, "bpf_spin_lock is only supported inside HASH/ARRAY values")

    @classmethod
    def plan(cls, spec: MapSpec, ncpus: int) -> Plan:
        vn = ncpus if cls.is_percpu else 1
        vs = round8(spec.value_size)
        size = HEADER_SIZE + spec.max_entries * vn * vs
        return {"size": size, "vis_lo": HEADER_SIZE, "vis_hi": size, "vs": vs, "vn": vn}

    def _attach(self, plan: Plan) -> None:
        self._vo = HEADER_SIZE
        self._vs = plan["vs"]
        self._vn = plan["vn"]
        self._lock_off = self.spec.spin_lock_off

    def _off(self, index: int, cpu: int = 0) -> int:
        return self._vo + (index * self._vn + cpu) * self._vs

    def _check_update(self, key: bytes, flags: int) -> tuple[int, int]:
        """(errno, index) with the kernel's order of checks."""
        if flags < 0 or (flags & ~BPF_F_LOCK) > BPF_EXIST or (self.is_percpu and flags > BPF_EXIST):
            return -errno.EINVAL, 0
        if len(key) != 4:
            return -errno.EINVAL, 0
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return -errno.E2BIG, index
        if flags & BPF_NOEXIST:
            return -errno.EEXIST, index
        if flags & BPF_F_LOCK and self._lock_off < 0:
            return -errno.EINVAL, index
        return 0, index

    def _write(self, off: int, value: bytes) -> None:
        buf = self._buf
        lo = self._lock_off
        if lo < 0:
            buf[off : off + self.value_size] = value
        else:
            buf[off : off + lo] = value[:lo]
            buf[off + lo + 4 : off + self.value_size] = value[lo + 4 :]

    # -- program-facing -------------------------------------------------------------------------------
    def lookup(self, key: bytes) -> int:
        if len(key) != 4:
            return 0
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return 0
        if self.is_percpu:
            return self._base + self._off(index, self._cpu())
        return self._base + self._vo + index * self._vs

    def lookup_percpu(self, key: bytes, cpu: int) -> int:
        if not self.is_percpu or not 0 <= cpu < self._vn or len(key) != 4:
            return 0
        index = int.from_bytes(key, "little")
        return self._base + self._off(index, cpu) if index < self.max_entries else 0

    def update(self, key: bytes, value: bytes, flags: int = 0) -> int:
        if self.map_flags & BPF_F_RDONLY_PROG:
            return -errno.EPERM
        err, index = self._check_update(key, flags)
        if err:
            return err
        if len(value) != self.value_size:
            return -errno.EINVAL
        with self._wguard:
            self._write(self._off(index, self._cpu() if self.is_percpu else 0), value)
        return 0

    def delete(self, key: bytes) -> int:
        return -errno.EINVAL

    def get_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        return array_next_key(key, self.max_entries)

    def elements(self) -> list[tuple[bytes, int]]:
        """(key, value address on the current CPU) of every element, for ``bpf_for_each_map_elem``."""
        cpu = self._cpu() if self.is_percpu else 0
        return [(i.to_bytes(4, "little"), self._base + self._off(i, cpu)) for i in range(self.max_entries)]

    # -- host -------------------------------------------------------------------------------------------
    def _encode_value(self, obj: Any, codec: Codec) -> Any:
        size = self.value_size
        if not self.is_percpu:
            return codec.encode(obj, size)
        if isinstance(obj, list):
            if len(obj) != self._vn:
                raise ValueError(f"per-CPU value needs {self._vn} values (one per CPU), got {len(obj)}")
            return [codec.encode(v, size) for v in obj]
        if isinstance(obj, (bytes, bytearray)) and len(obj) == self._vn * self._vs and len(obj) != size:
            return [bytes(obj[i * self._vs : i * self._vs + size]) for i in range(self._vn)]
        return [codec.encode(obj, size)] * self._vn

    def _decode_value(self, raw: Any, codec: Codec) -> Any:
        return [codec.decode(v) for v in raw] if self.is_percpu else codec.decode(raw)

    def _read(self, index: int) -> Any:
        buf = self._buf
        size = self.value_size
        if self.is_percpu:
            return [bytes(buf[o : o + size]) for o in (self._off(index, c) for c in range(self._vn))]
        o = self._off(index)
        data = bytes(buf[o : o + size])
        lo = self._lock_off
        return data if lo < 0 else data[:lo] + bytes(4) + data[lo + 4 :]

    def _host_lookup(self, key: bytes) -> Any | None:
        index = int.from_bytes(key, "little")
        if index >= self.max_entries:
            return None
        with self._rguard:
            return self._read(index)

    def _host_update(self, key: bytes, value: Any, flags: int) -> int:
        err, index = self._check_update(key, flags)
        if err:
            return err
        with self._wguard:
            if self.is_percpu:
                for cpu, v in enumerate(value):
                    o = self._off(index, cpu)
                    self._buf[o : o + self.value_size] = v
            else:
                self._write(self._off(index), value)
        return 0

    def _host_delete(self, key: bytes) -> int:
        return -errno.EINVAL

    def _host_keys(self) -> list[bytes]:
        return [i.to_bytes(4, "little") for i in range(self.max_entries)]

    def _host_len(self) -> int:
        return self.max_entries

    def _host_clear(self) -> None:
        with self._wguard:
            self._buf[self._vo : self._size] = bytes(self._size - self._vo)

    def _explain(self, op: str, err: int, flags: int = 0) -> str:
        e = abs(err)
        if op == "update" and e == errno.E2BIG:
            return f"index out of range, max_entries {self.max_entries}"
        if op == "update" and e == errno.EEXIST:
            return "array elements always exist, BPF_NOEXIST"
        if op == "delete" and e == errno.EINVAL:
            return "array elements cannot be deleted"
        return super()._explain(op, err, flags)

    def _dump_rows(self) -> list[tuple[str, str]]:
        rows = []
        with self._rguard:
            for i in range(self.max_entries):
                value = self._read(i)
                if self.max_entries > 64 and not any(any(v) for v in (value if self.is_percpu else [value])):
                    continue
                rows.append((self.key_text(i.to_bytes(4, "little")), self.value_text(value)))
        return rows

    def _dump_info(self) -> list[str]:
        return ["(all-zero elements are not shown)"] if self.max_entries > 64 else []


class PerCpuArrayMap(ArrayMap):
    """BPF_MAP_TYPE_PERCPU_ARRAY: one value per virtual CPU."""

    map_type = MapType.PERCPU_ARRAY
    is_percpu = True
