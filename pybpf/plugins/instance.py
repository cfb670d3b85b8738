"""A plugin inserted into a scope: its bytecodes (verified, bound to an engine), memory and maps.

Loading is all-or-nothing: :meth:`PluginInstance.load` parses every object, checks every manifest
entry against the host (operations, fields, permissions), verifies every bytecode against the
plugin platform and builds every engine before the caller registers anything; any failure raises
one :class:`~pybpf.plugins.faults.PluginError` naming the plugin, the bytecode, its object and
section and, for verifier rejections, the instruction.

All bytecodes of one instance share one :class:`~pybpf.vm.memory.Memory` (heap, scratch, shared
memory, maps), so they share data; instances never share memory with each other (except the
endpoint-wide shared store, which is opt-in through ``PB_SHM_ENDPOINT``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

from pybpf.elf.loader import ElfObject, MapDefinition, ProgramDefinition
from pybpf.elf.loader import open_object as open_elf
from pybpf.errors import PybpfError, VMError
from pybpf.maps import BpfMap, KeyedMap, MapSpec, create_map
from pybpf.plugins.api import BY_NAME, ApiBinding
from pybpf.plugins.faults import PluginError
from pybpf.plugins.manifest import BytecodeEntry, Manifest
from pybpf.plugins.memory import PluginMemory
from pybpf.plugins.operations import Attachment, Invocation, Mode, Operation
from pybpf.plugins.package import PluginPackage
from pybpf.plugins.platform import PROG_TYPE, check_calls, plugin_platform, verifier_options

if TYPE_CHECKING:
    from pybpf.plugins.host import Host
    from pybpf.vm.interpreter import Interpreter

M64 = (1 << 64) - 1
# Verification results by (object digest, program, permissions, mode): the same plugin inserted
# into many sessions is verified once (the verdict depends on nothing else).
_VERIFIED: dict[tuple[bytes, str, frozenset[str], Mode], tuple[tuple[Any, ...], frozenset[int]]] = {}
_VERIFIED_KEPT = 256
OpResolver = Callable[[str], Operation | None]


class Bytecode:
    """One manifest entry, loaded: the program, its engine and its API binding."""

    def __init__(self, plugin: PluginInstance, entry: BytecodeEntry, operation: Operation) -> None:
        self.plugin = plugin
        self.entry = entry
        self.name = entry.name
        self.mode = entry.mode
        self.operation = operation
        self.permissions = entry.permissions
        self.read_fields: frozenset[int] = frozenset()
        self.write_fields: frozenset[int] = frozenset()
        self.inv: Invocation | None = None  # the invocation being served (the hidden context)
        # One engine per nesting level: a parametrised operation may reach the same bytecode
        # again (process_frame[1] -> process_frame[2]), and an engine runs one program at a time.
        self.engines: list[Interpreter] = []
        self.running = 0  # how many runs of this bytecode are on the call stack
        self.new_engine: Callable[[], Interpreter] | None = None
        self.safe_accesses = 0
        self.instructions = 0

    @property
    def engine(self) -> Interpreter:
        """The outermost engine (the one a top-level run uses)."""
        return self.engines[0]

    def engine_at(self, depth: int) -> Interpreter:
        """The engine for a run at nesting ``depth`` (made on first need)."""
        engines = self.engines
        while len(engines) <= depth:
            assert self.new_engine is not None
            engines.append(self.new_engine())
        return engines[depth]

    @property
    def pc(self) -> int:
        """Instruction of the innermost run of this bytecode (for API faults)."""
        if not self.engines:
            return -1
        return int(self.engines[max(self.running - 1, 0)].pc)

    def __repr__(self) -> str:
        return f"<Bytecode {self.plugin.id}/{self.name} {self.mode.value} {self.operation.name}>"


class PluginInstance:
    """A plugin in one scope (a session, or an endpoint and all its sessions)."""

    def __init__(self, package: PluginPackage, engine: str) -> None:
        self.package = package
        self.manifest: Manifest = package.manifest
        self.id = self.manifest.id
        self.version = self.manifest.version
        self.scope = self.manifest.scope
        self.engine_name = engine
        self.memory = PluginMemory(self.manifest.memory)
        self.maps: dict[str, Any] = {}  # named maps of the plugin's objects (shared by name)
        self.data_maps: dict[tuple[str, str], BpfMap] = {}  # (object, section) -> global data
        self.bytecodes: dict[str, Bytecode] = {}
        self.operations: dict[int, Operation] = {}  # operations this plugin created
        self.attachments: list[Attachment] = []
        self.active = False
        self.depth = 0  # bytecodes of this plugin on the call stack
        self.log: list[str] = []
        self.has_maps = False  # the plugin's objects define maps (see session._release_map_locks)
        self.owner: Any = None  # the Session or Endpoint it is inserted into

    def __repr__(self) -> str:
        return f"<PluginInstance {self.id} {self.version} {self.scope} {'active' if self.active else 'removed'}>"

    # -- loading ----------------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        package: PluginPackage,
        host: Host,
        resolve: OpResolver,
        *,
        engine: str,
        order: int = 0,
    ) -> PluginInstance:
        """Everything of the plugin, loaded and verified; raises before anything is registered."""
        self = cls(package, engine)
        m = self.manifest
        for o in m.operations:
            created = Operation(
                o.id,
                o.name,
                tuple(f"in{i}" for i in range(o.inputs)),
                tuple(f"out{i}" for i in range(o.outputs)),
                None,
                o.parametrised,
                owner=m.id,
            )
            self.operations[o.id] = created
        own = {op.name: op for op in self.operations.values()}
        elves = {name: self._open(name) for name in m.objects()}
        for obj_name, elf in elves.items():
            self._create_maps(obj_name, elf)
        self.has_maps = bool(self.maps or self.data_maps)
        for k, entry in enumerate(m.bytecodes):
            where = f"plugin {m.id}: bytecode {entry.name} ({entry.object}"
            op = own.get(entry.operation) or resolve(entry.operation)
            if op is None:
                raise PluginError(
                    f"plugin {m.id}: bytecodes.{entry.name}.operation: unknown operation {entry.operation!r}"
                )
            if entry.param is not None and not op.parametrised:
                raise PluginError(
                    f"plugin {m.id}: bytecodes.{entry.name}.param: operation {op.name} takes no parameter"
                )
            bc = Bytecode(self, entry, op)
            bc.read_fields = self._fields(host, entry, "read")
            bc.write_fields = self._fields(host, entry, "write")
            elf = elves[entry.object]
            prog = _program(elf, entry, where + ")")
            where = f"{where}:{prog.section})"
            self._build(bc, elf, prog, entry.object, where)
            self.bytecodes[entry.name] = bc
            self.attachments.append(
                Attachment(op.id, entry.param, entry.mode, entry.sequence, self, bc, order=order * 1000 + k)
            )
        return self

    def _open(self, name: str) -> ElfObject:
        try:
            return open_elf(self.package.objects[name], name=name, helpers=_api_id)
        except PybpfError as exc:
            raise PluginError(f"plugin {self.id}: object {name}: {exc}") from None

    def _create_maps(self, obj_name: str, elf: ElfObject) -> None:
        for d in elf.maps:
            if d.source == "data":
                bpf_map = create_map(_spec(d))
                cast(KeyedMap, bpf_map).update_elem(bytes(4), d.initial)
                self.data_maps[(obj_name, d.name)] = bpf_map
                self.memory.memory.add(bpf_map.region)
                continue
            existing = self.maps.get(d.name)
            if existing is not None:
                if existing.spec != _spec(d):
                    raise PluginError(
                        f"plugin {self.id}: object {obj_name}: map {d.name!r} is defined differently in another object"
                    )
                continue
            if d.slot_init:
                raise PluginError(
                    f"plugin {self.id}: object {obj_name}: map {d.name!r}: initialised map slots are not supported in plugins"
                )
            bpf_map = create_map(_spec(d))
            self.maps[d.name] = bpf_map
            self.memory.memory.add(bpf_map.region)

    def _fields(self, host: Host, entry: BytecodeEntry, kind: str) -> frozenset[int]:
        names = entry.read_fields if kind == "read" else entry.write_fields
        ids: set[int] = set()
        for i, name in enumerate(names):
            fld = host.field_named(name)
            if fld is None:
                raise PluginError(
                    f"plugin {self.id}: bytecodes.{entry.name}.fields.{kind}[{i}]: the host has no field {name!r}"
                )
            if kind == "write" and fld.set is None:
                raise PluginError(
                    f"plugin {self.id}: bytecodes.{entry.name}.fields.write[{i}]: field {name!r} is read-only"
                )
            ids.add(fld.id)
        return frozenset(ids)

    def _build(self, bc: Bytecode, elf: ElfObject, prog: ProgramDefinition, obj_name: str, where: str) -> None:
        from pybpf.engine import make_engine
        from pybpf.verifier import VerifierError, verify

        check_calls(prog.insns, bc.permissions, bc.mode, where)
        key = (hashlib.sha256(self.package.objects[obj_name]).digest(), prog.name, bc.permissions, bc.mode)
        cached = _VERIFIED.get(key)
        if cached is None:
            platform = plugin_platform(bc.permissions, bc.mode)
            try:
                result = verify(prog.insns, PROG_TYPE, maps=elf.maps, platform=platform, options=verifier_options())
            except VerifierError as exc:
                raise PluginError(f"{where}: rejected by the verifier at {exc}") from None
            cached = (tuple(result.rewritten), result.safe)
            if len(_VERIFIED) >= _VERIFIED_KEPT:
                _VERIFIED.pop(next(iter(_VERIFIED)))
            _VERIFIED[key] = cached
        rewritten, safe = cached
        by_index = [self._map_for(obj_name, d) for d in elf.maps]

        def resolve(src: int, imm: int, next_imm: int, pc: int) -> int:
            if not 0 <= imm < len(by_index):
                raise VMError(pc, f"lddw refers to map index {imm}; the object has {len(by_index)} maps")
            bpf_map = by_index[imm]
            if src == 5:
                return int(bpf_map.handle)
            if src == 6:
                return (int(bpf_map.lookup(bytes(4))) + next_imm) & M64
            raise VMError(pc, f"lddw src {src} cannot be resolved in a plugin")

        registry = ApiBinding(bc).registry()
        insns = list(rewritten)
        memory = self.memory.memory
        engine_name = self.engine_name
        budget = self.manifest.budget

        def new_engine() -> Interpreter:
            return make_engine(
                insns,
                engine=engine_name,
                helpers=registry,
                memory=memory,
                pseudo_resolver=resolve,
                safe=safe,
                budget=budget,
            )

        bc.new_engine = new_engine
        try:
            bc.engines.append(new_engine())
        except PybpfError as exc:
            raise PluginError(f"{where}: {exc}") from None
        bc.safe_accesses = len(safe)
        bc.instructions = len(prog.insns)

    def _map_for(self, obj_name: str, d: MapDefinition) -> BpfMap:
        if d.source == "data":
            return self.data_maps[(obj_name, d.name)]
        return cast(BpfMap, self.maps[d.name])

    # -- life cycle -------------------------------------------------------------------------------
    def release(self) -> None:
        """Forget the plugin's memory (after removal)."""
        self.active = False
        for bc in self.bytecodes.values():
            bc.inv = None

    def heap_stats(self) -> dict[str, Any]:
        mem = self.memory
        return {h.name: h.stats for h in mem.heaps()}


