"""The per-connection dispatcher: the one seam between the QUIC anchors and whatever implements them.

Every anchor in :mod:`pybpf.hosts.quic.anchors` ends in ``dispatcher.dispatch(op, param, inputs)``.
:class:`Dispatcher` runs aioquic's own behaviour for everything; :class:`PythonDispatcher` runs
plain-Python reference plugins.  Phase 2 adds a dispatcher backed by the plugin framework (eBPF
``pre`` / ``replace`` / ``post``), and must implement exactly this interface:

* ``bind(layer)`` — called once, when the connection is built; ``layer.default(op, param, inputs)``
  is the aioquic default to run when nothing replaces an operation (and what ``next()`` falls back
  to), ``layer.get_field`` / ``layer.set_field`` are the field accessors.
* ``dispatch(op, param, inputs) -> outputs`` — observers, then the replacement or the default,
  then post observers.
* ``params(op) -> frozenset[int]`` — the parameters (frame types, transport-parameter ids) for
  which some plugin implements ``op``; the host asks this to learn which frame types to accept and
  which transport parameters to write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from pybpf.errors import PybpfError
from pybpf.hosts.quic.table import OPERATIONS_BY_NAME

if TYPE_CHECKING:
    from pybpf.hosts.quic.anchors import AnchorLayer

Value = int | bytes
Values = tuple[Value, ...]
Handler = Callable[[int | None, Values], Values]
Observer = Callable[[str, int | None, Values, Values], None]


class Dispatcher:
    """Runs aioquic's behaviour for every operation (the "no plugin" dispatcher)."""

    layer: AnchorLayer

    def bind(self, layer: AnchorLayer) -> None:
        self.layer = layer

    def dispatch(self, op: str, param: int | None, inputs: Values) -> Values:
        return self.layer.default(op, param, inputs)

    def params(self, op: str) -> frozenset[int]:
        return frozenset()


class PythonPlugin:
    """Base of the reference plugins: plain Python standing in for eBPF until phase 2.

    A plugin replaces operation ``X`` by defining ``op_X(self, param, inputs) -> outputs`` and
    observes operations listed in ``OBSERVES`` through :meth:`observe` (a ``post`` observer: it
    sees the outputs).  ``FRAME_TYPES`` / ``TRANSPORT_PARAMETERS`` list the parameters its
    parametrised operations handle.  ``self.layer`` is the connection's anchor layer, the same API
    surface (fields, frame reservation, clock) an eBPF plugin gets through helpers.
    """

    NAME: ClassVar[str] = "plugin"
    OBSERVES: ClassVar[frozenset[str]] = frozenset()
    FRAME_TYPES: ClassVar[frozenset[int]] = frozenset()
    TRANSPORT_PARAMETERS: ClassVar[frozenset[int]] = frozenset()

    layer: AnchorLayer

    def attach(self, layer: AnchorLayer) -> None:
        self.layer = layer

    def replaced_operations(self) -> list[str]:
        return [name for name in OPERATIONS_BY_NAME if callable(getattr(self, f"op_{name}", None))]

    def observe(self, op: str, param: int | None, inputs: Values, outputs: Values) -> None:
        """Post observer for the operations in ``OBSERVES``."""


class PythonDispatcher(Dispatcher):
    """Dispatch to Python plugins: at most one replacement per operation, any number of observers."""

    def __init__(self, plugins: Iterable[PythonPlugin] = ()) -> None:
        self.plugins: list[PythonPlugin] = []
        self._replace: dict[str, tuple[PythonPlugin, Handler]] = {}
        self._observers: dict[str, list[Observer]] = {}
        self._pending = list(plugins)

    def bind(self, layer: AnchorLayer) -> None:
        super().bind(layer)
        pending, self._pending = self._pending, []
        for plugin in pending:
            self.insert(plugin)

    def insert(self, plugin: PythonPlugin) -> None:
        """Attach ``plugin``; all-or-nothing, like the framework's insertion."""
        replaced = plugin.replaced_operations()
        unknown = sorted(set(plugin.OBSERVES) - set(OPERATIONS_BY_NAME))
        if unknown:
            raise PybpfError(f"plugin {plugin.NAME}: observes unknown operations {', '.join(unknown)}")
        for name in replaced:
            if name in self._replace:
                other = self._replace[name][0].NAME
                raise PybpfError(f"plugin {plugin.NAME}: {name} is already replaced by plugin {other}")
        plugin.attach(self.layer)
        for name in replaced:
            self._replace[name] = (plugin, getattr(plugin, f"op_{name}"))
        for name in plugin.OBSERVES:
            self._observers.setdefault(name, []).append(plugin.observe)
        self.plugins.append(plugin)

    def dispatch(self, op: str, param: int | None, inputs: Values) -> Values:
        entry = self._replace.get(op)
        if entry is not None and self._handles(entry[0], op, param):
            outputs = entry[1](param, inputs)
        else:
            outputs = self.layer.default(op, param, inputs)
        observers = self._observers.get(op)
        if observers:
            for observer in observers:
                observer(op, param, inputs, outputs)
        return outputs

    @staticmethod
    def _handles(plugin: PythonPlugin, op: str, param: int | None) -> bool:
        kind = OPERATIONS_BY_NAME[op].param.value
        if kind == "frame_type":
            return param in plugin.FRAME_TYPES
        if kind == "transport_parameter":
            return param in plugin.TRANSPORT_PARAMETERS
        return True

    def params(self, op: str) -> frozenset[int]:
        kind = OPERATIONS_BY_NAME[op].param.value
        found: set[int] = set()
        for plugin, _ in self._replace.values():
            if kind == "frame_type" and callable(getattr(plugin, f"op_{op}", None)):
                found |= plugin.FRAME_TYPES
            elif kind == "transport_parameter" and callable(getattr(plugin, f"op_{op}", None)):
                found |= plugin.TRANSPORT_PARAMETERS
        return frozenset(found)

    def plugin(self, name: str) -> PythonPlugin:
        for plugin in self.plugins:
            if plugin.NAME == name:
                return plugin
        raise KeyError(name)


def unpack_ints(values: Sequence[Value]) -> list[int]:
    """Inputs of the integer operations as ints (a bytes value here is a host bug)."""
    out: list[int] = []
    for value in values:
        if not isinstance(value, int):
            raise TypeError(f"expected an integer input, got {type(value).__name__}")
        out.append(value)
    return out
