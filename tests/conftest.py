"""Shared fixtures: where the conformance vectors are."""

from __future__ import annotations

from pathlib import Path

import pytest

from pybpf.conformance import ENV_VAR, find_directory


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    directory = find_directory(Path(__file__))
    if directory is None or not directory.is_dir():
        pytest.fail(
            f"bpf_conformance test vectors not found: set {ENV_VAR} or put shared/conformance/tests beside the checkout"
        )
    return directory
