"""eBPF maps with the Linux kernel's semantics, each in one fixed-size buffer.

Start with :func:`create_map` and :class:`MapSpec`::

    from pybpf.maps import MapSpec, MapType, create_map

    counters = create_map(MapSpec("counters", MapType.HASH, key_size=4, value_size=8, max_entries=1024))
    counters[1] = 42                      # host API: ints, bytes, ctypes; raises MapError
    addr = counters.lookup(b"\\x01\\0\\0\\0")  # program-facing: address of the value, 0 for NULL

Module map: :mod:`~pybpf.maps.base` (spec, header, locking, handles), :mod:`~pybpf.maps.host`
(dict-like API), one module per map family, :mod:`~pybpf.maps.pinning` (shared files),
:mod:`~pybpf.maps.percpu` (virtual CPUs), :mod:`~pybpf.maps.codec`, :mod:`~pybpf.maps.hashing`.
"""

from pybpf.maps import percpu
from pybpf.maps.array import ArrayMap, PerCpuArrayMap
from pybpf.maps.base import BpfMap, MapSpec, map_by_handle
from pybpf.maps.bloom import BloomFilterMap
from pybpf.maps.codec import Codec, CtypesCodec, IntCodec, RawCodec, StructCodec, make_codec
from pybpf.maps.constants import (
    BPF_ANY,
    BPF_EXIST,
    BPF_F_INNER_MAP,
    BPF_F_LOCK,
    BPF_F_NO_COMMON_LRU,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY,
    BPF_F_RDONLY_PROG,
    BPF_F_WRONLY,
    BPF_F_WRONLY_PROG,
    BPF_NOEXIST,
    BPF_RB_FORCE_WAKEUP,
    BPF_RB_NO_WAKEUP,
    LIBBPF_PIN_BY_NAME,
    LIBBPF_PIN_NONE,
    MAX_TAIL_CALLS,
    MapType,
)
from pybpf.maps.errors import ENOTSUPP, MapError, MapKeyError
from pybpf.maps.factory import create_map, map_class
from pybpf.maps.hash import HashMap, PerCpuHashMap
from pybpf.maps.host import KeyedMap, MapView
from pybpf.maps.lpm import LpmTrieMap
from pybpf.maps.lru import LruHashMap, LruPerCpuHashMap
from pybpf.maps.mapofmaps import ArrayOfMapsMap, HashOfMapsMap
from pybpf.maps.percpu import cpus, current_cpu, on_cpu, set_cpus, set_current_cpu
from pybpf.maps.pinning import default_pin_root, dump_pinned, open_pinned, pin, unpin
from pybpf.maps.progarray import ProgArrayMap, program_by_id, register_program
from pybpf.maps.queue import QueueMap, StackMap
from pybpf.maps.ringbuf import RingBufConsumer, RingBufMap, find_ringbuf

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_INNER_MAP",
    "BPF_F_LOCK",
    "BPF_F_NO_COMMON_LRU",
    "BPF_F_NO_PREALLOC",
    "BPF_F_RDONLY",
    "BPF_F_RDONLY_PROG",
    "BPF_F_WRONLY",
    "BPF_F_WRONLY_PROG",
    "BPF_NOEXIST",
    "BPF_RB_FORCE_WAKEUP",
    "BPF_RB_NO_WAKEUP",
    "ENOTSUPP",
    "LIBBPF_PIN_BY_NAME",
    "LIBBPF_PIN_NONE",
    "MAX_TAIL_CALLS",
    "ArrayMap",
    "ArrayOfMapsMap",
    "BloomFilterMap",
    "BpfMap",
    "Codec",
    "CtypesCodec",
    "HashMap",
    "HashOfMapsMap",
    "IntCodec",
    "KeyedMap",
    "LpmTrieMap",
    "LruHashMap",
    "LruPerCpuHashMap",
    "MapError",
    "MapKeyError",
    "MapSpec",
    "MapType",
    "MapView",
    "PerCpuArrayMap",
    "PerCpuHashMap",
    "ProgArrayMap",
    "QueueMap",
    "RawCodec",
    "RingBufConsumer",
    "RingBufMap",
    "StackMap",
    "StructCodec",
    "cpus",
    "create_map",
    "current_cpu",
    "default_pin_root",
    "dump_pinned",
    "find_ringbuf",
    "make_codec",
    "map_by_handle",
    "map_class",
    "on_cpu",
    "open_pinned",
    "percpu",
    "pin",
    "program_by_id",
    "register_program",
    "set_cpus",
    "set_current_cpu",
    "unpin",
]
