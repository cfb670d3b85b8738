"""The aioquic host in memory: link, anchors, reference plugins, isolation, frames, scheduling.

Every run is on the deterministic simulated link, so equalities are exact, not statistical.
Transfers are small (200-500 KB) to keep the module fast.
"""

from __future__ import annotations

import pytest
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

from pybpf.errors import PybpfError
from pybpf.hosts.quic.anchors import ALGORITHM, AnchoredConnection
from pybpf.hosts.quic.controllers import CONTROLLERS, controller_endpoint
from pybpf.hosts.quic.dispatch import PythonDispatcher, PythonPlugin, Values, unpack_ints
from pybpf.hosts.quic.harness import Endpoint, Transfer, client_configuration, run_side_by_side, run_transfer
from pybpf.hosts.quic.link import CLIENT, SERVER, LinkConfig, SimulatedLink
from pybpf.hosts.quic.plugins.cc import NewReno, Westwood, icbrt
from pybpf.hosts.quic.plugins.frames import MessageExtension, decode, encode
from pybpf.hosts.quic.plugins.monitor import Monitor
from pybpf.hosts.quic.plugins.scheduler import PriorityScheduler, RoundRobinScheduler
from pybpf.hosts.quic.table import FIELDS, OPERATIONS, PYBPF_FRAME_TYPE, SSTHRESH_INFINITE

LOSSY = LinkConfig(bandwidth_bps=20_000_000, delay_us=10_000, loss=0.02, seed=2)
SIZE = 300_000


# -- link ------------------------------------------------------------------------------------------
def test_link_is_deterministic_and_serializes() -> None:
    def pattern(seed: int) -> list[tuple[int, bytes]]:
        link = SimulatedLink(LinkConfig(bandwidth_bps=8_000_000, delay_us=1000, loss=0.3, queue_bytes=None, seed=seed))
        for i in range(50):
            link.send(CLIENT, bytes([i]) * 1000, 0)
        return link.deliver(10**9)

    first = pattern(7)
    assert first == pattern(7)
    assert first != pattern(8)
    assert 20 < len(first) < 50  # about 30% lost
    link = SimulatedLink(LinkConfig(bandwidth_bps=8_000_000, delay_us=1000, queue_bytes=None))
    link.send(CLIENT, bytes(1000), 0)
    link.send(CLIENT, bytes(1000), 0)
    assert link.next_arrival_us() == 1000 + 1000  # 1000 bytes at 8 Mbit/s = 1 ms, plus delay
    assert link.deliver(2000) == [(SERVER, bytes(1000))]
    assert link.next_arrival_us() == 3000  # queued behind the first


def test_link_queue_limit_drops_the_tail() -> None:
    link = SimulatedLink(LinkConfig(bandwidth_bps=1_000_000, delay_us=0, queue_bytes=2500))
    for _ in range(5):
        link.send(SERVER, bytes(1000), 0)
    assert link.stats(SERVER).dropped_queue == 3
    assert len(link.deliver(10**9)) == 2


@pytest.mark.parametrize(
    "kwargs", [{"bandwidth_bps": 0}, {"delay_us": -1}, {"loss": 1.0}, {"loss": -0.1}, {"queue_bytes": 0}]
)
def test_link_rejects_bad_shapes(kwargs: dict[str, float]) -> None:
    with pytest.raises(PybpfError, match="link"):
        LinkConfig(**kwargs)  # type: ignore[arg-type]


# -- transfers and controllers ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CONTROLLERS))
def test_transfer_completes_under_loss_with_each_controller(name: str) -> None:
    result = run_transfer(SIZE, LOSSY, client=controller_endpoint(name), label=name)
    assert result.completed
    assert result.bytes_received == SIZE
    assert result.link_drops > 0 and result.lost_packets is not None and result.lost_packets > 0
    assert 0 < result.throughput_bps < LOSSY.bandwidth_bps


