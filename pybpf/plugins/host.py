"""The host side: a protocol implementation declares operations and fields, and owns endpoints.

::

    host = Host("toy")
    host.field(1, "cwnd", get=lambda s: s.state.cwnd, set=lambda s, v: setattr(s.state, "cwnd", v))

    @host.anchor(1, inputs=("acked",))
    def on_ack(inv):                 # the default implementation, in Python
        inv.session.state.cwnd += inv.inputs[0]
        return inv.session.state.cwnd

    endpoint = host.endpoint("server")
    session = endpoint.session(state=MyConnection())
    session.insert("my_plugin.zip")
    session.call("on_ack", 1500)

Ids are explicit numbers because bytecode uses them (``Host.c_header()`` writes them as C
``#define``\\ s).  Fields have a scope: ``session`` fields are read and written through the session,
``endpoint`` fields through its endpoint.  The fault policy decides what happens to a session in
which a plugin faulted: ``"continue"`` (the default), ``"close"``, or a callable
``policy(fault, session) -> "continue" | "close"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pybpf.plugins.faults import Fault, PluginError
from pybpf.plugins.instance import PluginInstance
from pybpf.plugins.memory import Heap, SharedMemory
from pybpf.plugins.operations import DefaultFunc, Operation
from pybpf.plugins.package import PluginPackage

Policy = str | Callable[[Fault, Any], str]
DEFAULT_MAX_NESTING = 16
DEFAULT_ENDPOINT_SHM = 64 * 1024


@dataclass(frozen=True)
class Field:
    """A host variable plugins may read (``get``) and, if ``set`` is given, write."""

    id: int
    name: str
    get: Callable[[Any], int]
    set: Callable[[Any, int], None] | None = None
    scope: str = "session"  # "session" or "endpoint": what get/set receive
    doc: str = ""


class Host:
    """A protocol implementation's declarations: operations, fields, policy."""

    def __init__(
        self,
        name: str,
        *,
        fault_policy: Policy = "continue",
        engine: str = "auto",
        max_nesting: int = DEFAULT_MAX_NESTING,
        endpoint_shm: int = DEFAULT_ENDPOINT_SHM,
        on_fault: Callable[[Fault], None] | None = None,
    ) -> None:
        self.name = name
        self.fault_policy = fault_policy
        self.engine = engine
        self.max_nesting = max_nesting
        self.endpoint_shm = endpoint_shm
        self.on_fault = on_fault
        self.operations: dict[int, Operation] = {}
        self._ops_by_name: dict[str, Operation] = {}
        self.fields: dict[int, Field] = {}
        self._fields_by_name: dict[str, Field] = {}
        self.faults: list[Fault] = []
        self.endpoints: list[Endpoint] = []
        # Bumped by every change sessions must notice: declarations, and plugins inserted into or
        # removed from any endpoint or session of this host (one number to compare per call).
        self.version = 0

    # -- declarations -------------------------------------------------------------------------
    def operation(
        self,
        id: int,
        name: str,
        default: DefaultFunc | None = None,
        *,
        inputs: tuple[str, ...] = (),
        outputs: tuple[str, ...] = (),
        parametrised: bool = False,
        doc: str = "",
    ) -> Operation:
        """Declare an operation (an anchor) with its default implementation."""
        op = Operation(id, name, tuple(inputs), tuple(outputs), default, parametrised, None, doc)
        if id in self.operations:
            raise PluginError(f"host {self.name}: operation id {id} is already {self.operations[id].name!r}")
        if name in self._ops_by_name:
            raise PluginError(f"host {self.name}: operation {name!r} is already declared")
        self.operations[id] = op
        self._ops_by_name[name] = op
        self.version += 1
        return op

    def anchor(
        self,
        id: int,
        name: str | None = None,
        *,
        inputs: tuple[str, ...] = (),
        outputs: tuple[str, ...] = (),
        parametrised: bool = False,
    ) -> Callable[[DefaultFunc], DefaultFunc]:
        """Decorator form of :meth:`operation`: the function is the default; its name the
        operation's unless given."""

        def wrap(func: DefaultFunc) -> DefaultFunc:
            self.operation(
                id,
                name or func.__name__,
                func,
                inputs=inputs,
                outputs=outputs,
                parametrised=parametrised,
                doc=(func.__doc__ or "").strip(),
            )
            return func

        return wrap

    def field(
        self,
        id: int,
        name: str,
        get: Callable[[Any], int],
        set: Callable[[Any, int], None] | None = None,
        *,
        scope: str = "session",
        doc: str = "",
    ) -> Field:
        """Declare a field plugins may read (and write, if ``set`` is given and granted)."""
        if scope not in ("session", "endpoint"):
            raise PluginError(f"host {self.name}: field {name!r}: scope must be 'session' or 'endpoint'")
        if not name.isidentifier():
            raise PluginError(f"host {self.name}: field name {name!r} is not an identifier")
        if id in self.fields or name in self._fields_by_name:
            raise PluginError(f"host {self.name}: field {name!r} (id {id}) is already declared")
        fld = Field(id, name, get, set, scope, doc)
        self.fields[id] = fld
        self._fields_by_name[name] = fld
        self.version += 1
        return fld

    def operation_named(self, name: str) -> Operation | None:
        return self._ops_by_name.get(name)

    def field_named(self, name: str) -> Field | None:
        return self._fields_by_name.get(name)

    # -- endpoints --------------------------------------------------------------------------------
    def endpoint(self, name: str = "endpoint", state: Any = None) -> Endpoint:
        ep = Endpoint(self, name, state)
        self.endpoints.append(ep)
        return ep

    # -- C header -----------------------------------------------------------------------------------
    def c_header(self, prefix: str | None = None) -> str:
        """A C header with the ids of the host's operations and fields, for plugin authors."""
        p = prefix if prefix is not None else re.sub(r"\W", "_", self.name).upper()
        guard = f"PYBPF_HOST_{p}_H"
        lines = [
            f"/* Operations and fields of the pybpf host {self.name!r}; generated by Host.c_header(). */",
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            "/* Operations: pb_call_op(ID, param, args, 8 * inputs) */",
        ]
        for op in sorted(self.operations.values(), key=lambda o: o.id):
            inputs = ", ".join(op.inputs) or "no inputs"
            outputs = ", ".join(op.outputs) or "no outputs"
            extra = ", parametrised" if op.parametrised else ""
            lines.append(
                f"#define {p}_OP_{op.name.upper()} {op.id}u  /* inputs: {inputs}; outputs: {outputs}{extra} */"
            )
            for i, name in enumerate(op.inputs):
                lines.append(f"#define {p}_{op.name.upper()}_IN_{name.upper()} {i}")
            for i, name in enumerate(op.outputs):
                lines.append(f"#define {p}_{op.name.upper()}_OUT_{name.upper()} {i}")
        lines += ["", "/* Fields: pb_get_field(ID), pb_set_field(ID, value) */"]
        for fld in sorted(self.fields.values(), key=lambda f: f.id):
            access = "read-write" if fld.set is not None else "read-only"
            lines.append(f"#define {p}_FIELD_{fld.name.upper()} {fld.id}u  /* {access}, {fld.scope} */")
        lines += ["", f"#endif /* {guard} */", ""]
        return "\n".join(lines)


