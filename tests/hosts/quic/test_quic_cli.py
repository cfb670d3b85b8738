"""``pybpf quic`` as a user runs it, and the UDP loopback mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.hosts.quic.controllers import controller_endpoint
from pybpf.hosts.quic.udp import run_udp_transfer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_cli_json_reports_each_controller(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["quic", "--size", "0.2", "--loss", "0.02", "--delay", "5", "--bandwidth", "20",
                 "--cc", "reno", "--cc", "newreno", "--json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    runs = {run["label"]: run for run in document["runs"]}
    assert set(runs) == {"reno", "newreno"}
    assert document["link"]["loss"] == 0.02 and document["link"]["delay_us"] == 5000
    for run in runs.values():
        assert run["completed"] and run["bytes"] == 200_000 and run["throughput_mbps"] > 0
        assert run["series"]["cwnd"]["samples"] > 0 and run["series"]["rtt_ms"]["min"] >= 10.0
    # the reference NewReno is aioquic's Reno: same run, same numbers
    assert runs["reno"]["completion_time_s"] == runs["newreno"]["completion_time_s"]


def test_cli_table_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "cc.png"
    code = main(["quic", "--size", "0.2", "--loss", "0.01", "--cc", "cubic", "--cc", "westwood", "--plot", str(png)])
    assert code == 0
    out = capsys.readouterr().out
    assert "cubic" in out and "westwood" in out and "Mbit/s" in out
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC)
    assert len(data) > 20_000  # two panels with curves, not an empty canvas
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 800 and height >= 600


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--loss", "1.5"], "loss rate"),
        (["--size", "0"], "--size"),
        (["--bandwidth", "-1"], "--bandwidth"),
        (["--plot", "out.jpg"], "PNG"),
    ],
)
def test_cli_bad_input_is_one_clear_error(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quic", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pybpf quic: error:") and message in err and err.count("\n") == 1


def test_cli_unknown_controller_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["quic", "--cc", "bbr"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_udp_loopback_transfer() -> None:
    result = run_udp_transfer(200_000, controller_endpoint("newreno"), timeout=60)
    assert result.completed and result.bytes_received == 200_000
    assert result.packets_sent > 150
    assert result.series["cwnd"] and result.series["rtt_ms"]


def test_cli_udp(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quic", "--udp", "--size", "0.1", "--cc", "westwood", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    assert run["completed"] and run["bytes"] == 100_000


def _runs(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, object]]:
    assert main(["quic", "--size", "0.15", "--delay", "5", "--bandwidth", "20", "--json", *argv]) == 0
    return {run["label"]: run for run in json.loads(capsys.readouterr().out)["runs"]}


def test_cli_schedulers_and_streams(capsys: pytest.CaptureFixture[str]) -> None:
    rr = _runs(capsys, "--streams", "3", "--scheduler", "rr")["reno"]
    prio = _runs(capsys, "--streams", "3", "--scheduler", "priority", "--priorities", "2,0,1")["reno"]
    fine = _runs(capsys, "--streams", "3", "--scheduler", "rr", "--quantum", "300")["reno"]

    def order(run: dict[str, object]) -> list[str]:
        done = run["stream_completion_s"]
        assert isinstance(done, dict) and len(done) == 3
        return sorted(done, key=lambda i: (done[i], i))

    assert order(prio) == ["1", "2", "0"]  # by the priorities given
    assert order(rr) != order(prio)
    assert fine["packets_sent"] > rr["packets_sent"]  # 300-byte frames share packets
    assert all(r["completed"] and r["bytes"] == 150_000 for r in (rr, prio, fine))


def test_cli_message_extension(capsys: pytest.CaptureFixture[str]) -> None:
    runs = _runs(capsys, "--loss", "0.05", "--message", "hello", "--message", "world", "--cc", "reno", "--cc", "ebpf-westwood")
    for run in runs.values():
        exchange = run["messages"]
        assert isinstance(exchange, dict)
        assert (exchange["sent"], exchange["received_by_server"], exchange["echoes"]) == (2, 2, 2)
        assert exchange["echoed_all"] and exchange["frames_sent"] == 2 + exchange["frames_lost"]
    assert main(["quic", "--size", "0.1", "--message", "hi", "--streams", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 messages sent, 1 received by the server, 1 echoes back" in out and "streams done at" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--udp", "--streams", "2"], "simulated link only"),
        (["--udp", "--message", "x"], "simulated link only"),
        (["--quantum", "100"], "--scheduler rr"),
        (["--scheduler", "priority", "--streams", "2", "--priorities", "1"], "2 non-negative values"),
        (["--scheduler", "priority", "--priorities", "a"], "integers"),
        (["--streams", "0"], "--streams"),
        (["--scheduler", "rr", "--cc", "westwood"], "not with 'westwood'"),
    ],
)
def test_cli_scheduler_and_message_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["quic", "--size", "0.05", *argv]) == 1
    assert message in capsys.readouterr().err


def test_cli_offer_plugin_exchange(capsys: pytest.CaptureFixture[str]) -> None:
    from pybpf.hosts.quic.plugin_host import bundled

    runs = _runs(capsys, "--offer", str(bundled("westwood")), "--cc", "reno")
    [arrival] = runs["reno"]["offered_plugins"]  # type: ignore[misc]
    assert arrival["plugin"] == "org.pybpf.quic.westwood" and arrival["inserted"] and arrival["reason"] == ""
    assert 0 < arrival["at_s"] < runs["reno"]["completion_time_s"]  # type: ignore[operator]
    plain = _runs(capsys, "--cc", "reno")["reno"]
    assert plain["completion_time_s"] != runs["reno"]["completion_time_s"]  # Westwood took over
    # the client runs the eBPF monitor already: the insertion is refused, the run goes on
    assert main(["quic", "--size", "0.1", "--offer", str(bundled("monitor"))]) == 0
    out = capsys.readouterr().out
    assert "the server's plugin org.pybpf.quic.monitor refused: plugin org.pybpf.quic.monitor is already inserted" in out
