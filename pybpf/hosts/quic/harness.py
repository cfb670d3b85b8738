"""Client→server transfers over the simulated link, driven by a simulated clock.

aioquic is sans-IO (time is an argument, datagrams are values), so a whole connection runs in
memory: deliver what the link has delivered by ``now``, fire due timers, let both endpoints send,
then jump the clock to the earliest of the next link delivery and both connections' timers.  The
clock stays on a grid of whole microseconds (a timer due between two ticks fires at the next one),
which is also the unit plugins see, so a run is reproducible for a given seed.

:func:`run_transfer` returns a :class:`TransferResult`; :func:`run_udp_transfer` (in
:mod:`pybpf.hosts.quic.udp`) does the same transfer over real UDP sockets on loopback.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field

from aioquic._buffer import Buffer
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, StreamDataReceived
from aioquic.quic.packet import pull_quic_header

from pybpf.errors import PybpfError
from pybpf.hosts.quic.anchors import AnchoredConnection
from pybpf.hosts.quic.certs import test_identity
from pybpf.hosts.quic.dispatch import Dispatcher, PythonDispatcher
from pybpf.hosts.quic.link import CLIENT, SERVER, LinkConfig, LinkStats, SimulatedLink
from pybpf.hosts.quic.plugin_host import MONITOR_ID, EbpfDispatcher, MonitorReader
from pybpf.hosts.quic.plugins.monitor import Monitor

ALPN = "pybpf-bench"
CLIENT_ADDR = ("10.0.0.1", 4433)
SERVER_ADDR = ("10.0.0.2", 443)
FLOW_CONTROL_WINDOW = 64 * 1024 * 1024
"""Large enough that flow control never limits a transfer: the controller under test does."""

Series = list[tuple[float, float]]


@dataclass
class Endpoint:
    """How to build one end: ``dispatcher=None`` is an unmodified aioquic ``QuicConnection``."""

    dispatcher: Dispatcher | None = None
    algorithm: str = "reno"


@dataclass
class TransferResult:
    """What a transfer did, seen from the sender (the client)."""

    label: str
    bytes_requested: int
    bytes_received: int
    completed: bool
    completion_time: float
    """Seconds of (simulated or wall) time from the first packet to the last byte received."""
    packets_sent: int
    lost_packets: int | None
    """Packets the sender declared lost (None for an unmodified aioquic sender: nothing counted them)."""
    link_drops: int
    stream_completion: dict[int, float] = field(default_factory=dict)
    trajectory: list[tuple[int, int]] = field(default_factory=list)
    """(time in us, cwnd) whenever the sender's window changed between two steps of the clock."""
    series: dict[str, Series] = field(default_factory=dict)
    """Monitoring series (seconds, value): cwnd, bytes_in_flight, rtt (ms), losses."""
    client_link: LinkStats | None = None
    server_link: LinkStats | None = None
    faults: list[str] = field(default_factory=list)
    """Plugin faults on the client connection (eBPF plugins only): the plugin was removed."""

    @property
    def throughput_bps(self) -> float:
        return self.bytes_received * 8 / self.completion_time if self.completion_time > 0 else 0.0

    def summary(self) -> dict[str, object]:
        series = {name: _series_summary(values) for name, values in self.series.items()}
        return {
            "label": self.label,
            "bytes": self.bytes_received,
            "completed": self.completed,
            "completion_time_s": round(self.completion_time, 6),
            "throughput_mbps": round(self.throughput_bps / 1e6, 3),
            "packets_sent": self.packets_sent,
            "lost_packets": self.lost_packets,
            "link_drops": self.link_drops,
            "stream_completion_s": {str(i): round(t, 6) for i, t in sorted(self.stream_completion.items())},
            "series": series,
            "faults": list(self.faults),
        }


def _series_summary(values: Series) -> dict[str, float | int]:
    if not values:
        return {"samples": 0}
    ys = [v for _, v in values]
    return {"samples": len(ys), "min": min(ys), "max": max(ys), "mean": round(sum(ys) / len(ys), 3), "last": ys[-1]}


def client_configuration(algorithm: str = "reno") -> QuicConfiguration:
    config = QuicConfiguration(is_client=True, alpn_protocols=[ALPN], congestion_control_algorithm=algorithm,
                               max_data=FLOW_CONTROL_WINDOW, max_stream_data=FLOW_CONTROL_WINDOW)
    config.verify_mode = ssl.CERT_NONE
    config.server_name = "localhost"
    return config


