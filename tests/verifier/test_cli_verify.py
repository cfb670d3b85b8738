"""``pybpf verify``: the subcommand module (wired into pybpf.cli.main by add_verify_parser)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from pybpf.cli.verify import add_verify_parser
from pybpf.errors import PybpfError

OBJECTS = Path(__file__).resolve().parent.parent / "bpf"
CORPUS = Path(__file__).resolve().parent / "corpus"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="pybpf")
    sub = parser.add_subparsers(dest="command", required=True)
    add_verify_parser(sub)
    args = parser.parse_args(["verify", *argv])
    result: int = args.func(args)
    return result


def test_object_all_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(OBJECTS / "control.v3.o")]) == 0
    out = capsys.readouterr().out
    assert "loop_sum (syscall): accept [syscall]" in out and "states" in out and " ms" in out


def test_object_section_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(OBJECTS / "maps.o"), "--section", "route", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["accepted"] and data["kind"] == "object"
    (prog,) = data["programs"]
    assert prog["name"] == "route" and prog["verdict"] == "accept"
    assert {"instructions", "insns_processed", "states_explored", "time_s"} <= prog.keys()


def test_assembly_reject(capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / "map" / "no_null_check.s"
    assert run([str(path)]) == 1
    out = capsys.readouterr().out
    assert "no_null_check: reject [socket_filter] at insn 7: R0 invalid mem access 'map_value_or_null'" in out
    assert "7: r1 = *(u64 *)(r0 + 0)" in out and "R0=map_value_or_null(" in out


def test_assembly_reject_json_and_log(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([str(CORPUS / "map" / "no_null_check.s"), "--json", "--log-level", "2"]) == 1
    data = json.loads(capsys.readouterr().out)
    (prog,) = data["programs"]
    assert prog["verdict"] == "reject" and prog["index"] == 7 and "map_value_or_null" in prog["reason"]
    assert "0: (b7) r1 = 0" in prog["log"]


def test_type_option_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "prog.s"
    src.write_text("r2 = *(u32 *)(r1 + 0)\nr0 = 2\nexit\n")
    assert run([str(src), "--type", "xdp"]) == 0
    assert "prog: accept [xdp]" in capsys.readouterr().out
    assert run([str(src), "--type", "socket_filter"]) == 0
    assert run([str(src), "--type", "cgroup_skb"]) == 1


def test_assembly_needs_a_type(tmp_path: Path) -> None:
    src = tmp_path / "prog.s"
    src.write_text("r0 = 0\nexit\n")
    with pytest.raises(PybpfError, match="needs --type"):
        run([str(src)])


def test_named_maps_in_assembly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "m.s"
    src.write_text(
        "; map counts hash key=4 value=8 entries=16\n"
        "*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\nr1 = map(counts) ll\ncall bpf_map_lookup_elem\n"
        "if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 8)\nr0 = 0\nexit\n"
    )
    assert run([str(src), "--type", "socket_filter"]) == 1
    assert "invalid access to map value, value_size=8 off=8 size=8" in capsys.readouterr().out
