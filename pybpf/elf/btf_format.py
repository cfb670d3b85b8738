"""Reading raw bytes through BTF: map keys and values as Python data and as one line of text.

``bpftool map dump`` shows the entries of a map that has BTF as typed records instead of hex;
this module does the same for pybpf.  Given a :class:`~pybpf.elf.btf.Btf`, a type id and the
bytes of one value::

    decode_value(btf, type_id, data)   # {"packets": 80, "bytes": 6675}
    format_value(btf, type_id, data)   # "{packets: 80, bytes: 6675}"

What the Python data looks like, kind by kind:

* integers are ``int`` (signed when the BTF says so), ``_Bool`` is ``bool``, floats ``float``;
* pointers are :class:`Pointer` (an ``int`` shown in hex);
* enums are :class:`EnumName` (a ``str``, shown bare) when the value is one of the enumerators,
  else the plain ``int``;
* arrays are lists (nested for several dimensions); an array of ``char`` that holds text --
  printable ASCII up to the first NUL and nothing but NULs after it -- is a ``str``;
* structs and unions are dicts by member name (every member of a union is decoded); members of
  anonymous structs and unions appear in the parent, the way C code names them; bitfields are
  cut out of their storage unit;
* typedefs, ``const``, ``volatile``, ``restrict`` and type tags are looked through; a VAR is its
  type and a DATASEC (global data) a dict by variable name.

Hostile or inconsistent input never raises: a part that cannot be decoded (a member running past
the data, a kind without a size, nesting deeper than :data:`MAX_DEPTH`, more than
:data:`MAX_NODES` values in one decode) becomes the ``bytes`` it covers, shown in hex.  Data
whose length is not the type's size cannot be read at all and comes back as those bytes
(:class:`BtfFormat`, the form maps carry, says None instead so the caller shows its own hex).
"""

from __future__ import annotations

import json
import struct
from typing import TypeAlias

from pybpf.elf.btf import (
    Btf,
    BtfArray,
    BtfComposite,
    BtfConst,
    BtfDatasec,
    BtfEnumBase,
    BtfFloat,
    BtfInt,
    BtfPtr,
    BtfRestrict,
    BtfType,
    BtfTypeTag,
    BtfVar,
    BtfVolatile,
)
from pybpf.errors import BtfError

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "TEXT_ITEMS",
    "BtfFormat",
    "EnumName",
    "Pointer",
    "Value",
    "decode_value",
    "format_value",
    "to_text",
]

MAX_DEPTH = 32  # nesting of structs/arrays followed before the rest is shown raw
MAX_NODES = 100_000  # values produced by one decode before the rest is shown raw
TEXT_ITEMS = 64  # array elements written out in the one-line text; the rest are counted

Value: TypeAlias = "int | float | bool | str | bytes | list[Value] | dict[str, Value] | None"

_FLOATS = {2: "<e", 4: "<f", 8: "<d"}
_QUALIFIERS = (BtfConst, BtfVolatile, BtfRestrict, BtfTypeTag)


class EnumName(str):
    """The name of the enumerator a value matched; written without quotes."""

    __slots__ = ()


class Pointer(int):
    """A pointer value; written in hex."""

    __slots__ = ()


class _Undecodable(Exception):
    """This part of the data cannot be read through its type (caught where bytes replace it)."""


