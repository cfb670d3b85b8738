"""``pybpf quic``: run a QUIC transfer with chosen controllers and show what they did.

One run per ``--cc`` (the same link and seed for each, so the runs are comparable), in memory on
the simulated link or, with ``--udp``, over loopback.  Prints a table (or ``--json``) and, with
``--plot``, draws cwnd and RTT over time for all runs in one figure.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pybpf.errors import PybpfError

SCHEDULERS = {"rr": "roundrobin", "priority": "priority"}
"""``--scheduler`` names and the bundled plugins they run."""


def add_quic_parser(sub: Any) -> None:
    from pybpf.hosts.quic.controllers import controller_names

    p = sub.add_parser(
        "quic",
        help="run a QUIC transfer over a simulated link with chosen congestion controllers",
        description="Transfer --size MB from an aioquic client to an aioquic server, in memory over a "
        "deterministic simulated link (or over UDP on loopback with --udp), once per --cc, and report "
        "throughput, completion time, losses and the monitoring plugin's series.",
    )
    p.add_argument("--bandwidth", type=float, default=10.0, help="link bandwidth in Mbit/s (default 10)")
    p.add_argument("--delay", type=float, default=20.0, help="one-way link delay in ms (default 20)")
    p.add_argument("--loss", type=float, default=0.0, help="random loss rate per datagram, 0 to <1 (default 0)")
    p.add_argument("--queue", type=float, default=64.0, help="link queue limit in KB, 0 for unlimited (default 64)")
    p.add_argument("--size", type=float, default=1.0, help="megabytes to transfer (default 1)")
    p.add_argument("--seed", type=int, default=1, help="seed of the link's loss pattern (default 1)")
    p.add_argument(
        "--cc", action="append", choices=controller_names(), metavar="NAME",
        help=f"congestion controller, repeat to compare ({', '.join(controller_names())}; default reno)",
    )
    p.add_argument(
        "--plugin", action="append", default=[], metavar="PATH",
        help="an eBPF plugin (zip or directory) to insert into the client connection of every run; repeatable. "
        "Runs with reno, cubic or an ebpf-* controller, and adds the eBPF monitor",
    )
    p.add_argument("--engine", choices=("auto", "interp", "jit"), default="auto",
                   help="engine running the eBPF plugins (default auto)")
    p.add_argument("--streams", type=int, default=1, metavar="N",
                   help="split --size over N streams opened together (default 1); per-stream completion is reported")
    p.add_argument("--scheduler", choices=tuple(SCHEDULERS), metavar="NAME",
                   help="eBPF stream scheduler on the client: rr (round robin, see --quantum) or priority "
                   "(see --priorities)")
    p.add_argument("--quantum", type=int, default=0, metavar="BYTES",
                   help="rr: new bytes a stream may put in one packet (default 0: no limit)")
    p.add_argument("--priorities", metavar="P,P,...",
                   help="priority: one priority per stream, in opening order, lowest first "
                   "(default 0,1,2,...: the first stream first)")
    p.add_argument("--offer", action="append", default=[], metavar="PATH",
                   help="the server offers this eBPF plugin (zip or directory) to the client over the plugin "
                   "exchange; the client verifies it against its host and inserts it; repeatable")
    p.add_argument("--message", action="append", default=[], metavar="TEXT",
                   help="run the eBPF message extension on both ends and send TEXT from the client (it comes "
                   "back as an ECHO); repeatable")
    p.add_argument("--udp", action="store_true", help="run over UDP on loopback instead of the simulated link")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--plot", metavar="FILE.png", help="draw cwnd and RTT over time into this PNG file")
    p.set_defaults(func=cmd_quic)


def _link_config(args: argparse.Namespace) -> Any:
    from pybpf.hosts.quic.link import LinkConfig

    if args.bandwidth <= 0 or args.delay < 0 or args.queue < 0:
        raise PybpfError("--bandwidth must be positive, --delay and --queue must not be negative")
    return LinkConfig(
        bandwidth_bps=round(args.bandwidth * 1_000_000),
        delay_us=round(args.delay * 1000),
        loss=args.loss,
        queue_bytes=round(args.queue * 1000) or None,
        seed=args.seed,
    )


def _plugin_package(path: str) -> Any:
    """Open (and so validate) a --plugin package once; every run inserts it into a new connection.

    A directory holding sources but not the objects its manifest names is built first (what
    ``pybpf plugin build`` does), so a plugin being written can be tried in one command."""
    import json as _json

    from pybpf.plugins import PluginPackage
    from pybpf.plugins.build import build

    directory = Path(path)
    manifest = directory / "manifest.json"
    if directory.is_dir() and manifest.is_file():
        try:
            objects = {entry["object"] for entry in _json.loads(manifest.read_text())["bytecodes"].values()}
        except (ValueError, KeyError, TypeError, AttributeError):
            objects = set()  # let PluginPackage.open report the manifest's problem
        if objects and not all((directory / name).is_file() for name in objects):
            return build(directory)
    return PluginPackage.open(path)


def _stream_sizes(args: argparse.Namespace, size: int) -> list[int]:
    if args.streams < 1 or args.streams > size:
        raise PybpfError(f"--streams must be between 1 and the number of bytes, got {args.streams}")
    share, extra = divmod(size, args.streams)
    return [share + (1 if i < extra else 0) for i in range(args.streams)]


def _stream_priorities(args: argparse.Namespace) -> dict[int, int]:
    """Priority by stream id (the client opens streams 0, 4, 8, ...)."""
    if args.priorities is None:
        values = list(range(args.streams))
    else:
        try:
            values = [int(v) for v in args.priorities.split(",")]
        except ValueError:
            raise PybpfError(f"--priorities takes integers separated by commas, got {args.priorities!r}") from None
        if len(values) != args.streams or any(v < 0 for v in values):
            raise PybpfError(f"--priorities needs {args.streams} non-negative values (one per stream), "
                             f"got {args.priorities!r}")
    return {4 * i: v for i, v in enumerate(values)}


def _check_options(args: argparse.Namespace) -> None:
    if args.udp and (args.streams != 1 or args.scheduler or args.message or args.offer):
        raise PybpfError("--streams, --scheduler, --message and --offer run on the simulated link only, not with --udp")
    if args.quantum < 0:
        raise PybpfError("--quantum must not be negative")
    if args.quantum and args.scheduler != "rr":
        raise PybpfError("--quantum goes with --scheduler rr")
    if args.priorities is not None and args.scheduler != "priority":
        raise PybpfError("--priorities goes with --scheduler priority")


def cmd_quic(args: argparse.Namespace) -> int:
    from pybpf.hosts.quic.app import set_priorities, set_quantum
    from pybpf.hosts.quic.controllers import controller_endpoint
    from pybpf.hosts.quic.exchange import PluginExchange
    from pybpf.hosts.quic.harness import Endpoint, TransferResult, run_transfer
    from pybpf.hosts.quic.messages import MessageChannel
    from pybpf.hosts.quic.plugin_host import EbpfDispatcher, bundled

    size = round(args.size * 1_000_000)
    if size <= 0:
        raise PybpfError("--size must be a positive number of megabytes")
    if args.plot and not args.plot.lower().endswith(".png"):
        raise PybpfError(f"--plot writes a PNG file; give a name ending in .png, not {args.plot!r}")
    _check_options(args)
    link = _link_config(args)
    sizes = _stream_sizes(args, size)
    priorities = _stream_priorities(args) if args.scheduler == "priority" else {}
    messages = [m.encode() for m in args.message]
    names: list[str] = list(dict.fromkeys(args.cc or ["reno"]))
    results: list[TransferResult] = []
    exchanges: dict[str, dict[str, Any]] = {}
    arrivals: dict[str, list[dict[str, Any]]] = {}
    plugins = [_plugin_package(path) for path in args.plugin]
    offers = [_plugin_package(path) for path in args.offer]
    if args.scheduler:
        plugins.append(bundled(SCHEDULERS[args.scheduler]))
    if messages:
        plugins.append(bundled("message"))
    for name in names:
        # the command line asked for these plugins: the client takes every offer that verifies
        client_exchange = PluginExchange(accept=lambda package: True) if offers else None
        endpoint = controller_endpoint(name, plugins=plugins, engine=args.engine, exchange=client_exchange)
        dispatcher = endpoint.dispatcher
        if args.scheduler == "rr" and isinstance(dispatcher, EbpfDispatcher):
            set_quantum(dispatcher, args.quantum)
        elif args.scheduler == "priority" and isinstance(dispatcher, EbpfDispatcher):
            set_priorities(dispatcher, priorities)
        server = Endpoint()
        channels: tuple[MessageChannel, MessageChannel] | None = None
        if (messages or offers) and isinstance(dispatcher, EbpfDispatcher):
            server_dispatcher = EbpfDispatcher([bundled("message")] if messages else [], engine=args.engine, name="server",
                                               exchange=PluginExchange(offer=offers) if offers else None)
            server = Endpoint(server_dispatcher)
            if messages:
                channels = (MessageChannel(dispatcher, messages), MessageChannel(server_dispatcher))
        if args.udp:
            from pybpf.hosts.quic.udp import run_udp_transfer

            results.append(run_udp_transfer(size, endpoint, label=name))
        else:
            # with messages, both ends stay up a little after the last byte so the echoes arrive
            results.append(run_transfer(sizes if len(sizes) > 1 else size, link, client=endpoint, server=server,
                                        label=name, linger=1.0 if messages else 0.0))
        if client_exchange is not None:
            arrivals[name] = [{"plugin": a.plugin_id, "inserted": a.inserted, "reason": a.reason,
                               "at_s": a.at_us / 1e6, "bytes": a.size} for a in client_exchange.arrivals]
        if channels is not None:
            client_channel, server_channel = channels
            exchanges[name] = {
                "sent": len(messages), "received_by_server": len(server_channel.received),
                "echoes": len(client_channel.echoes), "frames_sent": client_channel.frames_sent,
                "frames_lost": client_channel.frames_lost, "echoed_all": sorted(client_channel.echoes) == sorted(messages),
            }
    mode = "udp-loopback" if args.udp else "simulated"
    if args.json:
        document = {
            "mode": mode,
            "link": None if args.udp else {
                "bandwidth_bps": link.bandwidth_bps, "delay_us": link.delay_us, "loss": link.loss,
                "queue_bytes": link.queue_bytes, "seed": link.seed,
            },
            "runs": [r.summary() | ({"messages": exchanges[r.label]} if r.label in exchanges else {})
                     | ({"offered_plugins": arrivals[r.label]} if r.label in arrivals else {})
                     for r in results],
        }
        print(json.dumps(document, indent=2))
    else:
        _print_table(results, mode, args, exchanges, arrivals)
    if args.plot:
        plot_runs(results, Path(args.plot), title=_title(args, mode))
        if not args.json:
            print(f"plot written to {args.plot}")
    return 0


def _title(args: argparse.Namespace, mode: str) -> str:
    if mode == "udp-loopback":
        return f"{args.size:g} MB over UDP loopback"
    return (f"{args.size:g} MB, {args.bandwidth:g} Mbit/s, {args.delay:g} ms one-way, "
            f"loss {args.loss:g}, queue {args.queue:g} KB, seed {args.seed}")


def _print_table(results: list[Any], mode: str, args: argparse.Namespace,
                 exchanges: dict[str, dict[str, Any]] | None = None,
                 arrivals: dict[str, list[dict[str, Any]]] | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"pybpf quic ({mode}): {_title(args, mode)}")
    for column in ("controller", "time (s)", "Mbit/s", "packets", "lost", "link drops",
                   "cwnd mean/max (KB)", "RTT min/mean/max (ms)", "events"):
        table.add_column(column, justify="left" if column == "controller" else "right")
    for r in results:
        s = r.summary()["series"]
        cwnd, rtt = s.get("cwnd", {}), s.get("rtt_ms", {})
        table.add_row(
            r.label,
            f"{r.completion_time:.3f}",
            f"{r.throughput_bps / 1e6:.2f}",
            str(r.packets_sent),
            "-" if r.lost_packets is None else str(r.lost_packets),
            str(r.link_drops),
            f"{cwnd.get('mean', 0) / 1000:.1f} / {cwnd.get('max', 0) / 1000:.1f}" if cwnd.get("samples") else "-",
            f"{rtt['min']:.1f} / {rtt['mean']:.1f} / {rtt['max']:.1f}" if rtt.get("samples") else "-",
            str(s.get("bytes_in_flight", {}).get("samples", 0)),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 120))  # pipes get 80 columns: too narrow for nine
    console.print(table)
    for r in results:
        if len(r.stream_completion) > 1:
            done = sorted(r.stream_completion.items(), key=lambda item: (item[1], item[0]))
            console.print(f"{r.label}: streams done at " + ", ".join(f"#{i} {t:.3f} s" for i, t in done)
                          + (f" ({args.scheduler} scheduler)" if args.scheduler else ""), markup=False)
        exchange = (exchanges or {}).get(r.label)
        if exchange is not None:
            console.print(f"{r.label}: {exchange['sent']} messages sent, {exchange['received_by_server']} received "
                          f"by the server, {exchange['echoes']} echoes back ({exchange['frames_lost']} frames lost "
                          "and sent again)", markup=False)
        for arrival in (arrivals or {}).get(r.label, []):
            what = arrival["plugin"] or f"{arrival['bytes']} bytes"
            if arrival["inserted"]:
                console.print(f"{r.label}: the server's plugin {what} inserted into the client at {arrival['at_s']:.3f} s",
                              markup=False)
            else:
                console.print(f"{r.label}: the server's plugin {what} refused: {arrival['reason']}", markup=False,
                              soft_wrap=True)
        for fault in r.faults:
            console.print(f"{r.label}: plugin removed after a fault: {fault}", markup=False)


def plot_runs(results: list[Any], path: Path, title: str = "") -> None:
    """cwnd (top) and RTT samples (bottom) over time, one colour per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_cwnd, ax_rtt) = plt.subplots(2, 1, sharex=True, figsize=(10, 7))
    for r in results:
        cwnd = r.series.get("cwnd", [])
        if cwnd:
            # a step plot: the window holds its value until the next change
            ax_cwnd.step([t for t, _ in cwnd], [v / 1000 for _, v in cwnd], where="post", label=r.label)
        rtt = r.series.get("rtt_ms", [])
        if rtt:
            ax_rtt.plot([t for t, _ in rtt], [v for _, v in rtt], ".", markersize=2, label=r.label)
    ax_cwnd.set_ylabel("cwnd (KB)")
    ax_rtt.set_ylabel("RTT sample (ms)")
    ax_rtt.set_xlabel("time (s)")
    for ax in (ax_cwnd, ax_rtt):
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
