"""The anchor layer: aioquic 1.7.2 made pluginizable, per connection, without forking it.

Every interception point ends in ``dispatcher.dispatch(op, param, inputs)`` (see
:mod:`pybpf.hosts.quic.dispatch`), and every operation's default runs aioquic's own code on the live
connection state, so a connection with the plain :class:`~pybpf.hosts.quic.dispatch.Dispatcher`
behaves exactly like an unmodified ``QuicConnection`` (a test checks the cwnd trajectories are
identical).  The operations, their inputs and outputs are declared in
:mod:`pybpf.hosts.quic.table`.

How each anchor is attached, from least to most invasive (aioquic's private names are pinned to
1.7.2; ``docs/quic.md`` keeps the same list):

1. **Registration.**  Congestion control: one algorithm, ``"pybpf"``, registered with aioquic's
   official ``register_congestion_control``.  The registry is process-global, so its instance holds
   no behaviour: the connection binds it to its own :class:`AnchorLayer` right after construction,
   and the layer keeps an instance of the algorithm the configuration asked for (``reno`` /
   ``cubic``) as the default.
2. **Subclass overrides** of ``QuicConnection`` (:class:`AnchoredConnection`):
   ``receive_datagram`` / ``handle_timer`` / ``datagrams_to_send`` (track the clock),
   ``_payload_received`` (packet_received), ``_set_state`` (connection_state_changed),
   ``_serialize_transport_parameters`` / ``_parse_transport_parameters`` (transport parameters),
   ``_write_connection_limits`` (a hook called once per 1-RTT packet where extension frames are
   written), ``_write_stream_frame`` (stream_quota).
3. **Subclass overrides** of ``QuicPacketRecovery`` (:class:`AnchoredRecovery`): ``on_packet_sent``,
   ``_on_packets_lost``, ``_detect_loss``, ``get_loss_detection_time``, ``get_probe_timeout``,
   ``on_loss_detection_timeout``; and of ``QuicPacketPacer`` (:class:`AnchoredPacer`):
   ``update_rate``.
4. **Instance attribute replacement** in ``AnchoredConnection.__init__`` (after aioquic's own
   ``__init__``, before any packet exists): ``self._loss`` becomes an :class:`AnchoredRecovery`
   (built with the same arguments), its ``_pacer`` an :class:`AnchoredPacer`, and the name-mangled
   frame-handler table ``self._QuicConnection__frame_handlers`` a dict subclass whose
   ``__missing__`` accepts the frame types the dispatcher handles.
5. **Class-level properties** shadowing two instance attributes aioquic reads directly:
   ``_ack_delay`` (ack_delay) and ``_streams_queue`` (stream_priority, which reorders the queue
   aioquic's ``_write_application`` iterates for each packet).

Nothing in aioquic's modules is modified, so plain ``QuicConnection`` objects in the same process
are unaffected, and two anchored connections with different dispatchers run side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aioquic._buffer import Buffer, BufferReadError
from aioquic.buffer import size_uint_var
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.congestion.base import (
    QuicCongestionControl,
    create_congestion_control,
    register_congestion_control,
)
from aioquic.quic.connection import (
    NetworkAddress,
    QuicConnection,
    QuicConnectionError,
    QuicConnectionState,
    QuicReceiveContext,
)
from aioquic.quic.packet import QuicErrorCode
from aioquic.quic.packet_builder import QuicDeliveryState, QuicPacketBuilder, QuicSentPacket
from aioquic.quic.recovery import (
    K_PACKET_THRESHOLD,
    K_TIME_THRESHOLD,
    QuicPacketPacer,
    QuicPacketRecovery,
    QuicPacketSpace,
)
from aioquic.quic.stream import QuicStream
from aioquic.tls import Epoch

from pybpf.errors import PybpfError
from pybpf.hosts.quic.dispatch import Dispatcher, Values, unpack_ints
from pybpf.hosts.quic.table import FIELDS_BY_ID, FIELDS_BY_NAME, OPERATIONS_BY_NAME, SSTHRESH_INFINITE

ALGORITHM = "pybpf"
"""The congestion-control name registered with aioquic; its instances dispatch per connection."""

_EXTENSION_FRAME_EPOCHS = frozenset([Epoch.ZERO_RTT, Epoch.ONE_RTT])
MAX_RESERVATIONS = 1 << 16
"""The most ``write_frame`` calls one ``reserve_frame`` may ask for (a plugin's bug must not make
the host loop for ever)."""


def to_us(seconds: float) -> int:
    """aioquic's float seconds as the integer microseconds plugins see."""
    return round(seconds * 1_000_000)


