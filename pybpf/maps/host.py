"""The host (Python) side of keyed maps: dict-like access with codecs and MapError.

A keyed map (hash, array, LPM trie, map-of-maps, program array) implements a few raw primitives
on ``bytes`` (``_host_lookup``, ``_host_update`` ...); :class:`MapView` turns them into a
:class:`~collections.abc.MutableMapping` with key/value codecs, and :class:`KeyedMap` gives every
map the same dict-like methods through a raw-bytes view.  The map object itself is not a
``MutableMapping`` because its program-facing ``update``/``pop`` (errno-returning, like the
kernel) would clash with ``dict.update``/``dict.pop``; ``m.with_codec()`` is a full one.

Host semantics follow the ``bpf()`` syscall rather than the helpers: a lookup does not count as a
use for LRU maps, per-CPU values are read and written for every CPU at once (a list, like libbpf),
and map-of-maps values are map objects.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, MutableMapping
from typing import Any

from pybpf.maps.base import BpfMap
from pybpf.maps.codec import RAW, Codec, CodecSpec, make_codec
from pybpf.maps.constants import BPF_ANY
from pybpf.maps.errors import MapError, MapKeyError


class KeyedMap(BpfMap):
    """A map with keys; subclasses implement the ``_host_*`` primitives."""

    _raw_view: MapView | None = None

    # -- primitives (raw bytes; 0 / -errno) --------------------------------------------------------
    def _host_lookup(self, key: bytes) -> Any | None:
        """The stored value (bytes, list of per-CPU bytes, or an object), None when absent."""
        raise NotImplementedError

    def _host_update(self, key: bytes, value: Any, flags: int) -> int:
        raise NotImplementedError

    def _host_delete(self, key: bytes) -> int:
        raise NotImplementedError

    def _host_keys(self) -> list[bytes]:
        """Every key, in ``get_next_key`` order, taken under the lock (a snapshot)."""
        raise NotImplementedError

    def _host_len(self) -> int:
        raise NotImplementedError

    def _host_clear(self) -> None:
        raise NotImplementedError

    def _host_next_key(self, key: bytes | None) -> tuple[int, bytes]:
        return self.get_next_key(key)

    def _encode_key(self, obj: Any, codec: Codec) -> bytes:
        return codec.encode(obj, self.key_size)

    def _encode_value(self, obj: Any, codec: Codec) -> Any:
        return codec.encode(obj, self.value_size)

    def _decode_value(self, raw: Any, codec: Codec) -> Any:
        return codec.decode(raw)

    # -- dict-like API through a raw view ----------------------------------------------------------
    def _view(self) -> MapView:
        view = self._raw_view
        if view is None:
            view = self._raw_view = MapView(self)
        return view

    def with_codec(self, key: CodecSpec = None, value: CodecSpec = None) -> MapView:
        """A MutableMapping view of this map that encodes/decodes keys and values with codecs."""
        return MapView(self, key, value)

    def __getitem__(self, key: Any) -> Any:
        return self._view()[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._view()[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._view()[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._view())

    def __len__(self) -> int:
        return len(self._view())

    def __contains__(self, key: object) -> bool:
        return key in self._view()

    def keys(self) -> list[Any]:
        return list(self._view())

    def values(self) -> list[Any]:
        return [v for _, v in self._view().snapshot_items()]

    def items(self) -> list[tuple[Any, Any]]:
        return self._view().snapshot_items()

    def get(self, key: Any, default: Any = None) -> Any:
        return self._view().get(key, default)

    def clear(self) -> None:
        self._view().clear()

    def lookup_elem(self, key: Any) -> Any | None:
        """Host lookup: the value, or None when the key is absent."""
        return self._view().lookup_elem(key)

    def update_elem(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        """Host update with explicit flags; raises MapError with the kernel's errno."""
        self._view().update_elem(key, value, flags)

    def delete_elem(self, key: Any) -> None:
        """Host delete; raises MapKeyError (a KeyError) when the key is absent."""
        self._view().delete_elem(key)

    def next_key(self, key: Any = None) -> Any | None:
        """``BPF_MAP_GET_NEXT_KEY``: the key after ``key`` (first key for None), None at the end."""
        return self._view().next_key(key)


class MapView(MutableMapping[Any, Any]):
    """A keyed map seen through a key codec and a value codec (default: raw bytes)."""

    def __init__(self, m: KeyedMap, key: CodecSpec = None, value: CodecSpec = None) -> None:
        self.map = m
        self.key_codec = make_codec(key)
        self.value_codec = make_codec(value)

    def _key(self, key: Any) -> bytes:
        try:
            return self.map._encode_key(key, self.key_codec)
        except (ValueError, TypeError) as exc:
            raise MapError(self.map.name, "encode key", errno.EINVAL, str(exc)) from None

    def _value(self, value: Any) -> Any:
        try:
            return self.map._encode_value(value, self.value_codec)
        except (ValueError, TypeError) as exc:
            raise MapError(self.map.name, "encode value", errno.EINVAL, str(exc)) from None

    def lookup_elem(self, key: Any) -> Any | None:
        self.map._host_perm("lookup")
        raw = self.map._host_lookup(self._key(key))
        return None if raw is None else self.map._decode_value(raw, self.value_codec)

    def update_elem(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        self.map._host_perm("update")
        err = self.map._host_update(self._key(key), self._value(value), flags)
        if err:
            self.map._raise("update", err, flags)

    def delete_elem(self, key: Any) -> None:
        self.map._host_perm("delete")
        err = self.map._host_delete(self._key(key))
        if err:
            self.map._raise("delete", err)

    def next_key(self, key: Any = None) -> Any | None:
        self.map._host_perm("next_key")
        err, nxt = self.map._host_next_key(None if key is None else self._key(key))
        if err == -errno.ENOENT:
            return None
        if err:
            self.map._raise("next_key", err)
        return self.key_codec.decode(nxt)

    def snapshot_items(self) -> list[tuple[Any, Any]]:
        """(key, value) pairs for the keys present when called (keys deleted meanwhile are skipped)."""
        self.map._host_perm("lookup")
        out = []
        for kb in self.map._host_keys():
            raw = self.map._host_lookup(kb)
            if raw is not None:
                out.append((self.key_codec.decode(kb), self.map._decode_value(raw, self.value_codec)))
        return out

    # -- MutableMapping ------------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Any:
        value = self.lookup_elem(key)
        if value is None:
            raise MapKeyError(self.map.name, "lookup", errno.ENOENT, f"key {key!r} does not exist")
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update_elem(key, value, BPF_ANY)

    def __delitem__(self, key: Any) -> None:
        self.delete_elem(key)

    def __iter__(self) -> Iterator[Any]:
        self.map._host_perm("next_key")
        decode = self.key_codec.decode
        return iter([decode(kb) for kb in self.map._host_keys()])

    def __len__(self) -> int:
        return self.map._host_len()

    def __contains__(self, key: object) -> bool:
        return self.map._host_lookup(self._key(key)) is not None

    def clear(self) -> None:
        self.map._host_perm("delete")
        self.map._host_clear()

    def __repr__(self) -> str:
        return f"<MapView of {self.map!r} key={self.key_codec!r} value={self.value_codec!r}>"


__all__ = ["RAW", "KeyedMap", "MapView"]
