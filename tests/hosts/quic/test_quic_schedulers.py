"""The stream schedulers as C plugins: the same runs as the Python reference schedulers, and
priorities the application changes while the connection runs.

Every run is on the deterministic simulated link, so equalities are exact.
"""

from __future__ import annotations

import pytest

from pybpf.errors import PybpfError
from pybpf.hosts.quic.app import PRIORITY_ID, ROUNDROBIN_ID, priorities, set_priorities, set_quantum
from pybpf.hosts.quic.dispatch import Dispatcher, PythonDispatcher
from pybpf.hosts.quic.harness import Endpoint, Transfer, TransferResult, run_transfer
from pybpf.hosts.quic.link import LinkConfig
from pybpf.hosts.quic.plugin_host import EbpfDispatcher, bundled
from pybpf.hosts.quic.plugins.scheduler import PriorityScheduler, RoundRobinScheduler

LINK = LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, loss=0.02, seed=1)
SIZES = [120_000, 90_000, 60_000]
"""Three streams (ids 0, 4, 8 by index 0, 1, 2), different sizes: round robin ends the smallest first."""


def ebpf(name: str, engine: str = "jit") -> EbpfDispatcher:
    return EbpfDispatcher([bundled(name)], engine=engine)


def order(result: TransferResult) -> list[int]:
    """Stream indexes by completion time (ties by index)."""
    return sorted(result.stream_completion, key=lambda i: (result.stream_completion[i], i))


def same_run(a: TransferResult, b: TransferResult) -> None:
    assert a.completed and b.completed
    assert a.stream_completion == b.stream_completion
    assert a.trajectory == b.trajectory and a.packets_sent == b.packets_sent


@pytest.mark.parametrize("quantum", [0, 200, 1000])
def test_ebpf_round_robin_is_the_python_reference(quantum: int) -> None:
    python = run_transfer(SIZES, LINK, client=Endpoint(PythonDispatcher([RoundRobinScheduler(quantum)])))
    dispatcher = ebpf("roundrobin")
    set_quantum(dispatcher, quantum)
    plugin = run_transfer(SIZES, LINK, client=Endpoint(dispatcher))
    same_run(plugin, python)
    assert plugin.faults == [] and set(dispatcher.plugins) == {ROUNDROBIN_ID}
    assert len(plugin.stream_completion) == 3 and plugin.lost_packets


def test_round_robin_quantum_changes_the_run_and_none_is_aioquic() -> None:
    plain = run_transfer(SIZES, LINK, client=Endpoint(Dispatcher()))
    rr = run_transfer(SIZES, LINK, client=Endpoint(ebpf("roundrobin", engine="interp")))
    fine = ebpf("roundrobin", engine="interp")
    set_quantum(fine, 200)
    shared = run_transfer(SIZES, LINK, client=Endpoint(fine))
    same_run(rr, plain)  # no quantum: aioquic's own rotation
    assert shared.packets_sent > rr.packets_sent  # 200-byte frames: streams share packets
    # sharing every packet, the streams finish later than when each takes whole packets
    assert shared.stream_completion[2] > rr.stream_completion[2]


@pytest.mark.parametrize("table", [{8: 0, 0: 1}, {0: 0, 4: 1, 8: 2}, {4: 7}])
def test_ebpf_priority_is_the_python_reference(table: dict[int, int]) -> None:
    python = run_transfer(SIZES, LINK, client=Endpoint(PythonDispatcher([PriorityScheduler(table)])))
    dispatcher = ebpf("priority")
    set_priorities(dispatcher, table)
    plugin = run_transfer(SIZES, LINK, client=Endpoint(dispatcher))
    same_run(plugin, python)
    assert priorities(dispatcher) == table  # the map as the application filled it
    assert plugin.faults == []


def test_priority_and_round_robin_complete_streams_in_different_orders() -> None:
    link = LinkConfig(bandwidth_bps=10_000_000, delay_us=10_000, seed=1)  # no loss: no retransmission tail
    rr = run_transfer(SIZES, link, client=Endpoint(ebpf("roundrobin")))
    dispatcher = ebpf("priority")
    set_priorities(dispatcher, {0: 0, 4: 1, 8: 2})  # the largest stream first
    prio = run_transfer(SIZES, link, client=Endpoint(dispatcher))
    assert order(rr) == [2, 1, 0]  # sharing the link, the smallest finishes first
    assert order(prio) == [0, 1, 2]  # strictly by priority
    # strict priority: stream 0 has the link to itself, so it is done after its share of the bytes
    # (120 of 270 KB), where round robin finishes it last
    assert prio.stream_completion[0] < 0.6 * prio.completion_time
    assert prio.stream_completion[0] < 0.6 * rr.stream_completion[0]
    assert rr.stream_completion[2] < 0.8 * prio.stream_completion[2]
    # the last byte arrives at about the same time: the link was busy either way
    assert abs(prio.completion_time - rr.completion_time) < 0.05 * rr.completion_time
    # streams without a priority go after the one that has one (and share the link round robin)
    partial = ebpf("priority")
    set_priorities(partial, {4: 5})
    assert order(run_transfer(SIZES, link, client=Endpoint(partial))) == [1, 2, 0]


def test_priorities_changed_while_the_connection_runs() -> None:
    """The application swaps two priorities mid-transfer (in the map the C plugin reads, and in
    the Python reference's table at the same step): identical runs, and a different one from
    keeping the first priorities."""
    first, second = {0: 0, 4: 1, 8: 2}, {0: 2, 8: 0}

    def run(kind: str, switch_at_us: int | None) -> TransferResult:
        if kind == "c":
            dispatcher: Dispatcher = ebpf("priority")
            set_priorities(dispatcher, first)  # type: ignore[arg-type]
        else:
            reference = PriorityScheduler(first)
            dispatcher = PythonDispatcher([reference])
        transfer = Transfer(SIZES, LINK, client=Endpoint(dispatcher))
        switched = False
        while not transfer.stopped:
            transfer.step(transfer.next_time_us())
            if switch_at_us is not None and not switched and transfer.now_us >= switch_at_us:
                switched = True
                if isinstance(dispatcher, EbpfDispatcher):
                    set_priorities(dispatcher, {**second, 4: None})
                    assert priorities(dispatcher) == second
                else:
                    reference.priorities = dict(second)
        assert switch_at_us is None or switched
        return transfer.result()

    kept = run("c", None)
    c, python = run("c", 60_000), run("python", 60_000)
    same_run(c, python)
    assert order(kept) == [0, 1, 2]
    assert order(c) == [2, 0, 1]  # stream 8 jumps ahead, 4 lost its priority: last
    assert c.stream_completion != kept.stream_completion


def test_scheduler_maps_need_the_plugin_and_valid_values() -> None:
    dispatcher = ebpf("roundrobin")
    set_priorities(dispatcher, {0: 1})  # deferred: applied when the connection is built
    with pytest.raises(PybpfError, match=PRIORITY_ID):
        run_transfer(10_000, LINK, client=Endpoint(dispatcher))
    with pytest.raises(PybpfError, match="unsigned 64-bit"):
        set_quantum(ebpf("roundrobin"), -1)
