"""Commands over clang-built object files: ``disasm OBJ.o`` and ``inspect OBJ.o``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pybpf.elf.loader import ElfObject, ProgramDefinition, open_object
from pybpf.errors import PybpfError
from pybpf.helpers.registry import HelperRegistry, default_registry
from pybpf.isa.disassembler import listing
from pybpf.maps.base import BpfMap, ValueFormat
from pybpf.maps.pinning import FormatsFor

MAP_TYPE_NAMES = {
    1: "hash",
    2: "array",
    3: "prog_array",
    4: "perf_event_array",
    5: "percpu_hash",
    6: "percpu_array",
    7: "stack_trace",
    9: "lru_hash",
    10: "lru_percpu_hash",
    11: "lpm_trie",
    12: "array_of_maps",
    13: "hash_of_maps",
    14: "devmap",
    16: "cpumap",
    17: "xskmap",
    22: "queue",
    23: "stack",
    27: "ringbuf",
    30: "bloom_filter",
}
PINNING = {0: "", 1: "by_name"}


def load_object(path: Path) -> ElfObject:
    return open_object(path, helpers=default_registry().id_of)


def program_listing(prog: ProgramDefinition, registry: HelperRegistry) -> str:
    def annotate(index: int, insn: Any) -> str | None:
        note = prog.notes.get(index)
        if note is None and insn.opcode == 0x85 and insn.src == 0:
            helper = registry.get(insn.imm)
            note = f"bpf_{helper.name}" if helper is not None else None
        return note

    starts = {start: name for name, (start, _) in prog.subprograms.items()}
    lines = []
    for line in listing(prog.insns, annotate=annotate).splitlines():
        index = int(line.split(":", 1)[0])
        if index in starts:
            lines.append(f"{starts[index]}:")
        lines.append(line)
    return "\n".join(lines)


def disassemble_object(path: Path) -> str:
    obj = load_object(path)
    registry = default_registry()
    parts = []
    for prog in obj.programs:
        kind = prog.prog_type.name.lower() if prog.prog_type is not None else "unknown"
        parts.append(f"{prog.name} (section {prog.section}, type {kind}, {len(prog.insns)} instructions):\n")
        parts.append(program_listing(prog, registry) + "\n\n")
    return "".join(parts).rstrip() + "\n"


def describe(obj: ElfObject) -> dict[str, Any]:
    return {
        "object": obj.name,
        "license": obj.license,
        "programs": [
            {
                "name": p.name,
                "section": p.section,
                "type": p.prog_type.name.lower() if p.prog_type is not None else None,
                "instructions": len(p.insns),
                "subprograms": sorted(p.subprograms),
            }
            for p in obj.programs
        ],
        "maps": [
            {
                "name": m.name,
                "type": MAP_TYPE_NAMES.get(m.map_type, str(m.map_type)),
                "key_size": m.key_size,
                "value_size": m.value_size,
                "max_entries": m.max_entries,
                "flags": m.map_flags,
                "pinning": PINNING.get(m.pinning, str(m.pinning)),
                "source": m.source,
            }
            for m in obj.maps
            if m.source != "data"
        ],
        "data": [
            {"section": m.name, "size": m.value_size, "read_only": m.read_only} for m in obj.maps if m.source == "data"
        ],
    }


def pinned_formats(path: Path, name: str | None = None) -> FormatsFor:
    """For ``map dump PIN --btf OBJ.o``: the key and value formats the object's BTF gives the
    pinned map (found by ``name``, or by the pinned map's own name).  The object's map must have
    the pinned map's type and sizes; a map the object defines without types stays hex."""
    from pybpf.object import map_formats

    obj = load_object(path)
    if obj.btf is None:
        raise PybpfError(f"{path}: the object has no BTF")

    def formats(m: BpfMap) -> tuple[ValueFormat | None, ValueFormat | None]:
        wanted = name if name is not None else m.name
        definition = next((d for d in obj.maps if d.name == wanted), None)
        if definition is None:
            known = ", ".join(d.name for d in obj.maps if d.source != "data") or "none"
            raise PybpfError(f"{path} defines no map {wanted!r} (maps: {known}); name it with --map")
        ours = (definition.map_type, definition.key_size, definition.value_size)
        theirs = (m.map_type, m.key_size, m.value_size)
        if ours != theirs:
            raise PybpfError(
                f"map {wanted!r} of {path} is type {ours[0]}, key {ours[1]}, value {ours[2]} bytes; "
                f"the pinned map is type {theirs[0]}, key {theirs[1]}, value {theirs[2]} bytes"
            )
        return map_formats(definition, obj.btf)

    return formats


def inspect_object(path: Path, as_json: bool) -> str:
    info = describe(load_object(path))
    if as_json:
        return json.dumps(info, indent=2)
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    out = StringIO()
    console = Console(file=out, width=120, no_color=True)
    console.print(f"{info['object']}: license {info['license'] or '(none)'}")
    progs = Table(title="programs")
    for col in ("name", "section", "type", "instructions", "sub-programs"):
        progs.add_column(col)
    for p in info["programs"]:
        progs.add_row(p["name"], p["section"], str(p["type"]), str(p["instructions"]), ", ".join(p["subprograms"]))
    console.print(progs)
    if info["maps"]:
        maps = Table(title="maps")
        for col in ("name", "type", "key", "value", "entries", "flags", "pinning"):
            maps.add_column(col)
        for m in info["maps"]:
            maps.add_row(
                m["name"],
                m["type"],
                str(m["key_size"]),
                str(m["value_size"]),
                str(m["max_entries"]),
                hex(m["flags"]),
                m["pinning"],
            )
        console.print(maps)
    if info["data"]:
        data = Table(title="global data")
        for col in ("section", "size", "access"):
            data.add_column(col)
        for d in info["data"]:
            data.add_row(d["section"], str(d["size"]), "read-only" if d["read_only"] else "read-write")
        console.print(data)
    return out.getvalue()
