"""Pcap in, pcap out: run a packet program on every frame of a capture.

``run_capture(program, "in.pcap", "out.pcap")`` reads a pcap or pcapng file with dpkt, runs the
program (XDP, tc, socket filter or cgroup skb; the type comes from its section) on each frame in
order with its maps kept alive, writes the frames the program let through -- as the program
left them -- to the output, and returns a :class:`CaptureSummary`: packets, verdict counts by
name, bytes in and out, time, packets per second, redirect targets, the non-empty maps and the
records that could not be used.

Which frames are written: XDP ``PASS`` and ``TX``; tc ``OK``/``UNSPEC``/``PIPE``/``RECLASSIFY``;
for socket filters the bytes the filter keeps (the frame seen from L2, as on an ``AF_PACKET``
socket -- how tcpdump-style filters run); for cgroup skb filters the frames they allow.  Dropped,
aborted, redirected and stolen frames are counted but not written.

Bad captures: a file that is neither pcap nor pcapng, or not Ethernet, is refused at once
(:class:`CaptureError`).  A bad record -- truncated, or longer than the capture's snaplen -- and
a program fault on one frame become a :class:`RecordError` naming the record number (1-based);
with ``stop_on_error`` the run stops there cleanly (the summary covers what ran), otherwise it
goes on.  A truncated record ends the file either way.

The CLI side is :func:`add_pcap_arguments` / :func:`run_pcap` (``pybpf run PROG.o --pcap IN``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pybpf.errors import PybpfError, VMError
from pybpf.progtypes.sections import ProgType

if TYPE_CHECKING:
    from pybpf.object import BpfObject, Program

DLT_EN10MB = 1
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
BATCH = 256
PROGRESS_AFTER_S = 1.0
ETH_HLEN = 14
TC_PASSING = frozenset({"OK", "UNSPEC", "PIPE", "RECLASSIFY"})


class CaptureError(PybpfError):
    """The file cannot be read as an Ethernet pcap/pcapng capture at all."""


@dataclass(frozen=True)
class RecordError:
    """One unusable record or failed run: its 1-based number and why."""

    record: int
    reason: str

    def __str__(self) -> str:
        return f"record {self.record}: {self.reason}"


@dataclass(frozen=True)
class Record:
    number: int
    timestamp: float
    data: bytes


class _TrackingFile(io.RawIOBase):
    """A read-only file wrapper that remembers the size of the last read asked for and got, so
    dpkt's pcap reader (which does not check) can be told apart from a truncated record."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self.position = 0
        self.asked = 0
        self.got = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(-1 if size is None else size)
        self.asked = -1 if size is None else size
        self.got = len(data)
        self.position += len(data)
        return data


@dataclass
class Capture:
    """An opened capture: dpkt's reader and what the runner checks records against."""

    path: Path
    kind: str  # "pcap" or "pcapng"
    reader: Any
    snaplen: int
    size: int
    tracker: _TrackingFile
    handle: IO[bytes]

    def close(self) -> None:
        self.handle.close()


def open_capture(path: str | os.PathLike[str]) -> Capture:
    """Open ``path`` as pcap or pcapng (by its magic); :class:`CaptureError` if it is neither."""
    import dpkt  # type: ignore[import-untyped]  # imported here: the CLI parser imports this module

    p = Path(path)
    handle = p.open("rb")
    try:
        magic = handle.read(4)
        handle.seek(0)
        tracker = _TrackingFile(handle)
        kind = "pcapng" if magic == PCAPNG_MAGIC else "pcap"
        try:
            reader = dpkt.pcapng.Reader(tracker) if kind == "pcapng" else dpkt.pcap.Reader(tracker)
        except (ValueError, dpkt.UnpackError) as exc:
            raise CaptureError(f"{p}: not a pcap or pcapng capture (magic {magic.hex() or 'missing'}): {exc}") from None
        if reader.datalink() != DLT_EN10MB:
            raise CaptureError(f"{p}: link type {reader.datalink()} is not Ethernet (DLT_EN10MB)")
        return Capture(p, kind, reader, int(reader.snaplen), p.stat().st_size, tracker, handle)
    except BaseException:
        handle.close()
        raise


