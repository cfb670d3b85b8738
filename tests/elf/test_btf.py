"""Tests for pybpf.elf.btf against objects compiled by clang at test time.

The C sources live in ``tests/elf/c``; every test that needs an object compiles it into
pytest's temporary directory with ``clang -target bpf -O2 -g -c``.  clang is a hard
requirement (CI installs it): a missing compiler fails the tests instead of skipping them, so
the BTF code is never silently untested.  pyelftools is used only to pull sections and symbols
out of the ELF container.
"""

from __future__ import annotations

import functools
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection
from elftools.elf.sections import SymbolTableSection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.elf.btf import (
    BTF_MAGIC,
    Btf,
    BtfConst,
    BtfDeclTag,
    BtfEnum,
    BtfEnum64,
    BtfFloat,
    BtfFunc,
    BtfFuncProto,
    BtfFwd,
    BtfInt,
    BtfKind,
    BtfMapDef,
    BtfPtr,
    BtfStruct,
    BtfTypedef,
    BtfTypeTag,
    BtfUnion,
    BtfVar,
    BtfVoid,
    CoreReloKind,
    FuncLinkage,
    VarLinkage,
    map_definitions,
    parse_btf,
    parse_btf_ext,
)
from pybpf.errors import BtfError, ElfError

C_DIR = Path(__file__).parent / "c"

# BPF_MAP_TYPE_* numbers from linux/bpf.h, spelled out so the test states what it expects.
HASH, ARRAY, PROG_ARRAY, PERCPU_ARRAY, ARRAY_OF_MAPS, RINGBUF, BLOOM_FILTER = 1, 2, 3, 6, 12, 27, 30


# --------------------------------------------------------------------------------------------
# Compiling and opening objects
# --------------------------------------------------------------------------------------------


@functools.cache
def _multiarch_include() -> list[str]:
    """``-I/usr/include/<triplet>`` so ``<asm/types.h>`` is found (Debian multiarch layout)."""
    for tool in ("gcc", "clang"):
        path = shutil.which(tool)
        if path is None:
            continue
        result = subprocess.run([path, "-print-multiarch"], capture_output=True, text=True, check=False)
        triplet = result.stdout.strip()
        if result.returncode == 0 and triplet:
            return [f"-I/usr/include/{triplet}"]
    return []