def test_runs_are_deterministic_for_a_seed() -> None:
    a = run_transfer(SIZE, LOSSY, client=controller_endpoint("cubic"))
    b = run_transfer(SIZE, LOSSY, client=controller_endpoint("cubic"))
    other = run_transfer(SIZE, LinkConfig(bandwidth_bps=20_000_000, delay_us=10_000, loss=0.02, seed=3),
                         client=controller_endpoint("cubic"))
    assert a.trajectory == b.trajectory and a.completion_time == b.completion_time
    assert a.series == b.series
    assert other.trajectory != a.trajectory


@pytest.mark.parametrize("algorithm", ["reno", "cubic"])
def test_default_anchors_are_identical_to_plain_aioquic(algorithm: str) -> None:
    """With nothing replaced, the anchored connection is aioquic: same window at every step."""
    plain = run_transfer(SIZE, LOSSY, client=Endpoint(None, algorithm))
    anchored = run_transfer(SIZE, LOSSY, client=Endpoint(PythonDispatcher([Monitor()]), algorithm))
    assert len(plain.trajectory) > 20
    assert anchored.trajectory == plain.trajectory
    assert anchored.completion_time == plain.completion_time


@pytest.mark.parametrize("seed,loss", [(1, 0.0), (2, 0.02), (9, 0.05)])
def test_newreno_plugin_matches_aioquic_reno_trajectory(seed: int, loss: float) -> None:
    link = LinkConfig(bandwidth_bps=20_000_000, delay_us=10_000, loss=loss, seed=seed)
    builtin = run_transfer(SIZE, link, client=Endpoint(None, "reno"))
    plugin = run_transfer(SIZE, link, client=controller_endpoint("newreno"))
    default = run_transfer(SIZE, link, client=controller_endpoint("reno"))
    assert len(builtin.trajectory) > 20
    assert plugin.trajectory == builtin.trajectory  # the window after every clock step
    assert plugin.series["cwnd"] == default.series["cwnd"]  # and after every single CC event
    assert plugin.completion_time == builtin.completion_time


def test_controllers_really_differ() -> None:
    results = {name: run_transfer(SIZE, LOSSY, client=controller_endpoint(name)) for name in ("newreno", "westwood", "icubic")}
    trajectories = [tuple(r.trajectory) for r in results.values()]
    assert len(set(trajectories)) == 3


def test_two_connections_side_by_side_keep_their_own_controllers() -> None:
    """Interleaved on one clock, each connection behaves exactly as when it runs alone."""
    alone_reno = run_transfer(SIZE, LOSSY, client=controller_endpoint("newreno"))
    alone_westwood = run_transfer(SIZE, LOSSY, client=controller_endpoint("westwood"))
    together = run_side_by_side([
        Transfer(SIZE, LOSSY, client=controller_endpoint("newreno"), label="a"),
        Transfer(SIZE, LOSSY, client=controller_endpoint("westwood"), label="b"),
    ])
    assert together[0].trajectory == alone_reno.trajectory
    assert together[1].trajectory == alone_westwood.trajectory
    assert together[0].trajectory != together[1].trajectory


# -- monitoring ------------------------------------------------------------------------------------
def test_monitor_series_are_consistent() -> None:
    monitor = Monitor()
    endpoint = Endpoint(PythonDispatcher([NewReno(), monitor]), "reno")
    result = run_transfer(SIZE, LOSSY, client=endpoint)
    for name in ("cwnd", "bytes_in_flight", "rtt_ms", "losses"):
        values = result.series[name]
        assert values, name
        times = [t for t, _ in values]
        assert times == sorted(times), name
    assert all(c >= 2 * 1200 for _, c in monitor.cwnd)
    assert all(b >= 0 for _, b in monitor.bytes_in_flight)
    assert all(rtt >= 2 * LOSSY.delay_us for _, rtt in monitor.rtt)  # never faster than the wire
    assert monitor.lost_total == result.lost_packets
    assert [v for _, v in monitor.losses] == sorted(v for _, v in monitor.losses)
    assert monitor.cwnd[-1][1] == result.trajectory[-1][1]


