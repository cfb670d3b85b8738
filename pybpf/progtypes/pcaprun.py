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
import functools
import io
import json
import os
import struct
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pybpf.errors import PybpfError, VMError
from pybpf.maps.display import MapEntry, map_entries
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
    handle: io.BufferedReader

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


@dataclass
class CaptureIndex:
    """A capture read into memory at once, with its packets located in bulk.

    Packet ``i`` is ``data[offsets[i] : offsets[i] + lengths[i]]``; ``ts_a``/``ts_b`` hold its raw
    timestamp (see :mod:`pybpf.jit.capture`).  The index covers the file up to ``stop``: past it
    (``complete`` false) lies a record the bulk walk did not accept -- cut short, longer than the
    snaplen, a pcapng block with options -- and the rest is read with dpkt from there, so every
    file is read exactly as dpkt reads it.  ``data`` is writable: the batch runner copies the
    packets back into it as the program left them.
    """

    data: bytearray
    offsets: array[int]
    lengths: array[int]
    ts_a: array[int]
    ts_b: array[int]
    stop: int
    kind: str
    divisor: Any
    tsoffset: int = 0

    @property
    def count(self) -> int:
        return len(self.offsets)

    @property
    def complete(self) -> bool:
        return self.stop >= len(self.data)

    def timestamp(self, i: int) -> float:
        """Packet ``i``'s timestamp, computed with dpkt's own expression (same float)."""
        if self.kind == "pcap":
            return float(self.ts_a[i] + (self.ts_b[i] / self.divisor))
        return float(self.tsoffset + (self.ts_a[i] / self.divisor))

    def packet(self, i: int) -> bytes:
        off = self.offsets[i]
        return bytes(self.data[off : off + self.lengths[i]])


_PCAP_MAGICS = {  # first four bytes -> file is little-endian (record headers: 16 bytes)
    b"\xd4\xc3\xb2\xa1": True,
    b"\x4d\x3c\xb2\xa1": True,
    b"\xa1\xb2\xc3\xd4": False,
    b"\xa1\xb2\x3c\x4d": False,
}
_PCAPNG_BOM_LE = b"\x4d\x3c\x2b\x1a"


def index_capture(capture: Capture, *, native: bool | None = None) -> CaptureIndex:
    """Read ``capture`` into memory and index its packets (natively when ``native`` is true, or
    None and the JIT's runtime library is available; else in Python, same result)."""
    handle = capture.handle
    position = capture.tracker.position  # dpkt has read the file header (and pcapng's IDB)
    handle.seek(0)
    data = bytearray(capture.size)
    got = handle.readinto(data)
    if got < len(data):
        del data[got:]
    handle.seek(position)
    reader = capture.reader
    divisor, tsoffset = reader._divisor, int(getattr(reader, "_tsoffset", 0))
    if capture.kind == "pcap":
        little = _PCAP_MAGICS.get(bytes(data[:4]))
        if little is None:  # a pcap variant with other record headers: dpkt reads all of it
            empty = array("Q")
            return CaptureIndex(data, empty, array("Q"), array("Q"), array("Q"), position, "pcap", divisor)
    else:
        little = bytes(data[8:12]) == _PCAPNG_BOM_LE
    swap = little != (sys.byteorder == "little")
    if native is None:
        from pybpf.engine import jit_available

        native = jit_available()
    walk = _walk_native if native else _walk_python
    offsets, lengths, ts_a, ts_b, stop = walk(capture.kind, data, position, swap, capture.snaplen)
    return CaptureIndex(data, offsets, lengths, ts_a, ts_b, stop, capture.kind, divisor, tsoffset)


_Walk = tuple["array[int]", "array[int]", "array[int]", "array[int]", int]


def _walk_native(kind: str, data: bytearray, position: int, swap: bool, snaplen: int) -> _Walk:
    """The runtime library's indexer: a counting pass, then a storing pass into exact arrays."""
    import ctypes

    from pybpf.jit.rtlib import runtime_library

    library = runtime_library()
    address = library.index_pcap if kind == "pcap" else library.index_pcapng
    u64, ptr = ctypes.c_uint64, ctypes.c_void_p
    walk = ctypes.CFUNCTYPE(u64, ptr, u64, u64, u64, u64, ptr, ptr, ptr, ptr, u64, ptr)(address)
    view = (ctypes.c_char * max(len(data), 1)).from_buffer(data if data else bytearray(1))
    try:
        stop = u64(0)
        base, size, sw = ctypes.addressof(view), len(data), int(swap)
        n = walk(base, size, position, sw, snaplen, None, None, None, None, (1 << 63), ctypes.byref(stop))
        arrays = [array("Q", bytes(8 * n)) for _ in range(4)]
        addrs = [a.buffer_info()[0] for a in arrays]
        n2 = walk(base, size, position, sw, snaplen, *addrs, n, ctypes.byref(stop))
        assert n2 == n
        return arrays[0], arrays[1], arrays[2], arrays[3], int(stop.value)
    finally:
        del view