def _ssthresh_in(value: int | None) -> int:
    return SSTHRESH_INFINITE if value is None else value


def _ssthresh_out(value: int) -> int | None:
    return None if value >= SSTHRESH_INFINITE else value


class AnchoredCongestionControl(QuicCongestionControl):
    """aioquic's congestion-control interface, each event turned into a ``cc_*`` operation.

    The host owns ``bytes_in_flight`` (it applies every event before dispatching, so a plugin only
    computes a window); the operation's outputs ``(cwnd, ssthresh)`` become the window.
    """

    def __init__(self, *, max_datagram_size: int) -> None:
        super().__init__(max_datagram_size=max_datagram_size)
        self.max_datagram_size = max_datagram_size
        self.ssthresh = None
        self._layer: AnchorLayer | None = None

    def bind(self, layer: AnchorLayer) -> None:
        self._layer = layer

    def _dispatch(self, op: str, now_us: int, extra: tuple[int, ...], event: dict[str, Any], delta: int) -> None:
        layer = self._layer
        if layer is None:
            raise PybpfError(f"congestion control {ALGORITHM!r} only works inside an AnchoredConnection")
        inputs = (now_us, self.congestion_window, _ssthresh_in(self.ssthresh), self.bytes_in_flight,
                  self.max_datagram_size, *extra)
        outputs, _ = layer.run(op, None, inputs, (event, delta))
        cwnd, ssthresh = unpack_ints(outputs)
        self.congestion_window = cwnd
        self.ssthresh = _ssthresh_out(ssthresh)

    def on_packet_sent(self, *, packet: QuicSentPacket) -> None:
        self.bytes_in_flight += packet.sent_bytes
        sent_us = to_us(packet.sent_time or 0.0)
        self._dispatch("cc_packet_sent", sent_us, (packet.packet_number, packet.sent_bytes),
                       {"packet": packet}, packet.sent_bytes)

    def on_packet_acked(self, *, now: float, packet: QuicSentPacket) -> None:
        self.bytes_in_flight -= packet.sent_bytes
        extra = (packet.packet_number, packet.sent_bytes, to_us(packet.sent_time or 0.0))
        self._dispatch("cc_packet_acked", to_us(now), extra, {"now": now, "packet": packet}, -packet.sent_bytes)

    def on_packets_expired(self, *, packets: Iterable[QuicSentPacket]) -> None:
        batch = list(packets)
        size = sum(p.sent_bytes for p in batch)
        self.bytes_in_flight -= size
        now_us = self._layer.now_us if self._layer is not None else 0
        self._dispatch("cc_packets_expired", now_us, (len(batch), size), {"packets": batch}, -size)

    def on_packets_lost(self, *, now: float, packets: Iterable[QuicSentPacket]) -> None:
        batch = list(packets)
        size = sum(p.sent_bytes for p in batch)
        self.bytes_in_flight -= size
        # aioquic's controllers use the sent time of the last packet of the batch (the newest).
        last = to_us(batch[-1].sent_time or 0.0) if batch else 0
        self._dispatch("cc_packets_lost", to_us(now), (len(batch), size, last), {"now": now, "packets": batch}, -size)

    def on_persistent_congestion(self) -> None:
        now_us = self._layer.now_us if self._layer is not None else 0
        self._dispatch("cc_persistent_congestion", now_us, (), {}, 0)

    def on_rtt_measurement(self, *, now: float, rtt: float) -> None:
        layer = self._layer
        recovery = layer.recovery if layer is not None else None
        smoothed = to_us(recovery._rtt_smoothed) if recovery is not None else 0
        minimum = to_us(recovery._rtt_min) if recovery is not None and recovery._rtt_initialized else 0
        self._dispatch("cc_rtt_sample", to_us(now), (to_us(rtt), smoothed, minimum), {"now": now, "rtt": rtt}, 0)


register_congestion_control(ALGORITHM, AnchoredCongestionControl)