# -- other anchors ---------------------------------------------------------------------------------
class DefaultThresholds(PythonPlugin):
    """Replaces detect_loss with aioquic's own thresholds (computed in integers)."""

    NAME = "thresholds"

    def __init__(self) -> None:
        self.calls = 0

    def op_detect_loss(self, param: int | None, inputs: Values) -> Values:
        self.calls += 1
        _, _, _, latest, smoothed, initialized, initial = unpack_ints(inputs)
        rtt = max(latest, smoothed) if initialized else initial
        return 3, rtt * 9 // 8


class FixedAckDelay(PythonPlugin):
    NAME = "ack-delay"

    def op_ack_delay(self, param: int | None, inputs: Values) -> Values:
        return (20_000,)


class IntegerPacing(PythonPlugin):
    NAME = "pacing"

    def op_cc_pacing_rate(self, param: int | None, inputs: Values) -> Values:
        _, cwnd, smoothed, _ = unpack_ints(inputs)
        return (cwnd * 1_000_000 // max(smoothed, 1),)


def test_replaced_loss_detection_drives_the_host() -> None:
    reference = run_transfer(SIZE, LOSSY, client=controller_endpoint("newreno"))
    plugin = DefaultThresholds()
    result = run_transfer(SIZE, LOSSY, client=Endpoint(PythonDispatcher([NewReno(), plugin])))
    assert plugin.calls > 0 and result.completed
    # same thresholds up to microsecond rounding: the same losses are found
    assert result.lost_packets == reference.lost_packets


def test_ack_delay_and_pacing_replacements_take_effect() -> None:
    server = Endpoint(PythonDispatcher([FixedAckDelay()]))
    base = run_transfer(SIZE, LOSSY, client=controller_endpoint("newreno"))
    delayed = run_transfer(SIZE, LOSSY, client=controller_endpoint("newreno"), server=server)
    assert delayed.completed and delayed.trajectory != base.trajectory
    paced = run_transfer(SIZE, LOSSY, client=Endpoint(PythonDispatcher([NewReno(), IntegerPacing()])))
    assert paced.completed and paced.bytes_received == SIZE


def test_fields_by_id_and_permissions() -> None:
    seen: dict[str, int] = {}

    class Reader(PythonPlugin):
        NAME = "reader"
        OBSERVES = frozenset({"cc_rtt_sample"})

        def observe(self, op: str, param: int | None, inputs: Values, outputs: Values) -> None:
            for spec in FIELDS:
                seen[spec.name] = self.layer.get_field(spec.id)
            with pytest.raises(PybpfError, match="read-only"):
                self.layer.set_field("bytes_in_flight", 0)

    run_transfer(100_000, LOSSY, client=Endpoint(PythonDispatcher([Reader()])))
    assert seen["cwnd"] >= 2400 and seen["max_datagram_size"] == 1200
    assert seen["smoothed_rtt"] >= 20_000 and seen["min_rtt"] >= 20_000 and seen["is_client"] == 1
    assert seen["ssthresh"] <= SSTHRESH_INFINITE and seen["pacing_rate"] >= 0


def test_table_ids_are_stable_and_unique() -> None:
    assert [op.id for op in OPERATIONS] == list(range(1, len(OPERATIONS) + 1))
    assert [f.id for f in FIELDS] == list(range(1, len(FIELDS) + 1))
    assert {"cc_packet_acked", "detect_loss", "stream_priority", "write_frame"} <= {op.name for op in OPERATIONS}


# -- frames and transport parameters ---------------------------------------------------------------
def test_new_frame_round_trips_between_both_ends() -> None:
    client = MessageExtension([b"hello", b"from the client"])
    server = MessageExtension()
    result = run_transfer(SIZE, LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, loss=0.05, seed=4),
                          client=Endpoint(PythonDispatcher([client])), server=Endpoint(PythonDispatcher([server])),
                          linger=1.0)
    assert result.completed
    assert client.peer_supports and server.peer_supports
    assert server.received == [b"hello", b"from the client"]
    assert client.echoes == [b"hello", b"from the client"]


