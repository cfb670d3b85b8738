"""aioquic as a plugin-framework host: the anchor table as a :class:`~pybpf.plugins.Host`, and a
per-connection :class:`~pybpf.hosts.quic.dispatch.Dispatcher` backed by a framework session.

Why a translation layer and not a second table: :mod:`pybpf.hosts.quic.table` is the ABI (stable
ids, inputs and outputs in order); :func:`quic_host` turns each entry into a framework operation
whose default is ``layer.default`` -- aioquic's own behaviour on the live connection -- and each
field into a getter (and, for ``cwnd`` / ``ssthresh`` only, a setter) going through the layer.  So
the C header (:func:`c_header`, committed as ``include/pquic.h``), the framework's checks (inputs,
permissions, writable fields) and the anchors agree by construction.

Per connection.  :class:`EbpfDispatcher` opens one framework session per connection; its state is
the connection's :class:`~pybpf.hosts.quic.anchors.AnchorLayer`, so every default and field
accessor acts on that connection only.  Plugins are inserted into that session and nothing else:
two connections in one process run different eBPF controllers side by side.

Conventions plugins rely on (also in ``docs/quic.md``):

* a ``replace`` bytecode sets **every** output with ``pb_set_output`` (outputs start at 0; a
  ``cc_*`` replacement that sets nothing would set the window to 0), or calls ``pb_next()`` first
  to get aioquic's outputs and adjusts them;
* the result (return value) of a ``cc_*`` operation is the new ``cwnd``: the default returns it,
  the bundled controllers return it, and observers read it with ``pb_get_result()``;
* the defaults run aioquic's code on the event being dispatched, so a default can only run for
  the operation the host is dispatching: ``pb_call_op`` reaching a host default of another
  operation is refused (a ``bad call`` host error), and is only useful for plugin-created
  operations.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pybpf.errors import PybpfError
from pybpf.hosts.quic.dispatch import Dispatcher, Values
from pybpf.hosts.quic.exchange import PLUGIN_FRAME_TYPE, PluginExchange
from pybpf.hosts.quic.table import FIELDS, OPERATIONS, Kind, Param
from pybpf.plugins import Fault, Host, Invocation, Mode, PluginInstance, PluginPackage, Session
from pybpf.plugins.faults import FaultKind, PluginFaultError

if TYPE_CHECKING:
    from pybpf.hosts.quic.anchors import AnchorLayer
    from pybpf.plugins.host import Endpoint

HOST_NAME = "pquic"
"""The host's name; the C header's prefix is ``PQUIC_``."""

PLUGINS_DIR = Path(__file__).resolve().parent / "plugins" / "c"
"""Sources (``<name>/manifest.json`` + ``.c``) and prebuilt zips (``<name>.zip``) of the bundled plugins."""

INCLUDE_DIR = Path(__file__).resolve().parent / "include"
HEADER = INCLUDE_DIR / "pquic.h"

BUNDLED = ("newreno", "cubic", "westwood", "monitor", "roundrobin", "priority", "message")
"""Bundled C plugins: the controllers, the monitor, the stream schedulers, the message extension."""

MONITOR_ID = "org.pybpf.quic.monitor"


def _default(op_name: str, service: bool = False) -> Callable[[Invocation], int]:
    """The framework default of ``op_name``: aioquic's behaviour through the connection's layer.

    The layer's defaults replay aioquic's code on the event the host is dispatching (packets,
    float times), which only exists for that operation; reaching another operation's default
    through ``pb_call_op`` would run it on the wrong event, so it is refused.  Service operations
    (``reserve_frame``) need no event: plugins call them at any time.
    """

    def run(inv: Invocation) -> int:
        layer: AnchorLayer = inv.session.state
        if service:
            try:
                layer.default(op_name, inv.param, inv.inputs)
            except PybpfError as exc:
                if inv.caller is None:
                    raise
                # a plugin asked for something invalid: its fault, not the host's
                raise PluginFaultError(inv.caller.pc, FaultKind.BAD_ARGUMENT, str(exc)) from None
            return 0
        if not layer.dispatching(op_name):
            raise PybpfError(f"QUIC operation {op_name}: aioquic's default only runs when the host dispatches it")
        outputs = layer.default(op_name, inv.param, inv.inputs)
        out = inv.outputs
        for i, value in enumerate(outputs[: len(out)]):
            out[i] = value
        first = outputs[0] if outputs else 0
        return first if isinstance(first, int) else 0

    run.__name__ = f"default_{op_name}"
    return run


def _getter(field_id: int) -> Callable[[Any], int]:
    def get(session: Any) -> int:
        layer: AnchorLayer = session.state
        return layer.get_field(field_id)

    return get


def _setter(field_id: int) -> Callable[[Any, int], None]:
    def set_(session: Any, value: int) -> None:
        layer: AnchorLayer = session.state
        layer.set_field(field_id, value)

    return set_


def quic_host(*, engine: str = "auto", on_fault: Callable[[Fault], None] | None = None) -> Host:
    """A framework host declaring every operation and field of the anchor table (same ids).

    The fault policy is ``continue``: a faulty plugin is removed and the connection goes on with
    aioquic's behaviour where the plugin was (PQUIC's choice for a misbehaving plugin).
    """
    host = Host(HOST_NAME, engine=engine, on_fault=on_fault)
    for op in OPERATIONS:
        host.operation(op.id, op.name, _default(op.name, op.kind is Kind.SERVICE), inputs=op.inputs, outputs=op.outputs,
                       parametrised=op.param is not Param.NONE, doc=op.default)
    for fld in FIELDS:
        host.field(fld.id, fld.name, _getter(fld.id), _setter(fld.id) if fld.writable else None,
                   doc=f"{fld.doc} ({fld.unit})")
    return host


HOST = quic_host()
"""A declaration-only instance, for ``pybpf plugin header/check --host pybpf.hosts.quic.plugin_host:HOST``."""


def c_header() -> str:
    """The C header plugin authors include (``include/pquic.h``), with the table's conventions."""
    head = (
        "/* Conventions: times in microseconds, sizes in bytes; ssthresh unset = PQUIC_SSTHRESH_INFINITE;\n"
        " * cc_* operations return the new cwnd and set both outputs (cwnd, ssthresh).  docs/quic.md. */\n"
        "#define PQUIC_SSTHRESH_INFINITE 0xffffffffffffffffULL\n"
        "#define PQUIC_FRAME_TYPE 0x3f5042ULL  /* the reference extension frame type */\n"
        "#define PQUIC_TRANSPORT_PARAMETER 0x3f5042ULL\n"
    )
    text = HOST.c_header("PQUIC")
    marker = "/* Operations:"
    return text.replace(marker, head + "\n" + marker, 1)


