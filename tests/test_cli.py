"""The ``pybpf`` command, run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pybpf.cli.main import main

ROOT = Path(__file__).resolve().parent.parent


def pybpf(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pybpf", *args], capture_output=True, text=True, input=stdin, timeout=60
    )


def test_hello_example_runs() -> None:
    proc = pybpf("run", str(ROOT / "examples" / "hello.asm"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == hex(sum(range(1, 101)))


def test_asm_then_disasm_then_run(tmp_path: Path) -> None:
    src = tmp_path / "p.asm"
    src.write_text("mov %r0, 0\nldxb %r2, [%r1+1]\nadd %r0, %r2\nexit\n")
    out = tmp_path / "p.bin"
    assert main(["asm", str(src), "-o", str(out)]) == 0
    assert out.stat().st_size == 32
    proc = pybpf("disasm", str(out))
    assert proc.returncode == 0
    assert "r2 = *(u8 *)(r1 + 1)" in proc.stdout
    proc = pybpf("run", str(out), "--mem", "00 2a")
    assert proc.stdout.strip() == "0x2a"
    mem = tmp_path / "mem.bin"
    mem.write_bytes(b"\x00\x07")
    assert pybpf("run", str(out), "--mem-file", str(mem)).stdout.strip() == "0x7"


def test_trace_prints_each_instruction_and_changes(tmp_path: Path) -> None:
    src = tmp_path / "t.asm"
    src.write_text("r1 = 5\n*(u64 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nexit\n")
    proc = pybpf("run", str(src), "--trace")
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["0:", "r1", "=", "5", "r1=0x5"]
    assert "]:8=0x5" in lines[1]
    assert lines[2].endswith("r0=0x5")
    assert lines[-1] == "0x5"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("r0 = 0\nbogus\nexit\n", "line 2"),
        ("r0 = 0\n", "no exit instruction"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, content: str, message: str) -> None:
    src = tmp_path / "bad.asm"
    src.write_text(content)
    proc = pybpf("run", str(src))
    assert proc.returncode == 1
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_runtime_fault_reports_instruction(tmp_path: Path) -> None:
    src = tmp_path / "oob.asm"
    src.write_text("r0 = *(u64 *)(r1 + 0)\nexit\n")
    proc = pybpf("run", str(src), "--mem", "0102")
    assert proc.returncode == 1
    assert "instruction 0: invalid 8-byte read" in proc.stderr


def test_raw_bytecode_errors_name_index(tmp_path: Path) -> None:
    raw = tmp_path / "bad.bin"
    raw.write_bytes(bytes.fromhex("b700000000000000ff000000000000009500000000000000"))
    proc = pybpf("run", str(raw))
    assert proc.returncode == 1 and "instruction 1: unknown opcode 0xff" in proc.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    src = tmp_path / "bad.asm"
    src.write_text("r0 = 0\n")
    proc = pybpf("--debug", "run", str(src))
    assert proc.returncode == 1 and "Traceback" in proc.stderr


def test_missing_file() -> None:
    proc = pybpf("run", "no/such/file.asm")
    assert proc.returncode == 1 and "No such file" in proc.stderr


@pytest.mark.parametrize("command", ["asm", "disasm", "run", "conformance-plugin"])
def test_help(command: str) -> None:
    proc = pybpf(command, "--help")
    assert proc.returncode == 0 and "usage: pybpf " + command in proc.stdout


def test_conformance_plugin_command_with_memory() -> None:
    program = "71  10  01  00  00  00  00  00  95  00  00  00  00  00  00  00  \n"  # r0 = *(u8 *)(r1 + 1)
    proc = pybpf("conformance-plugin", "00  2a  ", stdin=program)
    assert proc.returncode == 0 and proc.stdout.strip() == "2a"


def test_jit_engine_runs_hello(tmp_path: Path) -> None:
    proc = pybpf("run", str(ROOT / "examples" / "hello.asm"), "--engine", "jit")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "0x13ba"


def test_disasm_object_resolves_names() -> None:
    proc = pybpf("disasm", str(ROOT / "tests" / "bpf" / "control.o"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "loop_sum (section syscall, type syscall" in out
    assert "r2 = func(pc+8) ll  ; add_index" in out
    assert "call 181  ; bpf_loop" in out
    assert "; map jumps" in out
    assert "\nadd_index:\n" in out


def test_inspect_object_json() -> None:
    import json

    proc = pybpf("inspect", str(ROOT / "tests" / "bpf" / "maps.o"), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    maps = {m["name"]: m for m in info["maps"]}
    assert maps["flows"] == {
        "name": "flows",
        "type": "hash",
        "key_size": 8,
        "value_size": 16,
        "max_entries": 64,
        "flags": 0,
        "pinning": "",
        "source": "btf",
    }
    assert [p["name"] for p in info["programs"]][:2] == ["count_flow", "bump"]
    table = pybpf("inspect", str(ROOT / "tests" / "bpf" / "control.o")).stdout
    assert "pinned_counts" in table and "by_name" in table and "read-only" in table


def test_inspect_bad_object_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"\x7fELF" + bytes(100))
    proc = pybpf("inspect", str(bad))
    assert proc.returncode == 1 and "64-bit" in proc.stderr and "Traceback" not in proc.stderr


def test_run_object_program_and_show_maps() -> None:
    proc = pybpf(
        "run", str(ROOT / "tests" / "bpf" / "maps.o"), "--section", "count_flow", "--mem", "0100000a 50000000 64000000"
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "0x1"
    assert "map 'flows': HASH (1)" in proc.stdout
    assert "map 'counters'" not in proc.stdout  # untouched array: nothing to show
    # Keys and values through the object's BTF (struct flow -> struct stats); the input is
    # addr 0x0a000001, port 80 and 100 bytes, and count_flow sets proto 6.
    assert "btf  key struct flow  value struct stats" in lines
    assert "{addr: 167772161, port: 80, proto: 6}  {packets: 1, bytes: 100}" in lines


def test_run_object_needs_section_when_ambiguous() -> None:
    proc = pybpf("run", str(ROOT / "tests" / "bpf" / "maps.o"), "--mem", "00")
    assert proc.returncode == 1 and "choose one with --section" in proc.stderr


def test_map_dump_of_a_pinned_map(tmp_path: Path) -> None:
    import os

    env = dict(os.environ, PYBPF_PIN_ROOT=str(tmp_path))
    for expected in ("0x1", "0x2"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pybpf",
                "run",
                str(ROOT / "tests" / "bpf" / "control.o"),
                "--section",
                "pin_count",
                "--mem",
                "07000000",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert proc.stdout.splitlines()[0] == expected, proc.stderr
    proc = pybpf("map", "dump", str(tmp_path / "pinned_counts"))
    assert proc.returncode == 0
    assert "HASH" in proc.stdout and "07 00 00 00  02 00 00 00 00 00 00 00" in proc.stdout
    assert "btf" not in proc.stdout  # a pin file carries no BTF
    # With the object that defines the map, keys and values are decoded (__u32 -> __u64).
    control = str(ROOT / "tests" / "bpf" / "control.o")
    proc = pybpf("map", "dump", str(tmp_path / "pinned_counts"), "--btf", control)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-4:] == ["1 entries", "key  value", "7    2", ""]
    assert "btf  key __u32  value __u64" in proc.stdout
    # The object must define a map of that name and shape.
    maps = str(ROOT / "tests" / "bpf" / "maps.o")
    proc = pybpf("map", "dump", str(tmp_path / "pinned_counts"), "--btf", maps)
    assert proc.returncode == 1 and "defines no map 'pinned_counts'" in proc.stderr
    proc = pybpf("map", "dump", str(tmp_path / "pinned_counts"), "--btf", maps, "--map", "flows")
    assert proc.returncode == 1 and "key 8, value 16 bytes; the pinned map is type 1, key 4, value 8" in proc.stderr
    proc = pybpf("map", "dump", str(tmp_path / "pinned_counts"), "--map", "flows")
    assert proc.returncode == 1 and "--map needs --btf" in proc.stderr