def _walk_python(kind: str, data: bytearray, position: int, swap: bool, snaplen: int) -> _Walk:
    """The same walk as :mod:`pybpf.jit.capture`, in Python (no llvmlite, and the reference the
    tests compare the native one with)."""
    order = (">" if sys.byteorder == "little" else "<") if swap else "="
    offsets, lengths, ts_a, ts_b = array("Q"), array("Q"), array("Q"), array("Q")
    size, pos = len(data), position
    if kind == "pcap":
        header = struct.Struct(order + "III")
        while size - pos >= 16:
            sec, frac, caplen = header.unpack_from(data, pos)
            if caplen > size - pos - 16 or (snaplen and caplen > snaplen):
                break
            offsets.append(pos + 16)
            lengths.append(caplen)
            ts_a.append(sec)
            ts_b.append(frac)
            pos += 16 + caplen
        return offsets, lengths, ts_a, ts_b, pos
    word = struct.Struct(order + "I")
    head = struct.Struct(order + "II")
    block = struct.Struct(order + "IIIIII")
    while size - pos >= 12:
        btype, blen = head.unpack_from(data, pos)
        if blen & 3 or blen < 12 or blen > size - pos:
            break
        if btype == 6:
            if blen < 32:
                break
            _, _, _, ts_hi, ts_lo, caplen = block.unpack_from(data, pos)
            if (
                32 + ((caplen + 3) & ~3) != blen
                or word.unpack_from(data, pos + blen - 4)[0] != blen
                or (snaplen and caplen > snaplen)
            ):
                break
            offsets.append(pos + 28)
            lengths.append(caplen)
            ts_a.append((ts_hi << 32) | ts_lo)
            ts_b.append(0)
        pos += blen
    return offsets, lengths, ts_a, ts_b, pos


def records(capture: Capture, index: CaptureIndex | None = None) -> Iterator[Record | RecordError]:
    """The capture's records in order; a bad one is a :class:`RecordError` (a truncated one last).

    The packets ``index`` (default: :func:`index_capture` in Python) covers come first, then
    dpkt reads the rest of the file (see :class:`CaptureIndex`)."""
    if index is None:
        index = index_capture(capture, native=False)
    for i in range(index.count):
        yield Record(i + 1, index.timestamp(i), index.packet(i))
    if not index.complete:
        yield from _dpkt_records(capture, index.stop, index.count)


def _dpkt_records(capture: Capture, position: int, before: int) -> Iterator[Record | RecordError]:
    """Records from file offset ``position`` on, read by dpkt, numbered after ``before`` others."""
    import dpkt

    capture.handle.seek(position)
    tracker = capture.tracker
    tracker.position = position
    number = before
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
    #: the same entries with their BTF formats (decoded keys and values where the object has BTF)
    entries: dict[str, list[MapEntry]] = field(default_factory=dict)

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
            "map_entries": {name: [e.as_dict() for e in rows] for name, rows in self.entries.items()},
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
            entries = self.entries.get(name)
            shown = [(e.key_text(), e.value_text()) for e in entries[:max_rows]] if entries else rows[:max_rows]
            width = max((len(k) for k, _ in shown), default=0)
            lines.extend(f"  {k.ljust(width)}  {v}" for k, v in shown)
            if len(rows) > max_rows:
                lines.append(f"  ... {len(rows) - max_rows} more")
        for err in self.errors:
            lines.append(f"error     {err}")
        if self.stopped:
            lines.append("stopped at the first error (--stop-on-error)")
        return "\n".join(lines)


def non_empty_entries(obj: BpfObject) -> dict[str, list[MapEntry]]:
    """Entries with a non-zero value, per map (read-only data and reference maps left out),
    each with the map's BTF formats so that it can be shown decoded."""
    from pybpf.maps import ArrayOfMapsMap, HashOfMapsMap, KeyedMap, ProgArrayMap

    out: dict[str, list[MapEntry]] = {}
    for name, bpf_map in obj.maps.items():
        if name.startswith(".rodata") or not isinstance(bpf_map, KeyedMap):
            continue
        if isinstance(bpf_map, (ProgArrayMap, ArrayOfMapsMap, HashOfMapsMap)):
            continue
        rows = map_entries(bpf_map, non_empty=True)
        if rows:
            out[name] = rows
    return out