class AnchoredPacer(QuicPacketPacer):
    """The pacer, with its rate coming from ``cc_pacing_rate``."""

    def __init__(self, *, max_datagram_size: int, layer: AnchorLayer) -> None:
        super().__init__(max_datagram_size=max_datagram_size)
        self._layer = layer
        self.rate_bytes_per_s = 0

    def update_rate(self, congestion_window: int, smoothed_rtt: float) -> None:
        inputs = (self._layer.now_us, congestion_window, to_us(smoothed_rtt), self._max_datagram_size)
        outputs, defaulted = self._layer.run("cc_pacing_rate", None, inputs, (congestion_window, smoothed_rtt))
        (rate,) = unpack_ints(outputs)
        self.rate_bytes_per_s = rate
        if defaulted:
            return  # aioquic's own float computation already ran
        if rate <= 0:
            self.packet_time = None  # a plugin turned pacing off
            return
        # aioquic's formulas with the plugin's rate (RFC 9002 section 7.7)
        self.packet_time = max(1e-6, min(self._max_datagram_size / rate, 1.0))
        self.bucket_max = max(2 * self._max_datagram_size,
                              min(congestion_window // 4, 16 * self._max_datagram_size)) / rate
        if self.bucket_time > self.bucket_max:
            self.bucket_time = self.bucket_max


class AnchoredRecovery(QuicPacketRecovery):
    """Loss detection and its timer as operations, plus the sent / lost packet observers."""

    def __init__(self, *, layer: AnchorLayer, **kwargs: Any) -> None:
        super().__init__(congestion_control_algorithm=ALGORITHM, **kwargs)
        self._layer = layer
        cc = self._cc
        assert isinstance(cc, AnchoredCongestionControl)
        cc.bind(layer)
        self._pacer = AnchoredPacer(max_datagram_size=cc.max_datagram_size, layer=layer)

    # -- observers ---------------------------------------------------------------------------
    def on_packet_sent(self, *, packet: QuicSentPacket, space: QuicPacketSpace) -> None:
        layer = self._layer
        layer.packets_sent += 1
        inputs = (to_us(packet.sent_time or 0.0), packet.epoch.value, packet.packet_number, packet.sent_bytes,
                  int(packet.is_ack_eliciting), int(packet.in_flight))
        layer.run("packet_sent", None, inputs, None)
        super().on_packet_sent(packet=packet, space=space)

    def _on_packets_lost(self, *, congestion_event: bool = True, now: float, packets: Iterable[QuicSentPacket],
                         persistent_congestion: bool = False, space: QuicPacketSpace) -> None:
        batch = list(packets)
        layer = self._layer
        if congestion_event:
            layer.packets_lost += len(batch)
        for packet in batch:
            inputs = (to_us(now), packet.epoch.value, packet.packet_number, packet.sent_bytes,
                      to_us(packet.sent_time or 0.0), int(congestion_event))
            layer.run("packet_lost", None, inputs, None)
        super()._on_packets_lost(congestion_event=congestion_event, now=now, packets=batch,
                                 persistent_congestion=persistent_congestion, space=space)

    # -- loss detection ----------------------------------------------------------------------
    def _detect_loss(self, *, now: float, space: QuicPacketSpace) -> None:
        inputs = (to_us(now), self._layer.epoch_of(space), space.largest_acked_packet, to_us(self._rtt_latest),
                  to_us(self._rtt_smoothed), int(self._rtt_initialized), to_us(self._rtt_initial))
        outputs, defaulted = self._layer.run("detect_loss", None, inputs, (now, space))
        if defaulted:
            return  # aioquic's _detect_loss ran as the default
        packet_threshold, loss_delay_us = unpack_ints(outputs)
        self._detect_loss_with(now, space, packet_threshold, loss_delay_us / 1_000_000)

    def _detect_loss_with(self, now: float, space: QuicPacketSpace, packet_threshold: int, loss_delay: float) -> None:
        """aioquic 1.7.2's ``_detect_loss`` loop with a plugin's thresholds (RFC 9002 section 6.1)."""
        threshold_pn = space.largest_acked_packet - packet_threshold
        time_threshold = now - loss_delay
        lost: list[QuicSentPacket] = []
        space.loss_time = None
        for packet_number, packet in space.sent_packets.items():
            if packet_number > space.largest_acked_packet:
                break
            sent = packet.sent_time or 0.0
            if packet_number <= threshold_pn or sent <= time_threshold:
                lost.append(packet)
            else:
                loss_time = sent + loss_delay
                if space.loss_time is None or space.loss_time > loss_time:
                    space.loss_time = loss_time
        self._on_packets_lost(now=now, packets=lost, space=space,
                              persistent_congestion=self._in_persistent_congestion(packets=lost))

    def get_loss_detection_time(self, *, amplification_limited: bool) -> float | None:
        outputs, defaulted = self._layer.run(
            "loss_detection_time", None, (int(amplification_limited), self._pto_count), amplification_limited
        )
        if defaulted:
            exact: float | None = self._layer.exact
            return exact
        (time_us,) = unpack_ints(outputs)
        return None if time_us == 0 else time_us / 1_000_000

    def get_probe_timeout(self, *, include_max_ack_delay: bool = True) -> float:
        inputs = (int(include_max_ack_delay), to_us(self._rtt_smoothed), to_us(self._rtt_variance),
                  to_us(self.max_ack_delay))
        outputs, defaulted = self._layer.run("probe_timeout", None, inputs, include_max_ack_delay)
        if defaulted:
            exact: float = self._layer.exact
            return exact
        (pto_us,) = unpack_ints(outputs)
        return pto_us / 1_000_000

    def on_loss_detection_timeout(self, *, now: float) -> None:
        self._layer.run("loss_timeout", None, (to_us(now), self._pto_count), now)


class _FrameHandlers(dict[int, Any]):
    """aioquic's frame-type table, extended on lookup with the types the dispatcher handles."""

    def __init__(self, base: dict[int, Any], layer: AnchorLayer) -> None:
        super().__init__(base)
        self._layer = layer

    def __missing__(self, frame_type: int) -> Any:
        if frame_type in self._layer.dispatcher.params("parse_frame"):
            return (self._layer.handle_extension_frame, _EXTENSION_FRAME_EPOCHS)
        raise KeyError(frame_type)


class AnchorLayer:
    """Per-connection state of the anchors: the dispatcher, the defaults, fields, the clock."""

    def __init__(self, connection: AnchoredConnection, dispatcher: Dispatcher, default_cc: str) -> None:
        self.connection = connection
        self.dispatcher = dispatcher
        self.default_cc_name = default_cc
        self.now_us = 0
        self.packets_sent = 0
        self.packets_lost = 0
        self.exact: Any = None
        self._event: Any = None
        self._frames: list[tuple[str, bool]] = []  # (op, default ran) of the dispatches in progress
        self._reserved: dict[int, int] = {}
        self.inner_cc: QuicCongestionControl | None = None
        self._defaults: dict[str, Callable[[int | None, Values], Values]] = {
            "cc_packet_sent": self._cc_default("on_packet_sent"),
            "cc_packet_acked": self._cc_default("on_packet_acked"),
            "cc_packets_lost": self._cc_default("on_packets_lost"),
            "cc_packets_expired": self._cc_default("on_packets_expired"),
            "cc_persistent_congestion": self._cc_default("on_persistent_congestion"),
            "cc_rtt_sample": self._cc_default("on_rtt_measurement"),
            "cc_pacing_rate": self._default_pacing_rate,
            "detect_loss": self._default_detect_loss,
            "loss_detection_time": self._default_loss_detection_time,
            "probe_timeout": self._default_probe_timeout,
            "loss_timeout": self._default_loss_timeout,
            "ack_delay": self._default_ack_delay,
            "stream_priority": lambda param, inputs: (0,),
            "stream_quota": lambda param, inputs: (inputs[1],),
            "packet_sent": _nothing,
            "packet_received": _nothing,
            "packet_lost": _nothing,
            "write_transport_parameter": _nothing,
            "process_transport_parameter": _nothing,
            "parse_frame": self._default_parse_frame,
            "process_frame": _nothing,
            "write_frame": _nothing,
            "notify_frame": _nothing,
            "connection_state_changed": _nothing,
            "reserve_frame": self._default_reserve_frame,
        }
        assert set(self._defaults) == set(OPERATIONS_BY_NAME), "every declared operation needs a default"

    # -- running operations ------------------------------------------------------------------
    def run(self, op: str, param: int | None, inputs: Values, event: Any) -> tuple[Values, bool]:
        """Dispatch ``op``; returns its outputs and whether aioquic's default produced them.

        ``event`` is the live aioquic state of this call (packets, float times) that the default
        needs to run aioquic's code exactly; plugins see only ``inputs``.
        """
        saved = self._event
        self._event = event
        self._frames.append((op, False))
        try:
            outputs = self.dispatcher.dispatch(op, param, inputs)
            return outputs, self._frames[-1][1]
        finally:
            self._frames.pop()
            self._event = saved

    def dispatching(self, op: str) -> bool:
        """Whether ``op`` is the operation the host is dispatching right now (its default may run)."""
        return bool(self._frames) and self._frames[-1][0] == op

    def default(self, op: str, param: int | None, inputs: Values) -> Values:
        """aioquic's behaviour for ``op`` (what a dispatcher runs when nothing replaces it)."""
        if self._frames and self._frames[-1][0] == op:
            self._frames[-1] = (op, True)
        return self._defaults[op](param, inputs)

    # -- defaults ----------------------------------------------------------------------------
    def _cc_default(self, method: str) -> Callable[[int | None, Values], Values]:
        def run_inner(param: int | None, inputs: Values) -> Values:
            inner = self.inner_cc
            cc = self.cc
            assert inner is not None
            kwargs, delta = self._event
            inner.congestion_window = cc.congestion_window
            inner.ssthresh = cc.ssthresh
            inner.bytes_in_flight = cc.bytes_in_flight - delta  # the counter as aioquic's own code expects it
            getattr(inner, method)(**kwargs)
            return inner.congestion_window, _ssthresh_in(inner.ssthresh)

        return run_inner

    def _default_pacing_rate(self, param: int | None, inputs: Values) -> Values:
        cwnd, smoothed = self._event
        pacer = self.recovery._pacer
        QuicPacketPacer.update_rate(pacer, congestion_window=cwnd, smoothed_rtt=smoothed)
        return (int(cwnd / max(smoothed, 1e-6)),)

    def _default_detect_loss(self, param: int | None, inputs: Values) -> Values:
        now, space = self._event
        recovery = self.recovery
        QuicPacketRecovery._detect_loss(recovery, now=now, space=space)
        rtt = max(recovery._rtt_latest, recovery._rtt_smoothed) if recovery._rtt_initialized else recovery._rtt_initial
        return K_PACKET_THRESHOLD, to_us(K_TIME_THRESHOLD * rtt)

    def _default_loss_detection_time(self, param: int | None, inputs: Values) -> Values:
        value = QuicPacketRecovery.get_loss_detection_time(self.recovery, amplification_limited=bool(self._event))
        self.exact = value
        return (0 if value is None else max(1, to_us(value)),)

    def _default_probe_timeout(self, param: int | None, inputs: Values) -> Values:
        value = QuicPacketRecovery.get_probe_timeout(self.recovery, include_max_ack_delay=bool(self._event))
        self.exact = value
        return (to_us(value),)

    def _default_loss_timeout(self, param: int | None, inputs: Values) -> Values:
        QuicPacketRecovery.on_loss_detection_timeout(self.recovery, now=self._event)
        return ()

    def _default_ack_delay(self, param: int | None, inputs: Values) -> Values:
        self.exact = self._event
        return (inputs[0],)

    def _default_reserve_frame(self, param: int | None, inputs: Values) -> Values:
        (count,) = unpack_ints(inputs)
        if param is None or not 0 < count <= MAX_RESERVATIONS:
            raise PybpfError(f"reserve_frame: needs a frame type and a count in 1..{MAX_RESERVATIONS}, "
                             f"got {param!r} and {count}")
        self.reserve_frame(param, count)
        return ()

    def _default_parse_frame(self, param: int | None, inputs: Values) -> Values:
        raise QuicConnectionError(error_code=QuicErrorCode.FRAME_ENCODING_ERROR, frame_type=param or 0,
                                  reason_phrase="Unknown frame type")

    # -- connection state plugins may read ---------------------------------------------------
    @property
    def recovery(self) -> AnchoredRecovery:
        loss = self.connection._loss
        assert isinstance(loss, AnchoredRecovery)
        return loss

    @property
    def cc(self) -> AnchoredCongestionControl:
        cc = self.recovery._cc
        assert isinstance(cc, AnchoredCongestionControl)
        return cc

    def epoch_of(self, space: QuicPacketSpace) -> int:
        for epoch, candidate in self.connection._spaces.items():
            if candidate is space:
                return epoch.value
        return Epoch.ONE_RTT.value

    def get_field(self, field: int | str) -> int:
        """A connection field by id or name (the plugin API's getter)."""
        name = self._field(field).name
        recovery = self.recovery
        rtt_ok = recovery._rtt_initialized
        values: dict[str, Callable[[], int]] = {
            "cwnd": lambda: self.cc.congestion_window,
            "ssthresh": lambda: _ssthresh_in(self.cc.ssthresh),
            "bytes_in_flight": lambda: self.cc.bytes_in_flight,
            "smoothed_rtt": lambda: to_us(recovery._rtt_smoothed),
            "min_rtt": lambda: to_us(recovery._rtt_min) if rtt_ok else 0,
            "latest_rtt": lambda: to_us(recovery._rtt_latest),
            "rtt_variance": lambda: to_us(recovery._rtt_variance),
            "pacing_rate": lambda: self._pacer_rate(),
            "max_datagram_size": lambda: self.cc.max_datagram_size,
            "pto_count": lambda: recovery._pto_count,
            "max_ack_delay": lambda: to_us(recovery.max_ack_delay),
            "initial_rtt": lambda: to_us(recovery._rtt_initial),
            "packets_sent": lambda: self.packets_sent,
            "packets_lost": lambda: self.packets_lost,
            "is_client": lambda: int(self.connection._is_client),
            "handshake_complete": lambda: int(self.connection._handshake_complete),
        }
        return values[name]()

    def set_field(self, field: int | str, value: int) -> None:
        """Write a writable field (the plugin API's setter); read-only fields are refused."""
        spec = self._field(field)
        if not spec.writable:
            raise PybpfError(f"QUIC field {spec.name} (id {spec.id}) is read-only")
        if value < 0 or value > SSTHRESH_INFINITE:
            raise PybpfError(f"QUIC field {spec.name}: value {value} out of range")
        if spec.name == "cwnd":
            self.cc.congestion_window = value
        else:
            self.cc.ssthresh = _ssthresh_out(value)

    @staticmethod
    def _field(field: int | str) -> Any:
        table = FIELDS_BY_ID if isinstance(field, int) else FIELDS_BY_NAME
        try:
            return table[field]  # type: ignore[index]
        except KeyError:
            raise PybpfError(f"unknown QUIC field {field!r}") from None

    def _pacer_rate(self) -> int:
        pacer = self.recovery._pacer
        return pacer.rate_bytes_per_s if isinstance(pacer, AnchoredPacer) else 0

    # -- extension frames --------------------------------------------------------------------
    def reserve_frame(self, frame_type: int, count: int = 1) -> None:
        """Ask for ``count`` ``write_frame`` calls for ``frame_type`` in coming 1-RTT packets."""
        self._reserved[frame_type] = self._reserved.get(frame_type, 0) + count

    def write_reserved_frames(self, builder: QuicPacketBuilder) -> None:
        for frame_type in sorted(self._reserved):
            header = size_uint_var(frame_type)
            capacity = builder.remaining_flight_space - header
            if capacity <= 0:
                return
            outputs, _ = self.run("write_frame", frame_type, (self.now_us, capacity), None)
            if not outputs or not isinstance(outputs[0], bytes) or not outputs[0]:
                self._consume(frame_type)
                continue
            body = outputs[0]
            token = outputs[1] if len(outputs) > 1 and isinstance(outputs[1], int) else 0
            if len(body) > capacity:
                continue  # does not fit this packet: keep the reservation for the next one
            buf = builder.start_frame(frame_type, capacity=len(body), handler=self._on_frame_delivery,
                                      handler_args=(frame_type, token))
            buf.push_bytes(body)
            self._consume(frame_type)

    def _consume(self, frame_type: int) -> None:
        left = self._reserved.pop(frame_type) - 1
        if left:
            self._reserved[frame_type] = left

    def _on_frame_delivery(self, delivery: QuicDeliveryState, frame_type: int, token: int) -> None:
        acked = int(delivery == QuicDeliveryState.ACKED)
        self.run("notify_frame", frame_type, (self.now_us, acked, token), None)

    def handle_extension_frame(self, context: QuicReceiveContext, frame_type: int, buf: Buffer) -> None:
        start = buf.tell()
        data = buf.data_slice(start, buf.capacity)
        outputs, _ = self.run("parse_frame", frame_type, (data,), None)
        consumed = outputs[0] if outputs else 0
        if not isinstance(consumed, int) or not 0 < consumed <= len(data):
            raise QuicConnectionError(error_code=QuicErrorCode.FRAME_ENCODING_ERROR, frame_type=frame_type,
                                      reason_phrase="Malformed extension frame")
        buf.seek(start + consumed)
        self.run("process_frame", frame_type, (to_us(context.time), data[:consumed]), None)


def _nothing(param: int | None, inputs: Values) -> Values:
    return ()


class AnchoredConnection(QuicConnection):
    """A ``QuicConnection`` whose operations go through a per-connection dispatcher.

    ``configuration.congestion_control_algorithm`` names the *default* controller (aioquic's
    ``reno`` or ``cubic``); the connection itself runs the ``pybpf`` algorithm.
    """

    def __init__(self, *, configuration: QuicConfiguration, dispatcher: Dispatcher | None = None,
                 **kwargs: Any) -> None:
        default_cc = configuration.congestion_control_algorithm
        if default_cc == ALGORITHM:
            raise PybpfError(f"configure the default controller (e.g. 'reno'), not {ALGORITHM!r}: "
                             "an anchored connection adds the anchors itself")
        inner = create_congestion_control(default_cc, max_datagram_size=configuration.max_datagram_size)
        self.anchors = AnchorLayer(self, dispatcher if dispatcher is not None else Dispatcher(), default_cc)
        self.anchors.inner_cc = inner
        super().__init__(configuration=configuration, **kwargs)
        self._loss = AnchoredRecovery(
            layer=self.anchors,
            initial_rtt=configuration.initial_rtt,
            max_datagram_size=self._max_datagram_size,
            peer_completed_address_validation=not self._is_client,
            quic_logger=self._quic_logger,
            send_probe=self._send_probe,
            logger=self._logger,
        )
        # aioquic keeps its frame table in a name-mangled attribute; swap in the extensible one
        mangled = "_QuicConnection__frame_handlers"
        self.__dict__[mangled] = _FrameHandlers(self.__dict__[mangled], self.anchors)
        self.anchors.dispatcher.bind(self.anchors)

    # -- the clock ---------------------------------------------------------------------------
    def receive_datagram(self, data: bytes, addr: NetworkAddress, now: float) -> None:
        self.anchors.now_us = to_us(now)
        super().receive_datagram(data, addr, now)

    def handle_timer(self, now: float) -> None:
        self.anchors.now_us = to_us(now)
        super().handle_timer(now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, NetworkAddress]]:
        self.anchors.now_us = to_us(now)
        return super().datagrams_to_send(now)

    # -- observers ---------------------------------------------------------------------------
    def _payload_received(self, context: QuicReceiveContext, plain: bytes,
                          crypto_frame_required: bool = False) -> tuple[bool, bool]:
        self.anchors.run("packet_received", None, (to_us(context.time), context.epoch.value, len(plain)), None)
        return super()._payload_received(context, plain, crypto_frame_required)

    def _set_state(self, state: QuicConnectionState) -> None:
        if hasattr(self, "anchors") and hasattr(self.anchors.dispatcher, "layer"):
            self.anchors.run("connection_state_changed", None, (self._state.value, state.value), None)
        super()._set_state(state)

    # -- ACK delay -----------------------------------------------------------------------------
    @property
    def _ack_delay(self) -> float:
        default: float = self.__dict__["_pybpf_ack_delay"]
        outputs, defaulted = self.anchors.run("ack_delay", None, (to_us(default),), default)
        if defaulted:
            return default
        (delay_us,) = unpack_ints(outputs)
        return delay_us / 1_000_000

    @_ack_delay.setter
    def _ack_delay(self, value: float) -> None:
        self.__dict__["_pybpf_ack_delay"] = value

    # -- stream scheduling ---------------------------------------------------------------------
    @property
    def _streams_queue(self) -> list[QuicStream]:
        queue: list[QuicStream] = self.__dict__["_pybpf_streams_queue"]
        reorder: list[QuicStream] = self.__dict__.get("_pybpf_reorder", [])
        if reorder:
            self._serve_in_order(queue, reorder)
        if len(queue) > 1 and hasattr(self, "anchors"):
            keys: dict[int, int] = {}
            for position, stream in enumerate(queue):
                pending = stream.sender._buffer_stop - stream.sender._buffer_start
                inputs = (stream.stream_id if stream.stream_id is not None else 0, pending, position)
                (priority,) = unpack_ints(self.anchors.run("stream_priority", None, inputs, None)[0])
                keys[id(stream)] = priority
            queue.sort(key=lambda s: keys[id(s)])  # stable: equal priorities keep aioquic's order
        return queue

    @_streams_queue.setter
    def _streams_queue(self, value: list[QuicStream]) -> None:
        # aioquic ends every packet with ``queue = [not served]`` then ``queue.extend(served)``,
        # ``served`` being a set of streams: iterated by memory address, so two runs of the same
        # transfer would order the streams a packet served differently.  The streams that wrote
        # into the packet are recorded (``_write_stream_frame``) and, once the extend has put
        # them back, the next read of the queue puts them in the order they were served: aioquic's
        # rule (served ones last), reproducibly.
        self.__dict__["_pybpf_reorder"] = self.__dict__.get("_pybpf_served", [])
        self.__dict__["_pybpf_served"] = []
        self.__dict__["_pybpf_streams_queue"] = value

    @staticmethod
    def _serve_in_order(queue: list[QuicStream], served: list[QuicStream]) -> None:
        ids = {id(s) for s in served}
        if len(ids) < 2 or sum(1 for s in queue if id(s) in ids) < len(ids):
            if len(ids) < 2:
                served.clear()  # a single served stream: nothing to order
            return  # not put back yet (the read aioquic's extend makes): wait for the next read
        queue[:] = [s for s in queue if id(s) not in ids] + list(dict.fromkeys(served))
        served.clear()

    def _write_stream_frame(self, builder: QuicPacketBuilder, space: QuicPacketSpace, stream: QuicStream,
                            max_offset: int) -> int:
        highest = stream.sender.highest_offset
        credit = max(0, max_offset - highest)
        inputs = (stream.stream_id if stream.stream_id is not None else 0, credit, builder.remaining_flight_space)
        outputs, defaulted = self.anchors.run("stream_quota", None, inputs, None)
        if not defaulted:
            (quota,) = unpack_ints(outputs)
            max_offset = min(max_offset, highest + quota)
        used = super()._write_stream_frame(builder=builder, space=space, stream=stream, max_offset=max_offset)
        if used > 0:
            self.__dict__.setdefault("_pybpf_served", []).append(stream)
        return used

    # -- extension frames ----------------------------------------------------------------------
    def _write_connection_limits(self, builder: QuicPacketBuilder, space: QuicPacketSpace) -> None:
        super()._write_connection_limits(builder=builder, space=space)
        if self.anchors._reserved:
            self.anchors.write_reserved_frames(builder)

    # -- transport parameters ------------------------------------------------------------------
    def _serialize_transport_parameters(self) -> bytes:
        data = super()._serialize_transport_parameters()
        ids = sorted(self.anchors.dispatcher.params("write_transport_parameter"))
        if not ids:
            return data
        buf = Buffer(capacity=4096)
        for param_id in ids:
            outputs, _ = self.anchors.run("write_transport_parameter", param_id, (), None)
            if outputs and isinstance(outputs[0], bytes):
                buf.push_uint_var(param_id)
                buf.push_uint_var(len(outputs[0]))
                buf.push_bytes(outputs[0])
        return data + buf.data

    def _parse_transport_parameters(self, data: bytes, from_session_ticket: bool = False) -> None:
        super()._parse_transport_parameters(data, from_session_ticket)
        wanted = self.anchors.dispatcher.params("process_transport_parameter")
        if from_session_ticket or not wanted:
            return
        for param_id, value in _raw_transport_parameters(data):
            if param_id in wanted:
                self.anchors.run("process_transport_parameter", param_id, (value,), None)


def _raw_transport_parameters(data: bytes) -> list[tuple[int, bytes]]:
    """The (id, value) pairs of an encoded transport-parameter block (aioquic validated it already)."""
    buf = Buffer(data=data)
    out: list[tuple[int, bytes]] = []
    try:
        while not buf.eof():
            param_id = buf.pull_uint_var()
            length = buf.pull_uint_var()
            out.append((param_id, buf.pull_bytes(length)))
    except BufferReadError:
        pass
    return out


__all__ = [
    "ALGORITHM",
    "AnchorLayer",
    "AnchoredCongestionControl",
    "AnchoredConnection",
    "AnchoredPacer",
    "AnchoredRecovery",
    "to_us",
]
