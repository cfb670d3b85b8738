"""Plugin exchange between peers: one end offers eBPF plugins, the other verifies them against its
host and inserts them into its connection (PQUIC's plugin injection, over this host's extension
mechanism).

Wire format (numbers next to the message extension's 0x3F5042; ``0x3F5043`` is of the reserved
greasing form ``31 * N + 27`` for transport parameters, so it is skipped):

* transport parameter ``PLUGIN_TRANSPORT_PARAMETER`` (0x3F5044), sent by an endpoint that
  **accepts** plugins; value: the largest plugin package it takes, in bytes (one varint).  An
  endpoint only offers plugins to a peer that sent it, and only packages up to that size;
* frame ``PLUGIN_FRAME_TYPE`` (0x3F5044), ``index | total | offset | length | data`` (four varints
  and ``length`` bytes): bytes ``offset .. offset + length`` of offer ``index`` (0, 1, ... in the
  connection), a plugin zip of ``total`` bytes.  Chunks are sized to the room left in each packet
  and sent again when lost; the receiver reassembles them in any order and ignores repeats.  A
  chunk past the end of its offer, with another total than earlier chunks, for an offer number
  of ``MAX_OFFERS`` or more, or larger than the advertised limit is malformed (the connection
  closes with FRAME_ENCODING_ERROR); one whose bytes differ from an earlier chunk's for the same
  offsets is a PROTOCOL_VIOLATION.

When an offer is complete, the receiver opens it as a package (``PluginPackage.from_zip``, with its
limits), asks the application's ``accept(package)`` policy (none: everything is refused: verified
bytecode is memory safe, but what it does to the connection is the application's call), and
inserts it into its connection's session: the insertion verifies every bytecode against the host
before anything is registered, and is all or nothing.  Each outcome is an :class:`Arrival`; a refusal never affects the
connection.

This is host code (Python), like insertion itself: the exchange runs in
:class:`PluginExchange`, which an :class:`~pybpf.hosts.quic.plugin_host.EbpfDispatcher` consults
for the two numbers above before its plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aioquic._buffer import Buffer, BufferReadError
from aioquic.buffer import size_uint_var
from aioquic.quic.connection import QuicConnectionError
from aioquic.quic.packet import QuicErrorCode

from pybpf.errors import PybpfError
from pybpf.hosts.quic.dispatch import Values, unpack_ints
from pybpf.plugins import PluginError, PluginPackage

if TYPE_CHECKING:
    from pybpf.hosts.quic.plugin_host import EbpfDispatcher

PLUGIN_FRAME_TYPE = 0x3F5044
PLUGIN_TRANSPORT_PARAMETER = 0x3F5044
MAX_OFFERS = 16
DEFAULT_MAX_PACKAGE = 1 << 20
"""What an accepting endpoint advertises by default: 1 MiB (the package format allows 16 MiB)."""

Policy = Callable[[PluginPackage], bool]


@dataclass
class Arrival:
    """What became of one plugin the peer offered."""

    index: int
    size: int
    plugin_id: str | None = None
    inserted: bool = False
    reason: str = ""
    """Why it was refused (empty when inserted)."""
    at_us: int = 0


@dataclass
class _Incoming:
    total: int
    data: bytearray
    have: bytearray  # 1 per byte received
    missing: int
    done: bool = False


@dataclass
class _Offer:
    index: int
    data: bytes
    pending: list[tuple[int, int]] = field(default_factory=list)  # (offset, length) ranges to send


class PluginExchange:
    """Offer ``offer`` (plugin zip files, directories, packages, or zip archives as bytes, sent as
    they are) to the peer and/or accept the peer's plugins with ``accept`` (``None``: do not
    advertise, receive nothing).

    ``max_package`` is the largest package this endpoint takes (advertised to the peer)."""

    def __init__(self, offer: Iterable[str | Path | PluginPackage | bytes] = (), *, accept: Policy | None = None,
                 max_package: int = DEFAULT_MAX_PACKAGE) -> None:
        offers = list(offer)
        if len(offers) > MAX_OFFERS:
            raise PybpfError(f"at most {MAX_OFFERS} plugins can be offered on a connection, got {len(offers)}")
        if not 0 < max_package <= 1 << 24:
            raise PybpfError(f"max_package must be between 1 and {1 << 24} bytes, got {max_package}")
        self.accept = accept
        self.max_package = max_package
        self._offers: list[_Offer] = []
        self.offered: list[str] = []
        """What is offered, by plugin id (``#N`` for raw bytes)."""
        for i, item in enumerate(offers):
            if isinstance(item, bytes):
                data, label = item, f"#{i}"
            else:
                package = item if isinstance(item, PluginPackage) else PluginPackage.open(item)
                data, label = package.to_zip(), package.id
            if not data:
                raise PybpfError(f"offer {label} is empty")
            self._offers.append(_Offer(i, data))
            self.offered.append(label)
        self._incoming: dict[int, _Incoming] = {}
        self._in_flight: dict[int, tuple[int, int, int]] = {}  # token -> (index, offset, length)
        self._next_token = 1
        self.peer_limit: int | None = None
        """The largest package the peer accepts (None: the peer takes no plugins)."""
        self.arrivals: list[Arrival] = []
        self.chunks_sent = 0
        self.chunks_lost = 0
        self.not_sent: list[str] = []
        """Offered plugins not sent because they are larger than the peer takes (with the sizes);
        when the peer takes no plugins at all, :attr:`peer_limit` stays None and nothing is sent."""
        self._dispatcher: EbpfDispatcher | None = None

    # -- wiring ------------------------------------------------------------------------------
    def attach(self, dispatcher: EbpfDispatcher) -> None:
        self._dispatcher = dispatcher

    def params(self, op: str) -> frozenset[int]:
        if op == "write_transport_parameter":
            return frozenset({PLUGIN_TRANSPORT_PARAMETER}) if self.accept is not None else frozenset()
        if op == "process_transport_parameter":
            return frozenset({PLUGIN_TRANSPORT_PARAMETER}) if self._offers else frozenset()
        if op in ("parse_frame", "process_frame"):
            return frozenset({PLUGIN_FRAME_TYPE}) if self.accept is not None else frozenset()
        if op in ("write_frame", "notify_frame"):
            return frozenset({PLUGIN_FRAME_TYPE}) if self._offers else frozenset()
        return frozenset()

    def dispatch(self, op: str, inputs: Values) -> Values:
        handler = getattr(self, f"_op_{op}", None)
        if handler is None:
            return ()
        result: Values = handler(inputs)
        return result

    def _dispatcher_live(self) -> EbpfDispatcher:
        if self._dispatcher is None:
            raise PybpfError("the plugin exchange is not attached to a dispatcher")
        return self._dispatcher

    # -- transport parameter -----------------------------------------------------------------
    def _op_write_transport_parameter(self, inputs: Values) -> Values:
        buf = Buffer(capacity=8)
        buf.push_uint_var(self.max_package)
        return (buf.data,)

    def _op_process_transport_parameter(self, inputs: Values) -> Values:
        value = inputs[0]
        assert isinstance(value, bytes)
        buf = Buffer(data=value)
        try:
            limit = buf.pull_uint_var()
        except BufferReadError:
            return ()  # malformed: the peer takes no plugins
        if not buf.eof():
            return ()
        self.peer_limit = limit
        layer = self._dispatcher_live().layer
        for offer in self._offers:
            if len(offer.data) > limit:
                self.not_sent.append(f"{self.offered[offer.index]}: {len(offer.data)} bytes, the peer takes {limit}")
                continue
            offer.pending.append((0, len(offer.data)))
        if any(o.pending for o in self._offers):
            layer.reserve_frame(PLUGIN_FRAME_TYPE)
        return ()

    # -- sending -----------------------------------------------------------------------------
    def _op_write_frame(self, inputs: Values) -> Values:
        _, capacity = unpack_ints(inputs)
        offer = next((o for o in self._offers if o.pending), None)
        if offer is None:
            return ()  # everything sent (or in flight): drop the reservation
        offset, length = offer.pending[0]
        total = len(offer.data)
        header = size_uint_var(offer.index) + size_uint_var(total) + size_uint_var(offset)
        room = capacity - header - size_uint_var(max(1, min(length, capacity)))
        if room < min(length, 64):
            # too little room in this packet: a body longer than the capacity keeps the reservation
            return (_chunk(offer.index, total, offset, offer.data[offset:offset + min(length, 64)]), 0)
        take = min(length, room)
        body = _chunk(offer.index, total, offset, offer.data[offset:offset + take])
        if take < length:
            offer.pending[0] = (offset + take, length - take)
        else:
            offer.pending.pop(0)
        token = self._next_token
        self._next_token += 1
        self._in_flight[token] = (offer.index, offset, take)
        self.chunks_sent += 1
        if any(o.pending for o in self._offers):
            self._dispatcher_live().layer.reserve_frame(PLUGIN_FRAME_TYPE)  # one more packet's worth
        return (body, token)

    def _op_notify_frame(self, inputs: Values) -> Values:
        _, acked, token = unpack_ints(inputs)
        chunk = self._in_flight.pop(token, None)
        if chunk is not None and not acked:
            index, offset, length = chunk
            self.chunks_lost += 1
            idle = not any(o.pending for o in self._offers)
            self._offers[index].pending.append((offset, length))
            if idle:
                self._dispatcher_live().layer.reserve_frame(PLUGIN_FRAME_TYPE)
        return ()

    # -- receiving ---------------------------------------------------------------------------
    def _op_parse_frame(self, inputs: Values) -> Values:
        data = inputs[0]
        assert isinstance(data, bytes)
        parsed = self._parse(data)
        return (0,) if parsed is None else (parsed[4],)

    def _parse(self, data: bytes) -> tuple[int, int, int, bytes, int] | None:
        """(index, total, offset, chunk, consumed), or None when malformed or contradicting."""
        buf = Buffer(data=data)
        try:
            index = buf.pull_uint_var()
            total = buf.pull_uint_var()
            offset = buf.pull_uint_var()
            length = buf.pull_uint_var()
            chunk = buf.pull_bytes(length)
        except BufferReadError:
            return None
        if index >= MAX_OFFERS or not 0 < total <= self.max_package or offset + length > total or not length:
            return None
        known = self._incoming.get(index)
        if known is not None and known.total != total:
            return None
        return index, total, offset, chunk, buf.tell()

    def _op_process_frame(self, inputs: Values) -> Values:
        now_us, body = inputs
        assert isinstance(body, bytes) and isinstance(now_us, int)
        parsed = self._parse(body)
        if parsed is None:
            return ()
        index, total, offset, chunk, _ = parsed
        entry = self._incoming.get(index)
        if entry is None:
            entry = self._incoming[index] = _Incoming(total, bytearray(total), bytearray(total), total)
        if entry.done:
            return ()  # a repeat of a chunk of a finished offer
        end = offset + len(chunk)
        seen = entry.have[offset:end]
        if any(seen) and any(entry.data[offset + i] != chunk[i] for i in range(len(chunk)) if seen[i]):
            raise QuicConnectionError(error_code=QuicErrorCode.PROTOCOL_VIOLATION, frame_type=PLUGIN_FRAME_TYPE,
                                      reason_phrase="Plugin chunk contradicts an earlier one")
        entry.missing -= len(chunk) - sum(seen)
        entry.data[offset:end] = chunk
        entry.have[offset:end] = b"\x01" * len(chunk)
        if entry.missing == 0:
            entry.done = True
            self.arrivals.append(self._arrive(index, bytes(entry.data), now_us))
            entry.data, entry.have = bytearray(), bytearray()
        return ()

    def _arrive(self, index: int, data: bytes, now_us: int) -> Arrival:
        arrival = Arrival(index, len(data), at_us=now_us)
        try:
            package = PluginPackage.from_zip(data, source=f"plugin offered by the peer (#{index})")
        except PluginError as exc:
            arrival.reason = str(exc)
            return arrival
        arrival.plugin_id = package.id
        if self.accept is None or not self.accept(package):
            arrival.reason = "refused by the application's policy"
            return arrival
        try:
            self._dispatcher_live().insert(package)  # verified against this host first, all or nothing
        except PybpfError as exc:
            arrival.reason = str(exc)
            return arrival
        arrival.inserted = True
        return arrival


def _chunk(index: int, total: int, offset: int, data: bytes) -> bytes:
    buf = Buffer(capacity=32 + len(data))
    for value in (index, total, offset, len(data)):
        buf.push_uint_var(value)
    buf.push_bytes(data)
    return buf.data


__all__ = ["MAX_OFFERS", "PLUGIN_FRAME_TYPE", "PLUGIN_TRANSPORT_PARAMETER", "Arrival", "PluginExchange"]
