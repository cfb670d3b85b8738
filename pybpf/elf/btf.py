"""BTF and BTF.ext parsing for clang-built eBPF objects, plus BTF-defined map decoding.

clang describes every type, function, global variable and map of an eBPF object in the ``.BTF``
section (format: Linux ``Documentation/bpf/btf.rst`` and ``include/uapi/linux/btf.h``) and ties
instructions back to functions, source lines and CO-RE accesses in ``.BTF.ext``.  The loader
needs this because the ``bpf_helpers.h`` map macros encode every map attribute as a *type*: the
bytes of ``.maps`` are all zero, so without BTF there is no map.  No Python library reads BTF,
hence this module.

Three things shape the code:

* **Hostile input.**  An object file is untrusted.  Every length, offset, count and type id is
  checked before use, every walk along type references is bounded, and reference cycles that
  cannot come from C are refused at parse time, so every defect surfaces as
  :class:`~pybpf.errors.BtfError` naming the section and type id, never as ``IndexError``,
  ``struct.error``, ``RecursionError`` or a hang.
* **clang leaves DATASECs unfinished.**  Every DATASEC has size 0 and every variable offset 0;
  :meth:`Btf.fix_datasecs` repairs them from the ELF symbol table the way libbpf's
  ``btf_fixup_datasec`` does.
* **Types are values.**  Each record becomes a frozen dataclass whose fields hold ids of the
  types it refers to, so the parsed graph can be shared freely; the fix-up replaces DATASEC
  records rather than mutating them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import ClassVar, TypeVar

from pybpf.errors import BtfError

__all__ = [
    "BTF_MAGIC",
    "INT_BOOL",
    "INT_CHAR",
    "INT_SIGNED",
    "Btf",
    "BtfArray",
    "BtfComposite",
    "BtfConst",
    "BtfCoreRelo",
    "BtfDatasec",
    "BtfDeclTag",
    "BtfEnum",
    "BtfEnum64",
    "BtfEnumBase",
    "BtfEnumValue",
    "BtfExt",
    "BtfFloat",
    "BtfFunc",
    "BtfFuncInfo",
    "BtfFuncProto",
    "BtfFwd",
    "BtfInt",
    "BtfKind",
    "BtfLineInfo",
    "BtfMapDef",
    "BtfMapValues",
    "BtfMember",
    "BtfParam",
    "BtfPtr",
    "BtfRefType",
    "BtfRestrict",
    "BtfStruct",
    "BtfType",
    "BtfTypeTag",
    "BtfTypedef",
    "BtfUnion",
    "BtfVar",
    "BtfVarSecinfo",
    "BtfVoid",
    "BtfVolatile",
    "CoreReloKind",
    "FieldLayout",
    "FuncLinkage",
    "MapType",
    "VarLinkage",
    "map_definitions",
    "parse_btf",
    "parse_btf_ext",
]

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
_BTF_HDR_MIN = 24  # magic, version, flags, hdr_len, type_off/len, str_off/len
_EXT_HDR_MIN = 24  # magic, version, flags, hdr_len, func_info off/len, line_info off/len
_EXT_HDR_CORE = 32  # ... plus core_relo off/len
_MAX_TYPES = 0xFFFFF  # the kernel's BTF_MAX_TYPE; more ids than this is certainly garbage
_MAX_SIZE = 0xFFFFFFFF  # sizes are u32 in BTF; a larger computed size means hostile nesting
_MAX_FORMAT_DEPTH = 200  # nesting bound for format_type/struct_layout recursion
_COMMON = struct.Struct("<3I")  # name_off, info, size_or_type
_U32 = struct.Struct("<I")
_S32 = struct.Struct("<i")
_TRIPLE = struct.Struct("<3I")
_PAIR = struct.Struct("<2I")
_PAIR_SIGNED = struct.Struct("<Ii")


class BtfKind(IntEnum):
    """``BTF_KIND_*`` numbers (bits 24-28 of a type's ``info`` word)."""

    UNKN = 0  # only ever type id 0, "void"; never a record
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


class VarLinkage(IntEnum):
    """Linkage of a ``BTF_KIND_VAR`` (``BTF_VAR_*``)."""

    STATIC = 0
    GLOBAL_ALLOCATED = 1
    GLOBAL_EXTERN = 2


class FuncLinkage(IntEnum):
    """Linkage of a ``BTF_KIND_FUNC``, stored in its vlen (``BTF_FUNC_*``)."""

    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class MapType(IntEnum):
    """The ``BPF_MAP_TYPE_*`` numbers map decoding has to tell apart."""

    PROG_ARRAY = 3
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13


class CoreReloKind(IntEnum):
    """``enum bpf_core_relo_kind``: what a CO-RE relocation asks the loader to compute."""

    FIELD_BYTE_OFFSET = 0
    FIELD_BYTE_SIZE = 1
    FIELD_EXISTS = 2
    FIELD_SIGNED = 3
    FIELD_LSHIFT_U64 = 4
    FIELD_RSHIFT_U64 = 5
    TYPE_ID_LOCAL = 6
    TYPE_ID_TARGET = 7
    TYPE_EXISTS = 8
    TYPE_SIZE = 9
    ENUMVAL_EXISTS = 10
    ENUMVAL_VALUE = 11
    TYPE_MATCHES = 12


# INT encoding bits (BTF_INT_SIGNED/CHAR/BOOL).
INT_SIGNED = 1
INT_CHAR = 2
INT_BOOL = 4


# --------------------------------------------------------------------------------------------
# Type records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BtfType:
    """Common part of every type: its id (position in the type list) and name ("" if anonymous)."""

    kind: ClassVar[BtfKind] = BtfKind.UNKN
    type_id: int
    name: str


@dataclass(frozen=True, slots=True)
class BtfVoid(BtfType):
    """Type id 0: ``void``.  Not encoded in the section; every BTF has it implicitly."""


@dataclass(frozen=True, slots=True)
class BtfInt(BtfType):
    """An integer, ``char`` or ``_Bool``; ``bits`` may be narrower than ``size * 8``."""

    kind: ClassVar[BtfKind] = BtfKind.INT
    size: int
    encoding: int
    bit_offset: int
    bits: int

    @property
    def is_signed(self) -> bool:
        """True for signed integers (``BTF_INT_SIGNED``)."""
        return bool(self.encoding & INT_SIGNED)

    @property
    def is_char(self) -> bool:
        """True for ``char`` (``BTF_INT_CHAR``), which pretty-printers show as text."""
        return bool(self.encoding & INT_CHAR)

    @property
    def is_bool(self) -> bool:
        """True for ``_Bool`` (``BTF_INT_BOOL``)."""
        return bool(self.encoding & INT_BOOL)


@dataclass(frozen=True, slots=True)
class BtfRefType(BtfType):
    """A type that is nothing but a reference to another one (pointer, typedef, qualifier, tag)."""

    ref: int


@dataclass(frozen=True, slots=True)
class BtfPtr(BtfRefType):
    """A pointer; ``ref`` is the pointee (0 for ``void *``)."""

    kind: ClassVar[BtfKind] = BtfKind.PTR


@dataclass(frozen=True, slots=True)
class BtfTypedef(BtfRefType):
    """``typedef <ref> name``."""

    kind: ClassVar[BtfKind] = BtfKind.TYPEDEF


@dataclass(frozen=True, slots=True)
class BtfVolatile(BtfRefType):
    """``volatile <ref>``."""

    kind: ClassVar[BtfKind] = BtfKind.VOLATILE


@dataclass(frozen=True, slots=True)
class BtfConst(BtfRefType):
    """``const <ref>``."""

    kind: ClassVar[BtfKind] = BtfKind.CONST


@dataclass(frozen=True, slots=True)
class BtfRestrict(BtfRefType):
    """``restrict <ref>``."""

    kind: ClassVar[BtfKind] = BtfKind.RESTRICT


@dataclass(frozen=True, slots=True)
class BtfTypeTag(BtfRefType):
    """``__attribute__((btf_type_tag(name)))`` on ``ref``; transparent for layout."""

    kind: ClassVar[BtfKind] = BtfKind.TYPE_TAG


@dataclass(frozen=True, slots=True)
class BtfArray(BtfType):
    """``elem_type[nelems]``; ``index_type`` is clang's ``__ARRAY_SIZE_TYPE__``."""

    kind: ClassVar[BtfKind] = BtfKind.ARRAY
    elem_type: int
    index_type: int
    nelems: int


@dataclass(frozen=True, slots=True)
class BtfMember:
    """A struct or union member.  ``bitfield_size`` is 0 unless the member is a bitfield."""

    name: str
    type: int
    bit_offset: int
    bitfield_size: int

    @property
    def byte_offset(self) -> int:
        """Offset in bytes of the storage holding the member (rounded down for bitfields)."""
        return self.bit_offset // 8


@dataclass(frozen=True, slots=True)
class BtfComposite(BtfType):
    """Shared shape of structs and unions."""

    size: int
    members: tuple[BtfMember, ...]


@dataclass(frozen=True, slots=True)
class BtfStruct(BtfComposite):
    """``struct name { members }``."""

    kind: ClassVar[BtfKind] = BtfKind.STRUCT


@dataclass(frozen=True, slots=True)
class BtfUnion(BtfComposite):
    """``union name { members }``."""

    kind: ClassVar[BtfKind] = BtfKind.UNION


@dataclass(frozen=True, slots=True)
class BtfEnumValue:
    """One enumerator, already sign-interpreted according to the enum's kind_flag."""

    name: str
    value: int


@dataclass(frozen=True, slots=True)
class BtfEnumBase(BtfType):
    """Shared shape of 32-bit and 64-bit enums."""

    size: int
    signed: bool
    values: tuple[BtfEnumValue, ...]


@dataclass(frozen=True, slots=True)
class BtfEnum(BtfEnumBase):
    """``enum name`` with 32-bit enumerator values."""

    kind: ClassVar[BtfKind] = BtfKind.ENUM


@dataclass(frozen=True, slots=True)
class BtfEnum64(BtfEnumBase):
    """``enum name`` with 64-bit enumerator values (clang >= 15)."""

    kind: ClassVar[BtfKind] = BtfKind.ENUM64


@dataclass(frozen=True, slots=True)
class BtfFwd(BtfType):
    """A forward declaration ``struct name;`` or ``union name;``; it has no size."""

    kind: ClassVar[BtfKind] = BtfKind.FWD
    is_union: bool


@dataclass(frozen=True, slots=True)
class BtfFunc(BtfType):
    """A function (program or sub-program); ``proto`` is its FUNC_PROTO."""

    kind: ClassVar[BtfKind] = BtfKind.FUNC
    proto: int
    linkage: int


@dataclass(frozen=True, slots=True)
class BtfParam:
    """A function parameter; ``name`` is "" in prototypes of function pointers."""

    name: str
    type: int


@dataclass(frozen=True, slots=True)
class BtfFuncProto(BtfType):
    """A function signature; a trailing ``...`` is recorded as ``variadic`` rather than a param."""

    kind: ClassVar[BtfKind] = BtfKind.FUNC_PROTO
    ret: int
    params: tuple[BtfParam, ...]
    variadic: bool


@dataclass(frozen=True, slots=True)
class BtfVar(BtfType):
    """A global or static variable; ``linkage`` is a :class:`VarLinkage` value."""

    kind: ClassVar[BtfKind] = BtfKind.VAR
    ref: int
    linkage: int


@dataclass(frozen=True, slots=True)
class BtfVarSecinfo:
    """One variable of a DATASEC: its VAR type id, byte offset in the section and size."""

    type: int
    offset: int
    size: int


@dataclass(frozen=True, slots=True)
class BtfDatasec(BtfType):
    """An ELF data section (``.data``, ``.maps`` ...) and the variables in it."""

    kind: ClassVar[BtfKind] = BtfKind.DATASEC
    size: int
    vars: tuple[BtfVarSecinfo, ...]


@dataclass(frozen=True, slots=True)
class BtfFloat(BtfType):
    """A floating-point type (eBPF has no FP instructions, but types may mention it)."""

    kind: ClassVar[BtfKind] = BtfKind.FLOAT
    size: int


@dataclass(frozen=True, slots=True)
class BtfDeclTag(BtfType):
    """``btf_decl_tag(name)`` on ``ref``; ``component_idx`` is -1 or a member/param index."""

    kind: ClassVar[BtfKind] = BtfKind.DECL_TAG
    ref: int
    component_idx: int


_MODIFIERS = (BtfTypedef, BtfVolatile, BtfConst, BtfRestrict, BtfTypeTag)
_QUALIFIER_WORDS: dict[type[BtfType], str] = {BtfConst: "const", BtfVolatile: "volatile", BtfRestrict: "restrict"}


@dataclass(frozen=True, slots=True)
class FieldLayout:
    """Where one member of a struct lives, for turning raw map keys/values into records.

    ``bitfield_size`` is 0 for ordinary members; for a bitfield, ``offset``/``size`` describe the
    byte-aligned storage unit of its declared type and ``bit_offset`` is the exact bit position
    from the start of the outermost struct.
    """

    name: str
    offset: int
    size: int
    type_id: int
    bit_offset: int = 0
    bitfield_size: int = 0


# --------------------------------------------------------------------------------------------
# String table
# --------------------------------------------------------------------------------------------


class _Strings:
    """The BTF string table: NUL-terminated strings addressed by byte offset."""

    __slots__ = ("_cache", "_data", "_section")

    def __init__(self, data: bytes, section: str) -> None:
        self._data = data
        self._section = section
        self._cache: dict[int, str] = {0: ""}

    def get(self, offset: int, where: str) -> str:
        """The string at ``offset``; an offset outside the table is a BtfError at ``where``."""
        cached = self._cache.get(offset)
        if cached is not None:
            return cached
        if not 0 <= offset < len(self._data):
            raise BtfError(where, f"string offset {offset} is outside the string table ({len(self._data)} bytes)")
        end = self._data.find(b"\0", offset)
        if end < 0:  # cannot happen once the table is known to end with NUL, kept for safety
            raise BtfError(where, f"string at offset {offset} is not NUL-terminated")
        text = self._data[offset:end].decode("utf-8", errors="replace")
        self._cache[offset] = text
        return text


# --------------------------------------------------------------------------------------------
# The parsed BTF
# --------------------------------------------------------------------------------------------


class Btf:
    """Parsed ``.BTF``: the type list (index = type id) plus lookups the loader needs.

    Built by :func:`parse_btf`, which has already checked that every type id referenced anywhere
    is in range and that no chain of pointers/qualifiers/typedefs/arrays loops, so the walks
    below only need a bound as a second line of defence.
    """

    def __init__(
        self,
        types: list[BtfType],
        strings: bytes,
        *,
        section: str = ".BTF",
        version: int = BTF_VERSION,
        flags: int = 0,
        hdr_len: int = _BTF_HDR_MIN,
    ) -> None:
        self.section = section
        self.version = version
        self.flags = flags
        self.hdr_len = hdr_len
        self._types = types
        self._strings = _Strings(strings, section)
        self._by_name: dict[str, list[int]] | None = None

    # -- basic access -------------------------------------------------------------------------

    @property
    def types(self) -> Sequence[BtfType]:
        """Every type, indexed by type id; ``types[0]`` is :class:`BtfVoid`."""
        return self._types

    def __len__(self) -> int:
        return len(self._types)

    def _where(self, type_id: int) -> str:
        return f"{self.section} type {type_id}"

    def type(self, type_id: int) -> BtfType:
        """The type with this id; an id out of range is a BtfError (not an IndexError)."""
        if not 0 <= type_id < len(self._types):
            raise BtfError(self.section, f"type id {type_id} out of range (0..{len(self._types) - 1})")
        return self._types[type_id]

    def name(self, type_id: int) -> str:
        """The name of a type ("" for anonymous types and void)."""
        return self.type(type_id).name

    def string(self, offset: int) -> str:
        """A string from the ``.BTF`` string table, as ``.BTF.ext`` records reference them."""
        return self._strings.get(offset, f"{self.section} strings")

    def find(self, name: str, kind: BtfKind | None = None) -> int | None:
        """The id of the first type called ``name`` (of ``kind`` if given), or None."""
        if self._by_name is None:
            index: dict[str, list[int]] = {}
            for t in self._types:
                if t.name:
                    index.setdefault(t.name, []).append(t.type_id)
            self._by_name = index
        for type_id in self._by_name.get(name, ()):
            if kind is None or self._types[type_id].kind == kind:
                return type_id
        return None

    def datasecs(self) -> list[BtfDatasec]:
        """Every DATASEC, in type-id order."""
        return [t for t in self._types if isinstance(t, BtfDatasec)]

    def datasec(self, name: str) -> BtfDatasec | None:
        """The DATASEC describing ELF section ``name`` (``.data``, ``.maps`` ...), if any."""
        for t in self._types:
            if isinstance(t, BtfDatasec) and t.name == name:
                return t
        return None

    # -- type walking -------------------------------------------------------------------------

    def resolve(self, type_id: int) -> int:
        """Strip typedef/const/volatile/restrict/type_tag and return the underlying type id."""
        current = type_id
        for _ in range(len(self._types) + 1):
            t = self.type(current)
            if not isinstance(t, _MODIFIERS):
                return current
            current = t.ref
        raise BtfError(self._where(type_id), "typedef/modifier chain does not end (reference cycle)")

    def size_of(self, type_id: int) -> int:
        """Size in bytes of a type, as C's ``sizeof`` would give it.

        Follows modifiers, typedefs and VARs and multiplies through arrays iteratively, so a
        deep chain cannot exhaust the Python stack.  void, FUNC, FUNC_PROTO, FWD and DECL_TAG
        have no size and raise BtfError.
        """
        multiplier = 1
        current = type_id
        for _ in range(len(self._types) + 1):
            t = self.type(current)
            size: int | None = None
            if isinstance(t, (BtfInt, BtfFloat, BtfComposite, BtfEnumBase, BtfDatasec)):
                size = t.size
            elif isinstance(t, BtfPtr):
                size = 8
            elif isinstance(t, BtfArray):
                multiplier *= t.nelems
                if multiplier > _MAX_SIZE:
                    raise BtfError(self._where(type_id), "array size overflows 32 bits")
                current = t.elem_type
                continue
            elif isinstance(t, (*_MODIFIERS, BtfVar)):
                current = t.ref
                continue
            else:
                what = "void" if isinstance(t, BtfVoid) else t.kind.name
                raise BtfError(self._where(current), f"{what} has no size")
            total = multiplier * size
            if total > _MAX_SIZE:
                raise BtfError(self._where(type_id), "size overflows 32 bits")
            return total
        raise BtfError(self._where(type_id), "type chain does not end (reference cycle)")

    # -- DATASEC fix-up -----------------------------------------------------------------------

    def fix_datasecs(
        self,
        section_sizes: Mapping[str, int],
        symbol_offsets: Mapping[str, int],
        symbol_sections: Mapping[str, str] | None = None,
    ) -> None:
        """Fill in DATASEC sizes and variable offsets that clang leaves at zero.

        Mirrors libbpf's ``btf_fixup_datasec``: a DATASEC whose size is 0 takes the size of the
        ELF section with the same name, and each of its variables takes the ``st_value`` of the
        ELF symbol with the same name.  Without this every map relocation would resolve to the
        first map.  A DATASEC that already has a size (output of the BPF static linker) is kept.
        Global variables must have a symbol; a static variable uses its (local) symbol when
        there is one and keeps its offset otherwise; externs and ``.kconfig``/``.ksyms`` are not
        touched.  Variables are then sorted by offset, as libbpf does.

        With ``symbol_sections`` (symbol name -> ELF section name), a static variable whose symbol
        lives in another section is dropped from the DATASEC: clang 14 lists a never-written static
        array under ``.rodata`` while placing it in a merged-constant section such as
        ``.rodata.cst16``.  Code reaches it through its symbol, so nothing is lost.
        """
        for index, t in enumerate(self._types):
            if not isinstance(t, BtfDatasec) or t.name in (".kconfig", ".ksyms"):
                continue
            where = f"{self.section} type {index} (DATASEC {t.name!r})"
            size = t.size
            fixup = size == 0
            if fixup:
                section_size = section_sizes.get(t.name)
                if section_size is None or section_size <= 0:
                    raise BtfError(where, "no non-empty ELF section of that name to take the size from")
                size = section_size
            new_vars: list[BtfVarSecinfo] = []
            for info in t.vars:
                var = self.type(info.type)
                if not isinstance(var, BtfVar):
                    raise BtfError(where, f"entry type {info.type} is a {var.kind.name}, not a VAR")
                offset = info.offset
                if var.linkage == VarLinkage.GLOBAL_EXTERN:
                    new_vars.append(info)
                    continue
                if fixup and var.linkage == VarLinkage.STATIC and symbol_sections is not None:
                    home = symbol_sections.get(var.name)
                    if home is not None and home != t.name:
                        continue
                if fixup:
                    symbol = symbol_offsets.get(var.name)
                    if symbol is None:
                        if var.linkage != VarLinkage.STATIC:
                            raise BtfError(where, f"no ELF symbol for global variable {var.name!r}")
                    elif symbol < 0:
                        raise BtfError(where, f"ELF symbol {var.name!r} has negative value {symbol}")
                    else:
                        offset = symbol
                if offset + info.size > size:
                    raise BtfError(
                        where,
                        f"variable {var.name!r} at offset {offset} with size {info.size} "
                        f"extends past the section size {size}",
                    )
                new_vars.append(replace(info, offset=offset))
            new_vars.sort(key=lambda v: v.offset)
            self._types[index] = replace(t, size=size, vars=tuple(new_vars))

    # -- presentation -------------------------------------------------------------------------

    def format_type(self, type_id: int) -> str:
        """A C-like spelling of a type for messages: ``struct foo``, ``__u32``, ``char[16]``, ``int *``."""
        return self._format(type_id, "", 0)

    def _format(self, type_id: int, declarator: str, depth: int) -> str:
        """Build a C type name inside-out, the way C declarators nest."""
        if depth > _MAX_FORMAT_DEPTH:
            raise BtfError(self._where(type_id), "type nesting too deep to format")
        t = self.type(type_id)

        def around(base: str) -> str:
            if not declarator:
                return base
            if declarator.startswith("["):
                return base + declarator
            return f"{base} {declarator}"

        if isinstance(t, BtfVoid):
            return around("void")
        if isinstance(t, (BtfInt, BtfFloat, BtfTypedef)):
            return around(t.name)
        if isinstance(t, BtfComposite):
            word = "union" if isinstance(t, BtfUnion) else "struct"
            return around(f"{word} {t.name}" if t.name else f"{word} {{...}}")
        if isinstance(t, BtfEnumBase):
            return around(f"enum {t.name}" if t.name else "enum {...}")
        if isinstance(t, BtfFwd):
            return around(f"{'union' if t.is_union else 'struct'} {t.name}")
        if isinstance(t, BtfPtr):
            inner = f"*{declarator}"
            target = self.type(self.resolve(t.ref))
            if isinstance(target, (BtfArray, BtfFuncProto)):
                inner = f"({inner})"
            return self._format(t.ref, inner, depth + 1)
        if isinstance(t, BtfArray):
            return self._format(t.elem_type, f"{declarator}[{t.nelems}]", depth + 1)
        if isinstance(t, (BtfConst, BtfVolatile, BtfRestrict)):
            word = _QUALIFIER_WORDS[type(t)]
            if isinstance(self.type(self.resolve(t.ref)), BtfPtr) and not isinstance(self.type(t.ref), BtfTypedef):
                # A qualified pointer: the qualifier goes after the star ("int *const").
                return self._format(t.ref, f"{word} {declarator}".rstrip(), depth + 1)
            return f"{word} {self._format(t.ref, declarator, depth + 1)}"
        if isinstance(t, BtfTypeTag):
            return self._format(t.ref, declarator, depth + 1)
        if isinstance(t, BtfFuncProto):
            params = [self._format(p.type, "", depth + 1) for p in t.params]
            if t.variadic:
                params.append("...")
            arguments = ", ".join(params) if params else "void"
            return self._format(t.ret, f"{declarator}({arguments})", depth + 1)
        if isinstance(t, BtfFunc):
            return self._format(t.proto, t.name or declarator, depth + 1)
        if isinstance(t, BtfVar):
            return self._format(t.ref, t.name, depth + 1)
        if isinstance(t, BtfDatasec):
            return f'SEC("{t.name}")'
        if isinstance(t, BtfDeclTag):
            return self._format(t.ref, declarator, depth + 1)
        raise BtfError(self._where(type_id), f"cannot format kind {t.kind.name}")  # pragma: no cover

    def struct_layout(self, type_id: int) -> list[FieldLayout]:
        """Members of a struct/union with byte offset, size and type id.

        Anonymous struct/union members are flattened into their parent with adjusted offsets,
        which is how C code names those fields, so map records get the names a C programmer
        would use.
        """
        resolved = self.resolve(type_id)
        t = self.type(resolved)
        if not isinstance(t, BtfComposite):
            raise BtfError(self._where(type_id), f"{self.format_type(type_id)} is not a struct or union")
        fields: list[FieldLayout] = []
        self._layout(t, 0, fields, (resolved,))
        return fields

    def _layout(self, t: BtfComposite, base_bits: int, out: list[FieldLayout], path: tuple[int, ...]) -> None:
        where = self._where(t.type_id)
        if len(path) > _MAX_FORMAT_DEPTH:
            raise BtfError(where, "anonymous members nested too deep")
        for member in t.members:
            bit_offset = base_bits + member.bit_offset
            member_id = self.resolve(member.type)
            inner = self.type(member_id)
            if not member.name and isinstance(inner, BtfComposite) and member.bitfield_size == 0:
                if member_id in path:
                    raise BtfError(where, f"struct contains itself through anonymous member type {member_id}")
                self._layout(inner, bit_offset, out, (*path, member_id))
                continue
            size = self.size_of(member.type)
            if member.bitfield_size:
                offset = (bit_offset // 8) // size * size if size else bit_offset // 8
            else:
                if bit_offset % 8:
                    raise BtfError(where, f"member {member.name!r} is not byte aligned (bit offset {bit_offset})")
                offset = bit_offset // 8
            end_bits = member.bit_offset + (member.bitfield_size or size * 8)
            if end_bits > t.size * 8:
                raise BtfError(where, f"member {member.name!r} extends past the end of the {t.size}-byte type")
            out.append(FieldLayout(member.name, offset, size, member.type, bit_offset, member.bitfield_size))


# --------------------------------------------------------------------------------------------
# .BTF parsing
# --------------------------------------------------------------------------------------------


def _check_span(section: str, what: str, offset: int, length: int, available: int) -> None:
    """Refuse a sub-section that does not lie inside the data following the header."""
    if offset > available or length > available - offset:
        raise BtfError(
            section,
            f"{what} section (offset {offset}, length {length}) runs past the end of the data ({available} bytes)",
        )


def parse_btf(data: bytes, section: str = ".BTF") -> Btf:
    """Parse a ``.BTF`` section into a :class:`Btf`.

    Checks the header, the bounds of the type and string sub-sections, every record's length,
    every name offset and every type reference, and refuses reference cycles that do not pass
    through a struct or union member (no C declaration can produce one).
    """
    buf = bytes(data)
    if len(buf) < 8:
        raise BtfError(section, f"header truncated: {len(buf)} bytes, need at least {_BTF_HDR_MIN}")
    magic, version, flags, hdr_len = struct.unpack_from("<HBBI", buf, 0)
    if magic != BTF_MAGIC:
        if magic == 0x9FEB:
            raise BtfError(section, "big-endian BTF is not supported")
        raise BtfError(section, f"bad magic 0x{magic:04x}, expected 0x{BTF_MAGIC:04x}")
    if version != BTF_VERSION:
        raise BtfError(section, f"unsupported BTF version {version} (only {BTF_VERSION} is known)")
    if hdr_len < _BTF_HDR_MIN:
        raise BtfError(section, f"header length {hdr_len} is shorter than the minimum {_BTF_HDR_MIN}")
    if hdr_len > len(buf):
        raise BtfError(section, f"header length {hdr_len} exceeds the section size {len(buf)}")
    type_off, type_len, str_off, str_len = struct.unpack_from("<4I", buf, 8)
    available = len(buf) - hdr_len
    _check_span(section, "type", type_off, type_len, available)
    _check_span(section, "string", str_off, str_len, available)
    if type_off % 4:
        raise BtfError(section, f"type section offset {type_off} is not 4-byte aligned")
    if str_len == 0:
        raise BtfError(section, "string table is empty (it must at least hold the empty string)")
    strings = buf[hdr_len + str_off : hdr_len + str_off + str_len]
    if strings[0] != 0:
        raise BtfError(section, "string table does not start with the empty string")
    if strings[-1] != 0:
        raise BtfError(section, "string table does not end with a NUL byte")
    table = _Strings(strings, section)
    types = _parse_types(buf, hdr_len + type_off, hdr_len + type_off + type_len, table, section)
    _check_references(types, section)
    _check_cycles(types, section)
    return Btf(types, strings, section=section, version=version, flags=flags, hdr_len=hdr_len)


def _tail_size(kind: BtfKind, vlen: int) -> int:
    """Bytes following the 12-byte common header for a record of this kind."""
    if kind in (BtfKind.INT, BtfKind.VAR, BtfKind.DECL_TAG):
        return 4
    if kind == BtfKind.ARRAY:
        return 12
    if kind in (BtfKind.STRUCT, BtfKind.UNION, BtfKind.DATASEC, BtfKind.ENUM64):
        return 12 * vlen
    if kind in (BtfKind.ENUM, BtfKind.FUNC_PROTO):
        return 8 * vlen
    return 0


_NO_VLEN = frozenset(
    {
        BtfKind.INT,
        BtfKind.PTR,
        BtfKind.ARRAY,
        BtfKind.FWD,
        BtfKind.TYPEDEF,
        BtfKind.VOLATILE,
        BtfKind.CONST,
        BtfKind.RESTRICT,
        BtfKind.VAR,
        BtfKind.FLOAT,
        BtfKind.DECL_TAG,
        BtfKind.TYPE_TAG,
    }
)


def _parse_types(buf: bytes, start: int, end: int, strings: _Strings, section: str) -> list[BtfType]:
    """Decode type records from ``buf[start:end]``; ids are assigned from 1 in order."""
    types: list[BtfType] = [BtfVoid(0, "")]
    pos = start
    while pos < end:
        type_id = len(types)
        where = f"{section} type {type_id}"
        if type_id > _MAX_TYPES:
            raise BtfError(where, f"more than {_MAX_TYPES} types")
        if end - pos < _COMMON.size:
            raise BtfError(where, f"truncated type record: {end - pos} bytes left, need {_COMMON.size}")
        name_off, info, size_or_type = _COMMON.unpack_from(buf, pos)
        pos += _COMMON.size
        kind_number = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kind_flag = bool(info >> 31)
        if not 1 <= kind_number <= max(BtfKind):
            raise BtfError(where, f"unknown kind {kind_number}")
        kind = BtfKind(kind_number)
        if kind in _NO_VLEN and vlen:
            raise BtfError(where, f"{kind.name} must have vlen 0, has {vlen}")
        tail = _tail_size(kind, vlen)
        if tail > end - pos:
            raise BtfError(
                where,
                f"{kind.name} record with vlen {vlen} needs {tail} more bytes, only {end - pos} left in the section",
            )
        name = strings.get(name_off, where)
        types.append(_decode(kind, type_id, name, vlen, kind_flag, size_or_type, buf, pos, strings, where))
        pos += tail
    return types


def _decode(
    kind: BtfKind,
    type_id: int,
    name: str,
    vlen: int,
    kind_flag: bool,
    size_or_type: int,
    buf: bytes,
    pos: int,
    strings: _Strings,
    where: str,
) -> BtfType:
    """Turn one record (common header already read, tail at ``buf[pos:]``) into a dataclass."""
    if kind == BtfKind.INT:
        (word,) = _U32.unpack_from(buf, pos)
        encoding, bit_offset, bits = (word >> 24) & 0x0F, (word >> 16) & 0xFF, word & 0xFF
        if word & 0xF000_FF00:
            raise BtfError(where, f"INT has reserved bits set (0x{word:08x})")
        if size_or_type not in (1, 2, 4, 8, 16):
            raise BtfError(where, f"INT size {size_or_type} is not 1, 2, 4, 8 or 16")
        if bits == 0 or bits > size_or_type * 8 or bit_offset + bits > 128:
            raise BtfError(where, f"INT with {bits} bits at offset {bit_offset} does not fit {size_or_type} bytes")
        if encoding not in (0, INT_SIGNED, INT_CHAR, INT_BOOL):
            raise BtfError(where, f"INT has unsupported encoding {encoding}")
        return BtfInt(type_id, name, size_or_type, encoding, bit_offset, bits)
    if kind == BtfKind.PTR:
        return BtfPtr(type_id, name, size_or_type)
    if kind == BtfKind.ARRAY:
        elem, index, nelems = _TRIPLE.unpack_from(buf, pos)
        return BtfArray(type_id, name, elem, index, nelems)
    if kind in (BtfKind.STRUCT, BtfKind.UNION):
        members = []
        for i in range(vlen):
            m_name_off, m_type, m_offset = _TRIPLE.unpack_from(buf, pos + 12 * i)
            if kind_flag:
                bit_offset, bitfield_size = m_offset & 0xFFFFFF, m_offset >> 24
            else:
                bit_offset, bitfield_size = m_offset, 0
            members.append(BtfMember(strings.get(m_name_off, f"{where} member {i}"), m_type, bit_offset, bitfield_size))
        cls = BtfStruct if kind == BtfKind.STRUCT else BtfUnion
        return cls(type_id, name, size_or_type, tuple(members))
    if kind == BtfKind.ENUM:
        values = []
        for i in range(vlen):
            v_name_off, raw = _PAIR.unpack_from(buf, pos + 8 * i)
            value = raw - (1 << 32) if kind_flag and raw & 0x8000_0000 else raw
            values.append(BtfEnumValue(strings.get(v_name_off, f"{where} enumerator {i}"), value))
        if size_or_type not in (1, 2, 4, 8):
            raise BtfError(where, f"ENUM size {size_or_type} is not 1, 2, 4 or 8")
        return BtfEnum(type_id, name, size_or_type, kind_flag, tuple(values))
    if kind == BtfKind.ENUM64:
        values = []
        for i in range(vlen):
            v_name_off, lo, hi = _TRIPLE.unpack_from(buf, pos + 12 * i)
            value = hi << 32 | lo
            if kind_flag and value & (1 << 63):
                value -= 1 << 64
            values.append(BtfEnumValue(strings.get(v_name_off, f"{where} enumerator {i}"), value))
        if size_or_type not in (1, 2, 4, 8):
            raise BtfError(where, f"ENUM64 size {size_or_type} is not 1, 2, 4 or 8")
        return BtfEnum64(type_id, name, size_or_type, kind_flag, tuple(values))
    if kind == BtfKind.FWD:
        return BtfFwd(type_id, name, kind_flag)
    if kind == BtfKind.TYPEDEF:
        return BtfTypedef(type_id, name, size_or_type)
    if kind == BtfKind.VOLATILE:
        return BtfVolatile(type_id, name, size_or_type)
    if kind == BtfKind.CONST:
        return BtfConst(type_id, name, size_or_type)
    if kind == BtfKind.RESTRICT:
        return BtfRestrict(type_id, name, size_or_type)
    if kind == BtfKind.TYPE_TAG:
        return BtfTypeTag(type_id, name, size_or_type)
    if kind == BtfKind.FUNC:
        if vlen > FuncLinkage.EXTERN:
            raise BtfError(where, f"FUNC has unknown linkage {vlen}")
        return BtfFunc(type_id, name, size_or_type, vlen)
    if kind == BtfKind.FUNC_PROTO:
        params = []
        variadic = False
        for i in range(vlen):
            p_name_off, p_type = _PAIR.unpack_from(buf, pos + 8 * i)
            if p_type == 0:
                if i != vlen - 1 or p_name_off != 0:
                    raise BtfError(where, f"parameter {i} has type void")
                variadic = True
                continue
            params.append(BtfParam(strings.get(p_name_off, f"{where} parameter {i}"), p_type))
        return BtfFuncProto(type_id, name, size_or_type, tuple(params), variadic)
    if kind == BtfKind.VAR:
        (linkage,) = _U32.unpack_from(buf, pos)
        if linkage > VarLinkage.GLOBAL_EXTERN:
            raise BtfError(where, f"VAR {name!r} has unknown linkage {linkage}")
        return BtfVar(type_id, name, size_or_type, linkage)
    if kind == BtfKind.DATASEC:
        infos = tuple(BtfVarSecinfo(*_TRIPLE.unpack_from(buf, pos + 12 * i)) for i in range(vlen))
        return BtfDatasec(type_id, name, size_or_type, infos)
    if kind == BtfKind.FLOAT:
        if size_or_type not in (2, 4, 8, 12, 16):
            raise BtfError(where, f"FLOAT size {size_or_type} is not 2, 4, 8, 12 or 16")
        return BtfFloat(type_id, name, size_or_type)
    if kind == BtfKind.DECL_TAG:
        (component_idx,) = _S32.unpack_from(buf, pos)
        if component_idx < -1:
            raise BtfError(where, f"DECL_TAG has invalid component index {component_idx}")
        return BtfDeclTag(type_id, name, size_or_type, component_idx)
    raise BtfError(where, f"unknown kind {int(kind)}")  # pragma: no cover - all kinds handled above


def _references(t: BtfType) -> list[tuple[int, bool, str]]:
    """(referenced id, may it be void?, what refers) for every type id a record mentions."""
    if isinstance(t, BtfPtr):
        return [(t.ref, True, "pointee")]
    if isinstance(t, (BtfConst, BtfVolatile, BtfRestrict, BtfTypedef)):
        return [(t.ref, True, "referenced type")]
    if isinstance(t, BtfTypeTag):
        return [(t.ref, False, "tagged type")]
    if isinstance(t, BtfArray):
        return [(t.elem_type, False, "element type"), (t.index_type, False, "index type")]
    if isinstance(t, BtfComposite):
        return [(m.type, False, f"member {m.name or i!r}") for i, m in enumerate(t.members)]
    if isinstance(t, BtfFunc):
        return [(t.proto, False, "prototype")]
    if isinstance(t, BtfFuncProto):
        return [(t.ret, True, "return type")] + [(p.type, False, f"parameter {i}") for i, p in enumerate(t.params)]
    if isinstance(t, BtfVar):
        return [(t.ref, False, "variable type")]
    if isinstance(t, BtfDatasec):
        return [(v.type, False, f"entry {i}") for i, v in enumerate(t.vars)]
    if isinstance(t, BtfDeclTag):
        return [(t.ref, False, "tagged declaration")]
    return []


def _check_references(types: list[BtfType], section: str) -> None:
    """Every referenced id must exist, and the few kind constraints the loader relies on must hold."""
    count = len(types)
    for t in types:
        where = f"{section} type {t.type_id}"
        for ref, void_ok, what in _references(t):
            if ref >= count:
                raise BtfError(where, f"{what} refers to type id {ref}, but only ids 0..{count - 1} exist")
            if ref == 0 and not void_ok:
                raise BtfError(where, f"{what} is void")
        if isinstance(t, BtfFunc) and not isinstance(types[t.proto], BtfFuncProto):
            raise BtfError(where, f"FUNC {t.name!r} has a {types[t.proto].kind.name} as prototype, not FUNC_PROTO")
        if isinstance(t, BtfDatasec):
            for info in t.vars:
                if not isinstance(types[info.type], (BtfVar, BtfFunc)):
                    raise BtfError(
                        where, f"DATASEC entry type {info.type} is a {types[info.type].kind.name}, not a VAR"
                    )
        if isinstance(t, BtfDeclTag) and t.component_idx >= 0:
            target = types[t.ref]
            components = -1  # a component index on anything else is meaningless
            if isinstance(target, BtfComposite):
                components = len(target.members)
            elif isinstance(target, BtfFunc):
                proto = types[target.proto]
                if isinstance(proto, BtfFuncProto):
                    components = len(proto.params)
            if t.component_idx >= components:
                raise BtfError(where, f"DECL_TAG component index {t.component_idx} is out of range")


def _check_cycles(types: list[BtfType], section: str) -> None:
    """Refuse reference loops that do not pass through a struct/union member.

    C can only build a recursive type through a member (``struct node { struct node *next; }``),
    so a loop made of pointers, qualifiers, typedefs, arrays, prototypes or VARs alone is
    malformed; refusing it here lets every other walk terminate.  Iterative DFS so a long chain
    cannot overflow the Python stack.
    """
    white, grey, black = 0, 1, 2
    state = [white] * len(types)
    for root in range(1, len(types)):
        if state[root] != white:
            continue
        stack: list[tuple[int, list[int]]] = [(root, _chain_edges(types[root]))]
        state[root] = grey
        while stack:
            node, edges = stack[-1]
            if not edges:
                state[node] = black
                stack.pop()
                continue
            nxt = edges.pop()
            if state[nxt] == grey:
                raise BtfError(f"{section} type {nxt}", f"reference cycle: type {node} leads back to type {nxt}")
            if state[nxt] == white:
                state[nxt] = grey
                stack.append((nxt, _chain_edges(types[nxt])))


def _chain_edges(t: BtfType) -> list[int]:
    """References that do not go through a struct/union member (those may legally recurse)."""
    if isinstance(t, BtfComposite):
        return []
    return [ref for ref, _void_ok, _what in _references(t) if ref != 0]


# --------------------------------------------------------------------------------------------
# .BTF.ext
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BtfFuncInfo:
    """Which BTF FUNC starts at byte offset ``insn_off`` of an ELF code section."""

    insn_off: int
    type_id: int

    @property
    def insn_index(self) -> int:
        """The instruction index (clang records byte offsets in object files)."""
        return self.insn_off // 8


@dataclass(frozen=True, slots=True)
class BtfLineInfo:
    """The source line an instruction came from, for disassembly and error messages."""

    insn_off: int
    file_name: str
    line: str
    line_num: int
    column: int

    @property
    def insn_index(self) -> int:
        """The instruction index (clang records byte offsets in object files)."""
        return self.insn_off // 8


@dataclass(frozen=True, slots=True)
class BtfCoreRelo:
    """A CO-RE relocation: the instruction at ``insn_off`` accesses ``access_str`` of ``type_id``."""

    insn_off: int
    type_id: int
    access_str: str
    kind: int

    @property
    def insn_index(self) -> int:
        """The instruction index (clang records byte offsets in object files)."""
        return self.insn_off // 8

    @property
    def kind_name(self) -> str:
        """Name of the relocation kind, or ``kind <n>`` for kinds newer than this module."""
        try:
            return CoreReloKind(self.kind).name
        except ValueError:
            return f"kind {self.kind}"


@dataclass(frozen=True)
class BtfExt:
    """Parsed ``.BTF.ext``: per ELF code section, func-info, line-info and CO-RE records.

    The ``*_rec_size`` fields are 0 when the sub-section is absent.
    """

    version: int
    flags: int
    hdr_len: int
    func_info_rec_size: int
    line_info_rec_size: int
    core_relo_rec_size: int
    func_info: dict[str, tuple[BtfFuncInfo, ...]]
    line_info: dict[str, tuple[BtfLineInfo, ...]]
    core_relos: dict[str, tuple[BtfCoreRelo, ...]]


def parse_btf_ext(data: bytes, btf: Btf, section: str = ".BTF.ext") -> BtfExt:
    """Parse a ``.BTF.ext`` section; names and strings are looked up in ``btf``'s string table.

    Each sub-section is ``rec_size`` followed by per-ELF-section blocks
    ``(sec_name_off, num_info, records...)``.  Records may be longer than this module knows
    (newer clang) and are then read by their known prefix, as libbpf does.
    """
    buf = bytes(data)
    if len(buf) < 8:
        raise BtfError(section, f"header truncated: {len(buf)} bytes, need at least {_EXT_HDR_MIN}")
    magic, version, flags, hdr_len = struct.unpack_from("<HBBI", buf, 0)
    if magic != BTF_MAGIC:
        if magic == 0x9FEB:
            raise BtfError(section, "big-endian BTF.ext is not supported")
        raise BtfError(section, f"bad magic 0x{magic:04x}, expected 0x{BTF_MAGIC:04x}")
    if version != BTF_VERSION:
        raise BtfError(section, f"unsupported BTF.ext version {version} (only {BTF_VERSION} is known)")
    if hdr_len < _EXT_HDR_MIN:
        raise BtfError(section, f"header length {hdr_len} is shorter than the minimum {_EXT_HDR_MIN}")
    if hdr_len > len(buf):
        raise BtfError(section, f"header length {hdr_len} exceeds the section size {len(buf)}")
    func_off, func_len, line_off, line_len = struct.unpack_from("<4I", buf, 8)
    core_off = core_len = 0
    if hdr_len >= _EXT_HDR_CORE:
        core_off, core_len = struct.unpack_from("<2I", buf, 24)
    body = buf[hdr_len:]

    def func_record(rec: bytes, pos: int, where: str) -> BtfFuncInfo:
        insn_off, type_id = _PAIR.unpack_from(rec, pos)
        _check_insn_off(insn_off, where)
        if not isinstance(_ext_type(btf, type_id, where), BtfFunc):
            raise BtfError(where, f"func-info type {type_id} is a {btf.type(type_id).kind.name}, not a FUNC")
        return BtfFuncInfo(insn_off, type_id)

    def line_record(rec: bytes, pos: int, where: str) -> BtfLineInfo:
        insn_off, file_name_off, line_text_off, line_col = struct.unpack_from("<4I", rec, pos)
        _check_insn_off(insn_off, where)
        file_name = btf._strings.get(file_name_off, where)
        line = btf._strings.get(line_text_off, where)
        return BtfLineInfo(insn_off, file_name, line, line_col >> 10, line_col & 0x3FF)

    def core_record(rec: bytes, pos: int, where: str) -> BtfCoreRelo:
        insn_off, type_id, access_off, kind = struct.unpack_from("<4I", rec, pos)
        _check_insn_off(insn_off, where)
        _ext_type(btf, type_id, where)
        return BtfCoreRelo(insn_off, type_id, btf._strings.get(access_off, where), kind)

    func_size, func_info = _parse_ext_info(body, func_off, func_len, 8, "func_info", section, btf, func_record)
    line_size, line_info = _parse_ext_info(body, line_off, line_len, 16, "line_info", section, btf, line_record)
    core_size, core_relos = _parse_ext_info(body, core_off, core_len, 16, "core_relo", section, btf, core_record)
    return BtfExt(version, flags, hdr_len, func_size, line_size, core_size, func_info, line_info, core_relos)


def _check_insn_off(insn_off: int, where: str) -> None:
    if insn_off % 8:
        raise BtfError(where, f"instruction offset {insn_off} is not a multiple of 8")


def _ext_type(btf: Btf, type_id: int, where: str) -> BtfType:
    if not 0 <= type_id < len(btf):
        raise BtfError(where, f"type id {type_id} out of range (0..{len(btf) - 1})")
    return btf.type(type_id)


_R = TypeVar("_R")


def _parse_ext_info(
    body: bytes,
    offset: int,
    length: int,
    min_rec_size: int,
    what: str,
    section: str,
    btf: Btf,
    decode: Callable[[bytes, int, str], _R],
) -> tuple[int, dict[str, tuple[_R, ...]]]:
    """Walk one ``.BTF.ext`` sub-section (func_info, line_info or core_relo)."""
    if length == 0:
        return 0, {}
    _check_span(section, what, offset, length, len(body))
    where = f"{section} {what}"
    if offset % 4:
        raise BtfError(where, f"offset {offset} is not 4-byte aligned")
    if length < 4:
        raise BtfError(where, f"{length} bytes is too short to hold the record size")
    chunk = body[offset : offset + length]
    (rec_size,) = _U32.unpack_from(chunk, 0)
    if rec_size < min_rec_size or rec_size % 4:
        raise BtfError(where, f"record size {rec_size} is invalid (at least {min_rec_size}, multiple of 4)")
    result: dict[str, tuple[_R, ...]] = {}
    pos = 4
    while pos < length:
        if length - pos < 8:
            raise BtfError(where, f"truncated section header: {length - pos} bytes left, need 8")
        name_off, count = _PAIR.unpack_from(chunk, pos)
        pos += 8
        sec_name = btf._strings.get(name_off, where)
        sec_where = f"{where} section {sec_name!r}"
        if count == 0:
            raise BtfError(sec_where, "has no records")
        if count * rec_size > length - pos:
            raise BtfError(sec_where, f"{count} records of {rec_size} bytes run past the end of the sub-section")
        if sec_name in result:
            raise BtfError(sec_where, "appears twice")
        result[sec_name] = tuple(decode(chunk, pos + i * rec_size, f"{sec_where} record {i}") for i in range(count))
        pos += count * rec_size
    return rec_size, result


# --------------------------------------------------------------------------------------------
# BTF-defined maps (.maps)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BtfMapValues:
    """The ``__array(values, ...)`` member of a map-in-map or prog-array definition.

    ``offset`` is the member's byte offset inside the definition: ``.rel.maps`` entries at
    ``map.offset + offset + 8 * i`` initialise slot ``i``.  Exactly one of ``inner_map`` (for
    ARRAY_OF_MAPS / HASH_OF_MAPS: the inner map template) and ``func_proto`` (for PROG_ARRAY:
    the FUNC_PROTO type id of the programs) is set.
    """

    offset: int
    inner_map: BtfMapDef | None = None
    func_proto: int | None = None

    @property
    def is_prog_array(self) -> bool:
        """True when the slots hold programs rather than maps."""
        return self.func_proto is not None


@dataclass(frozen=True, slots=True)
class BtfMapDef:
    """One BTF-defined map as its ``struct { __uint(...); __type(...); ... }`` describes it.

    ``offset`` is the variable's offset in ``.maps`` (meaningful after
    :meth:`Btf.fix_datasecs`); relocations against the map's symbol match it.  ``size`` is the
    number of bytes the variable occupies there, which includes initialised ``values`` slots
    (so ``.rel.maps`` offsets can be range-checked); for an inner template it is the struct size.  Absent
    attributes are 0; ``key_type_id``/``value_type_id`` are None when only a size was given.
    No per-type adjustment (e.g. RINGBUF page rounding) is applied here.
    """

    name: str
    offset: int
    size: int
    type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    numa_node: int = 0
    pinning: int = 0
    map_extra: int = 0
    key_type_id: int | None = None
    value_type_id: int | None = None
    values: BtfMapValues | None = None


_PIN_NONE = 0
_PIN_BY_NAME = 1
_INT_ATTRIBUTES = ("type", "max_entries", "map_flags", "numa_node", "key_size", "value_size", "pinning")


def map_definitions(btf: Btf, *, strict: bool = True) -> list[BtfMapDef]:
    """Decode every map of the ``.maps`` DATASEC the way libbpf's ``parse_btf_map_def`` does.

    Returns [] when there is no ``.maps``.  Call :meth:`Btf.fix_datasecs` first so offsets are
    the real ones.  ``strict`` (libbpf's default) makes an unknown attribute an error, because a
    misspelt ``max_entires`` would otherwise silently give a map of the wrong shape;
    ``strict=False`` ignores unknown attributes, as libbpf's relaxed mode does.
    """
    datasec = btf.datasec(".maps")
    if datasec is None:
        return []
    maps = []
    for info in datasec.vars:
        var = btf.type(info.type)
        if not isinstance(var, BtfVar):
            raise BtfError(".maps", f"entry type {info.type} is a {var.kind.name}, not a VAR")
        where = f".maps map {var.name!r}"
        if var.linkage != VarLinkage.GLOBAL_ALLOCATED:
            linkage = "static" if var.linkage == VarLinkage.STATIC else "extern"
            raise BtfError(where, f"{linkage} map definitions are not supported; declare the map global")
        definition = _parse_map_def(btf, var.ref, var.name, info.offset, where, inner=False, strict=strict)
        if info.size:
            if definition.size > info.size:
                raise BtfError(where, f"definition struct size {definition.size} exceeds the variable size {info.size}")
            # Initialised ``values`` slots make the variable longer than its struct type.
            definition = replace(definition, size=info.size)
        maps.append(definition)
    return maps


def _parse_map_def(
    btf: Btf, type_id: int, name: str, offset: int, where: str, *, inner: bool, strict: bool
) -> BtfMapDef:
    """Decode one map definition struct; ``inner`` for a map-in-map's inner template."""
    struct_id = btf.resolve(type_id)
    definition = btf.type(struct_id)
    if not isinstance(definition, BtfStruct):
        raise BtfError(where, f"definition must be a struct, not {btf.format_type(type_id)}")
    ints: dict[str, int] = {}
    key_type: int | None = None
    value_type: int | None = None
    key_size: int | None = None
    value_size: int | None = None
    map_extra = 0
    values: BtfMapValues | None = None
    for index, member in enumerate(definition.members):
        attribute = member.name
        if attribute in _INT_ATTRIBUTES:
            value = _map_int(btf, member, where)
            if attribute == "key_size":
                if key_size is not None and key_size != value:
                    raise BtfError(where, f"key_size {value} disagrees with the key type size {key_size}")
                key_size = value
            elif attribute == "value_size":
                if value_size is not None and value_size != value:
                    raise BtfError(where, f"value_size {value} disagrees with the value type size {value_size}")
                value_size = value
            elif attribute == "pinning":
                if inner:
                    raise BtfError(where, "an inner map definition cannot be pinned")
                if value not in (_PIN_NONE, _PIN_BY_NAME):
                    raise BtfError(where, f"unsupported pinning value {value} (0 = none, 1 = by name)")
                ints[attribute] = value
            else:
                ints[attribute] = value
        elif attribute in ("key", "value"):
            pointee = _map_type_attribute(btf, member, where)
            try:
                size = btf.size_of(pointee)
            except BtfError as exc:
                raise BtfError(where, f"cannot size the {attribute} type: {exc}") from exc
            if attribute == "key":
                if key_size is not None and key_size != size:
                    raise BtfError(where, f"key_size {key_size} disagrees with the key type size {size}")
                key_type, key_size = pointee, size
            else:
                if value_size is not None and value_size != size:
                    raise BtfError(where, f"value_size {value_size} disagrees with the value type size {size}")
                value_type, value_size = pointee, size
        elif attribute == "values":
            if inner:
                raise BtfError(where, "multi-level inner maps are not supported")
            if index != len(definition.members) - 1:
                raise BtfError(where, "'values' must be the last member of the definition")
            values = _map_values(btf, member, ints.get("type"), name, where, strict)
            if value_size is not None and value_size != 4:
                raise BtfError(where, f"value_size {value_size} conflicts with 'values' (which needs 4)")
            value_size = 4
            value_type = None
        elif attribute == "map_extra":
            map_extra = _map_long(btf, member, where)
        elif strict:
            raise BtfError(where, f"unknown map attribute {attribute!r}" if attribute else "anonymous member")
    if "type" not in ints:
        raise BtfError(where, "missing 'type' attribute")
    return BtfMapDef(
        name=name,
        offset=offset,
        size=definition.size,
        type=ints["type"],
        key_size=key_size or 0,
        value_size=value_size or 0,
        max_entries=ints.get("max_entries", 0),
        map_flags=ints.get("map_flags", 0),
        numa_node=ints.get("numa_node", 0),
        pinning=ints.get("pinning", 0),
        map_extra=map_extra,
        key_type_id=key_type,
        value_type_id=value_type,
        values=values,
    )


def _map_int(btf: Btf, member: BtfMember, where: str) -> int:
    """Decode ``__uint(name, N)``: ``int (*name)[N]``, a pointer to an N-element array."""
    ptr = btf.type(btf.resolve(member.type))
    if not isinstance(ptr, BtfPtr):
        raise BtfError(where, f"attribute {member.name!r} must be __uint() (pointer to array), got {ptr.kind.name}")
    array = btf.type(btf.resolve(ptr.ref))
    if not isinstance(array, BtfArray):
        kind = "void" if isinstance(array, BtfVoid) else array.kind.name
        raise BtfError(where, f"attribute {member.name!r} must point to an array, points to {kind}")
    return array.nelems


def _map_long(btf: Btf, member: BtfMember, where: str) -> int:
    """Decode ``map_extra``: ``__ulong()`` (one-enumerator enum) or the ``__uint()`` form."""
    t = btf.type(btf.resolve(member.type))
    if isinstance(t, BtfPtr):
        return _map_int(btf, member, where)
    if not isinstance(t, BtfEnumBase):
        raise BtfError(where, f"attribute {member.name!r} must be an enum (__ulong) or __uint(), got {t.kind.name}")
    if len(t.values) != 1:
        raise BtfError(where, f"attribute {member.name!r} enum must have exactly one enumerator, has {len(t.values)}")
    return t.values[0].value & 0xFFFF_FFFF_FFFF_FFFF


def _map_type_attribute(btf: Btf, member: BtfMember, where: str) -> int:
    """Decode ``__type(name, T)``: ``typeof(T) *name``; returns T's id."""
    ptr = btf.type(btf.resolve(member.type))
    if not isinstance(ptr, BtfPtr):
        raise BtfError(where, f"attribute {member.name!r} must be __type() (a pointer), got {ptr.kind.name}")
    return ptr.ref


def _map_values(btf: Btf, member: BtfMember, map_type: int | None, name: str, where: str, strict: bool) -> BtfMapValues:
    """Decode ``__array(values, T)``: a zero-length array of pointers to T."""
    is_map_in_map = map_type in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS)
    if not is_map_in_map and map_type != MapType.PROG_ARRAY:
        raise BtfError(where, f"'values' is only allowed for prog-array and map-in-map maps, not map type {map_type}")
    if member.bit_offset % 8 or member.bitfield_size:
        raise BtfError(where, "'values' member is not byte aligned")
    array = btf.type(btf.resolve(member.type))
    if not isinstance(array, BtfArray) or array.nelems != 0:
        raise BtfError(where, "'values' must be a zero-length array (__array)")
    ptr = btf.type(btf.resolve(array.elem_type))
    if not isinstance(ptr, BtfPtr):
        raise BtfError(where, f"'values' elements must be pointers, not {ptr.kind.name}")
    target_id = btf.resolve(ptr.ref)
    target = btf.type(target_id)
    offset = member.bit_offset // 8
    if is_map_in_map:
        if not isinstance(target, BtfStruct):
            raise BtfError(where, f"inner map definition must be a struct, not {btf.format_type(ptr.ref)}")
        inner = _parse_map_def(btf, target_id, f"{name}.inner", 0, f"{where} inner map", inner=True, strict=strict)
        return BtfMapValues(offset, inner_map=inner)
    if not isinstance(target, BtfFuncProto):
        raise BtfError(where, f"prog-array values must be functions, not {btf.format_type(ptr.ref)}")
    return BtfMapValues(offset, func_proto=target_id)
