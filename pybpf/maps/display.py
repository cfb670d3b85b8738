"""Map entries for people and for JSON: always the raw hex, decoded too when the map knows its types.

A map created from an object with BTF carries a :class:`~pybpf.maps.base.ValueFormat` for its
keys and values (``spec.key_btf`` / ``spec.value_btf``).  :class:`MapEntry` pairs one raw entry
with those formats for the capture-run summary, its JSON and ``pybpf run OBJ.o``: ``1  {packets:
80, bytes: 6675}`` where there is BTF, hex where there is none.  ``pybpf map dump`` decodes
through the same formats (:meth:`~pybpf.maps.base.BpfMap.value_text`) inside bpftool's table
style, spaced hex and per-CPU columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from pybpf.maps.base import BpfMap, ValueFormat


@dataclass(frozen=True)
class MapEntry:
    """One key and its value (a tuple with one value per CPU for per-CPU maps), as raw bytes."""

    key: bytes
    value: bytes | tuple[bytes, ...]
    key_format: ValueFormat | None = None
    value_format: ValueFormat | None = None

    @classmethod
    def of(cls, m: BpfMap, key: bytes, value: bytes | list[bytes] | tuple[bytes, ...]) -> MapEntry:
        """An entry of ``m`` (its spec says how to decode it)."""
        raw = tuple(bytes(v) for v in value) if isinstance(value, (list, tuple)) else bytes(value)
        return cls(bytes(key), raw, m.spec.key_btf, m.spec.value_btf)

    @property
    def percpu(self) -> bool:
        return isinstance(self.value, tuple)

    @property
    def values(self) -> tuple[bytes, ...]:
        """The value of each CPU (a one-element tuple for an ordinary map)."""
        return self.value if isinstance(self.value, tuple) else (self.value,)

    @property
    def key_hex(self) -> str:
        return self.key.hex()

    @property
    def value_hex(self) -> str:
        """The value in hex; per-CPU values joined by `` | ``."""
        return " | ".join(v.hex() for v in self.values)

    def decoded_key(self) -> Any:
        """The key as Python data, or None without BTF (or when it cannot be decoded)."""
        return self.key_format.decode(self.key) if self.key_format is not None else None

    def decoded_values(self) -> list[Any] | None:
        """Each CPU's value (one for ordinary maps) as Python data, or None when not decodable."""
        fmt = self.value_format
        if fmt is None:
            return None
        decoded = [fmt.decode(v) for v in self.values]
        return None if any(d is None for d in decoded) else decoded

    def key_text(self) -> str:
        """The key through BTF (``1``, ``IPV4_TCP``, ``{saddr: ...}``), else hex."""
        text = self.key_format.text(self.key) if self.key_format is not None else None
        return self.key_hex if text is None else text

    def value_text(self) -> str:
        """The value through BTF (per-CPU: ``cpu0: ... | cpu1: ...``), else hex."""
        fmt = self.value_format
        texts = [fmt.text(v) for v in self.values] if fmt is not None else [None]
        if any(t is None for t in texts):
            return self.value_hex
        if not self.percpu:
            return str(texts[0])
        return " | ".join(f"cpu{i}: {t}" for i, t in enumerate(texts))

    def as_dict(self) -> dict[str, Any]:
        """JSON form: ``key_hex``/``value_hex`` always; ``key`` and ``value`` (per-CPU maps:
        ``values``, a list of ``{"cpu": i, "value": ...}``) when they could be decoded."""
        out: dict[str, Any] = {"key_hex": self.key_hex, "value_hex": self.value_hex}
        key = self.decoded_key()
        if key is not None:
            out["key"] = json_ready(key)
        decoded = self.decoded_values()
        if decoded is not None:
            if self.percpu:
                out["values"] = [{"cpu": i, "value": json_ready(v)} for i, v in enumerate(decoded)]
            else:
                out["value"] = json_ready(decoded[0])
        return out


def json_ready(value: Any) -> Any:
    """Decoded data as plain JSON types: bytes (parts that could not be decoded) become hex,
    non-finite floats strings, str/int subclasses (enum names, pointers) plain str/int."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return str(value)


def map_entries(m: Any, *, non_empty: bool = False) -> list[MapEntry]:
    """Every entry of a keyed map (``non_empty``: only those whose value has a non-zero byte)."""
    out = []
    for key, value in m.items():
        entry = MapEntry.of(m, key, value)
        if non_empty and not any(any(v) for v in entry.values):
            continue
        out.append(entry)
    return out


__all__ = ["MapEntry", "json_ready", "map_entries"]
