"""Helper prototypes as data: what each helper accepts and returns, for the verifier.

A :class:`HelperProto` says, for each of r1-r5, which kind of value the helper expects
(:class:`ArgKind`), what r0 holds afterwards (:class:`RetKind`), which map types a map argument
may have, whether the call can move the packet (so every packet pointer must be forgotten), and,
for helpers that call back into the program, the callback's own signature (:class:`Callback`).
The verifier reads nothing else about helpers; a plugin host declares its API the same way (see
:mod:`pybpf.progtypes.platform`).

The kinds mirror the Linux verifier's ``bpf_arg_type`` / ``bpf_return_type`` families, so the
prototypes of Linux helpers below are transcriptions of their documented signatures
(``include/uapi/linux/bpf.h``).  Ids follow Linux numbering.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum


class ArgKind(Enum):
    """What a helper expects in one argument register."""

    ANYTHING = "anything"  # any initialised value (scalar or pointer)
    SCALAR = "scalar"  # an initialised scalar
    CONST_MAP_PTR = "map_ptr"  # a map reference (lddw map_idx)
    PTR_TO_MAP_KEY = "map_key"  # key_size readable bytes (stack, map value, ...)
    PTR_TO_MAP_VALUE = "map_value"  # value_size readable bytes
    PTR_TO_UNINIT_MAP_VALUE = "uninit_map_value"  # value_size writable bytes, filled by the helper
    PTR_TO_MEM = "mem"  # readable initialised memory; size in the next CONST_SIZE argument
    PTR_TO_UNINIT_MEM = "uninit_mem"  # writable memory the helper fills; size in the next argument
    CONST_SIZE = "const_size"  # size of the previous memory argument, > 0 and bounded
    CONST_SIZE_OR_ZERO = "const_size_or_zero"  # the same, 0 allowed
    CONST_ALLOC_SIZE_OR_ZERO = "alloc_size"  # a known constant: size of memory the helper returns
    PTR_TO_CTX = "ctx"  # the unmodified context pointer
    PTR_TO_FUNC = "func"  # a callback (lddw func) with the signature in HelperProto.callback
    PTR_TO_STACK = "stack"  # a pointer into a stack frame (callback context)
    PTR_TO_CONST_STR = "const_str"  # NUL-terminated string in read-only map memory
    PTR_TO_ALLOC_MEM = "alloc_mem"  # memory returned by an acquiring helper (ring buffer record)
    PTR_TO_LONG = "long"  # 8 writable bytes (result of strtol)
    PTR_TO_SPIN_LOCK = "spin_lock"  # a lock inside a map value


# Argument kinds that take a pointer to memory whose size is given by the next argument.
SIZED_MEMORY = frozenset({ArgKind.PTR_TO_MEM, ArgKind.PTR_TO_UNINIT_MEM})
SIZE_KINDS = frozenset({ArgKind.CONST_SIZE, ArgKind.CONST_SIZE_OR_ZERO})


@dataclass(frozen=True)
class Arg:
    """One argument: its kind, whether NULL (scalar 0) is accepted, and, for map arguments, the
    allowed map types (None = any)."""

    kind: ArgKind
    nullable: bool = False
    map_types: frozenset[int] | None = None


class RetKind(Enum):
    """What r0 holds after the call."""

    INTEGER = "integer"  # a scalar in HelperProto.ret_range
    VOID = "void"  # nothing usable (r0 is left uninitialised)
    MAP_VALUE_OR_NULL = "map_value_or_null"  # a value of the map argument, or NULL
    ALLOC_MEM_OR_NULL = "alloc_mem_or_null"  # acquired memory of the constant-size argument, or NULL
    REGION = "region"  # a pointer to a platform memory region (HelperProto.region)
    REGION_OR_NULL = "region_or_null"


class CbArg(Enum):
    """What a callback receives in one register."""

    SCALAR = "scalar"  # a scalar in the given range
    MAP = "map"  # the map the helper was given
    MAP_KEY = "map_key"  # a read-only pointer to a key of that map
    MAP_VALUE = "map_value"  # a pointer to a value of that map
    COPY = "copy"  # the value of one of the helper's arguments (the callback context)


@dataclass(frozen=True)
class CallbackArg:
    kind: CbArg
    lo: int = 0  # SCALAR range
    hi: int = (1 << 64) - 1
    source: int = 0  # for MAP/MAP_KEY/MAP_VALUE/COPY: the helper argument number (1-5)


@dataclass(frozen=True)
class Callback:
    """The signature of a callback: its arguments, the range its r0 must be in, and which helper
    argument carries the function (and which carries the map, if any)."""

    func_arg: int
    args: tuple[CallbackArg, ...]
    ret_lo: int = 0
    ret_hi: int = 1


@dataclass(frozen=True)
class HelperProto:
    """The verifier's view of one helper."""

    id: int
    name: str
    args: tuple[Arg, ...] = ()
    ret: RetKind = RetKind.INTEGER
    ret_range: tuple[int, int] | None = None  # signed bounds of an INTEGER result (None = any)
    invalidates_packet: bool = False
    callback: Callback | None = None
    releases: bool = False  # the PTR_TO_ALLOC_MEM argument is released (ring buffer submit)
    tail_call: bool = False  # on success control never comes back (bpf_tail_call)
    region: str = ""  # for REGION returns: the platform region the pointer points to
    doc: str = ""