def records(capture: Capture) -> Iterator[Record | RecordError]:
    """The capture's records in order; a bad one is a :class:`RecordError` (a truncated one last)."""
    import dpkt

    number = 0
    tracker = capture.tracker
    iterator = iter(capture.reader)
    while True:
        number += 1
        try:
            ts, data = next(iterator)
        except StopIteration:
            return
        except (dpkt.UnpackError, ValueError, OverflowError) as exc:
            yield RecordError(number, f"truncated or corrupt record ({exc or type(exc).__name__})")
            return
        data = bytes(data)
        if capture.kind == "pcap" and tracker.got < tracker.asked:
            yield RecordError(number, f"truncated record: {tracker.got} of {tracker.asked} bytes present")
            return
        if capture.snaplen and len(data) > capture.snaplen:
            yield RecordError(number, f"record of {len(data)} bytes is longer than the snaplen {capture.snaplen}")
            continue
        yield Record(number, float(ts), data)


# -- running one frame, per program type --------------------------------------------------------
@dataclass
class Verdict:
    name: str
    output: bytes | None
    redirect: Any = None


FrameRunner = Callable[[bytes], Verdict]


def frame_runner(program: Program, *, verify: bool = True, engine: str | None = None) -> tuple[str, FrameRunner]:
    """(program type name, function running one frame) for ``program``."""
    if program.prog_type in (None, ProgType.XDP):
        from pybpf.progtypes.xdp import XdpRunner, action_name

        xdp = XdpRunner(program, verify=verify, engine=engine)
        state, load, execute = xdp.state, xdp.state.setup, xdp.execute

        def run_xdp(frame: bytes) -> Verdict:
            load(frame)
            action = action_name(execute())
            return Verdict(action, state.frame() if action in ("PASS", "TX") else None, state.redirect)

        return "xdp", run_xdp

    from pybpf.progtypes.skb import SkbRunner, skb_type_name

    # Socket filters see frames from L2, as on an AF_PACKET socket; tc sees L2 and cgroup
    # programs L3 anyway.
    socket_filter = skb_type_name(program) == "socket_filter"
    skb = SkbRunner(program, l2=True if socket_filter else None, verify=verify, engine=engine)

    def run_skb(frame: bytes) -> Verdict:
        if len(frame) < ETH_HLEN:
            raise ValueError(f"frame of {len(frame)} bytes is shorter than an Ethernet header")
        r = skb.run(frame)
        if skb.kind == "tc":
            out = r.packet if r.action in TC_PASSING else None
        elif skb.kind == "socket":
            out = r.kept if r.action == "KEEP" else None
        else:
            out = r.packet if r.action == "KEEP" else None
        return Verdict(r.action, out, r.redirect)

    return skb.type_name, run_skb


