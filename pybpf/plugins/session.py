"""A session: the plugins serving one connection, and the dispatcher that runs operations.

``session.call(op, *inputs, param=None)`` runs the operation's chain (see
:mod:`pybpf.plugins.operations`).  The dispatcher keeps the call stack of operations: an operation
already on it may not be entered again (a *cycle*, a plugin fault), and nesting is bounded.

Faults.  When a bytecode fails (memory, budget, API refusal, ...), the run site records a
:class:`~pybpf.plugins.faults.Fault`, removes the plugin from its scope and raises
:class:`PluginFaulted`, which travels through the engines of any bytecode of the same plugin that
led to it (all of the plugin's work is abandoned).  The first stage that was *not* entered by the
faulty plugin recovers: a ``pre``/``post`` observer is skipped; a ``replace`` stage continues with
the rest of the chain without the plugin (outputs reset), i.e. the next replace bytecode or the
default.  So the operation still completes -- with default behaviour where the plugin was -- and
other plugins and sessions never notice.  Then the host's policy decides whether the session goes
on or closes (after the current top-level call returns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pybpf.errors import MemoryAccessError, VMError
from pybpf.plugins.api import HostCallbackError
from pybpf.plugins.faults import Fault, FaultKind, PluginError, PluginFaultError, SessionClosedError, classify
from pybpf.plugins.instance import PluginInstance
from pybpf.plugins.operations import Attachment, Chain, Invocation, Operation, build_chains, check_inputs, describe
from pybpf.plugins.package import PluginPackage

if TYPE_CHECKING:
    from pathlib import Path

    from pybpf.plugins.host import Endpoint
    from pybpf.plugins.instance import Bytecode

M64 = (1 << 64) - 1


class PluginFaulted(VMError):
    """Internal: a plugin faulted and was removed; unwinds that plugin's work (a VMError, so that
    both engines let it through unchanged)."""

    def __init__(self, pc: int, plugin: PluginInstance, fault: Fault) -> None:
        self.plugin = plugin
        self.fault = fault
        super().__init__(pc, str(fault))


class Session:
    """The plugins of one session and the operations they serve."""

    def __init__(self, endpoint: Endpoint, state: Any, name: str) -> None:
        self.endpoint = endpoint
        self.host = endpoint.host
        self.state = state
        self.name = name
        self.plugins: dict[str, PluginInstance] = {}
        self.faults: list[Fault] = []
        self.closed = False
        self._running: dict[object, str] = {}  # operations on the call stack, in call order
        self._close_pending = False
        self._seen = -1  # the host version the tables below were built for
        self._chains: dict[object, Chain] = {}
        self._max_nesting = self.host.max_nesting
        self._ops: dict[int, Operation] = {}
        self._names: dict[str, Operation] = {}
        self._order = 0

    def __repr__(self) -> str:
        return f"<Session {self.name} plugins={list(self.plugins)}{' closed' if self.closed else ''}>"

    # -- plugins ----------------------------------------------------------------------------------
    def insert(self, plugin: PluginPackage | str | Path, *, engine: str | None = None) -> PluginInstance:
        """Insert a session-scope plugin (all-or-nothing) and return it."""
        from pybpf.plugins.host import _check_new_operations

        self._check_open()
        package = plugin if isinstance(plugin, PluginPackage) else PluginPackage.open(plugin)
        if package.manifest.scope != "session":
            raise PluginError(f"plugin {package.id}: scope is {package.manifest.scope!r}; insert it into the endpoint")
        if package.id in self.plugins or package.id in self.endpoint.plugins:
            raise PluginError(f"plugin {package.id} is already inserted into session {self.name}")
        self._order += 1
        resolve = self.endpoint.resolver(tuple(self.plugins.values()))
        inst = PluginInstance.load(package, self.host, resolve, engine=engine or self.host.engine, order=self._order)
        _check_new_operations(inst, self.host, (*self.endpoint.plugins.values(), *self.plugins.values()))
        inst.owner = self
        inst.active = True
        self.endpoint.shm.heap.attach(inst.memory.memory)
        self.plugins[inst.id] = inst
        self.host.version += 1
        return inst

    def remove(self, plugin_id: str) -> PluginInstance:
        """Remove a session-scope plugin (allowed at any time, even while it runs: its remaining
        work is skipped)."""
        inst = self.plugins.pop(plugin_id, None)
        if inst is None:
            raise PluginError(f"session {self.name} has no plugin {plugin_id!r}")
        self.endpoint.shm.heap.detach(inst.memory.memory)
        inst.release()
        self.host.version += 1
        return inst

    def plugin(self, plugin_id: str) -> PluginInstance:
        """A plugin serving this session (session or endpoint scope)."""
        inst = self.plugins.get(plugin_id) or self.endpoint.plugins.get(plugin_id)
        if inst is None:
            raise PluginError(f"session {self.name} has no plugin {plugin_id!r}")
        return inst

    def close(self) -> None:
        """Remove every session plugin; later calls raise :class:`SessionClosedError`."""
        for pid in list(self.plugins):
            self.remove(pid)
        self.closed = True
        self._seen = -2  # makes the next call check

    def _check_open(self) -> None:
        if self.closed:
            raise SessionClosedError(f"session {self.name} is closed")

    # -- operations -------------------------------------------------------------------------------
    def operation(self, op: int | str) -> Operation:
        """An operation by id or name (host's or created by a plugin in scope)."""
        self._refresh()
        found = self._ops.get(op) if isinstance(op, int) else self._names.get(op)
        if found is None:
            raise PluginError(f"session {self.name}: no operation {op!r}")
        return found

    def operation_by_id(self, op_id: int) -> Operation | None:
        return self._ops.get(op_id)

    def call(self, op: int | str, *inputs: Any, param: int | None = None) -> int:
        """Run an operation and return its result.

        The hot path of every host: :meth:`_top` inlined (one Python frame less per call)."""
        if self._seen != self.host.version:
            return self._top(op, inputs, param).result
        opdef = self._ops.get(op) if type(op) is int else self._names.get(op)  # type: ignore[arg-type]
        if opdef is None or len(inputs) != len(opdef.inputs):
            return self._top(op, inputs, param).result
        for value in inputs:
            if type(value) is not int and type(value) is not bytes:
                check_inputs(opdef, inputs)
        try:
            return self._call(opdef, param, inputs, None).result
        except HostCallbackError as exc:
            raise exc.original from None
        finally:
            if self._close_pending and not self._running:
                self._close_pending = False
                self.close()

    def invoke(self, op: int | str, *inputs: Any, param: int | None = None) -> Invocation:
        """Run an operation and return the whole invocation (result and outputs)."""
        return self._top(op, inputs, param)

    def _top(self, op: int | str, inputs: tuple[Any, ...], param: int | None) -> Invocation:
        if self._seen != self.host.version:
            if self.closed:
                raise SessionClosedError(f"session {self.name} is closed")
            self._refresh()
        opdef = self._ops.get(op) if type(op) is int else self._names.get(op)  # type: ignore[arg-type]
        if opdef is None:
            self._check_open()
            raise PluginError(f"session {self.name}: no operation {op!r}")
        if len(inputs) != len(opdef.inputs):
            check_inputs(opdef, inputs)
        for value in inputs:
            if type(value) is not int and type(value) is not bytes:
                check_inputs(opdef, inputs)
        try:
            return self._call(opdef, param, inputs, None)
        except HostCallbackError as exc:
            raise exc.original from None
        finally:
            if self._close_pending and not self._running:
                self._close_pending = False
                self.close()

    def _refresh(self) -> None:
        ep = self.endpoint
        ops = dict(self.host.operations)
        scoped = (*ep.plugins.values(), *self.plugins.values())
        for inst in scoped:
            ops.update(inst.operations)
        self._ops = ops
        self._names = {o.name: o for o in ops.values()}
        self._chains = build_chains(a for inst in scoped for a in inst.attachments)
        self._seen = -2 if self.closed else self.host.version  # a closed session always checks
        self._max_nesting = self.host.max_nesting

    def _call(self, op: Operation, param: int | None, inputs: tuple[Any, ...], caller: Bytecode | None) -> Invocation:
        key: object = op.id if param is None else (op.id, param)
        running = self._running
        if key in running or len(running) >= self._max_nesting:
            self._refuse(op, param, key, caller)
        chains = self._chains
        chain = chains.get(key)
        if chain is None and param is not None:
            chain = chains.get(op.id)
        inv = Invocation(self, op, param, inputs, caller)
        running[key] = op.name
        try:
            if chain is None:
                inv.result = self._default(inv, caller)
            elif chain.single is not None and chain.single.plugin.active:
                # The common case, one replace bytecode and no observers: run it directly.
                inv.chain = chain.replace
                try:
                    inv.result = self._run(chain.single, inv)
                except PluginFaulted as exc:
                    if caller is not None and exc.plugin is caller.plugin:
                        raise
                    inv.outputs = [0] * len(op.outputs)
                    inv.result = self._replace(inv, 1, None if caller is None else caller.plugin, caller)
            else:
                cp = caller.plugin if caller is not None else None
                if chain.pre:
                    self._observe(chain.pre, inv, cp)
                if chain.replace:
                    inv.chain = chain.replace
                    inv.result = self._replace(inv, 0, cp, caller)
                else:
                    inv.result = self._default(inv, caller)
                if chain.post:
                    self._observe(chain.post, inv, cp)
        finally:
            del running[key]
        return inv

    def _refuse(self, op: Operation, param: int | None, key: object, caller: Bytecode | None) -> None:
        """A cycle or too deep a nesting: a fault of the calling bytecode (an error for the host)."""
        here = describe(op, param)
        if key in self._running:
            trail = " -> ".join([*self._running.values(), here])
            if caller is None:
                raise PluginError(f"operation {here} re-entered by the host ({trail})")
            raise PluginFaultError(caller.pc, FaultKind.CYCLE, f"operation {here} re-entered: {trail}")
        msg = f"operations nested deeper than {self.host.max_nesting} ({here})"
        if caller is None:
            raise PluginError(msg)
        raise PluginFaultError(caller.pc, FaultKind.NESTING, msg)

    def _default(self, inv: Invocation, caller: Bytecode | None) -> int:
        func = inv.operation.default
        if func is None:
            msg = f"operation {describe(inv.operation, inv.param)} has no implementation"
            if caller is None:
                raise PluginError(msg)
            raise PluginFaultError(caller.pc, FaultKind.NO_IMPLEMENTATION, msg)
        if caller is None:
            return int(func(inv)) & M64
        try:
            return int(func(inv)) & M64
        except VMError:
            raise
        except Exception as exc:
            raise HostCallbackError(caller.pc, exc) from exc

    def _observe(self, atts: list[Attachment], inv: Invocation, cp: PluginInstance | None) -> None:
        for att in atts:
            if not att.plugin.active:
                continue
            try:
                self._run(att, inv)
            except PluginFaulted as exc:
                if exc.plugin is cp:
                    raise

    def _replace(self, inv: Invocation, start: int, cp: PluginInstance | None, caller: Bytecode | None) -> int:
        """Run the replace chain from ``start`` (``next()`` continues here); the default last."""
        chain = inv.chain
        for i in range(start, len(chain)):
            att = chain[i]
            if not att.plugin.active:
                continue
            inv.index = i
            try:
                return self._run(att, inv)
            except PluginFaulted as exc:
                if exc.plugin is cp:
                    raise
                inv.outputs = [0] * len(inv.operation.outputs)
        return self._default(inv, caller)

    def _run(self, att: Attachment, inv: Invocation) -> int:
        """Run one bytecode for ``inv`` (the hidden context is set for its API functions)."""
        bc = att.bytecode
        depth = bc.running
        engines = bc.engines
        engine = engines[depth] if depth < len(engines) else bc.engine_at(depth)
        prev = bc.inv
        bc.inv = inv
        bc.running = depth + 1
        plugin = att.plugin
        plugin.depth += 1
        try:
            if engine.uses_table:
                engine.set_table(inv.table)
            return engine.run() & M64
        except VMError as exc:
            if isinstance(exc, (PluginFaulted, HostCallbackError)):
                raise
            raise self._fault(att, inv, exc) from None
        finally:
            bc.inv = prev
            bc.running = depth
            plugin.depth -= 1
            if not plugin.depth and plugin.memory.scratch.stats.blocks:
                plugin.memory.scratch.reset()

    # -- faults -----------------------------------------------------------------------------------
    def _fault(self, att: Attachment, inv: Invocation, exc: VMError) -> PluginFaulted:
        plugin = att.plugin
        kind = classify(exc)
        message = exc.reason
        if isinstance(exc, MemoryAccessError) and exc.address != 0:
            for heap in (*plugin.memory.heaps(), self.endpoint.shm.heap):
                miss = heap.kind_of_miss(exc.address, exc.size)
                if miss is not None:
                    kind = FaultKind(miss)
                    message = f"{message} ({heap.explain(exc.address, exc.size)})"
                    break
        pc = exc.pc if exc.pc >= 0 else None
        fault = Fault(plugin.id, att.bytecode.name, describe(inv.operation, inv.param), kind, message, pc, plugin.scope)
        self._record(fault, plugin)
        return PluginFaulted(exc.pc, plugin, fault)

    def _record(self, fault: Fault, plugin: PluginInstance) -> None:
        if plugin.active:
            if plugin.scope == "endpoint":
                self.endpoint.remove(plugin.id)
            else:
                self.remove(plugin.id)
        self.faults.append(fault)
        self.endpoint.faults.append(fault)
        host = self.host
        host.faults.append(fault)
        if host.on_fault is not None:
            host.on_fault(fault)
        policy = host.fault_policy
        decision = policy(fault, self) if callable(policy) else policy
        if decision == "close":
            self._close_pending = True


__all__ = ["PluginFaulted", "Session"]