def non_empty_maps(obj: BpfObject) -> dict[str, list[tuple[str, str]]]:
    """Entries with a non-zero value, per map, as (key, value) hex; per-CPU values joined by `` | ``."""
    return hex_rows(non_empty_entries(obj))


def hex_rows(entries: dict[str, list[MapEntry]]) -> dict[str, list[tuple[str, str]]]:
    return {name: [(e.key_hex, e.value_hex) for e in rows] for name, rows in entries.items()}


# -- the run --------------------------------------------------------------------------------------
class _Writer:
    """pcap or pcapng output (by the file's suffix), original timestamps."""

    def __init__(self, path: Path) -> None:
        import dpkt

        self.handle = path.open("wb")
        self.writer: Any = dpkt.pcapng.Writer(self.handle) if path.suffix == ".pcapng" else dpkt.pcap.Writer(self.handle)

    def write(self, data: bytes, ts: float) -> None:
        self.writer.writepkt(data, ts=ts)

    def write_many(self, frames: Iterable[tuple[float, bytes]]) -> None:
        """Many frames at once (dpkt's pcap writer has a loop for it; same bytes as ``write``)."""
        if hasattr(self.writer, "writepkts") and not isinstance(self.writer, _pcapng_writer()):
            self.writer.writepkts(frames)
        else:
            for ts, data in frames:
                self.writer.writepkt(data, ts=ts)

    def close(self) -> None:
        self.handle.close()


def _pcapng_writer() -> type:
    import dpkt

    return dpkt.pcapng.Writer  # type: ignore[no-any-return]


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


class _Run:
    """The counters of a capture run and the per-packet path: one frame through ``run_one``."""

    def __init__(
        self,
        summary: CaptureSummary,
        run_one: FrameRunner,
        writer: _Writer | None,
        stop_on_error: bool,
        limit: int | None,
    ) -> None:
        self.summary = summary
        self.run_one = run_one
        self.writer = writer
        self.stop_on_error = stop_on_error
        self.limit = limit
        self.packets = self.bytes_in = self.written = self.bytes_out = 0
        self.program_time = 0.0

    def error(self, item: RecordError) -> bool:
        """A bad record; true = stop."""
        self.summary.errors.append(item)
        if self.stop_on_error:
            self.summary.stopped = True
            return True
        return False

    def failed(self, number: int, exc: BaseException) -> bool:
        """The program failed on record ``number``; true = stop."""
        self.summary.verdicts["ERROR"] += 1
        return self.error(RecordError(number, f"program failed: {exc}"))

    def packet(self, number: int, timestamp: float | Callable[[], float], data: bytes) -> bool | None:
        """Run one frame.  Returns true to stop (error with ``stop_on_error``, or the limit),
        None after a program failure (the limit is not checked then), false otherwise."""
        self.packets += 1
        self.bytes_in += len(data)
        clock = time.perf_counter
        t0 = clock()
        try:
            verdict = self.run_one(data)
        except (VMError, ValueError) as exc:
            self.program_time += clock() - t0
            return True if self.failed(number, exc) else None
        self.program_time += clock() - t0
        summary = self.summary
        summary.verdicts[verdict.name] += 1
        if verdict.redirect is not None:
            summary.redirects[_redirect_key(verdict.redirect)] += 1
        out = verdict.output
        if out is not None:
            self.written += 1
            self.bytes_out += len(out)
            if self.writer is not None:
                self.writer.write(out, timestamp() if callable(timestamp) else timestamp)
        return self.limit_reached()

    def limit_reached(self) -> bool:
        return self.limit is not None and not self.packets % BATCH and self.packets >= self.limit


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
    batch: bool = True,
) -> CaptureSummary:
    """Run ``program`` on every frame of ``source``; write passed frames to ``output``.

    ``limit`` stops after about that many packets (checked every :data:`BATCH` packets).
    With ``batch`` (the default), an XDP program on a native engine runs over the capture
    through the JIT's batch entry point, many packets per native call (see :class:`XdpBatch`);
    the results are those of the packet-by-packet path (``batch=False``), only faster.
    """
    from pybpf.progtypes.runtime import engine_name

    capture = open_capture(source)
    try:
        type_name, run_one = frame_runner(program, verify=verify, engine=engine)
        batcher = XdpBatch.create(program, verify=verify, engine=engine) if batch else None
    except BaseException:
        capture.close()
        raise
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
    run = _Run(summary, run_one, writer, stop_on_error, limit)
    clock = time.perf_counter
    start = clock()
    try:
        index = index_capture(capture, native=True if batcher is not None else None)
        if batcher is not None:
            stopped = batcher.run(run, index, bar)
        else:
            stopped = False
            for i in range(index.count):
                if run.packet(i + 1, functools.partial(index.timestamp, i), index.packet(i)):
                    stopped = True
                    break
                if not run.packets % BATCH:
                    bar.update(index.offsets[i])
        if not stopped and not index.complete:
            for item in _dpkt_records(capture, index.stop, index.count):
                if type(item) is RecordError:
                    if run.error(item):
                        break
                    continue
                assert isinstance(item, Record)
                if run.packet(item.number, item.timestamp, item.data):
                    break
                if not run.packets % BATCH:
                    bar.update(capture.tracker.position)
    finally:
        bar.close()
        capture.close()
        if writer is not None:
            writer.close()
        summary.packets, summary.bytes_in = run.packets, run.bytes_in
        summary.written, summary.bytes_out = run.written, run.bytes_out
    summary.elapsed_s = clock() - start
    summary.program_s = run.program_time
    summary.entries = non_empty_entries(program.object)
    summary.maps = hex_rows(summary.entries)
    return summary