def compile_bpf(source: Path, out_dir: Path) -> Path:
    """Compile one C file for the BPF target; a missing clang is a test failure, not a skip."""
    clang = shutil.which("clang")
    if clang is None:
        pytest.fail("clang is required to build the BPF test objects (install clang and libbpf-dev)", pytrace=False)
    out = out_dir / (source.stem + ".o")
    cmd = [clang, "-target", "bpf", "-O2", "-g", "-c", *_multiarch_include(), str(source), "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"clang failed on {source.name}:\n{result.stderr}", pytrace=False)
    return out


@dataclass
class BpfObject:
    """The parts of a compiled object the BTF layer is fed by the (future) ELF loader."""

    btf_bytes: bytes
    ext_bytes: bytes
    section_sizes: dict[str, int]
    object_symbols: dict[str, int]  # named STT_OBJECT symbols -> st_value
    functions: dict[str, tuple[str, int, str]]  # FUNC symbol -> (section, st_value, binding)
    maps_relocations: list[tuple[int, str]]  # .rel.maps: (r_offset, symbol name)

    def btf(self) -> Btf:
        return parse_btf(self.btf_bytes)

    def fixed_btf(self) -> Btf:
        btf = self.btf()
        btf.fix_datasecs(self.section_sizes, self.object_symbols)
        return btf


def open_object(path: Path) -> BpfObject:
    with path.open("rb") as handle:
        elf = ELFFile(handle)
        btf_section = elf.get_section_by_name(".BTF")
        ext_section = elf.get_section_by_name(".BTF.ext")
        assert btf_section is not None, "clang -g must emit .BTF"
        sizes = {section.name: section.data_size for section in elf.iter_sections()}
        symtab = elf.get_section_by_name(".symtab")
        assert isinstance(symtab, SymbolTableSection)
        objects: dict[str, int] = {}
        functions: dict[str, tuple[str, int, str]] = {}
        for symbol in symtab.iter_symbols():
            kind = symbol["st_info"]["type"]
            if kind == "STT_OBJECT" and symbol.name:
                objects[symbol.name] = symbol["st_value"]
            elif kind == "STT_FUNC":
                section = elf.get_section(symbol["st_shndx"]).name
                functions[symbol.name] = (section, symbol["st_value"], symbol["st_info"]["bind"])
        relocations: list[tuple[int, str]] = []
        rel_maps = elf.get_section_by_name(".rel.maps")
        if isinstance(rel_maps, RelocationSection):
            for rel in rel_maps.iter_relocations():
                relocations.append((rel["r_offset"], symtab.get_symbol(rel["r_info_sym"]).name))
        ext = ext_section.data() if ext_section is not None else b""  # no code, no .BTF.ext
        return BpfObject(btf_section.data(), ext, sizes, objects, functions, relocations)


@pytest.fixture(scope="session")
def maps_obj(tmp_path_factory: pytest.TempPathFactory) -> BpfObject:
    return open_object(compile_bpf(C_DIR / "btf_maps.c", tmp_path_factory.mktemp("btf_maps")))


@pytest.fixture(scope="session")
def kinds_obj(tmp_path_factory: pytest.TempPathFactory) -> BpfObject:
    return open_object(compile_bpf(C_DIR / "btf_kinds.c", tmp_path_factory.mktemp("btf_kinds")))


def find_id(btf: Btf, name: str, kind: BtfKind | None = None) -> int:
    type_id = btf.find(name, kind)
    assert type_id is not None, f"type {name!r} not found"
    return type_id


# --------------------------------------------------------------------------------------------
# .BTF from a real object
# --------------------------------------------------------------------------------------------


def test_header_and_type_ids(maps_obj: BpfObject) -> None:
    btf = maps_obj.btf()
    assert (btf.version, btf.flags, btf.hdr_len, btf.section) == (1, 0, 24, ".BTF")
    assert isinstance(btf.types[0], BtfVoid)
    assert all(t.type_id == i for i, t in enumerate(btf.types))
    assert len(btf) == len(btf.types) > 100


def test_struct_types_and_sizes(maps_obj: BpfObject) -> None:
    btf = maps_obj.btf()
    flow_key = btf.type(find_id(btf, "flow_key"))
    assert isinstance(flow_key, BtfStruct)
    assert flow_key.size == 16
    assert [(m.name, m.byte_offset) for m in flow_key.members] == [
        ("saddr", 0),
        ("daddr", 4),
        ("sport", 8),
        ("dport", 10),
        ("proto", 12),
        ("pad", 13),
    ]
    stats_id = find_id(btf, "flow_stats", BtfKind.STRUCT)
    assert btf.size_of(stats_id) == 40
    stats = btf.type(stats_id)
    assert isinstance(stats, BtfStruct)
    flags, state = stats.members[2], stats.members[3]
    assert (flags.name, flags.bit_offset, flags.bitfield_size) == ("flags", 128, 4)
    assert (state.name, state.bit_offset, state.bitfield_size) == ("state", 132, 12)
    assert btf.format_type(stats.members[4].type) == "char[16]"


def test_resolve_and_size_of(maps_obj: BpfObject) -> None:
    btf = maps_obj.btf()
    idx = find_id(btf, "counter_idx_t", BtfKind.TYPEDEF)
    base = btf.type(btf.resolve(idx))
    assert isinstance(base, BtfInt) and base.name == "unsigned int" and not base.is_signed
    assert btf.size_of(idx) == 4
    assert btf.size_of(find_id(btf, "__u64")) == 8
    # A VAR sizes as its type; arrays multiply; const volatile is stripped.
    assert btf.size_of(find_id(btf, "tag", BtfKind.VAR)) == 16
    assert btf.size_of(find_id(btf, "last_key", BtfKind.VAR)) == 16
    sample_rate = btf.type(find_id(btf, "sample_rate", BtfKind.VAR))
    assert isinstance(sample_rate, BtfVar)
    assert isinstance(btf.type(sample_rate.ref), BtfConst)
    assert btf.name(btf.resolve(sample_rate.ref)) == "unsigned int"
    pointers = [t for t in btf.types if isinstance(t, BtfPtr)]
    assert pointers and all(btf.size_of(p.type_id) == 8 for p in pointers)
    for no_size in (0, find_id(btf, "prog_a", BtfKind.FUNC), find_id(btf, "bpf_sock", BtfKind.FWD)):
        with pytest.raises(BtfError, match="has no size"):
            btf.size_of(no_size)


def test_find_and_lookup_errors(maps_obj: BpfObject) -> None:
    btf = maps_obj.btf()
    assert btf.find("no_such_type") is None
    assert btf.find("flow_key", BtfKind.UNION) is None
    prog_a = find_id(btf, "prog_a")
    assert btf.type(prog_a).kind == BtfKind.FUNC
    assert btf.name(prog_a) == "prog_a"
    with pytest.raises(BtfError, match="type id 100000 out of range") as info:
        btf.type(100000)
    assert info.value.where == ".BTF"
    with pytest.raises(BtfError, match="out of range"):
        btf.name(-1)


def test_format_type(maps_obj: BpfObject) -> None:
    btf = maps_obj.btf()
    fmt = btf.format_type
    assert fmt(0) == "void"
    assert fmt(find_id(btf, "flow_key")) == "struct flow_key"
    assert fmt(find_id(btf, "__u32")) == "__u32"
    assert fmt(find_id(btf, "tag", BtfKind.VAR)) == "const volatile char tag[16]"
    assert fmt(find_id(btf, "prog_a", BtfKind.FUNC)) == "int prog_a(struct xdp_md *)"
    assert fmt(find_id(btf, "helper_sub", BtfKind.FUNC)) == "int helper_sub(int)"
    assert fmt(find_id(btf, ".rodata", BtfKind.DATASEC)) == 'SEC(".rodata")'
    spelled = {fmt(t.type_id) for t in btf.types}
    assert {"void *", "__u32 *", "struct flow_key *", "int (*)(void *)", "int[1024]", "int (*)[1024]"} <= spelled
    assert "struct inner_map *[0]" in spelled


def test_struct_layout(maps_obj: BpfObject) -> None:
    btf = maps_obj.btf()
    layout = btf.struct_layout(find_id(btf, "flow_key"))
    assert [(f.name, f.offset, f.size, btf.format_type(f.type_id)) for f in layout] == [
        ("saddr", 0, 4, "__u32"),
        ("daddr", 4, 4, "__u32"),
        ("sport", 8, 2, "__u16"),
        ("dport", 10, 2, "__u16"),
        ("proto", 12, 1, "__u8"),
        ("pad", 13, 3, "__u8[3]"),
    ]
    stats = btf.struct_layout(find_id(btf, "flow_stats"))
    assert [(f.name, f.offset, f.size, f.bit_offset, f.bitfield_size) for f in stats] == [
        ("packets", 0, 8, 0, 0),
        ("bytes", 8, 8, 64, 0),
        ("flags", 16, 4, 128, 4),
        ("state", 16, 4, 132, 12),
        ("comm", 18, 16, 144, 0),
    ]
    with pytest.raises(BtfError, match="not a struct or union"):
        btf.struct_layout(find_id(btf, "__u32"))


# --------------------------------------------------------------------------------------------
# DATASEC fix-up
# --------------------------------------------------------------------------------------------


def test_datasec_fixup_matches_symbols(maps_obj: BpfObject) -> None:
    btf = maps_obj.btf()
    before = {d.name: d for d in btf.datasecs()}
    assert set(before) == {".bss", ".data", ".maps", ".rodata", "license"}
    btf.fix_datasecs(maps_obj.section_sizes, maps_obj.object_symbols)
    after = {d.name: d for d in btf.datasecs()}
    assert set(after) == set(before)
    for name, datasec in after.items():
        assert datasec.size == maps_obj.section_sizes[name]
        offsets = [v.offset for v in datasec.vars]
        assert offsets == sorted(offsets)
        for info in datasec.vars:
            var = btf.type(info.type)
            assert isinstance(var, BtfVar)
            assert info.offset == maps_obj.object_symbols[var.name], var.name
            # Initialised flexible arrays (the `values` of jump_table and outer) make a variable
            # outgrow its type by 8 bytes per slot.
            grown = {"jump_table": 16, "outer": 8}.get(var.name, 0)
            assert info.size == btf.size_of(var.type_id) + grown, var.name
            assert info.offset + info.size <= datasec.size
    # The repair is not a no-op: most maps and globals live past offset 0.
    assert sum(v.offset != 0 for d in after.values() for v in d.vars) >= 8
    assert btf.datasec(".maps") is after[".maps"]
    assert btf.types[after[".data"].type_id] is after[".data"]


def test_datasec_fixup_static_variable(maps_obj: BpfObject) -> None:
    btf = maps_obj.fixed_btf()
    hidden = btf.type(find_id(btf, "hidden_counter", BtfKind.VAR))
    assert isinstance(hidden, BtfVar) and hidden.linkage == VarLinkage.STATIC
    data = btf.datasec(".data")
    assert data is not None
    entry = next(v for v in data.vars if v.type == hidden.type_id)
    assert entry.offset == maps_obj.object_symbols["hidden_counter"] == 16
    # Without its local symbol a static variable keeps the offset clang gave it.
    symbols = {k: v for k, v in maps_obj.object_symbols.items() if k != "hidden_counter"}
    btf2 = maps_obj.btf()
    btf2.fix_datasecs(maps_obj.section_sizes, symbols)
    data2 = btf2.datasec(".data")
    assert data2 is not None and data2.size == 20


def test_datasec_fixup_errors(maps_obj: BpfObject) -> None:
    sizes = dict(maps_obj.section_sizes)
    del sizes[".bss"]
    with pytest.raises(BtfError, match="no non-empty ELF section") as info:
        maps_obj.btf().fix_datasecs(sizes, maps_obj.object_symbols)
    assert ".bss" in info.value.where and ".BTF type" in info.value.where
    symbols = dict(maps_obj.object_symbols)
    del symbols["counters"]
    with pytest.raises(BtfError, match="no ELF symbol for global variable 'counters'"):
        maps_obj.btf().fix_datasecs(maps_obj.section_sizes, symbols)
    symbols = dict(maps_obj.object_symbols, total_bytes=19)
    with pytest.raises(BtfError, match="'total_bytes' at offset 19 with size 8 extends past the section size 20"):
        maps_obj.btf().fix_datasecs(maps_obj.section_sizes, symbols)


# --------------------------------------------------------------------------------------------
# BTF-defined maps
# --------------------------------------------------------------------------------------------


def test_map_definitions(maps_obj: BpfObject) -> None:
    btf = maps_obj.fixed_btf()
    maps = {m.name: m for m in map_definitions(btf)}
    assert set(maps) == {"flows", "counters", "scratch", "events", "bloom", "jump_table", "inner_a", "outer"}
    for m in maps.values():
        assert m.offset == maps_obj.object_symbols[m.name]
    expected = {  # name: (type, key_size, value_size, max_entries, map_flags, pinning, map_extra)
        "flows": (HASH, 16, 40, 1024, 1, 1, 0),
        "counters": (ARRAY, 4, 8, 16, 0, 0, 0),
        "scratch": (PERCPU_ARRAY, 4, 32, 4, 0, 0, 0),
        "events": (RINGBUF, 0, 0, 5000, 0, 0, 0),  # not rounded to pages here
        "bloom": (BLOOM_FILTER, 0, 4, 64, 0, 0, 3),
        "jump_table": (PROG_ARRAY, 4, 4, 4, 0, 0, 0),
        "inner_a": (ARRAY, 4, 16, 8, 0, 0, 0),
        "outer": (ARRAY_OF_MAPS, 4, 4, 2, 0, 0, 0),
    }
    for name, values in expected.items():
        m = maps[name]
        got = (m.type, m.key_size, m.value_size, m.max_entries, m.map_flags, m.pinning, m.map_extra)
        assert got == values, name
        assert m.numa_node == 0
    flows = maps["flows"]
    assert flows.key_type_id == find_id(btf, "flow_key", BtfKind.STRUCT)
    assert btf.format_type(flows.value_type_id or 0) == "struct flow_stats"
    assert flows.values is None and flows.size == 48
    counters = maps["counters"]
    assert btf.format_type(counters.key_type_id or 0) == "counter_idx_t"
    assert btf.format_type(counters.value_type_id or 0) == "__u64"
    assert maps["scratch"].key_type_id is None and maps["scratch"].value_type_id is None


def test_prog_array_values(maps_obj: BpfObject) -> None:
    btf = maps_obj.fixed_btf()
    jump = next(m for m in map_definitions(btf) if m.name == "jump_table")
    assert jump.values is not None and jump.values.is_prog_array
    assert jump.values.inner_map is None
    assert jump.values.offset == 24
    proto = btf.type(jump.values.func_proto or 0)
    assert isinstance(proto, BtfFuncProto)
    assert btf.format_type(proto.type_id) == "int (void *)"
    assert jump.value_type_id is None
    # The definition spans the initialised slots ([1] = prog_b, so two 8-byte slots).
    assert jump.size == 24 + 2 * 8
    # .rel.maps initialises slot 1 exactly where the values member says it lives.
    relocations = [(off, sym) for off, sym in maps_obj.maps_relocations if jump.offset <= off < jump.offset + jump.size]
    assert relocations == [(jump.offset + jump.values.offset + 8 * 1, "prog_b")]


def test_map_in_map_inner_definition(maps_obj: BpfObject) -> None:
    btf = maps_obj.fixed_btf()
    maps = {m.name: m for m in map_definitions(btf)}
    outer = maps["outer"]
    assert outer.values is not None and not outer.values.is_prog_array
    inner = outer.values.inner_map
    assert isinstance(inner, BtfMapDef)
    assert (inner.name, inner.type, inner.key_size, inner.value_size, inner.max_entries) == (
        "outer.inner",
        ARRAY,
        4,
        16,
        8,
    )
    assert btf.format_type(inner.value_type_id or 0) == "struct flow_key"
    assert inner.values is None
    template = maps["inner_a"]
    assert (inner.type, inner.key_size, inner.value_size, inner.max_entries) == (
        template.type,
        template.key_size,
        template.value_size,
        template.max_entries,
    )
    assert (outer.offset + outer.values.offset, "inner_a") in maps_obj.maps_relocations


def test_map_definitions_without_maps_section() -> None:
    assert map_definitions(parse_btf(build_btf([btf_record(0, BtfKind.INT, 0, 4, struct.pack("<I", 32))]))) == []


MAP_PRELUDE = """
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
"""

BAD_MAPS = {
    "static": (
        "static struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);"
        ' __type(key, __u32); __type(value, __u32); } m SEC(".maps");',
        "static map definitions are not supported",
    ),
    "missing_type": (
        'struct { __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } m SEC(".maps");',
        "missing 'type' attribute",
    ),
    "key_size_mismatch": (
        "struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(key_size, 8); __type(key, __u32);"
        ' __type(value, __u32); __uint(max_entries, 1); } m SEC(".maps");',
        "key_size 8 disagrees with the key type size 4",
    ),
    "value_size_mismatch": (
        "struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64);"
        ' __uint(value_size, 4); __uint(max_entries, 1); } m SEC(".maps");',
        "value_size 4 disagrees with the value type size 8",
    ),
    "values_not_last": (  # a GNU zero-length array may sit mid-struct; BTF is the same as __array()
        "struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(key_size, 4);"
        ' int (*values[0])(void *); __uint(max_entries, 4); } m SEC(".maps");',
        "'values' must be the last member",
    ),
    "unknown_member": (
        'struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __uint(flagz, 1); } m SEC(".maps");',
        "unknown map attribute 'flagz'",
    ),
    "values_on_hash": (
        "struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1); __type(key, __u32);"
        ' __array(values, int (void *)); } m SEC(".maps");',
        "only allowed for prog-array and map-in-map",
    ),
    "values_size_conflict": (
        "struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 1); __uint(value_size, 8);"
        ' __array(values, int (void *)); } m SEC(".maps");',
        "value_size 8 conflicts with 'values'",
    ),
    "bad_pinning": (
        'struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __uint(pinning, 2); } m SEC(".maps");',
        "unsupported pinning value 2",
    ),
    "inner_pinned": (
        "struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32);"
        " __type(value, __u32); __uint(pinning, LIBBPF_PIN_BY_NAME); };"
        " struct { __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __uint(max_entries, 1); __type(key, __u32);"
        ' __array(values, struct inner); } m SEC(".maps");',
        "inner map definition cannot be pinned",
    ),
    "prog_array_of_structs": (
        "struct s { int a; }; struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 1);"
        ' __array(values, struct s); } m SEC(".maps");',
        "prog-array values must be functions, not struct s",
    ),
    "plain_int_attribute": (
        'struct { int type; __uint(max_entries, 1); } m SEC(".maps");',
        "attribute 'type' must be __uint",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_MAPS))
def test_bad_map_definitions(case: str, tmp_path: Path) -> None:
    body, message = BAD_MAPS[case]
    source = tmp_path / f"{case}.c"
    source.write_text(MAP_PRELUDE + body + "\n")
    obj = open_object(compile_bpf(source, tmp_path))
    btf = obj.fixed_btf()
    with pytest.raises(BtfError, match=message) as info:
        map_definitions(btf)
    assert info.value.where.startswith(".maps map 'm'")
    assert isinstance(info.value, ElfError)
    if case == "unknown_member":  # libbpf's relaxed mode ignores what it does not know
        (relaxed,) = map_definitions(btf, strict=False)
        assert (relaxed.name, relaxed.type, relaxed.max_entries) == ("m", ARRAY, 1)


# --------------------------------------------------------------------------------------------
# .BTF.ext
# --------------------------------------------------------------------------------------------


def test_func_info_for_every_program(maps_obj: BpfObject) -> None:
    btf = maps_obj.btf()
    ext = parse_btf_ext(maps_obj.ext_bytes, btf)
    assert (ext.version, ext.flags, ext.hdr_len) == (1, 0, 32)
    assert (ext.func_info_rec_size, ext.line_info_rec_size) == (8, 16)
    assert set(ext.func_info) == {"xdp", "tc", ".text"}
    for name, (section, value, bind) in maps_obj.functions.items():
        records = [r for r in ext.func_info[section] if r.insn_off == value]
        assert len(records) == 1, name
        func = btf.type(records[0].type_id)
        assert isinstance(func, BtfFunc) and func.name == name
        assert records[0].insn_index == value // 8
        expected = FuncLinkage.GLOBAL if bind == "STB_GLOBAL" else FuncLinkage.STATIC
        assert func.linkage == expected
    assert {f.name for f in (btf.type(r.type_id) for r in ext.func_info["xdp"])} == {"prog_a", "prog_b"}


def test_line_info(maps_obj: BpfObject) -> None:
    ext = parse_btf_ext(maps_obj.ext_bytes, maps_obj.btf())
    assert set(ext.line_info) == {"xdp", "tc", ".text"}
    lines = [rec for recs in ext.line_info.values() for rec in recs]
    assert all(rec.file_name.endswith("btf_maps.c") for rec in lines)
    tail_call = [rec for rec in ext.line_info["xdp"] if "bpf_tail_call" in rec.line]
    assert tail_call and tail_call[0].line_num > 100 and tail_call[0].column > 0
    offsets = [rec.insn_off for rec in ext.line_info["xdp"]]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert ext.core_relos == {}


def test_core_relocations(kinds_obj: BpfObject) -> None:
    btf = kinds_obj.btf()
    ext = parse_btf_ext(kinds_obj.ext_bytes, btf)
    relos = ext.core_relos["socket"]
    assert ext.core_relo_rec_size == 16
    skb = find_id(btf, "__sk_buff", BtfKind.STRUCT)
    by_kind = {r.kind: r for r in relos}
    assert set(by_kind) == {CoreReloKind.FIELD_BYTE_OFFSET, CoreReloKind.FIELD_EXISTS}
    offset = by_kind[CoreReloKind.FIELD_BYTE_OFFSET]
    assert (offset.type_id, offset.access_str, offset.kind_name) == (skb, "0:0", "FIELD_BYTE_OFFSET")
    exists = by_kind[CoreReloKind.FIELD_EXISTS]
    assert (exists.type_id, exists.access_str) == (skb, "0:2")
    assert all(r.insn_off % 8 == 0 and r.insn_index == r.insn_off // 8 for r in relos)


# --------------------------------------------------------------------------------------------
# Other kinds (btf_kinds.c)
# --------------------------------------------------------------------------------------------


def test_other_kinds(kinds_obj: BpfObject) -> None:
    btf = kinds_obj.btf()
    color = btf.type(find_id(btf, "color", BtfKind.ENUM))
    assert isinstance(color, BtfEnum) and color.size == 4
    values = {v.name: v.value for v in color.values}
    # clang 14 marks no enum signed (kind_flag 0 = unsigned); newer clang sets it. Compare bits.
    assert {k: v & 0xFFFFFFFF for k, v in values.items()} == {"RED": 0xFFFFFFFF, "GREEN": 2, "BLUE": 0x7FFFFFFF}
    opaque = btf.type(find_id(btf, "opaque", BtfKind.FWD))
    assert isinstance(opaque, BtfFwd) and not opaque.is_union
    weight = btf.type(find_id(btf, "float", BtfKind.FLOAT))
    assert isinstance(weight, BtfFloat) and weight.size == 4
    packet_id = find_id(btf, "packet", BtfKind.STRUCT)
    tags = [t for t in btf.types if isinstance(t, BtfDeclTag)]
    assert {(t.name, btf.name(t.ref), t.component_idx) for t in tags} == {
        ("tagged_member", "packet", 14),
        ("sub", "classify", -1),
    }
    type_tags = [t for t in btf.types if isinstance(t, BtfTypeTag)]
    assert [(t.name, btf.name(t.ref)) for t in type_tags] == [("user", "int")]
    classify = btf.type(find_id(btf, "classify", BtfKind.FUNC))
    assert isinstance(classify, BtfFunc) and classify.linkage == FuncLinkage.STATIC
    assert btf.size_of(packet_id) == 144
    assert any(isinstance(t, BtfUnion) and not t.name for t in btf.types)


def test_formats_of_qualified_and_function_pointer_types(kinds_obj: BpfObject) -> None:
    btf = kinds_obj.btf()
    packet = btf.type(find_id(btf, "packet", BtfKind.STRUCT))
    assert isinstance(packet, BtfStruct)
    member_types = {m.name: btf.format_type(m.type) for m in packet.members}
    assert member_types["priv"] == "struct opaque *"
    assert member_types["handler"] == "handler_fn"
    assert member_types["vptr"] == "int *volatile"
    assert member_types["rptr"] == "int *restrict"
    assert member_types["matrix"] == "long long[2][3]"
    assert member_types["label"] == "alias_name_t"
    assert member_types["uptr"] == "int *"
    handler = btf.type(find_id(btf, "handler_fn", BtfKind.TYPEDEF))
    assert isinstance(handler, BtfTypedef)
    assert btf.format_type(handler.ref) == "int (*)(void *, unsigned long)"
    label = btf.type(find_id(btf, "name_t", BtfKind.TYPEDEF))
    assert isinstance(label, BtfTypedef) and btf.format_type(label.ref) == "const char *"
    assert btf.format_type(find_id(btf, "core_prog", BtfKind.FUNC)) == "int core_prog(struct __sk_buff *)"


def test_struct_layout_flattens_anonymous_members(kinds_obj: BpfObject) -> None:
    btf = kinds_obj.btf()
    layout = {f.name: f for f in btf.struct_layout(find_id(btf, "packet", BtfKind.STRUCT))}
    assert (layout["addr4"].offset, layout["addr4"].size) == (4, 4)
    assert (layout["addr6"].offset, layout["addr6"].size) == (4, 16)
    assert (layout["ports"].offset, layout["ports"].size) == (20, 4)
    assert (layout["is_ipv6"].bit_offset, layout["is_ipv6"].bitfield_size) == (192, 1)
    assert (layout["ttl"].bit_offset, layout["ttl"].bitfield_size, layout["ttl"].offset) == (193, 8, 24)
    assert (layout["matrix"].offset, layout["matrix"].size) == (80, 48)
    assert (layout["tagged"].offset, layout["tagged"].size) == (136, 4)
    assert "" not in layout


# --------------------------------------------------------------------------------------------
# Synthetic BTF for kinds clang 14 does not emit, and for hostile structures
# --------------------------------------------------------------------------------------------


def btf_record(
    name_off: int, kind: BtfKind, vlen: int, size_or_type: int, tail: bytes = b"", kflag: bool = False
) -> bytes:
    info = int(kind) << 24 | vlen | (1 << 31 if kflag else 0)
    return struct.pack("<3I", name_off, info, size_or_type) + tail


def build_btf(records: list[bytes], strings: bytes = b"\0", header_extra: bytes = b"") -> bytes:
    types = b"".join(records)
    hdr_len = 24 + len(header_extra)
    header = struct.pack("<HBBI4I", BTF_MAGIC, 1, 0, hdr_len, 0, len(types), len(types), len(strings))
    return header + header_extra + types + strings


def int32(name_off: int = 0) -> bytes:
    return btf_record(name_off, BtfKind.INT, 0, 4, struct.pack("<I", 1 << 24 | 32))


def test_enum64_and_signed_enums() -> None:
    strings = b"\0e\0A\0B\0s\0"
    unsigned64 = btf_record(
        1, BtfKind.ENUM64, 2, 8, struct.pack("<3I", 3, 0xFFFFFFFF, 0xFFFFFFFF) + struct.pack("<3I", 5, 1, 2)
    )
    signed64 = btf_record(7, BtfKind.ENUM64, 1, 8, struct.pack("<3I", 3, 0xFFFFFFFE, 0xFFFFFFFF), kflag=True)
    signed32 = btf_record(7, BtfKind.ENUM, 1, 4, struct.pack("<Ii", 3, -5), kflag=True)
    btf = parse_btf(build_btf([unsigned64, signed64, signed32], strings))
    e1, e2, e3 = btf.types[1:]
    assert isinstance(e1, BtfEnum64) and [(v.name, v.value) for v in e1.values] == [
        ("A", 2**64 - 1),
        ("B", 2 << 32 | 1),
    ]
    assert isinstance(e2, BtfEnum64) and e2.signed and e2.values[0].value == -2
    assert isinstance(e3, BtfEnum) and e3.signed and e3.values[0].value == -5
    assert btf.format_type(1) == "enum e" and btf.size_of(1) == 8


def test_variadic_prototype_and_header_longer_than_24() -> None:
    strings = b"\0int\0f\0"
    records = [
        int32(1),
        btf_record(0, BtfKind.FUNC_PROTO, 2, 1, struct.pack("<4I", 0, 1, 0, 0)),
        btf_record(5, BtfKind.FUNC, FuncLinkage.GLOBAL, 2),
    ]
    btf = parse_btf(build_btf(records, strings, header_extra=b"\0" * 8))
    assert btf.hdr_len == 32
    proto = btf.type(2)
    assert isinstance(proto, BtfFuncProto) and proto.variadic and len(proto.params) == 1
    assert btf.format_type(3) == "int f(int, ...)"


def test_deep_chains_do_not_recurse() -> None:
    depth = 3000
    records = [int32()] + [btf_record(0, BtfKind.CONST, 0, i) for i in range(1, depth + 1)]
    records.append(btf_record(0, BtfKind.ARRAY, 0, 0, struct.pack("<3I", depth + 1, 1, 4)))
    btf = parse_btf(build_btf(records))
    top = depth + 2
    assert btf.resolve(depth + 1) == 1
    assert btf.size_of(top) == 16
    with pytest.raises(BtfError, match="too deep"):
        btf.format_type(top)


def test_array_size_overflow() -> None:
    records = [int32(), btf_record(0, BtfKind.ARRAY, 0, 0, struct.pack("<3I", 1, 1, 0x80000000))]
    btf = parse_btf(build_btf(records))
    with pytest.raises(BtfError, match="overflows 32 bits"):
        btf.size_of(2)


def test_struct_containing_itself_through_anonymous_member() -> None:
    member = struct.pack("<3I", 0, 1, 0)
    btf = parse_btf(build_btf([btf_record(0, BtfKind.STRUCT, 1, 4, member)]))
    with pytest.raises(BtfError, match="contains itself"):
        btf.struct_layout(1)


# --------------------------------------------------------------------------------------------
# Malformed real BTF
# --------------------------------------------------------------------------------------------


def record_offsets(data: bytes) -> list[int]:
    """Byte offset of each type record (index = type id - 1), walked independently of the parser."""
    hdr_len, type_off, type_len = struct.unpack_from("<I2I", data, 4)
    pos, end = hdr_len + type_off, hdr_len + type_off + type_len
    tails = {1: 4, 3: 12, 14: 4, 17: 4}
    per_vlen = {4: 12, 5: 12, 15: 12, 19: 12, 6: 8, 13: 8}
    offsets = []
    while pos < end:
        offsets.append(pos)
        info = struct.unpack_from("<I", data, pos + 4)[0]
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        pos += 12 + tails.get(kind, 0) + per_vlen.get(kind, 0) * vlen
    return offsets


def patch32(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + struct.pack("<I", value) + data[offset + 4 :]


def type_offset(obj: BpfObject, name: str, kind: BtfKind) -> tuple[int, int]:
    btf = obj.btf()
    type_id = find_id(btf, name, kind)
    return type_id, record_offsets(obj.btf_bytes)[type_id - 1]


def corruptions(obj: BpfObject) -> dict[str, tuple[bytes, str]]:
    """name -> (corrupted bytes, regex the BtfError message must match)."""
    data = obj.btf_bytes
    hdr_len, _type_off, type_len, _str_off, str_len = struct.unpack_from("<5I", data, 4)
    typedef_id, typedef_at = type_offset(obj, "counter_idx_t", BtfKind.TYPEDEF)
    struct_id, struct_at = type_offset(obj, "flow_key", BtfKind.STRUCT)
    _func_id, func_at = type_offset(obj, "prog_a", BtfKind.FUNC)
    u32_id, u32_at = type_offset(obj, "__u32", BtfKind.TYPEDEF)
    info = struct.unpack_from("<I", data, struct_at + 4)[0]
    return {
        "truncated_magic": (data[:3], "header truncated: 3 bytes"),
        "truncated_header": (data[:20], "header length 24 exceeds the section size 20"),
        "truncated_types": (data[: hdr_len + type_len // 2], "type section .* runs past the end"),
        "truncated_strings": (data[:-1], "string section .* runs past the end"),
        "bad_magic": (b"\x9f\xea" + data[2:], "bad magic 0xea9f"),
        "big_endian": (b"\xeb\x9f" + data[2:], "big-endian BTF is not supported"),
        "bad_version": (data[:2] + b"\x02" + data[3:], "unsupported BTF version 2"),
        "hdr_len_too_large": (patch32(data, 4, len(data) + 1), f"header length {len(data) + 1} exceeds"),
        "hdr_len_too_small": (patch32(data, 4, 16), "header length 16 is shorter than the minimum 24"),
        "type_len_past_end": (patch32(data, 12, len(data)), "type section .* runs past the end"),
        "type_off_unaligned": (patch32(patch32(data, 8, 2), 12, type_len - 4), "not 4-byte aligned"),
        "string_off_out_of_range": (
            patch32(data, struct_at, str_len + 7),
            f"type {struct_id}: string offset {str_len + 7} is outside the string table",
        ),
        "strings_not_terminated": (patch32(data, 20, str_len - 1), "does not end with a NUL byte"),
        "typedef_self_cycle": (patch32(data, typedef_at + 8, typedef_id), f"reference cycle: type {typedef_id}"),
        "typedef_pair_cycle": (
            patch32(patch32(data, typedef_at + 8, u32_id), u32_at + 8, typedef_id),
            "reference cycle",
        ),
        "bad_kind": (
            patch32(data, struct_at + 4, (info & ~(0x1F << 24)) | 25 << 24),
            f"type {struct_id}: unknown kind 25",
        ),
        "kind_zero": (patch32(data, struct_at + 4, info & ~(0x1F << 24)), "unknown kind 0"),
        "huge_vlen": (
            patch32(data, struct_at + 4, info | 0xFFFF),
            "STRUCT record with vlen 65535 needs 786420 more bytes",
        ),
        "type_id_out_of_range": (patch32(data, typedef_at + 8, 99999), "refers to type id 99999"),
        "func_without_proto": (patch32(data, func_at + 8, u32_id), "has a TYPEDEF as prototype"),
        "last_record_truncated": (patch32(data, 12, type_len - 4), "truncated type record: 8 bytes left"),
        "empty_string_table": (patch32(data, 20, 0), "string table is empty"),
        "vlen_on_pointer": (
            patch32(data, record_offsets(data)[0] + 4, int(BtfKind.PTR) << 24 | 1),
            "PTR must have vlen 0",
        ),
    }


CORRUPTION_NAMES = [
    "truncated_magic",
    "truncated_header",
    "truncated_types",
    "truncated_strings",
    "bad_magic",
    "big_endian",
    "bad_version",
    "hdr_len_too_large",
    "hdr_len_too_small",
    "type_len_past_end",
    "type_off_unaligned",
    "string_off_out_of_range",
    "strings_not_terminated",
    "typedef_self_cycle",
    "typedef_pair_cycle",
    "bad_kind",
    "kind_zero",
    "huge_vlen",
    "type_id_out_of_range",
    "func_without_proto",
    "last_record_truncated",
    "empty_string_table",
    "vlen_on_pointer",
]


def test_corruption_list_is_complete(maps_obj: BpfObject) -> None:
    assert sorted(corruptions(maps_obj)) == sorted(CORRUPTION_NAMES)


@pytest.mark.parametrize("name", CORRUPTION_NAMES)
def test_malformed_btf(maps_obj: BpfObject, name: str) -> None:
    data, message = corruptions(maps_obj)[name]
    with pytest.raises(BtfError, match=message) as info:
        parse_btf(data)
    assert info.value.where.startswith(".BTF")
    assert str(info.value).startswith(info.value.where + ": ")


def test_malformed_btf_names_custom_section(maps_obj: BpfObject) -> None:
    with pytest.raises(BtfError) as info:
        parse_btf(maps_obj.btf_bytes[:10], section=".BTF of foo.o")
    assert info.value.where == ".BTF of foo.o"


def ext_corruptions(obj: BpfObject) -> dict[str, tuple[bytes, str]]:
    data = obj.ext_bytes
    hdr_len, func_off = struct.unpack_from("<2I", data, 4)
    first_rec = hdr_len + func_off + 4 + 8  # after rec_size and the first section header
    btf = obj.btf()
    not_func = find_id(btf, "flow_key")
    return {
        "truncated": (data[:6], "header truncated"),
        "bad_magic": (b"\0\0" + data[2:], "bad magic 0x0000"),
        "bad_version": (data[:2] + b"\x07" + data[3:], "unsupported BTF.ext version 7"),
        "hdr_len_too_large": (patch32(data, 4, 4096), "header length 4096 exceeds"),
        "func_info_past_end": (patch32(data, 12, 10_000), "func_info section .* runs past the end"),
        "rec_size_too_small": (patch32(data, hdr_len + func_off, 4), "record size 4 is invalid"),
        "num_info_too_big": (patch32(data, hdr_len + func_off + 8, 1000), "1000 records of 8 bytes run past"),
        "section_name_out_of_range": (patch32(data, hdr_len + func_off + 4, 1 << 30), "string offset 1073741824"),
        "insn_off_unaligned": (patch32(data, first_rec, 3), "instruction offset 3 is not a multiple of 8"),
        "func_type_not_func": (patch32(data, first_rec + 4, not_func), f"type {not_func} is a STRUCT, not a FUNC"),
        "func_type_out_of_range": (patch32(data, first_rec + 4, 1 << 20), "type id 1048576 out of range"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "truncated",
        "bad_magic",
        "bad_version",
        "hdr_len_too_large",
        "func_info_past_end",
        "rec_size_too_small",
        "num_info_too_big",
        "section_name_out_of_range",
        "insn_off_unaligned",
        "func_type_not_func",
        "func_type_out_of_range",
    ],
)
def test_malformed_btf_ext(maps_obj: BpfObject, name: str) -> None:
    data, message = ext_corruptions(maps_obj)[name]
    with pytest.raises(BtfError, match=message) as info:
        parse_btf_ext(data, maps_obj.btf())
    assert info.value.where.startswith(".BTF.ext")


# --------------------------------------------------------------------------------------------
# Property: corrupted BTF parses or raises BtfError, nothing else
# --------------------------------------------------------------------------------------------


def exercise(btf: Btf, obj: BpfObject) -> None:
    """Run every query on a parsed (possibly corrupted) BTF; only BtfError may escape."""
    for t in btf.types:
        for query in (btf.format_type, btf.size_of, btf.resolve, btf.struct_layout):
            try:
                query(t.type_id)
            except BtfError:
                pass
    try:
        btf.fix_datasecs(obj.section_sizes, obj.object_symbols)
    except BtfError:
        pass
    try:
        map_definitions(btf)
    except BtfError:
        pass
    try:
        parse_btf_ext(obj.ext_bytes, btf)
    except BtfError:
        pass


@st.composite
def corrupted(draw: st.DrawFn, data: bytes) -> bytes:
    """Truncate, flip bits, or overwrite aligned words (the last reaches deep checks fastest)."""
    mode = draw(st.sampled_from(["truncate", "flip", "word"]))
    if mode == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    buf = bytearray(data)
    if mode == "flip":
        for position in draw(st.lists(st.integers(0, len(data) * 8 - 1), min_size=1, max_size=8)):
            buf[position // 8] ^= 1 << (position % 8)
        return bytes(buf)
    for _ in range(draw(st.integers(1, 4))):
        offset = draw(st.integers(0, len(data) // 4 - 1)) * 4
        value = draw(
            st.one_of(st.integers(0, 0xFFFFFFFF), st.integers(0, 200), st.sampled_from([0, 1, 0xFFFF, 1 << 31]))
        )
        buf[offset : offset + 4] = struct.pack("<I", value)
    return bytes(buf)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_btf_parses_or_raises_btf_error(maps_obj: BpfObject, data: st.DataObject) -> None:
    blob = data.draw(corrupted(maps_obj.btf_bytes))
    try:
        btf = parse_btf(blob)
    except BtfError:
        return
    exercise(btf, maps_obj)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_btf_ext_parses_or_raises_btf_error(maps_obj: BpfObject, data: st.DataObject) -> None:
    btf = maps_obj.btf()
    blob = data.draw(corrupted(maps_obj.ext_bytes))
    try:
        parse_btf_ext(blob, btf)
    except BtfError:
        pass