def _package(plugin: PluginPackage | str | Path) -> PluginPackage:
    return plugin if isinstance(plugin, PluginPackage) else PluginPackage.open(plugin)


class Endpoint:
    """A protocol endpoint (a server, a router): sessions and endpoint-scope plugins."""

    def __init__(self, host: Host, name: str, state: Any = None) -> None:
        self.host = host
        self.name = name
        self.state = state
        self.plugins: dict[str, PluginInstance] = {}
        self.sessions: list[Any] = []
        self.faults: list[Fault] = []
        self.shm = SharedMemory(Heap(f"{name}-shm", host.endpoint_shm, [], kind="shm"))
        self.version = 0
        self._order = 0

    def __repr__(self) -> str:
        return f"<Endpoint {self.name} plugins={list(self.plugins)} sessions={len(self.sessions)}>"

    def session(self, state: Any = None, name: str = "") -> Any:
        from pybpf.plugins.session import Session

        s = Session(self, state, name or f"{self.name}#{len(self.sessions)}")
        self.sessions.append(s)
        return s

    def insert(self, plugin: PluginPackage | str | Path, *, engine: str | None = None) -> PluginInstance:
        """Insert an endpoint-scope plugin: it serves every session of the endpoint."""
        package = _package(plugin)
        if package.manifest.scope != "endpoint":
            raise PluginError(f"plugin {package.id}: scope is {package.manifest.scope!r}; insert it into a session")
        if package.id in self.plugins or any(package.id in s.plugins for s in self.sessions):
            raise PluginError(f"plugin {package.id} is already inserted into endpoint {self.name}")
        self._order += 1
        inst = PluginInstance.load(
            package, self.host, self.resolver(()), engine=engine or self.host.engine, order=self._order
        )
        _check_new_operations(inst, self.host, self.plugins.values())
        inst.owner = self
        inst.active = True
        self.shm.heap.attach(inst.memory.memory)
        self.plugins[inst.id] = inst
        self.version += 1
        self.host.version += 1
        return inst

    def remove(self, plugin_id: str) -> PluginInstance:
        inst = self.plugins.pop(plugin_id, None)
        if inst is None:
            raise PluginError(f"endpoint {self.name} has no plugin {plugin_id!r}")
        self.shm.heap.detach(inst.memory.memory)
        inst.release()
        self.version += 1
        self.host.version += 1
        return inst

    def plugin(self, plugin_id: str) -> PluginInstance:
        try:
            return self.plugins[plugin_id]
        except KeyError:
            raise PluginError(f"endpoint {self.name} has no plugin {plugin_id!r}") from None

    def resolver(self, more: Any) -> Callable[[str], Operation | None]:
        """Operation lookup by name over the host and the plugins in scope."""

        def resolve(name: str) -> Operation | None:
            op = self.host.operation_named(name)
            if op is not None:
                return op
            for inst in (*self.plugins.values(), *more):
                for created in inst.operations.values():
                    if created.name == name:
                        return cast(Operation, created)
            return None

        return resolve


def _check_new_operations(inst: PluginInstance, host: Host, others: Any) -> None:
    """A plugin's created operations may not clash with the host's or other plugins'."""
    for op in inst.operations.values():
        clash = host.operations.get(op.id) or host.operation_named(op.name)
        if clash is None:
            for other in others:
                for o in other.operations.values():
                    if o.id == op.id or o.name == op.name:
                        clash = o
        if clash is not None:
            owner = f"plugin {clash.owner}" if clash.owner else f"host {host.name}"
            raise PluginError(
                f"plugin {inst.id}: operations: {op.name!r} (id {op.id}) clashes with {owner}'s "
                f"operation {clash.name!r} (id {clash.id})"
            )


__all__ = ["Endpoint", "Field", "Host", "Policy"]