# -- map type ids (enum bpf_map_type) --------------------------------------------------------------
HASH, ARRAY, PROG_ARRAY, PERF_EVENT_ARRAY, PERCPU_HASH, PERCPU_ARRAY = 1, 2, 3, 4, 5, 6
STACK_TRACE, CGROUP_ARRAY, LRU_HASH, LRU_PERCPU_HASH, LPM_TRIE = 7, 8, 9, 10, 11
ARRAY_OF_MAPS, HASH_OF_MAPS, DEVMAP, SOCKMAP, CPUMAP, XSKMAP, SOCKHASH = 12, 13, 14, 15, 16, 17, 18
QUEUE, STACK, RINGBUF, BLOOM_FILTER, DEVMAP_HASH = 22, 23, 27, 30, 25

MAP_OF_MAPS = frozenset({ARRAY_OF_MAPS, HASH_OF_MAPS})
# Maps whose elements programs address by key and read or write in place.
KEYED = frozenset({HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY, LRU_HASH, LRU_PERCPU_HASH, LPM_TRIE})
LOOKUP_MAPS = KEYED | MAP_OF_MAPS | frozenset({SOCKMAP, SOCKHASH, DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP})
UPDATE_MAPS = KEYED | frozenset({SOCKMAP, SOCKHASH})
DELETE_MAPS = KEYED | MAP_OF_MAPS | frozenset({SOCKMAP, SOCKHASH, DEVMAP, DEVMAP_HASH})
PERCPU_MAPS = frozenset({PERCPU_HASH, PERCPU_ARRAY, LRU_PERCPU_HASH})
ITERABLE_MAPS = frozenset({HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY, LRU_HASH, LRU_PERCPU_HASH})
REDIRECT_MAPS = frozenset({DEVMAP, DEVMAP_HASH, CPUMAP, XSKMAP})
# Maps whose values are plain data a program may hold a pointer to.
VALUE_MAPS = KEYED

U32_MAX = (1 << 32) - 1
BPF_MAX_LOOPS = 1 << 23

_A = Arg
_K = ArgKind


def _map(types: Iterable[int]) -> Arg:
    return Arg(ArgKind.CONST_MAP_PTR, map_types=frozenset(types))


_ANY = Arg(ArgKind.ANYTHING)
_CTX = Arg(ArgKind.PTR_TO_CTX)
_KEY = Arg(ArgKind.PTR_TO_MAP_KEY)
_MEM = Arg(ArgKind.PTR_TO_MEM)
_MEM_OR_NULL = Arg(ArgKind.PTR_TO_MEM, nullable=True)
_UNINIT = Arg(ArgKind.PTR_TO_UNINIT_MEM)
_UNINIT_OR_NULL = Arg(ArgKind.PTR_TO_UNINIT_MEM, nullable=True)
_SIZE = Arg(ArgKind.CONST_SIZE)
_SIZE0 = Arg(ArgKind.CONST_SIZE_OR_ZERO)