class _Decoder:
    """One decode: the data, the node budget and the walk over types."""

    def __init__(self, btf: Btf, data: bytes) -> None:
        self.btf = btf
        self.data = data
        self.nodes = MAX_NODES

    def _type(self, type_id: int) -> BtfType:
        try:
            return self.btf.type(self.btf.resolve(type_id))
        except BtfError as exc:
            raise _Undecodable(str(exc)) from None

    def _size(self, type_id: int) -> int:
        try:
            return self.btf.size_of(type_id)
        except BtfError as exc:
            raise _Undecodable(str(exc)) from None

    def _spend(self, count: int = 1) -> None:
        self.nodes -= count
        if self.nodes < 0:
            raise _Undecodable("too many values")

    def _raw(self, offset: int, size: int) -> bytes:
        return bytes(self.data[offset : offset + size])

    def _guarded(self, type_id: int, offset: int, size: int, depth: int) -> Value:
        """A child value, or its bytes when it cannot be decoded."""
        try:
            return self.value(type_id, offset, depth)
        except _Undecodable:
            return self._raw(offset, size)

    def value(self, type_id: int, offset: int, depth: int) -> Value:
        """The value of type ``type_id`` stored at byte ``offset``."""
        if depth > MAX_DEPTH:
            raise _Undecodable("nested too deep")
        self._spend()
        t = self._type(type_id)
        size = self._size(t.type_id)
        if offset < 0 or offset + size > len(self.data):
            raise _Undecodable(f"{size} bytes at offset {offset} run past the {len(self.data)}-byte data")
        if isinstance(t, BtfInt):
            return _int_value(t, int.from_bytes(self.data[offset : offset + size], "little"))
        if isinstance(t, BtfEnumBase):
            return _enum_value(t, int.from_bytes(self.data[offset : offset + size], "little", signed=t.signed))
        if isinstance(t, BtfPtr):
            return Pointer(int.from_bytes(self.data[offset : offset + size], "little"))
        if isinstance(t, BtfFloat):
            fmt = _FLOATS.get(size)
            if fmt is None:
                raise _Undecodable(f"no {size}-byte float format")
            (number,) = struct.unpack_from(fmt, self.data, offset)
            return float(number)
        if isinstance(t, BtfArray):
            return self._array(t, offset, depth)
        if isinstance(t, BtfComposite):
            out: dict[str, Value] = {}
            self._members(t, offset * 8, depth, out, (t.type_id,))
            return out
        if isinstance(t, BtfVar):
            return self.value(t.ref, offset, depth + 1)
        if isinstance(t, BtfDatasec):
            return self._datasec(t, offset, depth)
        raise _Undecodable(f"cannot decode a {t.kind.name}")

    def _array(self, t: BtfArray, offset: int, depth: int) -> Value:
        elem_size = self._size(t.elem_type)
        text = self._text(t, elem_size, offset)
        if text is not None:
            return text
        if t.nelems > self.nodes:
            raise _Undecodable(f"{t.nelems} elements are more than the decode budget")
        return [self._guarded(t.elem_type, offset + i * elem_size, elem_size, depth + 1) for i in range(t.nelems)]

    def _text(self, t: BtfArray, elem_size: int, offset: int) -> str | None:
        """The array as a string, when its elements are ``char`` and its bytes are text."""
        if elem_size != 1 or not _is_char(self.btf, t.elem_type):
            return None
        raw = self.data[offset : offset + t.nelems]
        end = raw.find(b"\0")
        body, rest = (raw, b"") if end < 0 else (raw[:end], raw[end:])
        if any(b < 0x20 or b > 0x7E for b in body) or any(rest):
            return None
        return body.decode("ascii")

    def _members(
        self, t: BtfComposite, base_bits: int, depth: int, out: dict[str, Value], path: tuple[int, ...]
    ) -> None:
        """Decode the members of ``t`` (starting ``base_bits`` into the data) into ``out``."""
        if depth > MAX_DEPTH:
            raise _Undecodable("nested too deep")
        for member in t.members:
            bits = base_bits + member.bit_offset
            try:
                inner = self._type(member.type)
            except _Undecodable:
                if member.name:
                    out.setdefault(member.name, b"")
                continue
            if not member.name:
                # An anonymous struct or union: its members are named as if they were ours.
                if isinstance(inner, BtfComposite) and not member.bitfield_size and not bits % 8:
                    if inner.type_id in path:
                        continue  # a struct cannot contain itself; hostile BTF
                    try:
                        self._members(inner, bits, depth + 1, out, (*path, inner.type_id))
                    except _Undecodable:
                        pass
                continue
            if member.name in out:
                continue
            width = member.bitfield_size
            if not width and isinstance(inner, BtfInt) and (inner.bits != inner.size * 8 or bits % 8):
                # Old-style bitfield (no kind_flag): the width is in the INT itself.
                width = inner.bits
                bits += inner.bit_offset
            if width:
                out[member.name] = self._bitfield(inner, bits, width)
                continue
            if bits % 8:
                out[member.name] = self._raw(bits // 8, 1)
                continue
            try:
                size = self._size(member.type)
            except _Undecodable:
                size = 0
            out[member.name] = self._guarded(member.type, bits // 8, size, depth + 1)

    def _bitfield(self, t: BtfType, bits: int, width: int) -> Value:
        """``width`` bits at bit ``bits`` of the data (little-endian storage), as ``t``'s value."""
        self._spend()
        start, stop = bits // 8, (bits + width + 7) // 8
        if stop > len(self.data) or width > 128:
            return self._raw(start, stop - start)
        raw = (int.from_bytes(self.data[start:stop], "little") >> (bits % 8)) & ((1 << width) - 1)
        if isinstance(t, BtfInt):
            if t.is_bool:
                return bool(raw)
            return _signed(raw, width) if t.is_signed else raw
        if isinstance(t, BtfEnumBase):
            return _enum_value(t, _signed(raw, width) if t.signed else raw)
        return raw

    def _datasec(self, t: BtfDatasec, offset: int, depth: int) -> Value:
        out: dict[str, Value] = {}
        for info in t.vars:
            try:
                var = self.btf.type(info.type)
            except BtfError:
                continue
            if not isinstance(var, BtfVar) or var.name in out:
                continue
            out[var.name] = self._guarded(var.ref, offset + info.offset, info.size, depth + 1)
        return out

    def top(self, type_id: int) -> Value:
        """The whole data as one value of ``type_id``; its length must be the type's size."""
        size = self._size(type_id)
        if size != len(self.data):
            raise _Undecodable(f"{len(self.data)} bytes for a {size}-byte type")
        return self.value(type_id, 0, 0)


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if bits and raw >> (bits - 1) & 1 else raw


def _int_value(t: BtfInt, raw: int) -> int | bool:
    if t.bits != t.size * 8 or t.bit_offset:
        raw = (raw >> t.bit_offset) & ((1 << t.bits) - 1)
    if t.is_bool:
        return bool(raw)
    return _signed(raw, t.bits) if t.is_signed else raw


def _enum_value(t: BtfEnumBase, raw: int) -> int | EnumName:
    for enumerator in t.values:
        if enumerator.value == raw or enumerator.value & ((1 << (8 * t.size)) - 1) == raw:
            return EnumName(enumerator.name)
    return raw


def _is_char(btf: Btf, type_id: int) -> bool:
    """True for ``char`` (and its signed/unsigned forms), qualifiers aside but not through a
    typedef: ``__u8 mac[6]`` is bytes, ``char comm[16]`` is text."""
    current = type_id
    for _ in range(len(btf) + 1):
        try:
            t = btf.type(current)
        except BtfError:
            return False
        if isinstance(t, _QUALIFIERS):
            current = t.ref
            continue
        return isinstance(t, BtfInt) and t.size == 1 and (t.is_char or "char" in t.name)
    return False


def decode_value(btf: Btf, type_id: int, data: bytes) -> Value:
    """``data`` read as one value of type ``type_id``; the bytes themselves when it cannot be."""
    raw = bytes(data)
    try:
        return _Decoder(btf, raw).top(type_id)
    except _Undecodable:
        return raw


def format_value(btf: Btf, type_id: int, data: bytes) -> str:
    """``data`` as one line: ``{packets: 80, bytes: 6675}``; hex when it cannot be decoded."""
    return to_text(decode_value(btf, type_id, data))


def to_text(value: Value) -> str:
    """One line for a decoded value: ints in decimal, pointers in hex, enum names bare, strings
    quoted, structs as ``{name: value, ...}``, arrays as ``[...]`` (long ones cut after
    :data:`TEXT_ITEMS` elements), undecoded bytes in hex."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Pointer):
        return f"0x{int(value):x}"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, EnumName):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bytes):
        return value.hex() if value else "-"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{name}: {to_text(v)}" for name, v in value.items()) + "}"
    if isinstance(value, list):
        shown = [to_text(v) for v in value[:TEXT_ITEMS]]
        if len(value) > TEXT_ITEMS:
            shown.append(f"... {len(value) - TEXT_ITEMS} more")
        return "[" + ", ".join(shown) + "]"
    return "null"


class BtfFormat:
    """How map keys or values of one BTF type are shown (what a map's spec carries).

    ``decode`` and ``text`` return None when the data cannot be read through the type at all
    (its length is not the type's size, or the type has no size), so the caller can show the
    bytes in its own hex style; parts that cannot be decoded inside a value are hex already.
    """

    __slots__ = ("btf", "name", "size", "type_id")

    def __init__(self, btf: Btf, type_id: int) -> None:
        self.btf = btf
        self.type_id = type_id
        try:
            self.name = btf.format_type(type_id)
        except BtfError:
            self.name = f"type {type_id}"
        try:
            self.size: int | None = btf.size_of(type_id)
        except BtfError:
            self.size = None

    def decode(self, data: bytes) -> Value:
        """``data`` as Python data, or None."""
        try:
            return _Decoder(self.btf, bytes(data)).top(self.type_id)
        except _Undecodable:
            return None

    def text(self, data: bytes) -> str | None:
        """``data`` as one line of text, or None."""
        value = self.decode(data)
        return None if value is None else to_text(value)

    def __repr__(self) -> str:
        return f"BtfFormat({self.name!r}, type_id={self.type_id})"
