"""The command line, and the user guide's example followed to the letter."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pybpf.cli.main import main
from pybpf.plugins import include_dir

from .conftest import SRC

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"


def _blocks() -> dict[str, str]:
    text = GUIDE.read_text()
    return {m.group(2): m.group(3) for m in re.finditer(r'```(\w+) title="([^"]+)"\n(.*?)```', text, re.S)}


def test_cflags(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugin", "cflags"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"-I{include_dir()}"
    assert (Path(out[2:]) / "pybpf" / "plugin.h").is_file()


def test_build_check_and_header(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, need_clang: Callable[[], None]
) -> None:
    need_clang()
    plugin = tmp_path / "counter"
    shutil.copytree(SRC / "counter", plugin)
    shutil.copy(SRC / "toy.h", plugin / "toy.h")  # a host ships its header with the plugin
    out = tmp_path / "counter.zip"
    assert main(["plugin", "build", str(plugin), "-o", str(out)]) == 0
    assert "org.pybpf.test.counter 1.0 (counter.o)" in capsys.readouterr().out
    assert main(["plugin", "check", str(out)]) == 0
    text = capsys.readouterr().out
    assert "on_ack: ok (" in text and "compute_post: ok (" in text
    monkeypatch.chdir(Path(__file__).parent)
    assert main(["plugin", "check", str(out), "--host", "toyhost:make_host"]) == 0
    assert "replace on_ack" in capsys.readouterr().out
    assert main(["plugin", "header", "toyhost:make_host"]) == 0
    assert capsys.readouterr().out == (SRC / "toy.h").read_text()


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugin", "build", str(tmp_path)]) == 1
    assert "no manifest.json" in capsys.readouterr().err
    assert main(["plugin", "header", "no_such_module:host"]) == 1
    assert "cannot import no_such_module" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text(
        '{"id": "a", "version": "1", "bytecodes": {"x": {"object": "x.o", "operation": "o", "mode": "sideways"}}}'
    )
    assert main(["plugin", "check", str(tmp_path)]) == 1
    assert "bytecodes.x.mode: 'sideways' is not one of" in capsys.readouterr().err


def test_the_guide_works(tmp_path: Path, need_clang: Callable[[], None]) -> None:
    """Write the guide's files, run its commands and its Python: what a user would do."""
    need_clang()
    blocks = _blocks()
    assert set(blocks) == {"host_example.py", "myplugin/slowstart.c", "myplugin/manifest.json", "run_example.py"}
    for name, text in blocks.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    env_cmd = [sys.executable, "-m", "pybpf"]
    header = subprocess.run(
        [*env_cmd, "plugin", "header", "host_example:host"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    (tmp_path / "myplugin" / "demo.h").write_text(header.stdout)
    subprocess.run([*env_cmd, "plugin", "build", "myplugin", "-o", "slowstart.zip"], cwd=tmp_path, check=True)
    check = subprocess.run(
        [*env_cmd, "plugin", "check", "slowstart.zip", "--host", "host_example:host"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "on_ack: ok" in check.stdout
    run = subprocess.run([sys.executable, "run_example.py"], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
