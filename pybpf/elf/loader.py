"""Open a clang-built eBPF object the way libbpf does (``bpf_object__open``).

The steps follow libbpf's algorithm: check the header, classify sections, discover programs
(every ``STT_FUNC`` in an executable section; ``.text`` holds sub-programs), parse BTF and repair
its DATASECs from the symbol table, describe maps (BTF ``.maps``, the legacy ``maps`` section, and
one single-entry array per global-data section), read ``.rel.maps`` initialisers, then link each
entry program: append the ``.text`` sub-programs it reaches and rewrite relocated instructions.

Relocated map references become ``lddw`` with src 5 (``map_idx``, imm = index into
:attr:`ElfObject.maps`) and src 6 (``map_idx_value``, imm = map index, second imm = offset), the
form libbpf's own generated loaders use.  Sub-program calls become relative local calls, callback
addresses ``lddw`` src 4, and calls of undefined extern functions become helper calls by name.

CO-RE relocation records are parsed (in ``.BTF.ext``) and left as compiled: the offsets clang put
in the instructions are those of the local types, which is the layout pybpf runs against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pybpf.elf.btf import Btf, BtfExt, BtfMapDef, map_definitions, parse_btf, parse_btf_ext
from pybpf.elf.reader import (
    SHN_LORESERVE,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_PROGBITS,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_NOTYPE,
    STT_OBJECT,
    STT_SECTION,
    ElfContainer,
    Section,
    Symbol,
)
from pybpf.errors import BytecodeError, ElfError, PybpfError
from pybpf.isa.instruction import Instruction, decode_program, validate
from pybpf.progtypes.sections import ProgType, prog_type_for_section

R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_32 = 10

BPF_MAP_TYPE_ARRAY = 2
BPF_MAP_TYPE_PROG_ARRAY = 3
BPF_F_RDONLY_PROG = 0x80
BPF_F_MMAPABLE = 0x400

PSEUDO_MAP_IDX = 5
PSEUDO_MAP_IDX_VALUE = 6
PSEUDO_FUNC = 4

HelperByName = Callable[[str], int | None]


@dataclass
class MapDefinition:
    """A map the object asks for, before it exists."""

    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int = 0
    map_extra: int = 0
    pinning: int = 0
    inner: MapDefinition | None = None
    key_type_id: int | None = None
    value_type_id: int | None = None
    source: str = "btf"  # "btf", "legacy" or "data"
    section: str = ".maps"
    offset: int = 0  # offset of the definition in its section (btf, legacy)
    initial: bytes | None = None  # initial value of a global-data map
    # .rel.maps initialisers: slot index -> name of a map (map-in-map) or of a program (prog array)
    slot_init: dict[int, str] = field(default_factory=dict)

    @property
    def read_only(self) -> bool:
        return bool(self.map_flags & BPF_F_RDONLY_PROG)


@dataclass
class ProgramDefinition:
    """An entry program, linked with its sub-programs and relocated."""

    name: str
    section: str
    prog_type: ProgType | None
    insns: list[Instruction]
    # instruction index -> what it refers to, for disassembly listings
    notes: dict[int, str] = field(default_factory=dict)
    # index ranges of the sub-programs appended after the entry program: name -> (start, end)
    subprograms: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class ElfObject:
    name: str
    license: str
    kern_version: int | None
    programs: list[ProgramDefinition]
    maps: list[MapDefinition]
    btf: Btf | None
    btf_ext: BtfExt | None
    subprograms: list[str]

    def program(self, name: str) -> ProgramDefinition:
        """A program by function name, or by section name when that is unique."""
        for p in self.programs:
            if p.name == name:
                return p
        in_section = [p for p in self.programs if p.section == name]
        if len(in_section) == 1:
            return in_section[0]
        if in_section:
            names = ", ".join(p.name for p in in_section)
            raise ElfError(f"section {name!r}", f"holds several programs ({names}); name one")
        known = ", ".join(f"{p.name} ({p.section})" for p in self.programs) or "none"
        raise PybpfError(f"{self.name}: no program or section {name!r} (programs: {known})")

    def map_index(self, name: str) -> int:
        for i, m in enumerate(self.maps):
            if m.name == name:
                return i
        raise PybpfError(f"{self.name}: no map {name!r}")


@dataclass
class _Function:
    """A function symbol inside an executable section."""

    name: str
    section: Section
    start: int  # slot index in the section
    end: int
    insns: list[Instruction]


def open_object(
    source: str | Path | bytes, *, name: str | None = None, helpers: HelperByName | None = None
) -> ElfObject:
    """Parse and link an object file (path or bytes) without creating anything."""
    if isinstance(source, bytes):
        data, label = source, name or "<object>"
    else:
        path = Path(source)
        data, label = path.read_bytes(), name or path.name
    return _Opener(data, label, helpers).open()


class _Opener:
    def __init__(self, data: bytes, name: str, helpers: HelperByName | None) -> None:
        self.elf = ElfContainer(data, name)
        self.name = name
        self.helpers = helpers

    # -- top level ------------------------------------------------------------------------------
    def open(self) -> ElfObject:
        license_ = self._license()
        version = self._version()
        btf, btf_ext = self._btf()
        self.btf = btf
        functions = self._functions()
        self.functions = functions
        maps = self._maps(btf)
        self.maps = maps
        self._map_at = {(m.section, m.offset): i for i, m in enumerate(maps) if m.source != "data"}
        self._data_map = {m.section: i for i, m in enumerate(maps) if m.source == "data"}
        self._slot_inits(maps)
        entries = [f for f in functions if f.section.name != ".text"]
        subs = [f for f in functions if f.section.name == ".text"]
        programs = [self._link(f) for f in entries]
        return ElfObject(self.name, license_, version, programs, maps, btf, btf_ext, [s.name for s in subs])

    def _license(self) -> str:
        sec = self.elf.by_name.get("license")
        if sec is None:
            return ""
        return sec.data.split(b"\0", 1)[0].decode("utf-8", "replace")

    def _version(self) -> int | None:
        sec = self.elf.by_name.get("version")
        if sec is None:
            return None
        if len(sec.data) != 4:
            raise ElfError("version", f"section must be exactly 4 bytes, not {len(sec.data)}")
        return int.from_bytes(sec.data, "little")

    def _btf(self) -> tuple[Btf | None, BtfExt | None]:
        sec = self.elf.by_name.get(".BTF")
        if sec is None:
            return None, None
        if sec.type != SHT_PROGBITS:
            raise ElfError(".BTF", "must be a PROGBITS section")
        btf = parse_btf(sec.data)
        sizes = {s.name: s.size for s in self.elf.sections if s.name}
        variables = [
            s
            for s in self.elf.symbols
            if s.name and s.type in (STT_OBJECT, STT_NOTYPE) and s.shndx != SHN_UNDEF and s.shndx < SHN_LORESERVE
        ]
        offsets = {s.name: s.value for s in variables}
        homes = {s.name: sec.name for s in variables if (sec := self.elf.section(s.shndx)) is not None}
        btf.fix_datasecs(sizes, offsets, homes)
        ext_sec = self.elf.by_name.get(".BTF.ext")
        ext = parse_btf_ext(ext_sec.data, btf) if ext_sec is not None else None
        return btf, ext

    # -- programs -------------------------------------------------------------------------------
    def _functions(self) -> list[_Function]:
        out: list[_Function] = []
        for sym in self.elf.symbols:
            if sym.type != STT_FUNC or sym.shndx in (SHN_UNDEF,) or sym.shndx >= SHN_LORESERVE:
                continue
            sec = self.elf.section(sym.shndx)
            if sec is None:
                raise ElfError(f"symbol {sym.name!r}", f"refers to section {sym.shndx}, which does not exist")
            if not sec.executable:
                continue
            if sec.name != ".text" and sym.bind == STB_LOCAL:
                raise ElfError(
                    f"program {sym.name!r}", f"static function in section {sec.name!r}; entry programs must be global"
                )
            if sym.value % 8 or sym.size % 8 or sym.value + sym.size > len(sec.data):
                raise ElfError(
                    f"program {sym.name!r}",
                    f"does not fit section {sec.name!r} (offset {sym.value}, size {sym.size}, section {len(sec.data)} bytes)",
                )
            if sym.size == 0:
                continue
            try:
                insns = decode_program(sec.data[sym.value : sym.value + sym.size])
            except BytecodeError as exc:
                raise ElfError(f"program {sym.name!r}", exc.reason) from None
            out.append(_Function(sym.name, sec, sym.value // 8, (sym.value + sym.size) // 8, insns))
        out.sort(key=lambda f: (f.section.index, f.start))
        return out

    def _function_at(self, section: Section, slot: int) -> _Function | None:
        for f in self.functions:
            if f.section.index == section.index and f.start <= slot < f.end:
                return f
        return None

    # -- maps -----------------------------------------------------------------------------------
    def _maps(self, btf: Btf | None) -> list[MapDefinition]:
        maps: list[MapDefinition] = []
        if ".maps" in self.elf.by_name:
            if btf is None:
                raise ElfError(".maps", "BTF-defined maps need a .BTF section (compile with -g)")
            maps.extend(self._from_btf(d) for d in map_definitions(btf))
        legacy = [s for s in self.elf.sections if s.name == "maps" or s.name.startswith("maps/")]
        for sec in legacy:
            maps.extend(self._legacy(sec))
        for sec in self.elf.sections:
            if _is_data_section(sec.name) and sec.size > 0:
                maps.append(self._data(sec))
        return maps

    def _from_btf(self, d: BtfMapDef) -> MapDefinition:
        inner = None
        if d.values is not None and d.values.inner_map is not None:
            inner = self._from_btf(d.values.inner_map)
        value_size = 4 if d.values is not None else d.value_size
        key_size = d.key_size
        return MapDefinition(
            name=d.name,
            map_type=d.type,
            key_size=key_size,
            value_size=value_size,
            max_entries=d.max_entries,
            map_flags=d.map_flags,
            map_extra=d.map_extra,
            pinning=d.pinning,
            inner=inner,
            key_type_id=d.key_type_id,
            value_type_id=d.value_type_id,
            source="btf",
            section=".maps",
            offset=d.offset,
        )

    def _legacy(self, sec: Section) -> list[MapDefinition]:
        syms = sorted((s for s in self.elf.symbols if s.shndx == sec.index and s.name), key=lambda s: s.value)
        if not syms:
            return []
        record = len(sec.data) // len(syms)
        if record < 16 or record * len(syms) != len(sec.data):
            raise ElfError(
                sec.name, f"{len(sec.data)} bytes do not divide into {len(syms)} map records of at least 16 bytes"
            )
        out = []
        for sym in syms:
            if sym.value % record:
                raise ElfError(
                    f"{sec.name} map {sym.name!r}", f"offset {sym.value} is not a multiple of the record size {record}"
                )
            words = [
                int.from_bytes(sec.data[sym.value + 4 * k : sym.value + 4 * k + 4], "little")
                for k in range(record // 4)
            ]
            mtype, ksize, vsize, entries = words[:4]
            flags = words[4] if len(words) > 4 else 0
            out.append(
                MapDefinition(
                    sym.name, mtype, ksize, vsize, entries, flags, source="legacy", section=sec.name, offset=sym.value
                )
            )
        return out

    def _data(self, sec: Section) -> MapDefinition:
        read_only = sec.name.startswith(".rodata")
        flags = BPF_F_RDONLY_PROG if read_only else 0
        datasec = self.btf.datasec(sec.name) if self.btf is not None else None
        if datasec is not None:
            flags |= BPF_F_MMAPABLE
        initial = bytes(sec.size) if sec.type == SHT_NOBITS else sec.data
        return MapDefinition(
            name=sec.name,
            map_type=BPF_MAP_TYPE_ARRAY,
            key_size=4,
            value_size=sec.size,
            max_entries=1,
            map_flags=flags,
            source="data",
            section=sec.name,
            initial=initial,
            value_type_id=datasec.type_id if datasec is not None else None,  # as libbpf: the DATASEC
        )

    def _slot_inits(self, maps: list[MapDefinition]) -> None:
        sec = self.elf.by_name.get(".maps")
        if sec is None:
            return
        for rel in self.elf.relocations.get(sec.index, []):
            sym = self.elf.symbols[rel.symbol]
            owner = next(
                (m for m in maps if m.source == "btf" and m.offset <= rel.offset < m.offset + _def_size(self, m)), None
            )
            if owner is None:
                raise ElfError(".rel.maps", f"relocation at offset {rel.offset} is outside every map definition")
            if rel.type != R_BPF_64_ABS64:
                raise ElfError(
                    ".rel.maps", f"relocation type {rel.type} for map {owner.name!r}, expected R_BPF_64_ABS64"
                )
            values_off = _values_offset(self, owner)
            if values_off is None or rel.offset < owner.offset + values_off:
                raise ElfError(f".rel.maps map {owner.name!r}", "initialiser outside its values array")
            slot = (rel.offset - owner.offset - values_off) // 8
            if slot >= owner.max_entries:
                raise ElfError(f".rel.maps map {owner.name!r}", f"slot {slot} is past max_entries {owner.max_entries}")
            if owner.map_type == BPF_MAP_TYPE_PROG_ARRAY:
                if not any(f.name == sym.name and f.section.name != ".text" for f in self.functions):
                    raise ElfError(
                        f".rel.maps map {owner.name!r}",
                        f"slot {slot} refers to {sym.name!r}, which is not an entry program",
                    )
            elif not any(m.name == sym.name and m.source == "btf" for m in maps):
                raise ElfError(
                    f".rel.maps map {owner.name!r}", f"slot {slot} refers to {sym.name!r}, which is not a map"
                )
            owner.slot_init[slot] = sym.name

    # -- linking --------------------------------------------------------------------------------
    def _link(self, entry: _Function) -> ProgramDefinition:
        """Copy the entry program, append reachable sub-programs, resolve relocations."""
        prog = ProgramDefinition(entry.name, entry.section.name, prog_type_for_section(entry.section.name), [])
        placed: dict[str, int] = {}
        queue: list[_Function] = [entry]
        while queue:
            func = queue.pop(0)
            base = len(prog.insns)
            placed[func.name] = base
            prog.insns.extend(func.insns)
            if func is not entry:
                prog.subprograms[func.name] = (base, len(prog.insns))
            for target_func in self._relocate(func, base, prog, placed):
                if target_func.name not in placed and target_func not in queue:
                    queue.append(target_func)
        # Second pass: patch call and function-address targets now that every function has a place.
        for func_name, base in placed.items():
            func = next(f for f in self.functions if f.name == func_name)
            self._patch_targets(func, base, prog, placed)
        try:
            validate(prog.insns)
        except BytecodeError as exc:
            raise ElfError(f"program {entry.name!r}", f"after linking: {exc}") from None
        return prog

    def _relocs_of(self, func: _Function) -> dict[int, Symbol]:
        """Relocated slots of ``func`` (slot in the function -> symbol), after checking each one."""
        out: dict[int, Symbol] = {}
        for rel in self.elf.relocations.get(func.section.index, []):
            if rel.offset % 8:
                raise ElfError(
                    f"relocation section of {func.section.name!r}", f"offset {rel.offset} is not instruction-aligned"
                )
            slot = rel.offset // 8
            if slot >= len(func.section.data) // 8:
                raise ElfError(
                    f"relocation section of {func.section.name!r}", f"offset {rel.offset} is past the section end"
                )
            if func.start <= slot < func.end:
                out[slot - func.start] = self.elf.symbols[rel.symbol]
        return out

    def _relocate(self, func: _Function, base: int, prog: ProgramDefinition, placed: dict[str, int]) -> list[_Function]:
        """Rewrite data references of ``func`` in place; return the sub-programs it needs."""
        needed: list[_Function] = []
        relocs = self._relocs_of(func)
        text = self.elf.by_name.get(".text")
        for k, insn in enumerate(func.insns):
            at = base + k
            sym = relocs.get(k)
            where = f"program {prog.name!r} instruction {at} ({func.section.name}+{8 * (func.start + k)})"
            if insn.opcode == 0x85 and insn.src == 1:
                if sym is not None and _is_extern(sym):
                    prog.insns[at] = Instruction(0x85, 0, 0, 0, self._helper_id(sym.name, where))
                    prog.notes[at] = sym.name
                    continue
                target = self._call_target(func, k, insn, sym, where)
                needed.append(target[0])
                continue
            if sym is None:
                continue
            if insn.opcode == 0x85:
                if _is_extern(sym):
                    prog.insns[at] = Instruction(0x85, 0, 0, 0, self._helper_id(sym.name, where))
                    prog.notes[at] = sym.name
                    continue
                raise ElfError(where, f"call relocated against {sym.name!r} must be a local call (src 1)")
            if insn.opcode != 0x18:
                raise ElfError(
                    where, f"relocation against {sym.name!r} on an instruction that is neither lddw nor call"
                )
            nxt = func.insns[k + 1] if k + 1 < len(func.insns) else None
            if nxt is None:
                raise ElfError(where, "lddw cut in half at the end of the function")
            if sym.shndx == SHN_UNDEF:
                raise ElfError(
                    where, f"lddw refers to undefined symbol {sym.name!r} (extern variables are not supported)"
                )
            if sym.shndx >= SHN_LORESERVE:
                raise ElfError(
                    where, f"lddw refers to {sym.name!r} in a reserved section: forgot to initialise a global?"
                )
            sec = self.elf.section(sym.shndx)
            if sec is None:
                raise ElfError(where, f"symbol {sym.name!r} is in section {sym.shndx}, which does not exist")
            if text is not None and sec.index == text.index:
                slot = (sym.value + insn.imm) // 8
                target_func = self._function_at(text, slot)
                if target_func is None or (sym.value + insn.imm) % 8:
                    raise ElfError(where, f"function address {sym.name}+{insn.imm} is not a sub-program in .text")
                needed.append(target_func)
                prog.notes[at] = target_func.name
                continue
            if sec.name == ".maps" or sec.name == "maps" or sec.name.startswith("maps/"):
                index = self._map_at.get((sec.name, sym.value))
                if index is None:
                    raise ElfError(where, f"{sym.name!r} is not a map definition in {sec.name}")
                prog.insns[at] = Instruction(0x18, insn.dst, PSEUDO_MAP_IDX, 0, index)
                prog.insns[at + 1] = Instruction(0, 0, 0, 0, 0)
                prog.notes[at] = f"map {self.maps[index].name}"
                continue
            if sec.name in self._data_map:
                index = self._data_map[sec.name]
                offset = insn.imm + sym.value
                if not 0 <= offset <= sec.size:
                    raise ElfError(where, f"offset {offset} is outside {sec.name} ({sec.size} bytes)")
                prog.insns[at] = Instruction(0x18, insn.dst, PSEUDO_MAP_IDX_VALUE, 0, index)
                prog.insns[at + 1] = Instruction(0, 0, 0, 0, offset)
                label = sym.name if sym.type != STT_SECTION else sec.name
                prog.notes[at] = f"{label}+{offset - sym.value}" if offset != sym.value else label
                continue
            raise ElfError(
                where, f"relocation against {sym.name!r} in section {sec.name!r}, which is neither code, maps nor data"
            )
        return needed

    def _call_target(
        self, func: _Function, k: int, insn: Instruction, sym: Symbol | None, where: str
    ) -> tuple[_Function, int]:
        """The sub-program a local call in ``func`` at slot ``k`` enters, and the slot in it."""
        if sym is not None:
            sec = self.elf.section(sym.shndx)
            if sec is None or not sec.executable:
                raise ElfError(where, f"call target {sym.name!r} is not in an executable section")
            if sym.value % 8:
                raise ElfError(where, f"call target {sym.name!r} is not instruction-aligned")
            slot = sym.value // 8 + insn.imm + 1
        else:
            sec = func.section
            slot = func.start + k + insn.imm + 1
        target = self._function_at(sec, slot)
        if target is None:
            raise ElfError(where, f"local call into section {sec.name!r} slot {slot}, which is in no function")
        if target.section.name != ".text" and target is not func:
            raise ElfError(
                where, f"local call into entry program {target.name!r}; only .text sub-programs can be called"
            )
        return target, slot - target.start

    def _patch_targets(self, func: _Function, base: int, prog: ProgramDefinition, placed: dict[str, int]) -> None:
        relocs = self._relocs_of(func)
        text = self.elf.by_name.get(".text")
        for k, insn in enumerate(func.insns):
            at = base + k
            where = f"program {prog.name!r} instruction {at}"
            sym = relocs.get(k)
            if insn.opcode == 0x85 and insn.src == 1 and not (sym is not None and _is_extern(sym)):
                target, inner = self._call_target(func, k, insn, sym, where)
                dest = placed[target.name] + inner
                prog.insns[at] = Instruction(0x85, 0, 1, 0, dest - at - 1)
                prog.notes.setdefault(at, target.name)
            elif insn.opcode == 0x18 and sym is not None and text is not None and sym.shndx == text.index:
                slot = (sym.value + insn.imm) // 8
                target_func = self._function_at(text, slot)
                assert target_func is not None  # checked in _relocate
                dest = placed[target_func.name] + slot - target_func.start
                prog.insns[at] = Instruction(0x18, insn.dst, PSEUDO_FUNC, 0, dest - at - 1)
                prog.insns[at + 1] = Instruction(0, 0, 0, 0, 0)

    def _helper_id(self, name: str, where: str) -> int:
        hid = self.helpers(name) if self.helpers is not None else None
        if hid is None:
            raise ElfError(where, f"call to extern function {name!r}, which is not a known helper")
        return hid


def _is_extern(sym: Symbol) -> bool:
    return sym.shndx == SHN_UNDEF and sym.bind in (STB_GLOBAL, STB_WEAK) and sym.type == STT_NOTYPE


def _is_data_section(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in (".data", ".rodata", ".bss"))


def _def_size(opener: _Opener, m: MapDefinition) -> int:
    """Bytes a BTF map variable occupies in .maps (from the symbol size)."""
    for s in opener.elf.symbols:
        if s.name == m.name and s.value == m.offset and opener.elf.section(s.shndx) is opener.elf.by_name.get(".maps"):
            return max(s.size, 8)
    return 8


def _values_offset(opener: _Opener, m: MapDefinition) -> int | None:
    if opener.btf is None:
        return None
    for d in map_definitions(opener.btf):
        if d.name == m.name and d.values is not None:
            return d.values.offset
    return None
