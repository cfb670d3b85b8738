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
import time

from pybpf.hosts.quic.controllers import controller_endpoint
from pybpf.hosts.quic.harness import Endpoint, TransferResult, run_transfer
from pybpf.hosts.quic.link import LinkConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=float, default=10.0, help="megabytes (default 10)")
    parser.add_argument("--bandwidth", type=float, default=20.0, help="Mbit/s (default 20)")
    parser.add_argument("--delay", type=float, default=20.0, help="one-way delay in ms (default 20)")
    parser.add_argument("--loss", type=float, default=0.005, help="loss rate (default 0.005)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    link = LinkConfig(bandwidth_bps=round(args.bandwidth * 1e6), delay_us=round(args.delay * 1000),
                      loss=args.loss, seed=args.seed)
    size = round(args.size * 1e6)
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