# -- the summary ----------------------------------------------------------------------------------
@dataclass
class CaptureSummary:
    """What a capture run did (``as_dict`` for JSON, ``render`` for people)."""

    program: str
    prog_type: str
    engine: str
    verified: bool
    capture: str
    output: str | None = None
    packets: int = 0
    bytes_in: int = 0
    written: int = 0
    bytes_out: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    redirects: Counter[str] = field(default_factory=Counter)
    errors: list[RecordError] = field(default_factory=list)
    stopped: bool = False
    elapsed_s: float = 0.0
    program_s: float = 0.0
    maps: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @property
    def packets_per_second(self) -> float:
        return self.packets / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "program": self.program,
            "prog_type": self.prog_type,
            "engine": self.engine,
            "verified": self.verified,
            "capture": self.capture,
            "output": self.output,
            "packets": self.packets,
            "bytes_in": self.bytes_in,
            "written": self.written,
            "bytes_out": self.bytes_out,
            "verdicts": dict(sorted(self.verdicts.items())),
            "redirects": dict(sorted(self.redirects.items())),
            "errors": [{"record": e.record, "error": e.reason} for e in self.errors],
            "stopped_on_error": self.stopped,
            "elapsed_s": round(self.elapsed_s, 6),
            "program_s": round(self.program_s, 6),
            "packets_per_second": round(self.packets_per_second, 1),
            "maps": {name: [list(row) for row in rows] for name, rows in self.maps.items()},
        }

    def render(self, max_rows: int = 16) -> str:
        lines = [
            f"{self.program} ({self.prog_type}, {self.engine}{'' if self.verified else ', unverified'}) "
            f"on {self.capture}",
            f"packets   {self.packets}  ({self.bytes_in} bytes)",
            "verdicts  " + ("  ".join(f"{k} {v}" for k, v in sorted(self.verdicts.items())) or "-"),
        ]
        if self.redirects:
            lines.append("redirects " + "  ".join(f"{k} {v}" for k, v in sorted(self.redirects.items())))
        if self.output is not None:
            lines.append(f"written   {self.written} packets ({self.bytes_out} bytes) to {self.output}")
        lines.append(
            f"time      {self.elapsed_s:.3f} s  ({self.packets_per_second:,.0f} packets/s; "
            f"{self.program_s:.3f} s in the program)"
        )
        for name, rows in self.maps.items():
            lines.append(f"map {name}: {len(rows)} non-empty entries")
            lines.extend(f"  {k}  {v}" for k, v in rows[:max_rows])
            if len(rows) > max_rows:
                lines.append(f"  ... {len(rows) - max_rows} more")
        for err in self.errors:
            lines.append(f"error     {err}")
        if self.stopped:
            lines.append("stopped at the first error (--stop-on-error)")
        return "\n".join(lines)


def non_empty_maps(obj: BpfObject) -> dict[str, list[tuple[str, str]]]:
    """Entries with a non-zero value, per map, as hex (read-only data and reference maps left out)."""
    from pybpf.maps import ArrayOfMapsMap, HashOfMapsMap, KeyedMap, ProgArrayMap

    out: dict[str, list[tuple[str, str]]] = {}
    for name, bpf_map in obj.maps.items():
        if name.startswith(".rodata") or not isinstance(bpf_map, KeyedMap):
            continue
        if isinstance(bpf_map, (ProgArrayMap, ArrayOfMapsMap, HashOfMapsMap)):
            continue
        rows = []
        for key, value in bpf_map.items():
            chunks = value if isinstance(value, list) else [value]
            if any(any(bytes(c)) for c in chunks):
                shown = " | ".join(bytes(c).hex() for c in chunks)
                rows.append((bytes(key).hex(), shown))
        if rows:
            out[name] = rows
    return out


# -- the run --------------------------------------------------------------------------------------
class _Writer:
    """pcap or pcapng output (by the file's suffix), original timestamps."""

    def __init__(self, path: Path) -> None:
        import dpkt

        self.handle = path.open("wb")
        self.writer: Any = dpkt.pcapng.Writer(self.handle) if path.suffix == ".pcapng" else dpkt.pcap.Writer(self.handle)

    def write(self, data: bytes, ts: float) -> None:
        self.writer.writepkt(data, ts=ts)

    def close(self) -> None:
        self.handle.close()