def test_new_frame_is_not_sent_to_a_peer_without_the_extension() -> None:
    client = MessageExtension([b"hello"])
    result = run_transfer(100_000, LOSSY, client=Endpoint(PythonDispatcher([client])), server=Endpoint(None), linger=0.5)
    assert result.completed and not client.peer_supports and client.frames_sent == 0


def test_frame_codec() -> None:
    assert decode(encode(1, b"abc")) == (1, b"abc", 5)
    assert decode(b"\x00\x05ab") is None
    assert decode(b"\x07\x00") is None
    assert PYBPF_FRAME_TYPE > 0x3F and PYBPF_FRAME_TYPE not in (0x30, 0x31, 0xAF, 0x1F)


# -- scheduling ------------------------------------------------------------------------------------
def test_priority_scheduler_serves_the_high_priority_stream_first() -> None:
    link = LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, seed=1)
    sizes = [200_000, 200_000]
    rr = run_transfer(sizes, link, client=Endpoint(PythonDispatcher([RoundRobinScheduler()])))
    prio = run_transfer(sizes, link, client=Endpoint(PythonDispatcher([PriorityScheduler({4: 0, 0: 1})])))
    # round robin: both streams progress together and end within a few packets of each other
    assert abs(rr.stream_completion[0] - rr.stream_completion[1]) < 0.01 * rr.completion_time + 0.005
    # priority: stream 4 (the second opened) finishes long before stream 0
    assert prio.stream_completion[1] < 0.75 * prio.stream_completion[0]
    assert prio.stream_completion[1] < rr.stream_completion[1]


def test_streams_sharing_packets_are_reproducible() -> None:
    """aioquic re-queues the streams a packet served from a set (memory-address order); the host
    keeps them in the order they were served, so runs where streams share packets repeat."""
    link = LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, seed=1)
    runs = [run_transfer([60_000, 60_000, 60_000], link,
                         client=Endpoint(PythonDispatcher([RoundRobinScheduler(quantum=300)])))
            for _ in range(3)]
    assert all(r.stream_completion == runs[0].stream_completion for r in runs)
    assert all(r.trajectory == runs[0].trajectory for r in runs)
    # one quantum each per packet: the three streams end together
    times = runs[0].stream_completion.values()
    assert max(times) - min(times) < 0.05 * runs[0].completion_time


def test_stream_quota_limits_frames() -> None:
    sizes = [100_000, 100_000]
    link = LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, seed=1)
    coarse = run_transfer(sizes, link, client=Endpoint(PythonDispatcher([RoundRobinScheduler()])))
    fine = run_transfer(sizes, link, client=Endpoint(PythonDispatcher([RoundRobinScheduler(quantum=200)])))
    assert fine.completed and fine.bytes_received == sum(sizes)
    assert fine.packets_sent > coarse.packets_sent  # 200-byte frames need more packets


# -- errors ----------------------------------------------------------------------------------------
def test_one_replacement_per_operation() -> None:
    dispatcher = PythonDispatcher([NewReno(), Westwood()])
    with pytest.raises(PybpfError, match="already replaced by plugin newreno"):
        AnchoredConnection(configuration=client_configuration(), dispatcher=dispatcher)


def test_pybpf_algorithm_is_not_a_default() -> None:
    with pytest.raises(PybpfError, match="default controller"):
        AnchoredConnection(configuration=client_configuration(ALGORITHM))
    plain = QuicConnection(configuration=QuicConfiguration(is_client=True, congestion_control_algorithm=ALGORITHM))
    with pytest.raises(PybpfError, match="AnchoredConnection"):
        plain.connect(("10.0.0.2", 443), now=0.0)
        plain.datagrams_to_send(now=0.0)


def test_bad_transfer_sizes() -> None:
    with pytest.raises(PybpfError, match="positive"):
        run_transfer(0, LOSSY)
    with pytest.raises(PybpfError, match="unknown congestion controller"):
        controller_endpoint("bbr9")


def test_icbrt() -> None:
    for value in (0, 1, 7, 8, 26, 27, 10**12, 10**15 + 3, 2**62):
        root = icbrt(value)
        assert root**3 <= value < (root + 1) ** 3