def _api_id(name: str) -> int | None:
    fn = BY_NAME.get(name) or BY_NAME.get("bpf_" + name.removeprefix("bpf_"))
    return fn.id if fn is not None else None


def _program(elf: ElfObject, entry: BytecodeEntry, where: str) -> ProgramDefinition:
    progs: Sequence[ProgramDefinition] = elf.programs
    if entry.section is None:
        if len(progs) == 1:
            return progs[0]
        names = ", ".join(f"{p.name} ({p.section})" for p in progs) or "none"
        raise PluginError(f"{where}: the object has several programs; name one with 'section' ({names})")
    for p in progs:
        if p.section == entry.section or p.name == entry.section:
            return p
    names = ", ".join(f"{p.name} ({p.section})" for p in progs) or "none"
    raise PluginError(f"{where}: bytecodes.{entry.name}.section: no program {entry.section!r} (programs: {names})")


def _spec(d: MapDefinition) -> MapSpec:
    return MapSpec(
        name=d.name,
        map_type=d.map_type,
        key_size=d.key_size,
        value_size=d.value_size,
        max_entries=d.max_entries,
        map_flags=d.map_flags,
        map_extra=d.map_extra,
        inner=_spec(d.inner) if d.inner is not None else None,
        pinning=0,  # a plugin's maps live and die with the plugin
    )


__all__ = ["Bytecode", "PluginInstance"]
