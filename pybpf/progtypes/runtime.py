"""One machine per (loaded object, program type, mode): verified code, engines, context and packet.

Running a packet program takes more than ``Program.run``: the program must be verified for its
type on the Linux platform and the verifier's *rewritten* instructions run (context pointer
loads turned into loads of the 64-bit shadows), helpers must see the packet, and the context and
packet regions should be allocated once, not per packet.  :class:`PacketRuntime` owns all of that
for one object and one :class:`~pybpf.progtypes.context.PacketState`:

* its own :class:`~pybpf.vm.memory.Memory` holding the object's map regions plus the context and
  packet regions (a :class:`~pybpf.progtypes.context.ShadowMemory` for unverified runs);
* a copy of the object's helper registry with the packet helpers bound to the state, and a
  ``tail_call`` that keeps tail calls inside this runtime;
* one engine per program, built from the verified and rewritten instructions (``safe`` proofs
  passed to the JIT) or, with ``verify=False``, from the original instructions on the
  interpreter, the only engine whose loads go through :class:`ShadowMemory`.

Runtimes are cached per object (weakly), keyed by state class, program type and mode, so a
thousand ``test_run`` calls or a pcap of a million packets reuse one machine.  A runtime runs
one packet at a time.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pybpf.engine import make_engine
from pybpf.errors import PybpfError
from pybpf.maps.constants import BPF_F_RDONLY_PROG
from pybpf.progtypes import devmap as _devmap  # noqa: F401  (registers the redirect map types)
from pybpf.progtypes.context import PacketState, ShadowMemory
from pybpf.progtypes.packet_helpers import bind_packet_helpers
from pybpf.progtypes.platform import Platform, ProgTypeSpec
from pybpf.vm.interpreter import Interpreter
from pybpf.vm.memory import Memory

if TYPE_CHECKING:
    from pybpf.object import BpfObject, Program

ENGINE_NAMES = {"Interpreter": "interp", "JitEngine": "jit", "TieredEngine": "auto"}
_NOT_COPIED = ("stack", "code")


class ProgramTypeError(PybpfError):
    """A program was given to a runtime of another type (an XDP program to ``run_skb`` ...)."""


@dataclass(frozen=True)
class _MapDef:
    """What the verifier reads about a map, taken from the *loaded* map (so load-time rodata
    values are the ones the verifier sees)."""

    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    map_flags: int
    inner: Any
    initial: bytes | None


def map_definitions(obj: BpfObject) -> list[_MapDef]:
    """The object's maps in loader order (the index ``lddw map_idx`` uses), for the verifier."""
    out = []
    for bpf_map in obj.maps.values():
        initial = None
        if bpf_map.map_flags & BPF_F_RDONLY_PROG and bpf_map.key_size == 4:
            raw = bpf_map.lookup(bytes(4))
            if raw:
                initial = bytes(bpf_map.region.buf[raw - bpf_map.region.base : raw - bpf_map.region.base + bpf_map.value_size])
        spec = bpf_map.spec
        out.append(
            _MapDef(
                spec.name, spec.map_type, spec.key_size, spec.value_size, spec.max_entries, spec.map_flags,
                spec.inner, initial,
            )
        )
    return out


def engine_name(program: Program) -> str:
    """The engine kind a program was loaded with (``interp``, ``jit`` or ``auto``)."""
    return ENGINE_NAMES.get(type(program.engine).__name__, "interp")


