"""aioquic's built-in Reno against the NewReno plugins (Python reference and eBPF) on the same simulated run.

Usage: python bench/quic_cc.py [--size MB] [--bandwidth MBIT] [--delay MS] [--loss RATE] [--seed N]

Both transfers use the same deterministic link (same seed, same loss pattern), so the throughput
difference is the controller's alone; the wall-clock column is the cost of running the anchors
(and the plugin, in Python or as eBPF through the plugin framework) on top of aioquic.  The last
line compares the eBPF NewReno with the built-in Reno (goal: throughput within 10%; it is the same
controller, so on this deterministic link the ratio is 1).  Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quic_link import add_link_arguments, link_from

from pybpf.hosts.quic.controllers import controller_endpoint
from pybpf.hosts.quic.harness import Endpoint, TransferResult, run_transfer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    add_link_arguments(parser)
    args = parser.parse_args()
    link, size = link_from(args)
    runs: list[tuple[str, Endpoint]] = [
        ("aioquic reno (plain QuicConnection)", Endpoint(None, "reno")),
        ("aioquic reno through the anchors", controller_endpoint("reno")),
        ("NewReno reference plugin (Python)", controller_endpoint("newreno")),
        ("NewReno eBPF plugin (jit)", controller_endpoint("ebpf-newreno", engine="jit")),
    ]
    print(f"{args.size:g} MB over {args.bandwidth:g} Mbit/s, {args.delay:g} ms one-way, loss {args.loss:g}, seed {args.seed}")
    print(f"{'controller':<38} {'Mbit/s':>8} {'time s':>8} {'lost':>6} {'wall s':>7}")
    results: list[TransferResult] = []
    for label, endpoint in runs:
        start = time.perf_counter()
        result = run_transfer(size, link, client=endpoint, label=label)
        wall = time.perf_counter() - start
        results.append(result)
        lost = "-" if result.lost_packets is None else str(result.lost_packets)
        print(f"{label:<38} {result.throughput_bps / 1e6:>8.3f} {result.completion_time:>8.3f} {lost:>6} {wall:>7.2f}")
    base = results[0]
    for name, plugin in (("Python plugin", results[2]), ("eBPF plugin", results[3])):
        ratio = plugin.throughput_bps / base.throughput_bps
        print(f"{name} / built-in throughput: {ratio:.4f}; identical cwnd trajectory: "
              f"{plugin.trajectory == base.trajectory}")


if __name__ == "__main__":
    main()
