"""Assembly files for the verifier: kernel-syntax programs with their maps and type in comments.

A verifier input in text form is an ordinary assembly file (see :mod:`pybpf.isa.assembler`)
whose comment lines may declare what the program needs::

    ; type: xdp                       program type (a name of the platform)
    ; ctx_size: 64                    declared context size (raw contexts such as syscall)
    ; map counts hash key=4 value=8 entries=16
    ; map cfg array key=4 value=8 entries=1 readonly data=0100000000000000
    ; map outer array_of_maps key=4 value=4 entries=2 inner=counts
    ; expect: reject "invalid access to map value"     (for test corpora; ignored otherwise)

Maps are numbered in declaration order.  The program refers to them as ``r1 = map_idx(0) ll``
or by name, ``r1 = map(counts) ll``; ``r1 = map_value(cfg) + 8 ll`` gives a pointer into the
value of a single-entry array (global data).  Helpers may be called by name (``call
bpf_map_lookup_elem`` or ``call map_lookup_elem``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pybpf.errors import AssemblerError, PybpfError
from pybpf.helpers.prototypes import PrototypeTable
from pybpf.isa.assembler import assemble
from pybpf.isa.instruction import Instruction
from pybpf.verifier.mapinfo import MAP_TYPE_IDS, MapInfo

_HEADER = re.compile(r"^\s*[;#]\s*(type|ctx_size|expect|options)\s*:\s*(.*?)\s*$")
_MAP = re.compile(r"^\s*[;#]\s*map\s+(\S+)\s+(\S+)((?:\s+\S+)*)\s*$")
_NAMED_MAP = re.compile(r"\bmap\(\s*([A-Za-z_][\w.]*)\s*\)")
_NAMED_VALUE = re.compile(r"\bmap_value\(\s*([A-Za-z_][\w.]*)\s*\)")
_EXPECT = re.compile(r'^(accept|reject)(?:\s+"(.*)")?$')


@dataclass
class AsmProgram:
    """A parsed verifier input."""

    insns: list[Instruction]
    maps: list[MapInfo]
    prog_type: str | None = None
    ctx_size: int | None = None
    expect: str | None = None  # "accept" or "reject"
    expect_reason: str = ""
    options: list[str] = field(default_factory=list)


def _parse_map(index: int, name: str, type_name: str, rest: str, known: dict[str, MapInfo], line: int) -> MapInfo:
    if type_name not in MAP_TYPE_IDS:
        raise AssemblerError(line, f"unknown map type {type_name!r} (known: {', '.join(sorted(MAP_TYPE_IDS))})")
    attrs: dict[str, str] = {}
    flags: set[str] = set()
    for word in rest.split():
        if "=" in word:
            k, v = word.split("=", 1)
            attrs[k] = v
        else:
            flags.add(word)
    try:
        key = int(attrs.get("key", "0"), 0)
        value = int(attrs.get("value", "0"), 0)
        entries = int(attrs.get("entries", "1"), 0)
    except ValueError as exc:
        raise AssemblerError(line, f"map {name}: bad number ({exc})") from None
    initial = None
    if "data" in attrs:
        try:
            initial = bytes.fromhex(attrs["data"])
        except ValueError:
            raise AssemblerError(line, f"map {name}: data= must be hex bytes") from None
        initial = initial.ljust(value, b"\0")
    inner = None
    if "inner" in attrs:
        inner = known.get(attrs["inner"])
        if inner is None:
            raise AssemblerError(line, f"map {name}: inner map {attrs['inner']!r} is not declared before it")
    return MapInfo(index, name, MAP_TYPE_IDS[type_name], key, value, entries, "readonly" in flags, initial, inner)


def parse_asm(text: str, protos: PrototypeTable | None = None) -> AsmProgram:
    """Read headers and map declarations, resolve map names, assemble."""
    maps: list[MapInfo] = []
    by_name: dict[str, MapInfo] = {}
    prog = AsmProgram([], maps)
    body: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        m = _HEADER.match(raw)
        if m:
            key, value = m.group(1), m.group(2)
            if key == "type":
                prog.prog_type = value
            elif key == "ctx_size":
                prog.ctx_size = int(value, 0)
            elif key == "options":
                prog.options = value.split()
            else:
                e = _EXPECT.match(value)
                if e is None:
                    raise AssemblerError(lineno, 'expect must be: accept | reject "reason"', raw)
                prog.expect = e.group(1)
                prog.expect_reason = e.group(2) or ""
            body.append("")
            continue
        m = _MAP.match(raw)
        if m:
            info = _parse_map(len(maps), m.group(1), m.group(2), m.group(3), by_name, lineno)
            maps.append(info)
            by_name[info.name] = info
            body.append("")
            continue
        body.append(_resolve_names(raw, by_name, lineno))
    lookup = None
    if protos is not None:
        table = protos

        def lookup(name: str) -> int | None:
            p = table.by_name(name)
            return p.id if p is not None else None

    # Structural faults are the verifier's to report (with an instruction index), not the assembler's.
    prog.insns = assemble("\n".join(body), helpers=lookup, check=False)
    return prog


def _resolve_names(line: str, by_name: dict[str, MapInfo], lineno: int) -> str:
    def index_of(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in by_name:
            raise AssemblerError(lineno, f"map {name!r} is not declared (use '; map {name} TYPE key=.. value=..')")
        return str(by_name[name].index)

    code = line.split(";", 1)[0].split("#", 1)[0]
    if "map(" not in code and "map_value(" not in code:
        return line
    line = _NAMED_MAP.sub(lambda m: f"map_idx({index_of(m)})", line)
    return _NAMED_VALUE.sub(lambda m: f"map_idx_value({index_of(m)})", line)


def read_asm_file(path: str, protos: PrototypeTable | None = None) -> AsmProgram:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise PybpfError(f"{path}: not a text file") from None
    return parse_asm(text, protos)
