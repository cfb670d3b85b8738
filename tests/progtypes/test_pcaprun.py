"""Capture runs: pcap and pcapng in and out, summaries, bad captures, the CLI functions."""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import struct
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType

import dpkt  # type: ignore[import-untyped]
import pytest

from pybpf.progtypes import pcaprun
from pybpf.progtypes.pcaprun import CaptureError, add_pcap_arguments, open_capture, records, run_capture, run_pcap

from .support import EXAMPLES, SAMPLE, load_example


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_pcap", EXAMPLES / "make_sample_pcap.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_pcap(path: Path, frames: list[bytes], snaplen: int = 1500, linktype: int = 1) -> Path:
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=snaplen, linktype=linktype)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=1000 + i)
    return path


def test_pcapng_in_and_out(tmp_path: Path) -> None:
    source = tmp_path / "in.pcapng"
    assert generator().write(source, 60, pcapng=True) == 60
    obj = load_example("socket_filter")
    summary = run_capture(obj.program("ssh_or_http"), source, tmp_path / "out.pcapng")
    assert summary.packets == 60 and summary.errors == []
    with (tmp_path / "out.pcapng").open("rb") as f:
        written = [bytes(b) for _, b in dpkt.pcapng.Reader(f)]
    assert len(written) == summary.written == summary.verdicts["KEEP"] > 0
    assert all(len(b) <= 96 for b in written)


def test_summary_text_and_json(tmp_path: Path) -> None:
    obj = load_example("xdp_firewall")
    obj.maps["blocked_ports"][struct.pack("<H", 443)] = bytes(8)
    summary = run_capture(obj.program("firewall"), SAMPLE, tmp_path / "out.pcap")
    data = summary.as_dict()
    assert data["packets"] == 240 and data["verdicts"]["DROP"] > 0
    assert data["written"] == data["verdicts"]["PASS"] and data["bytes_out"] < data["bytes_in"]
    assert list(data["maps"]) == ["blocked_ports"] and data["maps"]["blocked_ports"][0][0] == "bb01"
    text = summary.render()
    assert "verdicts  DROP" in text and "packets/s" in text and "map blocked_ports: 1 non-empty" in text
    json.dumps(data)


def test_truncated_capture(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(SAMPLE.read_bytes()[:-10])
    obj = load_example("xdp_firewall")
    summary = run_capture(obj.program("firewall"), cut)
    assert summary.packets == 239 and len(summary.errors) == 1
    assert str(summary.errors[0]).startswith("record 240: truncated record:")
    header_cut = tmp_path / "header.pcap"
    header_cut.write_bytes(SAMPLE.read_bytes()[: 24 + 16 + 62 + 8])  # half of record 2's header
    items = list(records(open_capture(header_cut)))
    assert isinstance(items[0], pcaprun.Record) and isinstance(items[1], pcaprun.RecordError)
    assert items[1].record == 2


def test_not_a_capture(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\x00\x11\x22\x33" + bytes(40))
    with pytest.raises(CaptureError, match=r"not a pcap or pcapng capture \(magic 00112233"):
        open_capture(bad)
    raw_ip = write_pcap(tmp_path / "raw.pcap", [bytes(40)], linktype=101)
    with pytest.raises(CaptureError, match="link type 101 is not Ethernet"):
        open_capture(raw_ip)


def test_records_longer_than_the_snaplen(tmp_path: Path, frames: list[bytes]) -> None:
    small = [f for f in frames if len(f) <= 64][:3]
    big = next(f for f in frames if len(f) > 64)
    path = write_pcap(tmp_path / "snap.pcap", [small[0], big, small[1], small[2]], snaplen=64)
    program = load_example("xdp_firewall").program("firewall")
    going = run_capture(program, path)
    assert going.packets == 3 and [e.record for e in going.errors] == [2] and "snaplen 64" in going.errors[0].reason
    stopped = run_capture(program, path, stop_on_error=True)
    assert stopped.packets == 1 and stopped.stopped


def test_program_faults_are_record_errors(ops_path: Path, frames: list[bytes], tmp_path: Path) -> None:
    import pybpf.object as bpfobj

    program = bpfobj.load(ops_path, engine="interp").program("xdp_oob")
    path = write_pcap(tmp_path / "three.pcap", frames[:3])
    going = run_capture(program, path, verify=False)
    assert going.verdicts == {"ERROR": 3} and [e.record for e in going.errors] == [1, 2, 3]
    assert "program failed" in going.errors[0].reason
    assert run_capture(program, path, verify=False, stop_on_error=True).verdicts == {"ERROR": 1}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", default="interp")
    add_pcap_arguments(parser)
    return parser.parse_args(argv)


def test_cli_functions(tmp_path: Path) -> None:
    obj = load_example("xdp_lb", vip=bytes([10, 0, 0, 100]), n_backends=1)
    obj.maps["backends"][0] = bytes(6) + b"\0\0" + bytes([10, 1, 0, 1])
    out = io.StringIO()
    args = parse(["--pcap", str(SAMPLE), "--write", str(tmp_path / "o.pcap"), "--json", "--stop-on-error"])
    assert args.stop_on_error is True and parse(["--keep-going"]).stop_on_error is False
    with redirect_stdout(out):
        assert run_pcap(args, obj, obj.program("balance")) == 0
    data = json.loads(out.getvalue())
    assert data["verdicts"]["TX"] > 0 and data["errors"] == [] and data["prog_type"] == "xdp"
    tx = data["verdicts"]["TX"]
    assert data["maps"]["forwarded"] == [["00000000", tx.to_bytes(8, "little").hex()]]
    out = io.StringIO()
    with redirect_stdout(out):
        assert run_pcap(parse(["--pcap", str(SAMPLE), "--no-progress"]), obj, obj.program("balance")) == 0
    assert out.getvalue().startswith("balance (xdp, interp) on")
    with pytest.raises(SystemExit):
        parse(["--keep-going", "--stop-on-error"])


def test_progress_bar_appears_on_slow_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(pcaprun, "PROGRESS_AFTER_S", 0.0)
    monkeypatch.setattr(pcaprun, "BATCH", 16)
    summary = run_capture(load_example("xdp_firewall").program("firewall"), SAMPLE, progress=True)
    assert summary.packets == 240
