"""Numbers from the Linux UAPI (``include/uapi/linux/bpf.h``) that map code and its callers share.

They live in one module so helpers, the ELF loader and the maps agree on every value without
importing each other.
"""

from __future__ import annotations

from enum import IntEnum


class MapType(IntEnum):
    """``enum bpf_map_type``; pybpf implements the types marked in :data:`SUPPORTED_TYPES`."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33


SUPPORTED_TYPES = frozenset(
    {
        MapType.HASH,
        MapType.ARRAY,
        MapType.PROG_ARRAY,
        MapType.PERCPU_HASH,
        MapType.PERCPU_ARRAY,
        MapType.LRU_HASH,
        MapType.LRU_PERCPU_HASH,
        MapType.LPM_TRIE,
        MapType.ARRAY_OF_MAPS,
        MapType.HASH_OF_MAPS,
        MapType.QUEUE,
        MapType.STACK,
        MapType.RINGBUF,
        MapType.BLOOM_FILTER,
    }
)


def type_name(map_type: int) -> str:
    """``HASH`` for 1; ``type 99`` for numbers the UAPI does not define."""
    try:
        return MapType(map_type).name
    except ValueError:
        return f"type {map_type}"


# -- update flags (BPF_MAP_UPDATE_ELEM, bpf_map_update_elem, bpf_map_push_elem) ------------------
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2
BPF_F_LOCK = 4

# -- creation flags (map_flags) --------------------------------------------------------------------
BPF_F_NO_PREALLOC = 1
BPF_F_NO_COMMON_LRU = 2
BPF_F_NUMA_NODE = 4
BPF_F_RDONLY = 8
BPF_F_WRONLY = 16
BPF_F_STACK_BUILD_ID = 32
BPF_F_ZERO_SEED = 64
BPF_F_RDONLY_PROG = 128
BPF_F_WRONLY_PROG = 256
BPF_F_CLONE = 512
BPF_F_MMAPABLE = 1024
BPF_F_PRESERVE_ELEMS = 2048
BPF_F_INNER_MAP = 4096
BPF_F_ACCESS_MASK = BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG

# -- ring buffer ----------------------------------------------------------------------------------
BPF_RB_NO_WAKEUP = 1
BPF_RB_FORCE_WAKEUP = 2
BPF_RB_AVAIL_DATA = 0
BPF_RB_RING_SIZE = 1
BPF_RB_CONS_POS = 2
BPF_RB_PROD_POS = 3
BPF_RINGBUF_BUSY_BIT = 1 << 31
BPF_RINGBUF_DISCARD_BIT = 1 << 30
BPF_RINGBUF_HDR_SZ = 8

# -- pinning (libbpf's LIBBPF_PIN_*) -----------------------------------------------------------------
LIBBPF_PIN_NONE = 0
LIBBPF_PIN_BY_NAME = 1

#: ``MAX_TAIL_CALL_CNT``: a chain of tail calls may make at most this many calls.
MAX_TAIL_CALLS = 33

# -- kernel size limits used by creation checks (x86-64 defaults) ------------------------------------
KMALLOC_MAX_SIZE = 1 << 22
PCPU_MIN_UNIT_SIZE = 32768
HTAB_ELEM_SIZE = 48  # sizeof(struct htab_elem) on x86-64, part of the key+value limit
