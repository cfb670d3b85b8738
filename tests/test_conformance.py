"""All bpf_conformance vectors, through the interpreter and through the plugin protocol."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pybpf.conformance import encode_for_plugin, find_directory, load_directory, parse_data, plugin_main, run_case

EXPECTED_FILES = 313


def _cases() -> list:  # type: ignore[type-arg]
    directory = find_directory(Path(__file__))
    return load_directory(directory) if directory else []


CASES = _cases()


def test_all_vectors_present(conformance_dir: Path) -> None:
    assert len(list(conformance_dir.glob("*.data"))) == EXPECTED_FILES
    assert len(CASES) == EXPECTED_FILES


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_interpreter(case) -> None:  # type: ignore[no-untyped-def]
    assert case.error is None
    assert run_case(case, "interp") == case.result


def test_plugin_protocol_in_process() -> None:
    """Every vector through the plugin entry point, with argv/stdin encoded as the runner does."""
    failures = []
    for case in CASES:
        argv, stdin = encode_for_plugin(case)
        code, out = plugin_main(argv, stdin)
        if code != 0 or int(out, 16) != case.result:
            failures.append((case.name, code, out))
    assert not failures


def _run_plugin(case) -> tuple[str, bool, str]:  # type: ignore[no-untyped-def]
    argv, stdin = encode_for_plugin(case)
    proc = subprocess.run(
        [sys.executable, "-m", "pybpf", "conformance-plugin", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout.rstrip("\n")
    ok = proc.returncode == 0 and int(out, 16) == case.result
    return case.name, ok, out + proc.stderr


def test_plugin_command_driven_from_outside() -> None:
    """The ``pybpf conformance-plugin`` command, one process per vector like the upstream runner."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(_run_plugin, CASES))
    failed = [(name, out) for name, ok, out in results if not ok]
    assert not failed, failed[:5]
    assert len(results) == EXPECTED_FILES


def test_plugin_reports_bad_code() -> None:
    code, out = plugin_main([], "ff  00  00  00  00  00  00  00  \n")
    assert code == 1
    assert "unknown opcode 0xff" in out and "instruction 0" in out


def test_plugin_reports_runtime_fault() -> None:
    # r0 = *(u64 *)(r1 + 0) with no memory: r1 is 0, a null dereference.
    code, out = plugin_main([], "79  10  00  00  00  00  00  00  95  00  00  00  00  00  00  00  \n")
    assert code == 1
    assert "null pointer" in out


def test_plugin_runaway_program_stops() -> None:
    # ja -1: an infinite loop; the runner has no timeout, the plugin's budget must stop it.
    code, out = plugin_main([], "05  00  ff  ff  00  00  00  00  95  00  00  00  00  00  00  00  \n")
    assert code == 1
    assert "budget" in out


def test_parser_skips_unknown_sections_and_reads_raw() -> None:
    assert parse_data("-- frobnicate\nx\n-- result\n1\n") is None
    case = parse_data("-- raw\n0x00000001000000b7\n0x0000000000000095\n-- result\n0x1\n")
    assert case is not None and run_case(case) == 1