# -- the dispatcher ---------------------------------------------------------------------------------
PluginSource = str | Path | PluginPackage


def bundled(name: str) -> Path:
    """The prebuilt zip of a bundled plugin (``newreno``, ``monitor``, ...)."""
    if name not in BUNDLED:
        raise PybpfError(f"no bundled QUIC plugin {name!r}; bundled: {', '.join(BUNDLED)}")
    return PLUGINS_DIR / f"{name}.zip"


class EbpfDispatcher(Dispatcher):
    """Dispatch through a framework session: pre observers, the replace chain (or aioquic's
    default), post observers -- for the one connection this dispatcher is bound to.

    ``plugins`` are inserted when the connection binds the dispatcher (all or nothing each);
    :meth:`insert` and :meth:`remove` work at any time, also mid-connection.  ``endpoint`` shares
    one framework endpoint (and its endpoint-scope plugins) between connections; by default each
    dispatcher gets its own host and endpoint, so a finished connection leaves nothing behind in
    a process-wide registry.
    """

    def __init__(self, plugins: Iterable[PluginSource] = (), *, engine: str | None = None,
                 endpoint: Endpoint | None = None, name: str = "connection",
                 exchange: PluginExchange | None = None) -> None:
        self.engine = engine
        self.exchange = exchange
        """Plugin exchange with the peer (frame and transport parameter ``PLUGIN_FRAME_TYPE``),
        handled before the plugins: see :mod:`pybpf.hosts.quic.exchange`."""
        self.endpoint = endpoint if endpoint is not None else quic_host(engine=engine or "auto").endpoint(name)
        self.host = self.endpoint.host
        self._pending = [p if isinstance(p, PluginPackage) else PluginPackage.open(p) for p in plugins]
        self.session: Session | None = None
        self._on_bind: list[Callable[[EbpfDispatcher], None]] = []
        self._param_cache: dict[str, frozenset[int]] = {}
        self._param_version = -1

    def bind(self, layer: AnchorLayer) -> None:
        super().bind(layer)
        self.session = self.endpoint.session(layer)
        if self.exchange is not None:
            self.exchange.attach(self)
        pending, self._pending = self._pending, []
        for package in pending:
            self.insert(package)
        callbacks, self._on_bind = self._on_bind, []
        for callback in callbacks:
            callback(self)

    def when_bound(self, callback: Callable[[EbpfDispatcher], None]) -> None:
        """Run ``callback(self)`` once the connection exists and the plugins are inserted: now if
        it is bound already, else right after :meth:`bind` (in registration order).  This is how
        an application fills a plugin's maps before the first packet (a scheduler's priorities,
        the messages a connection starts with)."""
        if self.session is not None:
            callback(self)
        else:
            self._on_bind.append(callback)

    def _live(self) -> Session:
        if self.session is None:
            raise PybpfError("the eBPF dispatcher is not bound to a connection yet")
        return self.session

    def insert(self, plugin: PluginSource, *, engine: str | None = None) -> PluginInstance:
        """Insert a session plugin into this connection (verified first; all or nothing)."""
        return self._live().insert(plugin, engine=engine or self.engine)

    def remove(self, plugin_id: str) -> PluginInstance:
        return self._live().remove(plugin_id)

    def plugin(self, plugin_id: str) -> PluginInstance:
        return self._live().plugin(plugin_id)

    @property
    def plugins(self) -> dict[str, PluginInstance]:
        """The session's plugins by id (removed ones -- e.g. after a fault -- are gone)."""
        return dict(self.session.plugins) if self.session is not None else {}

    @property
    def faults(self) -> list[Fault]:
        return list(self.session.faults) if self.session is not None else []

    def dispatch(self, op: str, param: int | None, inputs: Values) -> Values:
        # PLUGIN_FRAME_TYPE is also the exchange's transport-parameter id
        if param == PLUGIN_FRAME_TYPE and self.exchange is not None and param in self.exchange.params(op):
            return self.exchange.dispatch(op, inputs)
        session = self.session
        if session is None or session.closed:
            return self.layer.default(op, param, inputs)
        return tuple(session.invoke(op, *inputs, param=param).outputs)

    def params(self, op: str) -> frozenset[int]:
        """Parameters some replace bytecode of this connection's plugins is attached to."""
        session = self.session
        if session is None:
            return frozenset()
        if self._param_version != self.host.version:
            self._param_cache.clear()
            self._param_version = self.host.version
        cached = self._param_cache.get(op)
        if cached is None:
            opdef = self.host.operation_named(op)
            found: set[int] = set()
            if opdef is not None:
                for inst in (*self.endpoint.plugins.values(), *session.plugins.values()):
                    for att in inst.attachments:
                        if att.operation == opdef.id and att.mode is Mode.REPLACE and att.param is not None:
                            found.add(att.param)
            if self.exchange is not None:
                found |= self.exchange.params(op)
            cached = self._param_cache[op] = frozenset(found)
        return cached