CHUNK = 64 * BATCH  # packets per native call: a multiple of BATCH, so limits fall on chunk ends
XDP_PASSING = (2, 3)  # PASS, TX: the frames written out


class XdpBatch:
    """An XDP program over a capture through ``run_batch``: one native call per chunk.

    Each packet is copied natively into the runtime's packet frame at the kernel's headroom
    (256), ``xdp_md`` and its shadow pointers are rebuilt from a template, the program runs,
    and the packet is copied back into the capture buffer as the program left it -- the same
    frame, addresses, context and memory the packet-by-packet path gives it, so verdicts, map
    contents, output bytes and even fault messages are identical.

    Only when that equivalence is certain: the program is verified (``safe`` proofs; unverified
    runs need the interpreter's guarded memory), its engine has ``run_batch`` (``jit``,
    ``auto``), and it calls no helper that works on the packet state in Python (adjust_head /
    tail / meta, redirect, redirect_map) and makes no tail calls; otherwise :meth:`create`
    returns None and the capture runs packet by packet.  Frames longer than the XDP linear
    limit (which become fragments) run packet by packet, in order, inside the batch run.
    """

    def __init__(self, runner: Any, engine: Any) -> None:
        from pybpf.jit.batch import DATA, DATA_END, DATA_META, BatchContext
        from pybpf.progtypes.xdp import XDP_PACKET_HEADROOM

        state = runner.state
        self.state = state
        self.engine = engine
        ctx = state.ctx
        template = bytearray(len(ctx.buf))
        struct.pack_into("<I", template, ctx.field("ingress_ifindex").offset, 1)
        struct.pack_into("<I", template, ctx.field("rx_queue_index").offset, 0)
        pointers = []
        for name, which in (("data", DATA), ("data_end", DATA_END), ("data_meta", DATA_META)):
            f = ctx.field(name)
            pointers.append((f.offset, 4, which))
            if f.shadow_offset is not None:
                pointers.append((f.shadow_offset, 8, which))
        self.context = BatchContext(
            ctx.region,
            bytes(template),
            pointers,
            frame=state.packet.region,
            headroom=XDP_PACKET_HEADROOM,
            narrow=False,
            copy_back=True,
        )

    @classmethod
    def create(cls, program: Program, *, verify: bool, engine: str | None) -> XdpBatch | None:
        """The batch runner for ``program``, or None when only the per-packet path is exact."""
        if program.prog_type not in (None, ProgType.XDP) or not verify:
            return None
        from pybpf.progtypes.xdp import XdpRunner

        runner = XdpRunner(program, verify=verify, engine=engine)
        machine = runner.runtime.engine_for(program)
        if not hasattr(machine, "run_batch") or not batch_safe(machine.insns):
            return None
        return cls(runner, machine)

    def run(self, run: _Run, index: CaptureIndex, bar: _Progress) -> bool:
        """Run every indexed packet; true when the run stopped (error or limit)."""
        from pybpf.progtypes.xdp import MAX_LINEAR
        from pybpf.vm.memory import Region

        region = Region("capture", index.data)
        offsets, lengths = index.offsets, index.lengths
        n = index.count
        out = array("Q", bytes(8 * min(n, CHUNK)))
        limit = run.limit
        first_check = max(BATCH, -(-limit // BATCH) * BATCH) if limit is not None else None
        at = 0
        while at < n:
            end = min(n, at + CHUNK)
            if first_check is not None:
                # Up to the first limit check in one go; after it (the packet there failed,
                # so the per-packet path goes on) one check per BATCH packets, as it does.
                end = min(end, first_check) if at < first_check else min(n, at + BATCH)
            lens = lengths[at:end]
            if max(lens) <= MAX_LINEAR:
                stop = self._batch(run, index, region, at, end, out)
            else:
                stop = False
                j = at
                while j < end and not stop:
                    k = j
                    while k < end and lengths[k] <= MAX_LINEAR:
                        k += 1
                    if k > j:
                        stop = self._batch(run, index, region, j, k, out)
                    if k < end and not stop:
                        # True from packet() is a stop on error, or the limit -- which can only
                        # be reached at the chunk's end, checked below like every chunk's.
                        stopping = run.packet(k + 1, functools.partial(index.timestamp, k), index.packet(k))
                        stop = bool(stopping) and run.summary.stopped
                    j = k + 1
            if stop:
                return True
            at = end
            bar.update(offsets[end - 1])
            if limit is not None and end % BATCH == 0 and end >= limit and self._last_ok(run, end):
                return True
        return False

    def _last_ok(self, run: _Run, end: int) -> bool:
        """Whether packet ``end`` (1-based) did not fail: the per-packet path checks the limit
        only after packets that ran."""
        errors = run.summary.errors
        return not errors or errors[-1].record != end

    def _batch(self, run: _Run, index: CaptureIndex, region: Any, a: int, b: int, out: array[int]) -> bool:
        """Packets ``a`` .. ``b - 1`` (all within the linear limit) through native calls."""
        from pybpf.errors import VMError as _VMError

        offsets, lengths = index.offsets, index.lengths
        engine, context, state = self.engine, self.context, self.state
        clock = time.perf_counter
        j = a
        while j < b:
            t0 = clock()
            failure: BaseException | None = None
            try:
                engine.run_batch(region, offsets[j:b], lengths[j:b], out=out, context=context)
                done = b - j
            except (_VMError, ValueError) as exc:
                where = getattr(exc, "batch_index", None)
                if where is None:
                    raise
                done, failure = int(where), exc
            finally:
                run.program_time += clock() - t0
                state.packet.forget()
            if done:
                self._account(run, index, j, done, out)
            if failure is not None:
                run.packets += 1
                run.bytes_in += lengths[j + done]
                if run.failed(j + done + 1, failure):
                    return True
                done += 1
            j += done
        return False

    def _account(self, run: _Run, index: CaptureIndex, a: int, n: int, out: array[int]) -> None:
        """Count verdicts, bytes and written frames of packets ``a`` .. ``a + n - 1``."""
        from pybpf.progtypes.xdp import action_name

        lengths = index.lengths[a : a + n]
        results = out[:n] if n < len(out) else out
        run.packets += n
        run.bytes_in += sum(lengths)
        verdicts = run.summary.verdicts
        counts = Counter(results)
        passing = []
        for value, count in counts.items():
            verdicts[action_name(value & 0xFFFF_FFFF)] += count
            if value & 0xFFFF_FFFF in XDP_PASSING:
                passing.append(value)
        if not passing:
            return
        if len(passing) == len(counts):
            chosen: Iterable[int] = range(n)
            run.written += n
            run.bytes_out += sum(lengths)
        else:
            keep = frozenset(passing)
            chosen = [k for k in range(n) if results[k] in keep]
            run.written += len(chosen)
            run.bytes_out += sum(lengths[k] for k in chosen)
        writer = run.writer
        if writer is not None:
            writer.write_many((index.timestamp(a + k), index.packet(a + k)) for k in chosen)


def batch_safe(insns: Sequence[Any]) -> bool:
    """Whether a program's runs are independent of the Python packet state: no helper of
    :data:`~pybpf.progtypes.packet_helpers.PACKET_HELPERS` but the pure ``csum_diff``, no tail
    call, no kfunc (unknown to this check)."""
    from pybpf.progtypes.packet_helpers import PACKET_HELPERS

    stateful = {hid for hid in PACKET_HELPERS if hid != CSUM_DIFF} | {TAIL_CALL}
    for insn in insns:
        if insn.opcode == CALL:
            if insn.src == 0 and insn.imm in stateful:
                return False
            if insn.src not in (0, 1):
                return False
    return True


CALL = 0x85
TAIL_CALL = 12
CSUM_DIFF = 28


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
    "CaptureIndex",
    "CaptureSummary",
    "Record",
    "RecordError",
    "XdpBatch",
    "add_pcap_arguments",
    "batch_safe",
    "frame_runner",
    "hex_rows",
    "index_capture",
    "non_empty_entries",
    "non_empty_maps",
    "open_capture",
    "records",
    "run_capture",
    "run_pcap",
]