class _Progress:
    """A rich progress bar on stderr, shown only once a run has taken more than a second."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.started = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.perf_counter() - self.started < PROGRESS_AFTER_S:
                return
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

            self.bar = Progress(
                TextColumn("running"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("capture", total=self.total)
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_capture(
    program: Program,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    verify: bool = True,
    engine: str | None = None,
    stop_on_error: bool = False,
    progress: bool = False,
    limit: int | None = None,
) -> CaptureSummary:
    """Run ``program`` on every frame of ``source``; write passed frames to ``output``.

    ``limit`` stops after about that many packets (checked every :data:`BATCH` packets).
    """
    from pybpf.progtypes.runtime import engine_name

    capture = open_capture(source)
    type_name, run_one = frame_runner(program, verify=verify, engine=engine)
    summary = CaptureSummary(
        program.name,
        type_name,
        engine or engine_name(program),
        verify,
        str(capture.path),
        str(output) if output is not None else None,
    )
    writer = _Writer(Path(output)) if output is not None else None
    bar = _Progress(capture.size, progress)
    verdicts = summary.verdicts
    redirects = summary.redirects
    errors = summary.errors
    packets = bytes_in = written = bytes_out = 0
    program_time = 0.0
    clock = time.perf_counter
    start = clock()
    try:
        for item in records(capture):
            if type(item) is RecordError:
                errors.append(item)
                if stop_on_error:
                    summary.stopped = True
                    break
                continue
            assert isinstance(item, Record)
            data = item.data
            packets += 1
            bytes_in += len(data)
            t0 = clock()
            try:
                verdict = run_one(data)
            except (VMError, ValueError) as exc:
                program_time += clock() - t0
                errors.append(RecordError(item.number, f"program failed: {exc}"))
                verdicts["ERROR"] += 1
                if stop_on_error:
                    summary.stopped = True
                    break
                continue
            program_time += clock() - t0
            verdicts[verdict.name] += 1
            if verdict.redirect is not None:
                redirects[_redirect_key(verdict.redirect)] += 1
            out = verdict.output
            if out is not None:
                written += 1
                bytes_out += len(out)
                if writer is not None:
                    writer.write(out, item.timestamp)
            if not packets % BATCH:
                bar.update(capture.tracker.position)
                if limit is not None and packets >= limit:
                    break
    finally:
        bar.close()
        capture.close()
        if writer is not None:
            writer.close()
        summary.packets, summary.bytes_in, summary.written, summary.bytes_out = packets, bytes_in, written, bytes_out
    summary.elapsed_s = clock() - start
    summary.program_s = program_time
    summary.maps = non_empty_maps(program.object)
    return summary


def _redirect_key(target: Any) -> str:
    if target.kind == "ifindex":
        return f"ifindex {target.value}"
    return f"{target.map_name}[{target.key}] -> {target.value}"


# -- command line ---------------------------------------------------------------------------------
def add_pcap_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pybpf run OBJ.o --pcap IN.pcap ...`` (added to the ``run`` subcommand)."""
    group = parser.add_argument_group("packet captures (object files with XDP, tc or socket filter programs)")
    group.add_argument("--pcap", metavar="IN", help="run the program on every frame of a pcap or pcapng capture")
    group.add_argument("--write", metavar="OUT", help="write the frames the program passed (as modified) here")
    group.add_argument("--json", action="store_true", help="print the summary as JSON")
    group.add_argument("--no-verify", action="store_true", help="run the program unverified (interpreter only)")
    group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar on stderr for runs over a second (default: when stderr is a terminal)")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument("--keep-going", dest="stop_on_error", action="store_false",
                      help="report bad records and program faults and go on (default)")
    mode.add_argument("--stop-on-error", dest="stop_on_error", action="store_true",
                      help="stop cleanly at the first bad record or program fault")
    parser.set_defaults(stop_on_error=False)


def run_pcap(args: argparse.Namespace, obj: BpfObject, program: Program) -> int:
    """``pybpf run OBJ.o --pcap IN``: run, print the summary; exit status 1 if a record failed."""
    del obj  # the program knows its object; the parameter keeps the CLI call uniform
    if getattr(args, "trace", False):
        raise PybpfError("--trace cannot be combined with --pcap")
    if args.write and not args.pcap:
        raise PybpfError("--write needs --pcap")
    progress = sys.stderr.isatty() if args.progress is None else bool(args.progress)
    engine = getattr(args, "engine", None)
    summary = run_capture(
        program,
        args.pcap,
        args.write,
        verify=not args.no_verify,
        engine=engine,
        stop_on_error=args.stop_on_error,
        progress=progress and not args.json,
    )
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(summary.render())
    return 1 if summary.errors else 0


__all__ = [
    "Capture",
    "CaptureError",
    "CaptureSummary",
    "Record",
    "RecordError",
    "add_pcap_arguments",
    "frame_runner",
    "non_empty_maps",
    "open_capture",
    "records",
    "run_capture",
    "run_pcap",
]
