"""Fixtures for the program-type tests: the sample capture, example objects, ops.c."""

from __future__ import annotations

from pathlib import Path

import pytest

import pybpf.object as bpfobj
from pybpf.errors import PybpfError

from .support import C_DIR, sample_frames


@pytest.fixture(scope="session")
def frames() -> list[bytes]:
    return sample_frames()


@pytest.fixture(scope="session")
def ops_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/progtypes/c/ops.c compiled once per session (needs clang)."""
    from pybpf.toolchain import compile_bpf

    out = tmp_path_factory.mktemp("ops") / "ops.o"
    try:
        return compile_bpf(C_DIR / "ops.c", out)
    except (PybpfError, OSError) as exc:  # no clang here
        pytest.skip(f"cannot compile tests/progtypes/c/ops.c: {exc}")


@pytest.fixture
def ops(ops_path: Path) -> bpfobj.BpfObject:
    return bpfobj.load(ops_path, engine="interp")
