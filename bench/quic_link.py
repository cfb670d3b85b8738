"""The simulated link both QUIC benchmarks run on: their shared command-line options."""

from __future__ import annotations

import argparse

from pybpf.hosts.quic.link import LinkConfig


def add_link_arguments(parser: argparse.ArgumentParser) -> None:
    """--size, --bandwidth, --delay, --loss and --seed, with the benchmarks' defaults (10 MB over a
    20 Mbit/s link, 20 ms one way, 0.5 % loss)."""
    parser.add_argument("--size", type=float, default=10.0, help="megabytes (default 10)")
    parser.add_argument("--bandwidth", type=float, default=20.0, help="Mbit/s (default 20)")
    parser.add_argument("--delay", type=float, default=20.0, help="one-way delay in ms (default 20)")
    parser.add_argument("--loss", type=float, default=0.005, help="loss rate (default 0.005)")
    parser.add_argument("--seed", type=int, default=1)


def link_from(args: argparse.Namespace) -> tuple[LinkConfig, int]:
    """The link and the transfer size in bytes that the options describe."""
    link = LinkConfig(
        bandwidth_bps=round(args.bandwidth * 1e6), delay_us=round(args.delay * 1000), loss=args.loss, seed=args.seed
    )
    return link, round(args.size * 1e6)