def _p(
    hid: int, name: str, *args: Arg, ret: RetKind = RetKind.INTEGER, rng: tuple[int, int] | None = None, **kw: object
) -> HelperProto:
    return HelperProto(hid, name, tuple(args), ret, rng, **kw)  # type: ignore[arg-type]


_LOOP_CB = Callback(
    func_arg=2,
    args=(CallbackArg(CbArg.SCALAR, 0, BPF_MAX_LOOPS - 1), CallbackArg(CbArg.COPY, source=3)),
)
_FOR_EACH_CB = Callback(
    func_arg=2,
    args=(
        CallbackArg(CbArg.MAP, source=1),
        CallbackArg(CbArg.MAP_KEY, source=1),
        CallbackArg(CbArg.MAP_VALUE, source=1),
        CallbackArg(CbArg.COPY, source=3),
    ),
)

LINUX_PROTOTYPES: tuple[HelperProto, ...] = (
    _p(1, "map_lookup_elem", _map(LOOKUP_MAPS), _KEY, ret=RetKind.MAP_VALUE_OR_NULL),
    _p(2, "map_update_elem", _map(UPDATE_MAPS), _KEY, _A(_K.PTR_TO_MAP_VALUE), _ANY),
    _p(3, "map_delete_elem", _map(DELETE_MAPS), _KEY),
    _p(4, "probe_read", _UNINIT, _SIZE0, _ANY),
    _p(5, "ktime_get_ns"),
    _p(6, "trace_printk", _MEM, _SIZE),  # r3-r5: optional varargs, unchecked (as in Linux)
    _p(7, "get_prandom_u32", rng=(0, U32_MAX)),
    _p(8, "get_smp_processor_id", rng=(0, U32_MAX)),
    _p(9, "skb_store_bytes", _CTX, _ANY, _MEM, _SIZE, _ANY, invalidates_packet=True),
    _p(10, "l3_csum_replace", _CTX, _ANY, _ANY, _ANY, _ANY, invalidates_packet=True),
    _p(11, "l4_csum_replace", _CTX, _ANY, _ANY, _ANY, _ANY, invalidates_packet=True),
    _p(12, "tail_call", _CTX, _map({PROG_ARRAY}), _ANY, tail_call=True),
    _p(14, "get_current_pid_tgid"),
    _p(15, "get_current_uid_gid"),
    _p(16, "get_current_comm", _UNINIT, _SIZE),
    _p(23, "redirect", _ANY, _ANY),
    _p(26, "skb_load_bytes", _CTX, _ANY, _UNINIT, _SIZE),
    _p(28, "csum_diff", _MEM_OR_NULL, _SIZE0, _MEM_OR_NULL, _SIZE0, _ANY),
    _p(34, "get_hash_recalc", _CTX, rng=(0, U32_MAX)),
    _p(38, "skb_change_tail", _CTX, _ANY, _ANY, invalidates_packet=True),
    _p(42, "get_numa_node_id"),
    _p(44, "xdp_adjust_head", _CTX, _ANY, invalidates_packet=True),
    _p(45, "probe_read_str", _UNINIT, _SIZE0, _ANY),
    _p(50, "skb_adjust_room", _CTX, _ANY, _ANY, _ANY, invalidates_packet=True),
    _p(51, "redirect_map", _map(REDIRECT_MAPS), _ANY, _ANY),
    _p(54, "xdp_adjust_meta", _CTX, _ANY, invalidates_packet=True),
    _p(65, "xdp_adjust_tail", _CTX, _ANY, invalidates_packet=True),
    _p(87, "map_push_elem", _map({QUEUE, STACK, BLOOM_FILTER}), _A(_K.PTR_TO_MAP_VALUE), _ANY),
    _p(88, "map_pop_elem", _map({QUEUE, STACK}), _A(_K.PTR_TO_UNINIT_MAP_VALUE)),
    _p(89, "map_peek_elem", _map({QUEUE, STACK, BLOOM_FILTER}), _A(_K.PTR_TO_UNINIT_MAP_VALUE)),
    _p(93, "spin_lock", _A(_K.PTR_TO_SPIN_LOCK), ret=RetKind.VOID),
    _p(94, "spin_unlock", _A(_K.PTR_TO_SPIN_LOCK), ret=RetKind.VOID),
    _p(105, "strtol", _MEM, _SIZE, _ANY, _A(_K.PTR_TO_LONG)),
    _p(106, "strtoul", _MEM, _SIZE, _ANY, _A(_K.PTR_TO_LONG)),
    _p(112, "probe_read_user", _UNINIT, _SIZE0, _ANY),
    _p(113, "probe_read_kernel", _UNINIT, _SIZE0, _ANY),
    _p(114, "probe_read_user_str", _UNINIT, _SIZE0, _ANY),
    _p(115, "probe_read_kernel_str", _UNINIT, _SIZE0, _ANY),
    _p(118, "jiffies64"),
    _p(125, "ktime_get_boot_ns"),
    _p(130, "ringbuf_output", _map({RINGBUF}), _MEM, _SIZE0, _ANY),
    _p(131, "ringbuf_reserve", _map({RINGBUF}), _A(_K.CONST_ALLOC_SIZE_OR_ZERO), _ANY, ret=RetKind.ALLOC_MEM_OR_NULL),
    _p(132, "ringbuf_submit", _A(_K.PTR_TO_ALLOC_MEM), _ANY, ret=RetKind.VOID, releases=True),
    _p(133, "ringbuf_discard", _A(_K.PTR_TO_ALLOC_MEM), _ANY, ret=RetKind.VOID, releases=True),
    _p(134, "ringbuf_query", _map({RINGBUF}), _ANY),
    _p(160, "ktime_get_coarse_ns"),
    _p(
        164,
        "for_each_map_elem",
        _map(ITERABLE_MAPS),
        _A(_K.PTR_TO_FUNC),
        _A(_K.PTR_TO_STACK, nullable=True),
        _ANY,
        callback=_FOR_EACH_CB,
    ),
    _p(165, "snprintf", _UNINIT_OR_NULL, _SIZE0, _A(_K.PTR_TO_CONST_STR), _MEM_OR_NULL, _SIZE0),
    _p(177, "trace_vprintk", _MEM, _SIZE, _MEM_OR_NULL, _SIZE0),
    _p(181, "loop", _ANY, _A(_K.PTR_TO_FUNC), _A(_K.PTR_TO_STACK, nullable=True), _ANY, callback=_LOOP_CB),
    _p(182, "strncmp", _MEM, _SIZE, _A(_K.PTR_TO_CONST_STR)),
    _p(195, "map_lookup_percpu_elem", _map(PERCPU_MAPS), _KEY, _ANY, ret=RetKind.MAP_VALUE_OR_NULL),
    _p(208, "ktime_get_tai_ns"),
)


@dataclass
class PrototypeTable:
    """Helper prototypes by id (a mutable mapping so platforms can add their own)."""

    by_id: dict[int, HelperProto] = field(default_factory=dict)

    @classmethod
    def of(cls, protos: Iterable[HelperProto]) -> PrototypeTable:
        return cls({p.id: p for p in protos})

    def get(self, hid: int) -> HelperProto | None:
        return self.by_id.get(hid)

    def by_name(self, name: str) -> HelperProto | None:
        name = name.removeprefix("bpf_")
        for p in self.by_id.values():
            if p.name == name:
                return p
        return None

    def merged(self, extra: Mapping[int, HelperProto] | Iterable[HelperProto]) -> PrototypeTable:
        table = dict(self.by_id)
        items = extra.values() if isinstance(extra, Mapping) else extra
        for p in items:
            table[p.id] = p
        return PrototypeTable(table)


def linux_prototypes() -> PrototypeTable:
    return PrototypeTable.of(LINUX_PROTOTYPES)
