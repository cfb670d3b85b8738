"""The ELF container of an eBPF object, as plain data.

pyelftools does the parsing; this module checks what an eBPF loader needs from the header
(64-bit, little-endian, relocatable, machine BPF), copies sections, symbols and relocations into
small frozen records, and turns every parsing failure of a truncated or hostile file into one
:class:`~pybpf.errors.ElfError` that names the section at fault.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

from elftools.common.exceptions import ELFError as _PyelftoolsError
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection

from pybpf.errors import ElfError

EM_BPF = 247
ET_REL = 1
SHT_PROGBITS = 1
SHT_SYMTAB = 2
SHT_NOBITS = 8
SHT_REL = 9
SHF_WRITE = 0x1
SHF_ALLOC = 0x2
SHF_EXECINSTR = 0x4
SHN_UNDEF = 0
SHN_LORESERVE = 0xFF00
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3
STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STV_HIDDEN = 2


@dataclass(frozen=True)
class Section:
    index: int
    name: str
    type: int
    flags: int
    size: int
    data: bytes  # empty for SHT_NOBITS
    link: int
    info: int

    @property
    def executable(self) -> bool:
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)


@dataclass(frozen=True)
class Symbol:
    index: int
    name: str
    value: int
    size: int
    type: int
    bind: int
    visibility: int
    shndx: int  # section index, or SHN_UNDEF / a reserved index


@dataclass(frozen=True)
class Relocation:
    offset: int
    type: int
    symbol: int  # index into the symbol table


_TYPES = {"STT_NOTYPE": 0, "STT_OBJECT": 1, "STT_FUNC": 2, "STT_SECTION": 3, "STT_FILE": 4}
_BINDS = {"STB_LOCAL": 0, "STB_GLOBAL": 1, "STB_WEAK": 2}
_VIS = {"STV_DEFAULT": 0, "STV_INTERNAL": 1, "STV_HIDDEN": 2, "STV_PROTECTED": 3}


def _enum(value: object, table: dict[str, int]) -> int:
    if isinstance(value, int):
        return value
    return table.get(str(value), -1)


class ElfContainer:
    """Sections, symbols and relocation sections of one object file."""

    def __init__(self, data: bytes, name: str = "<object>") -> None:
        self.name = name
        self._check_header(data)
        try:
            elf = ELFFile(io.BytesIO(data))
            self.sections = [self._section(elf, i) for i in range(elf.num_sections())]
            symtabs = [
                s for s in elf.iter_sections() if isinstance(s, SymbolTableSection) and s["sh_type"] == "SHT_SYMTAB"
            ]
            if not symtabs:
                raise ElfError(name, "no symbol table (.symtab): the object is stripped; rebuild without -s")
            if len(symtabs) > 1:
                raise ElfError(name, "more than one symbol table")
            self.symtab_index = elf.get_section_index(symtabs[0].name)
            self.symbols = [self._symbol(i, sym) for i, sym in enumerate(symtabs[0].iter_symbols())]
            self.relocations: dict[int, list[Relocation]] = {}
            for sec in elf.iter_sections():
                if isinstance(sec, RelocationSection) and sec["sh_type"] == "SHT_REL":
                    target = sec["sh_info"]
                    rels = [
                        Relocation(r["r_offset"], r["r_info_type"], r["r_info_sym"]) for r in sec.iter_relocations()
                    ]
                    self.relocations[target] = rels
        except ElfError:
            raise
        except (
            _PyelftoolsError,
            struct.error,
            ValueError,
            KeyError,
            IndexError,
            TypeError,
            AttributeError,
            UnicodeDecodeError,
            AssertionError,
            OverflowError,
            MemoryError,
            RecursionError,
        ) as exc:
            raise ElfError(name, f"malformed ELF file: {exc or type(exc).__name__}") from None
        for rels in self.relocations.values():
            for rel in rels:
                if rel.symbol >= len(self.symbols):
                    raise ElfError(
                        name, f"relocation at 0x{rel.offset:x} refers to symbol {rel.symbol}, past the symbol table"
                    )
        self.by_name = {s.name: s for s in self.sections}

    @staticmethod
    def _check_header(data: bytes) -> None:
        if len(data) < 64:
            raise ElfError("ELF header", f"file is {len(data)} bytes, too short for an ELF header")
        if data[:4] != b"\x7fELF":
            raise ElfError("ELF header", "not an ELF file (bad magic)")
        if data[4] != 2:
            raise ElfError("ELF header", "not a 64-bit ELF file (eBPF objects are ELFCLASS64)")
        if data[5] != 1:
            raise ElfError("ELF header", "not little-endian (big-endian eBPF objects are not supported)")
        e_type, e_machine = struct.unpack_from("<HH", data, 16)
        if e_type != ET_REL:
            raise ElfError("ELF header", f"e_type is {e_type}, expected a relocatable object (ET_REL, 1)")
        if e_machine not in (EM_BPF, 0):
            raise ElfError("ELF header", f"machine is {e_machine}, not BPF ({EM_BPF}): compile with clang -target bpf")

    def _section(self, elf: ELFFile, index: int) -> Section:
        sec = elf.get_section(index)
        hdr = sec.header
        stype = _section_type(hdr["sh_type"])
        data = b"" if stype == SHT_NOBITS or index == 0 else bytes(sec.data())
        if stype != SHT_NOBITS and index and len(data) != hdr["sh_size"]:
            raise ElfError(sec.name or f"section {index}", "section data runs past the end of the file")
        return Section(index, sec.name, stype, hdr["sh_flags"], hdr["sh_size"], data, hdr["sh_link"], hdr["sh_info"])

    def _symbol(self, index: int, sym: object) -> Symbol:
        entry = sym.entry  # type: ignore[attr-defined]
        info = entry["st_info"]
        shndx = entry["st_shndx"]
        if not isinstance(shndx, int):
            shndx = SHN_UNDEF if shndx == "SHN_UNDEF" else SHN_LORESERVE
        return Symbol(
            index,
            sym.name,  # type: ignore[attr-defined]
            entry["st_value"],
            entry["st_size"],
            _enum(info["type"], _TYPES),
            _enum(info["bind"], _BINDS),
            _enum(entry["st_other"]["visibility"], _VIS),
            shndx,
        )

    def section(self, index: int) -> Section | None:
        return self.sections[index] if 0 <= index < len(self.sections) else None


def _section_type(value: object) -> int:
    if isinstance(value, int):
        return value
    return {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_NOBITS": 8, "SHT_REL": 9}.get(
        str(value), -1
    )
