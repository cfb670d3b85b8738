"""Turning Python objects into map keys and values and back.

The host API accepts keys and values as ``bytes``-like objects, ints (little-endian, sized to the
key or value size), ctypes instances, or any object with ``__bytes__``; it returns ``bytes``.  A
codec changes the returned type (and what is accepted): ``m.with_codec(key=int, value=MyStruct)``.

Codec specifications accepted by :func:`make_codec`:

* ``None`` or ``bytes``: raw bytes (:class:`RawCodec`);
* ``int``: unsigned little-endian integers (:class:`IntCodec`; ``IntCodec(signed=True)`` for signed);
* a ctypes ``Structure``/``Union``/``Array`` class: instances of it (:class:`CtypesCodec`);
* a :mod:`struct` format string such as ``"<IQ"``: tuples, or a plain value for one-field formats;
* any object with ``encode(obj, size) -> bytes`` and ``decode(data) -> object`` (:class:`Codec`).
"""

from __future__ import annotations

import ctypes
import struct
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Codec(Protocol):
    """Converts between Python objects and exactly ``size`` bytes."""

    def encode(self, obj: Any, size: int) -> bytes: ...

    def decode(self, data: bytes) -> Any: ...


CodecSpec = Codec | type | str | None


def to_bytes(obj: Any, size: int) -> bytes:
    """The default conversion: bytes-like, int, ctypes instance or ``__bytes__``; exactly ``size`` bytes.

    Raises ``ValueError``/``TypeError`` with a message the map turns into ``MapError(EINVAL)``.
    """
    if isinstance(obj, (bytes, bytearray, memoryview)):
        data = bytes(obj)
    elif isinstance(obj, bool):
        raise TypeError("bool is not a valid key or value; use an int")
    elif isinstance(obj, int):
        low = -(1 << (8 * size - 1)) if size else 0
        if not low <= obj < (1 << (8 * size)):
            raise ValueError(f"integer {obj} does not fit in {size} bytes")
        return (obj & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    elif isinstance(obj, ctypes._SimpleCData | ctypes.Structure | ctypes.Union | ctypes.Array):
        data = bytes(obj)  # every ctypes instance exports its raw memory as a buffer
    elif hasattr(obj, "__bytes__"):
        data = bytes(obj)
    else:
        raise TypeError(f"cannot convert {type(obj).__name__} to {size} bytes")
    if len(data) != size:
        raise ValueError(f"got {len(data)} bytes, expected {size}")
    return data


class RawCodec:
    """Accepts anything :func:`to_bytes` does; returns ``bytes``."""

    def encode(self, obj: Any, size: int) -> bytes:
        return to_bytes(obj, size)

    def decode(self, data: bytes) -> Any:
        return data

    def __repr__(self) -> str:
        return "RawCodec()"


RAW = RawCodec()


class IntCodec:
    """Little-endian integers of the key/value size."""

    def __init__(self, signed: bool = False) -> None:
        self.signed = signed

    def encode(self, obj: Any, size: int) -> bytes:
        if isinstance(obj, int) and not isinstance(obj, bool):
            try:
                return obj.to_bytes(size, "little", signed=self.signed or obj < 0)
            except OverflowError:
                raise ValueError(f"integer {obj} does not fit in {size} bytes") from None
        return to_bytes(obj, size)

    def decode(self, data: bytes) -> Any:
        return int.from_bytes(data, "little", signed=self.signed)

    def __repr__(self) -> str:
        return f"IntCodec(signed={self.signed})"


class CtypesCodec:
    """Instances of one ctypes type (Structure, Union, Array or simple type)."""

    def __init__(self, ctype: type) -> None:
        self.ctype: Any = ctype
        self.size = ctypes.sizeof(ctype)

    def encode(self, obj: Any, size: int) -> bytes:
        if isinstance(obj, self.ctype):
            data = bytes(obj)
            if len(data) != size:
                raise ValueError(f"{self.ctype.__name__} is {len(data)} bytes, expected {size}")
            return data
        return to_bytes(obj, size)

    def decode(self, data: bytes) -> Any:
        return self.ctype.from_buffer_copy(data.ljust(self.size, b"\0"))

    def __repr__(self) -> str:
        return f"CtypesCodec({self.ctype.__name__})"


class StructCodec:
    """A :mod:`struct` format: tuples, or plain values for one-field formats."""

    def __init__(self, fmt: str) -> None:
        self.struct = struct.Struct(fmt)
        self.fields = len(self.struct.unpack(bytes(self.struct.size)))

    def encode(self, obj: Any, size: int) -> bytes:
        if self.struct.size != size:
            raise ValueError(f"format {self.struct.format!r} is {self.struct.size} bytes, expected {size}")
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return to_bytes(obj, size)
        values = tuple(obj) if isinstance(obj, (tuple, list)) else (obj,)
        try:
            return self.struct.pack(*values)
        except struct.error as exc:
            raise ValueError(f"cannot pack {obj!r} with {self.struct.format!r}: {exc}") from None

    def decode(self, data: bytes) -> Any:
        values = self.struct.unpack(data)
        return values[0] if self.fields == 1 else values

    def __repr__(self) -> str:
        return f"StructCodec({self.struct.format!r})"


def make_codec(spec: CodecSpec) -> Codec:
    """The codec a specification names (see the module docstring)."""
    if spec is None or spec is bytes:
        return RAW
    if spec is int:
        return IntCodec()
    if isinstance(spec, str):
        return StructCodec(spec)
    if isinstance(spec, type) and issubclass(
        spec, ctypes._SimpleCData | ctypes.Structure | ctypes.Union | ctypes.Array
    ):
        return CtypesCodec(spec)
    if isinstance(spec, Codec) and not isinstance(spec, type):
        return spec
    raise TypeError(f"not a codec specification: {spec!r}")
