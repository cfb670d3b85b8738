"""What the verifier knows about the maps a program refers to.

Programs name maps with ``lddw`` pseudo sources: src 5 (``map_idx``, imm = index into the map
list) gives a map reference, src 6 (``map_idx_value``, imm = index, second imm = offset) a
pointer into the single value of a global-data map.  The older src 1 / src 2 forms (``map_fd`` /
``map_value``) are accepted with the same meaning, the imm read as an index into the same list.

:class:`MapInfo` is the verifier's copy of a map definition: type, sizes, read-only flag and,
for read-only maps, the initial contents (loads at constant offsets from frozen read-only data
are folded to constants, and string arguments are checked for their terminating NUL, as Linux
does for ``.rodata``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pybpf.helpers.prototypes import MAP_OF_MAPS

BPF_F_RDONLY_PROG = 0x80

MAP_TYPE_IDS: dict[str, int] = {
    "hash": 1,
    "array": 2,
    "prog_array": 3,
    "perf_event_array": 4,
    "percpu_hash": 5,
    "percpu_array": 6,
    "stack_trace": 7,
    "cgroup_array": 8,
    "lru_hash": 9,
    "lru_percpu_hash": 10,
    "lpm_trie": 11,
    "array_of_maps": 12,
    "hash_of_maps": 13,
    "devmap": 14,
    "sockmap": 15,
    "cpumap": 16,
    "xskmap": 17,
    "sockhash": 18,
    "queue": 22,
    "stack": 23,
    "devmap_hash": 25,
    "ringbuf": 27,
    "bloom_filter": 30,
}
MAP_TYPE_NAMES = {v: k for k, v in MAP_TYPE_IDS.items()}


class MapDefinitionLike(Protocol):
    """The fields of :class:`pybpf.elf.loader.MapDefinition` the verifier reads."""

    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int


@dataclass(frozen=True, eq=False)
class MapInfo:
    """One map as the verifier sees it; compared by identity (``index``)."""

    index: int
    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    read_only: bool = False
    initial: bytes | None = None
    inner: MapInfo | None = None

    @property
    def type_name(self) -> str:
        return MAP_TYPE_NAMES.get(self.map_type, str(self.map_type))

    @property
    def is_map_of_maps(self) -> bool:
        return self.map_type in MAP_OF_MAPS

    def short(self) -> str:
        return f"ks={self.key_size},vs={self.value_size}"


def map_info(index: int, definition: Any) -> MapInfo:
    """A :class:`MapInfo` from a loader ``MapDefinition`` (or anything with its fields)."""
    if isinstance(definition, MapInfo):
        return definition
    flags = int(getattr(definition, "map_flags", 0))
    read_only = bool(flags & BPF_F_RDONLY_PROG)
    inner_def = getattr(definition, "inner", None)
    inner = map_info(-1, inner_def) if inner_def is not None else None
    initial = getattr(definition, "initial", None)
    return MapInfo(
        index,
        str(definition.name),
        int(definition.map_type),
        int(definition.key_size),
        int(definition.value_size),
        int(definition.max_entries),
        read_only,
        bytes(initial) if (initial is not None and read_only) else None,
        inner,
    )


def map_infos(definitions: Iterable[Any]) -> list[MapInfo]:
    out: list[MapInfo] = []
    for i, d in enumerate(definitions):
        info = map_info(i, d)
        if info.index != i:
            info = MapInfo(
                i,
                info.name,
                info.map_type,
                info.key_size,
                info.value_size,
                info.max_entries,
                info.read_only,
                info.initial,
                info.inner,
            )
        out.append(info)
    return out
