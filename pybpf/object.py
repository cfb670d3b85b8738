"""A loaded eBPF object: maps created, global data in place, programs ready to run.

This is the libbpf workflow in Python::

    obj = pybpf.open_object("prog.o")      # parse, link, describe maps (nothing created yet)
    obj.rodata["scale"] = 3                 # load-time configuration of ``const volatile`` globals
    loaded = obj.load()                     # create maps, fill data sections and initialisers
    loaded.program("count").run(b"...")     # run a program
    loaded.maps["counters"][0]              # read a map from Python

All programs of one object share one address space (:class:`~pybpf.vm.memory.Memory`): the
object's maps and the caller's inputs are regions in it, and each program adds its own stack and
code regions.  Map references in code (``lddw`` src 5/6 from the loader) resolve to map handles
and to addresses inside the maps' value memory.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from pybpf.elf.btf import Btf, BtfDatasec, BtfVar
from pybpf.elf.btf_format import BtfFormat
from pybpf.elf.loader import ElfObject, MapDefinition, ProgramDefinition
from pybpf.elf.loader import open_object as open_elf
from pybpf.errors import PybpfError, VMError
from pybpf.helpers.registry import HelperRegistry, default_registry
from pybpf.maps import BpfMap, KeyedMap, MapSpec, create_map
from pybpf.progtypes.sections import ProgType
from pybpf.vm.memory import Memory, Region

M64 = (1 << 64) - 1
DEFAULT_CTX_SIZE = 64  # bytes of caller buffer a syscall-style program is verified against


class RodataView(MutableMapping[str, int | bytes]):
    """``const volatile`` globals of ``.rodata*`` sections, settable before :meth:`OpenObject.load`.

    Values are ints (stored little-endian in the variable's size) or bytes of the exact size.
    """

    def __init__(self, elf: ElfObject) -> None:
        self._vars: dict[str, tuple[MapDefinition, int, int]] = {}
        self._data: dict[str, bytearray] = {}
        if elf.btf is None:
            return
        for m in elf.maps:
            if m.source != "data" or not m.read_only or m.initial is None:
                continue
            self._data[m.name] = bytearray(m.initial)
            sec = elf.btf.datasec(m.name)
            if sec is None:
                continue
            for info in _datasec_vars(sec):
                var = elf.btf.type(info.type)
                if isinstance(var, BtfVar):
                    self._vars[var.name] = (m, info.offset, info.size)

    def __getitem__(self, name: str) -> int | bytes:
        m, off, size = self._lookup(name)
        return bytes(self._data[m.name][off : off + size])

    def __setitem__(self, name: str, value: int | bytes) -> None:
        m, off, size = self._lookup(name)
        raw = value.to_bytes(size, "little", signed=value < 0) if isinstance(value, int) else bytes(value)
        if len(raw) != size:
            raise PybpfError(f"rodata {name!r}: value has {len(raw)} bytes, the variable has {size}")
        self._data[m.name][off : off + size] = raw

    def __delitem__(self, name: str) -> None:
        raise PybpfError("rodata variables cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)

    def _lookup(self, name: str) -> tuple[MapDefinition, int, int]:
        if name not in self._vars:
            raise KeyError(f"no read-only global {name!r} (known: {', '.join(self._vars) or 'none'})")
        return self._vars[name]

    def section_bytes(self, section: str) -> bytes | None:
        data = self._data.get(section)
        return bytes(data) if data is not None else None


def _datasec_vars(sec: BtfDatasec) -> list[Any]:
    return list(sec.vars)


@dataclass
class OpenObject:
    """An opened, not yet loaded object (``bpf_object__open``)."""

    elf: ElfObject
    rodata: RodataView
    helpers: HelperRegistry = field(default_factory=default_registry)

    def load(
        self,
        *,
        engine: str = "auto",
        pin_root: str | Path | None = None,
        cpus: int | None = None,
        verify: bool = True,
        ctx_size: int = DEFAULT_CTX_SIZE,
    ) -> BpfObject:
        return BpfObject(self, engine=engine, pin_root=pin_root, cpus=cpus, verify=verify, ctx_size=ctx_size)


def open_object(path: str | Path | bytes, *, helpers: HelperRegistry | None = None) -> OpenObject:
    """Parse and link an object; extern calls resolve against ``helpers`` by name."""
    registry = helpers if helpers is not None else default_registry()

    elf = open_elf(path, helpers=registry.id_of)
    return OpenObject(elf, RodataView(elf), registry)


def load(
    path: str | Path | bytes,
    *,
    engine: str = "auto",
    pin_root: str | Path | None = None,
    verify: bool = True,
    ctx_size: int = DEFAULT_CTX_SIZE,
    **globals_: int | bytes,
) -> BpfObject:
    """Open and load in one step; keyword arguments set ``const volatile`` globals first."""
    opened = open_object(path)
    for name, value in globals_.items():
        opened.rodata[name] = value
    return opened.load(engine=engine, pin_root=pin_root, verify=verify, ctx_size=ctx_size)


class Program:
    """One entry program of a loaded object, bound to an engine."""

    def __init__(self, obj: BpfObject, definition: ProgramDefinition, engine: Any, ctx_size: int = 0) -> None:
        self.object = obj
        self.ctx_size = ctx_size  # a verified syscall program's context is at least this long
        self.definition = definition
        self.name = definition.name
        self.section = definition.section
        self.prog_type: ProgType | None = definition.prog_type
        self.engine = engine

    def __repr__(self) -> str:
        return f"<Program {self.name} section={self.section}>"

    def run(self, ctx: bytes | bytearray | Region | None = None, *, r1: int | None = None) -> int:
        """Run with r1 pointing at ``ctx`` (a caller buffer, as ``syscall`` programs get it).

        Pass a :class:`Region` (or a bytearray, whose contents are updated in place) to see what
        the program wrote.
        """
        memory = self.object.memory
        if isinstance(ctx, (bytes, bytearray)) and len(ctx) < self.ctx_size:
            # The verifier proved the program's context accesses against ctx_size bytes; give it
            # that many (zero-padded) so that proven accesses need no run-time check.
            padded = bytearray(ctx) + bytes(self.ctx_size - len(ctx))
            result = self.run(padded, r1=r1)
            if isinstance(ctx, bytearray):
                ctx[:] = padded[: len(ctx)]
            return result
        if isinstance(ctx, bytearray):
            region = Region("ctx", ctx, kind="context")
            memory.add(region)
            try:
                return int(self.engine.run(region, r1=r1))
            finally:
                memory.remove(region)
                region.release()
        return int(self.engine.run(ctx, r1=r1))


class BpfObject:
    """A loaded object: its maps and programs."""

    def __init__(
        self,
        opened: OpenObject,
        *,
        engine: str = "auto",
        pin_root: str | Path | None = None,
        cpus: int | None = None,
        verify: bool = True,
        ctx_size: int = DEFAULT_CTX_SIZE,
    ) -> None:
        from pybpf.engine import make_engine

        self.name = opened.elf.name
        self.memory = Memory()
        self.helpers = opened.helpers
        elf = opened.elf
        self.maps: dict[str, Any] = {}  # KeyedMap for keyed types; queue/stack/ringbuf/bloom otherwise
        self._by_index: list[BpfMap] = []
        for map_def in elf.maps:
            bpf_map = create_map(_spec(map_def, elf.btf), cpus=cpus, pin_root=pin_root)
            if map_def.source == "data":
                initial = opened.rodata.section_bytes(map_def.name) if map_def.read_only else None
                cast(KeyedMap, bpf_map).update_elem(bytes(4), initial if initial is not None else map_def.initial)
            self.maps[map_def.name] = bpf_map
            self._by_index.append(bpf_map)
            self.memory.add(bpf_map.region)
        self.programs: dict[str, Program] = {}
        verifier_maps = [_with_rodata(m, opened.rodata) for m in elf.maps]
        for prog_def in elf.programs:
            insns, safe, size = prog_def.insns, None, 0
            if verify and prog_def.prog_type in (None, ProgType.SYSCALL):
                insns, safe = _verified(prog_def, verifier_maps, ctx_size)
                size = ctx_size
            eng = make_engine(
                insns, engine=engine, helpers=self.helpers, memory=self.memory, pseudo_resolver=self._resolve, safe=safe
            )
            self.programs[prog_def.name] = Program(self, prog_def, eng, size)
        for map_def in elf.maps:
            for slot, target in map_def.slot_init.items():
                value = self.programs[target] if target in self.programs else self.maps[target]
                cast(KeyedMap, self.maps[map_def.name]).update_elem(slot.to_bytes(4, "little"), value)

    def _resolve(self, src: int, imm: int, next_imm: int, pc: int) -> int:
        if not 0 <= imm < len(self._by_index):
            raise VMError(pc, f"lddw refers to map index {imm}; the object has {len(self._by_index)} maps")
        bpf_map = self._by_index[imm]
        if src == 5:
            return int(bpf_map.handle)
        if src == 6:
            return (int(bpf_map.lookup(bytes(4))) + next_imm) & M64
        raise VMError(pc, f"lddw src {src} cannot be resolved by the object loader")

    def program(self, name: str) -> Program:
        if name in self.programs:
            return self.programs[name]
        matches = [p for p in self.programs.values() if p.section == name]
        if len(matches) == 1:
            return matches[0]
        raise PybpfError(f"{self.name}: no program {name!r} (programs: {', '.join(self.programs)})")


def _with_rodata(definition: MapDefinition, rodata: RodataView) -> MapDefinition:
    """The definition the verifier should see: read-only data as the host set it before load."""
    current = rodata.section_bytes(definition.name) if definition.read_only else None
    return replace(definition, initial=current) if current is not None else definition


def _verified(
    prog_def: ProgramDefinition, maps: list[MapDefinition], ctx_size: int
) -> tuple[list[Any], frozenset[int]]:
    """Verify a syscall-style program (r1 = a caller buffer of ``ctx_size`` bytes), as loading
    into the kernel would; the runtime gets the proven-safe accesses and the rewritten code."""
    from pybpf.verifier import VerifierError, verify

    try:
        result = verify(prog_def.insns, ProgType.SYSCALL, maps=maps, ctx_size=ctx_size)
    except VerifierError as exc:
        raise PybpfError(f"program {prog_def.name!r} rejected by the verifier: {exc}") from exc
    return list(result.rewritten), frozenset(result.safe)


def _spec(definition: MapDefinition, btf: Btf | None = None) -> MapSpec:
    """The map to create; with the object's BTF, it also knows how to show its keys and values."""
    key_format, value_format = map_formats(definition, btf)
    return MapSpec(
        name=definition.name,
        map_type=definition.map_type,
        key_size=definition.key_size,
        value_size=definition.value_size,
        max_entries=definition.max_entries,
        map_flags=definition.map_flags,
        map_extra=definition.map_extra,
        inner=_spec(definition.inner, btf) if definition.inner is not None else None,
        pinning=definition.pinning,
        key_btf=key_format,
        value_btf=value_format,
    )


def map_formats(definition: MapDefinition, btf: Btf | None) -> tuple[BtfFormat | None, BtfFormat | None]:
    """How to show a map's keys and values: its BTF key and value types, when it has them and
    their sizes are the map's (legacy ``maps`` definitions and size-only attributes have none)."""
    if btf is None:
        return None, None

    def one(type_id: int | None, size: int) -> BtfFormat | None:
        if type_id is None or not 0 < type_id < len(btf):
            return None
        fmt = BtfFormat(btf, type_id)
        return fmt if fmt.size == size else None

    return one(definition.key_type_id, definition.key_size), one(definition.value_type_id, definition.value_size)


__all__ = ["BpfObject", "OpenObject", "Program", "load", "map_formats", "open_object"]