class PacketRuntime:
    """Engines for the programs of one object, all running on one :class:`PacketState`."""

    def __init__(
        self,
        obj: BpfObject,
        spec: ProgTypeSpec,
        state: PacketState,
        *,
        verify: bool,
        engine: str,
        platform: Platform | None = None,
        verifier_options: Any = None,
    ) -> None:
        self.obj = obj
        self.spec = spec
        self.state = state
        self.verify = verify
        self.engine_kind = engine if verify else "interp"
        self.platform = platform
        self.verifier_options = verifier_options
        regions = [r for r in obj.memory if r.kind not in _NOT_COPIED]
        self.memory: Memory = Memory(regions) if verify else ShadowMemory(regions, state.ctx)
        for region in state.regions:
            self.memory.add(region)
        self.registry = bind_packet_helpers(
            obj.helpers.copy(), state, allowed=spec.helpers, engine_for=self._engine_for_target
        )
        self.results: dict[str, Any] = {}  # program name -> VerifierResult
        self._engines: dict[str, Interpreter] = {}
        self._by_default_engine = {id(p.engine): p for p in obj.programs.values()}

    # -- engines -------------------------------------------------------------------------------------
    def engine_for(self, program: Program) -> Interpreter:
        engine = self._engines.get(program.name)
        if engine is None:
            insns, safe = self._prepare(program)
            options: dict[str, Any] = {"budget": program.engine.budget}
            if safe is not None:
                options["safe"] = safe
            engine = make_engine(
                insns,
                engine=self.engine_kind,
                helpers=self.registry,
                memory=self.memory,
                pseudo_resolver=self.obj._resolve,
                **options,
            )
            self._engines[program.name] = engine
        return engine

    def _engine_for_target(self, target: object) -> object:
        program = self._by_default_engine.get(id(target))
        return self.engine_for(program) if program is not None else target

    def _prepare(self, program: Program) -> tuple[list[Any], frozenset[int] | None]:
        insns = list(program.definition.insns)
        if not self.verify:
            return insns, None
        try:
            from pybpf.verifier import verify
        except ImportError as exc:
            raise PybpfError(f"the verifier cannot be imported ({exc}); run {program.name} with verify=False") from exc
        result = verify(
            insns,
            self.spec,
            maps=map_definitions(self.obj),
            platform=self.platform,
            options=self.verifier_options,
        )
        self.results[program.name] = result
        return list(result.rewritten), frozenset(result.safe)

    # -- running -------------------------------------------------------------------------------------
    def execute(self, program: Program) -> int:
        """Run ``program`` on the state as it is now; returns r0 (u64)."""
        engine = self.engine_for(program)
        window = self.state.ld_abs_window()
        if window is not None:
            packet = window.as_region()
            for eng in self._engines.values():
                eng.packet = packet
        regs = [0] * 11
        regs[1] = self.state.ctx.base
        return int(engine.execute(regs))


_RUNTIMES: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], PacketRuntime]] = weakref.WeakKeyDictionary()


def runtime_for(
    program: Program,
    spec: ProgTypeSpec,
    make_state: Callable[[bool], PacketState],
    *,
    verify: bool = True,
    engine: str | None = None,
    platform: Platform | None = None,
    verifier_options: Any = None,
    variant: Any = None,
) -> PacketRuntime:
    """The cached runtime for ``program``'s object, program type ``spec`` and mode.

    ``make_state(guard)`` builds the state the first time (``guard`` = unverified mode);
    ``variant`` distinguishes states of the same type built differently (socket filters seeing
    L2 or L3).
    """
    obj = program.object
    kind = engine or engine_name(program)
    key = (spec.name, verify, kind, id(platform), id(verifier_options), variant)
    per_object = _RUNTIMES.setdefault(obj, {})
    runtime = per_object.get(key)
    if runtime is None:
        runtime = PacketRuntime(
            obj,
            spec,
            make_state(not verify),
            verify=verify,
            engine=kind,
            platform=platform,
            verifier_options=verifier_options,
        )
        per_object[key] = runtime
    return runtime


def linux_spec(name: str) -> ProgTypeSpec:
    """A program type of the Linux platform by name (``xdp``, ``sched_cls``, ``socket_filter`` ...)."""
    from pybpf.progtypes.platform import linux_prog_types

    global _LINUX
    if _LINUX is None:
        _LINUX = linux_prog_types()
    return _LINUX[name]


_LINUX: dict[str, ProgTypeSpec] | None = None

__all__ = ["PacketRuntime", "ProgramTypeError", "engine_name", "linux_spec", "map_definitions", "runtime_for"]
