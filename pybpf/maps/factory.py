"""``create_map``: validate a MapSpec with the kernel's rules and build the map of its type."""

from __future__ import annotations

import errno
import os

from pybpf.maps import percpu
from pybpf.maps.array import ArrayMap, PerCpuArrayMap
from pybpf.maps.base import BpfMap, MapSpec, Storage, fail_create
from pybpf.maps.bloom import BloomFilterMap
from pybpf.maps.constants import (
    LIBBPF_PIN_BY_NAME,
    LIBBPF_PIN_NONE,
    SUPPORTED_TYPES,
    MapType,
    type_name,
)
from pybpf.maps.errors import MapError
from pybpf.maps.hash import HashMap, PerCpuHashMap
from pybpf.maps.lpm import LpmTrieMap
from pybpf.maps.lru import LruHashMap, LruPerCpuHashMap
from pybpf.maps.mapofmaps import MAP_IN_MAP_TYPES, ArrayOfMapsMap, HashOfMapsMap
from pybpf.maps.progarray import ProgArrayMap
from pybpf.maps.queue import QueueMap, StackMap
from pybpf.maps.ringbuf import RingBufMap

MAP_CLASSES: dict[int, type[BpfMap]] = {
    MapType.HASH: HashMap,
    MapType.ARRAY: ArrayMap,
    MapType.PROG_ARRAY: ProgArrayMap,
    MapType.PERCPU_HASH: PerCpuHashMap,
    MapType.PERCPU_ARRAY: PerCpuArrayMap,
    MapType.LRU_HASH: LruHashMap,
    MapType.LRU_PERCPU_HASH: LruPerCpuHashMap,
    MapType.LPM_TRIE: LpmTrieMap,
    MapType.ARRAY_OF_MAPS: ArrayOfMapsMap,
    MapType.HASH_OF_MAPS: HashOfMapsMap,
    MapType.QUEUE: QueueMap,
    MapType.STACK: StackMap,
    MapType.RINGBUF: RingBufMap,
    MapType.BLOOM_FILTER: BloomFilterMap,
}
assert set(MAP_CLASSES) == set(SUPPORTED_TYPES)


def map_class(map_type: int) -> type[BpfMap] | None:
    return MAP_CLASSES.get(map_type)


def validate_spec(spec: MapSpec) -> type[BpfMap]:
    """Apply the kernel's creation checks to ``spec``; return the class that implements it."""
    for field in ("key_size", "value_size", "max_entries", "map_flags"):
        value = getattr(spec, field)
        if not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
            fail_create(spec, -errno.EINVAL, f"{field} must be a u32, got {value!r}")
    if not isinstance(spec.map_extra, int) or not 0 <= spec.map_extra < 1 << 64:
        fail_create(spec, -errno.EINVAL, f"map_extra must be a u64, got {spec.map_extra!r}")
    cls = MAP_CLASSES.get(spec.map_type)
    if cls is None:
        if spec.map_type in MapType.__members__.values() and spec.map_type != MapType.UNSPEC:
            fail_create(spec, -errno.EOPNOTSUPP, f"{type_name(spec.map_type)} maps are not implemented by pybpf")
        fail_create(spec, -errno.EINVAL, f"unknown map type {spec.map_type}")
    if spec.map_extra and spec.map_type != MapType.BLOOM_FILTER:
        fail_create(spec, -errno.EINVAL, "map_extra is only valid for BLOOM_FILTER")
    if spec.pinning not in (LIBBPF_PIN_NONE, LIBBPF_PIN_BY_NAME):
        fail_create(spec, -errno.EINVAL, f"unsupported pinning mode {spec.pinning}")
    cls.validate(spec)
    if spec.map_type in MAP_IN_MAP_TYPES and spec.inner is not None:
        try:
            validate_spec(spec.inner)
        except MapError as exc:
            raise MapError(spec.name, "create", exc.errno, f"inner map template: {exc.detail}") from None
    return cls


def create_map(spec: MapSpec, *, cpus: int | None = None, pin_root: str | os.PathLike[str] | None = None) -> BpfMap:
    """Create the map ``spec`` describes.

    ``cpus`` overrides the number of virtual CPUs (:func:`pybpf.maps.percpu.cpus`) for per-CPU
    layouts.  With ``spec.pinning == LIBBPF_PIN_BY_NAME`` the map lives in the file
    ``pin_root/name`` (default root :func:`pybpf.maps.pinning.default_pin_root`): an existing pin
    is reused if it matches the spec (an error naming the mismatch otherwise), as libbpf does.
    """
    cls = validate_spec(spec)
    ncpus = percpu.cpus() if cpus is None else cpus
    if ncpus < 1:
        raise ValueError(f"cpus must be at least 1, got {ncpus}")
    if spec.pinning == LIBBPF_PIN_BY_NAME:
        from pybpf.maps.pinning import create_or_open_pinned

        return create_or_open_pinned(spec, cls, ncpus, pin_root)
    size = cls.plan(spec, ncpus)["size"]
    return cls(spec, Storage(bytearray(size)), ncpus, fresh=True)
