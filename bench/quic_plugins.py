"""A 10 MB transfer on the simulated link with every bundled eBPF QUIC plugin.

Usage: python bench/quic_plugins.py [--size MB] [--bandwidth MBIT] [--delay MS] [--loss RATE]
                                    [--seed N] [--engine jit|interp|auto] [--streams N] [--messages N] [--every MS]

One run per plugin, same link and seed: each controller (with the monitor, as ``pybpf quic`` runs
them), the monitor alone on aioquic's Reno, the round-robin scheduler (without and with a
quantum) and the priority scheduler over ``--streams`` streams, the message extension on both
ends (``--messages`` messages from the client, one every ``--every`` ms while the data flows,
each echoed), and all of them at once (CUBIC,
monitor, priority scheduler, messages).  Prints for each whether it completed, the completion
time, throughput, packets, losses, faults, the wall-clock time, and per-stream or per-message
results.  Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quic_link import add_link_arguments, link_from

from pybpf.hosts.quic.app import set_priorities, set_quantum
from pybpf.hosts.quic.harness import Endpoint, Transfer, TransferResult
from pybpf.hosts.quic.messages import MessageChannel
from pybpf.hosts.quic.plugin_host import EbpfDispatcher, bundled


@dataclass
class Setup:
    """A client (and server) with plugins, and how to describe the extra results."""

    client: EbpfDispatcher
    server: EbpfDispatcher | None = None
    streams: bool = False
    channels: tuple[MessageChannel, MessageChannel] | None = None
    notes: list[str] = field(default_factory=list)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_link_arguments(parser)
    parser.add_argument("--engine", choices=("jit", "interp", "auto"), default="jit")
    parser.add_argument("--streams", type=int, default=4, help="streams for the scheduler runs (default 4)")
    parser.add_argument("--messages", type=int, default=100, help="messages for the extension runs (default 100)")
    parser.add_argument("--every", type=float, default=50.0, help="ms between two messages (default 50)")
    args = parser.parse_args()
    link, size = link_from(args)
    share, extra = divmod(size, args.streams)
    sizes = [share + (1 if i < extra else 0) for i in range(args.streams)]
    payloads = [f"message {i:04d} ".encode() * 4 for i in range(args.messages)]
    last_first = {4 * i: args.streams - 1 - i for i in range(args.streams)}  # priorities: last opened first
    engine = args.engine

    def ebpf(*names: str) -> EbpfDispatcher:
        return EbpfDispatcher([bundled(n) for n in names], engine=engine)

    def controller(name: str) -> Setup:
        return Setup(ebpf(name, "monitor"))

    def rr(quantum: int) -> Callable[[], Setup]:
        def make() -> Setup:
            setup = Setup(ebpf("roundrobin"), streams=True)
            set_quantum(setup.client, quantum)
            return setup

        return make

    def priority(*extra: str) -> Setup:
        setup = Setup(ebpf(*extra, "priority"), streams=True)
        set_priorities(setup.client, last_first)
        return setup

    def message(*extra: str) -> Setup:
        client, server = ebpf(*extra, "message"), ebpf("message")
        setup = Setup(client, server, streams=bool(extra), channels=(MessageChannel(client), MessageChannel(server)))
        if "priority" in extra:
            set_priorities(client, last_first)
        return setup

    runs: list[tuple[str, Callable[[], Setup]]] = [
        ("newreno + monitor", lambda: controller("newreno")),
        ("cubic + monitor", lambda: controller("cubic")),
        ("westwood + monitor", lambda: controller("westwood")),
        ("monitor (aioquic reno)", lambda: Setup(ebpf("monitor"))),
        (f"roundrobin, {args.streams} streams", rr(0)),
        (f"roundrobin quantum 1000, {args.streams} streams", rr(1000)),
        (f"priority, {args.streams} streams", priority),
        (f"message, {args.messages} messages", message),
        ("all: cubic+monitor+priority+message", lambda: message("cubic", "monitor", "priority")),
    ]
    print(f"{args.size:g} MB over {args.bandwidth:g} Mbit/s, {args.delay:g} ms one-way, loss {args.loss:g}, "
          f"seed {args.seed}, engine {engine}")
    print(f"{'plugins':<42} {'done':>5} {'time s':>8} {'Mbit/s':>8} {'packets':>8} {'lost':>5} {'faults':>6} {'wall s':>7}")
    for label, make in runs:
        setup = make()
        server = Endpoint(setup.server) if setup.server is not None else None
        start = time.perf_counter()
        transfer = Transfer(sizes if setup.streams else size, link, client=Endpoint(setup.client), server=server,
                            label=label, linger=1.0 if setup.channels else 0.0)
        pending = list(payloads) if setup.channels else []
        next_send_us = 0
        while not transfer.stopped:
            transfer.step(transfer.next_time_us())
            if pending and setup.channels is not None and transfer.now_us >= next_send_us:
                setup.channels[0].send(pending.pop(0))  # one message every --every ms while the data flows
                next_send_us = transfer.now_us + round(args.every * 1000)
        result: TransferResult = transfer.result()
        wall = time.perf_counter() - start
        complete = result.completed and result.bytes_received == size
        lost = "-" if result.lost_packets is None else str(result.lost_packets)
        print(f"{label:<42} {'yes' if complete else 'NO':>5} {result.completion_time:>8.3f} "
              f"{result.throughput_bps / 1e6:>8.3f} {result.packets_sent:>8} {lost:>5} {len(result.faults):>6} {wall:>7.1f}")
        if setup.streams:
            done = sorted(result.stream_completion.items(), key=lambda item: item[1])
            print(f"{'':<4}streams done at " + ", ".join(f"#{i} {t:.2f}s" for i, t in done))
        if setup.channels is not None:
            client_channel, server_channel = setup.channels
            echoed = sorted(client_channel.echoes) == sorted(payloads)
            print(f"{'':<4}messages: {len(server_channel.received)}/{len(payloads)} received, "
                  f"{len(client_channel.echoes)} echoes back (all: {echoed}), frames sent {client_channel.frames_sent}, "
                  f"lost {client_channel.frames_lost}")
        for fault in result.faults:
            print(f"{'':<4}fault: {fault}")


if __name__ == "__main__":
    main()