def server_configuration(algorithm: str = "reno") -> QuicConfiguration:
    cert, key = test_identity()
    return QuicConfiguration(is_client=False, alpn_protocols=[ALPN], congestion_control_algorithm=algorithm,
                             max_data=FLOW_CONTROL_WINDOW, max_stream_data=FLOW_CONTROL_WINDOW,
                             certificate=cert, private_key=key)


def _make(endpoint: Endpoint, configuration: QuicConfiguration, odcid: bytes | None = None) -> QuicConnection:
    if endpoint.dispatcher is None:
        return QuicConnection(configuration=configuration, original_destination_connection_id=odcid)
    return AnchoredConnection(configuration=configuration, dispatcher=endpoint.dispatcher,
                              original_destination_connection_id=odcid)


def _tick(seconds: float) -> int:
    """The first microsecond tick at or after ``seconds``."""
    us = math.ceil(seconds * 1_000_000)
    if us / 1_000_000 < seconds:
        us += 1
    return us


class Transfer:
    """One client→server transfer over its own simulated link, advanced step by step.

    :func:`run_transfer` drives one; :func:`run_side_by_side` drives several on one clock, which is
    how the tests show that connections in one process keep their own plugins and state.
    """

    def __init__(
        self,
        sizes: int | Sequence[int],
        link: LinkConfig,
        *,
        client: Endpoint | None = None,
        server: Endpoint | None = None,
        label: str = "transfer",
        max_time: float = 600.0,
        linger: float = 0.0,
    ) -> None:
        self.stream_sizes = [sizes] if isinstance(sizes, int) else list(sizes)
        if not self.stream_sizes or any(n <= 0 for n in self.stream_sizes):
            raise PybpfError(f"transfer sizes must be positive byte counts, got {self.stream_sizes}")
        if linger < 0 or max_time <= 0:
            raise PybpfError("linger must not be negative and max_time must be positive")
        self.client = client or Endpoint()
        self.server = server or Endpoint()
        self.label = label
        self.max_us = round(max_time * 1_000_000)
        self.linger_us = round(linger * 1_000_000)
        self.net = SimulatedLink(link)
        self.sender = _make(self.client, client_configuration(self.client.algorithm))
        self.receiver: QuicConnection | None = None
        self.server_config = server_configuration(self.server.algorithm)
        self.stream_ids: dict[int, int] = {}
        self.received: dict[int, int] = {}
        self.finished: dict[int, float] = {}
        self.trajectory: list[tuple[int, int]] = []
        self.done = False
        self.done_us = 0
        self.stop_us: int | None = None
        self.now_us = 0
        self.started = False
        self.monitor: MonitorReader | None = None
        """The eBPF monitor's reader, when the client runs it: polled at every step, i.e. while
        the connection runs (the plugin's ring is read incrementally, as a live dashboard would)."""
        self.sender.connect(SERVER_ADDR, now=0.0)

    @property
    def stopped(self) -> bool:
        return self.stop_us is not None and self.now_us >= self.stop_us

    def step(self, now_us: int) -> None:
        """Run everything due at ``now_us`` (deliveries, timers, events, sending)."""
        self.now_us = now_us
        self.started = True
        now = now_us / 1_000_000
        sender = self.sender
        for destination, data in self.net.deliver(now_us):
            if destination == SERVER:
                if self.receiver is None:
                    header = pull_quic_header(Buffer(data=data), host_cid_length=self.server_config.connection_id_length)
                    self.receiver = _make(self.server, self.server_config,
                                          odcid=header.destination_cid)
                self.receiver.receive_datagram(data, CLIENT_ADDR, now)
            else:
                sender.receive_datagram(data, SERVER_ADDR, now)
        for conn in (sender, self.receiver):
            if conn is not None:
                timer = conn.get_timer()
                if timer is not None and timer <= now:
                    conn.handle_timer(now)
        self._events(now_us)
        for side, conn in ((CLIENT, sender), (SERVER, self.receiver)):
            if conn is not None:
                for data, _ in conn.datagrams_to_send(now):
                    self.net.send(side, data, now_us)
        self._poll_monitor()
        cwnd = sender._loss.congestion_window
        if not self.trajectory or self.trajectory[-1][1] != cwnd:
            self.trajectory.append((now_us, cwnd))

    def _poll_monitor(self) -> None:
        dispatcher = self.client.dispatcher
        if not isinstance(dispatcher, EbpfDispatcher) or dispatcher.session is None:
            return
        if self.monitor is None:
            if MONITOR_ID not in dispatcher.plugins:
                return
            self.monitor = MonitorReader(dispatcher.plugin(MONITOR_ID))
        self.monitor.poll()

    def _events(self, now_us: int) -> None:
        terminated: str | None = None
        while (event := self.sender.next_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                for index, size in enumerate(self.stream_sizes):
                    stream_id = self.sender.get_next_available_stream_id()
                    self.stream_ids[stream_id] = index
                    self.sender.send_stream_data(stream_id, bytes(size), end_stream=True)
            elif isinstance(event, ConnectionTerminated):
                terminated = f"client: {event.reason_phrase or event.error_code}"
        while self.receiver is not None and (event := self.receiver.next_event()) is not None:
            if isinstance(event, StreamDataReceived):
                self.received[event.stream_id] = self.received.get(event.stream_id, 0) + len(event.data)
                if event.end_stream:
                    self.finished[event.stream_id] = now_us / 1_000_000
                    if len(self.finished) == len(self.stream_sizes) and not self.done:
                        self.done, self.done_us = True, now_us
                        self.stop_us = now_us + self.linger_us
            elif isinstance(event, ConnectionTerminated):
                terminated = f"server: {event.reason_phrase or event.error_code}"
        if terminated is not None:
            raise PybpfError(f"{self.label}: QUIC connection closed during the transfer ({terminated})")

    def next_time_us(self) -> int:
        """When this transfer next has something to do."""
        if not self.started:
            return 0  # the client's first flight leaves at time 0
        candidates = [t for t in (self.net.next_arrival_us(),) if t is not None]
        for conn in (self.sender, self.receiver):
            timer = conn.get_timer() if conn is not None else None
            if timer is not None:
                candidates.append(_tick(timer))
        if not candidates:
            raise PybpfError(f"{self.label}: the transfer stalled: nothing in flight and no timer armed")
        when = max(self.now_us, min(candidates))
        if self.stop_us is not None:
            when = min(when, self.stop_us)
        if when > self.max_us:
            raise PybpfError(f"{self.label}: the transfer did not complete within {self.max_us / 1e6:g} s of simulated time")
        return when

    def result(self) -> TransferResult:
        sender = self.sender
        anchors = getattr(sender, "anchors", None)
        series: dict[str, Series] = {}
        if isinstance(self.client.dispatcher, PythonDispatcher):
            for plugin in self.client.dispatcher.plugins:
                if isinstance(plugin, Monitor):
                    series = plugin.series()
        elif self.monitor is not None:
            series = self.monitor.series()
        if not series:
            series = {"cwnd": [(t / 1e6, float(c)) for t, c in self.trajectory]}
        net = self.net
        return TransferResult(
            label=self.label,
            bytes_requested=sum(self.stream_sizes),
            bytes_received=sum(self.received.values()),
            completed=self.done,
            completion_time=self.done_us / 1_000_000,
            packets_sent=anchors.packets_sent if anchors is not None else sender._packet_number,
            lost_packets=anchors.packets_lost if anchors is not None else None,
            link_drops=sum(s.dropped_random + s.dropped_queue for s in (net.stats(CLIENT), net.stats(SERVER))),
            stream_completion={self.stream_ids[sid]: t for sid, t in self.finished.items() if sid in self.stream_ids},
            trajectory=self.trajectory,
            series=series,
            client_link=net.stats(CLIENT),
            server_link=net.stats(SERVER),
            faults=[f"{f.plugin}: {f.kind.value} in {f.operation} ({f.message})"
                    for f in (self.client.dispatcher.faults if isinstance(self.client.dispatcher, EbpfDispatcher) else [])],
        )


def run_side_by_side(transfers: Sequence[Transfer]) -> list[TransferResult]:
    """Run several transfers in this process on one simulated clock (interleaved step by step)."""
    active = list(transfers)
    while active:
        when = min(t.next_time_us() for t in active)
        for transfer in active:
            if transfer.next_time_us() == when:
                transfer.step(when)
        active = [t for t in active if not t.stopped]
    return [t.result() for t in transfers]


def run_transfer(
    sizes: int | Sequence[int],
    link: LinkConfig,
    *,
    client: Endpoint | None = None,
    server: Endpoint | None = None,
    label: str = "transfer",
    max_time: float = 600.0,
    linger: float = 0.0,
) -> TransferResult:
    """Send ``sizes`` bytes (one stream per entry) from client to server over ``link``.

    ``linger`` keeps both ends running that many seconds after the last byte arrived (so control
    traffic such as extension frames settles); the completion time does not include it.
    """
    transfer = Transfer(sizes, link, client=client, server=server, label=label, max_time=max_time, linger=linger)
    return run_side_by_side([transfer])[0]
