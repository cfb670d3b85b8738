"""Tests of pybpf.maps; the helpers here build specs and keys tersely."""

from __future__ import annotations

from typing import Any

from pybpf.maps import MapSpec, MapType, create_map, open_pinned


def k32(i: int) -> bytes:
    """A u32 key (little-endian)."""
    return i.to_bytes(4, "little")


def v64(i: int) -> bytes:
    return i.to_bytes(8, "little")


def make(map_type: MapType, key_size: int, value_size: int, max_entries: int, name: str = "m", **kw: Any) -> Any:
    """A new map; typed ``Any`` because tests use each type's own API (dict-like, push/pop, ...)."""
    return create_map(MapSpec(name, map_type, key_size, value_size, max_entries, **kw))


def reopen(path: Any, spec: MapSpec | None = None) -> Any:
    """``open_pinned`` typed ``Any``."""
    return open_pinned(path, spec)


def new(spec: MapSpec, **kw: Any) -> Any:
    """``create_map`` typed ``Any``, for the same reason."""
    return create_map(spec, **kw)