# -- the monitor's map ------------------------------------------------------------------------------
RECORD = struct.Struct("<QQII")
"""One monitor record: time_us, value, kind, pad (``struct record`` in monitor.c)."""

KIND_CWND, KIND_BYTES_IN_FLIGHT, KIND_RTT, KIND_LOSSES = 1, 2, 3, 4
_KIND_NAMES = {KIND_CWND: "cwnd", KIND_BYTES_IN_FLIGHT: "bytes_in_flight", KIND_RTT: "rtt", KIND_LOSSES: "losses"}


@dataclass
class MonitorReader:
    """Reads the eBPF monitor's ring of records while the connection runs (incrementally).

    The plugin writes record ``n`` at slot ``n % capacity`` of map ``records`` and the count of
    records written at ``head[0]``; a reader that falls more than ``capacity`` behind loses the
    oldest ones and counts them in :attr:`overwritten`.
    """

    plugin: PluginInstance
    next_index: int = 0
    overwritten: int = 0

    def __post_init__(self) -> None:
        self.samples: dict[str, list[tuple[int, int]]] = {name: [] for name in _KIND_NAMES.values()}

    def written(self) -> int:
        return int.from_bytes(self.plugin.maps["head"][0], "little")

    def poll(self) -> int:
        """Read the records written since the last poll; returns how many were read."""
        if not self.plugin.active:
            return 0  # removed (e.g. after a fault): what was read so far stays
        records = self.plugin.maps["records"]
        capacity = records.max_entries if hasattr(records, "max_entries") else records.spec.max_entries
        head = self.written()
        if head - self.next_index > capacity:
            self.overwritten += head - capacity - self.next_index
            self.next_index = head - capacity
        read = 0
        while self.next_index < head:
            time_us, value, kind, _ = RECORD.unpack_from(records[self.next_index % capacity])
            name = _KIND_NAMES.get(kind)
            if name is not None:
                self.samples[name].append((time_us, value))
            self.next_index += 1
            read += 1
        return read

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """The same series as the Python monitor: seconds, and RTT in milliseconds."""
        self.poll()
        return {
            "cwnd": [(t / 1e6, float(v)) for t, v in self.samples["cwnd"]],
            "bytes_in_flight": [(t / 1e6, float(v)) for t, v in self.samples["bytes_in_flight"]],
            "rtt_ms": [(t / 1e6, v / 1000) for t, v in self.samples["rtt"]],
            "losses": [(t / 1e6, float(v)) for t, v in self.samples["losses"]],
        }


__all__ = [
    "BUNDLED",
    "HEADER",
    "HOST",
    "HOST_NAME",
    "MONITOR_ID",
    "PLUGINS_DIR",
    "EbpfDispatcher",
    "MonitorReader",
    "bundled",
    "c_header",
    "quic_host",
]
