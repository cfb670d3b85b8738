"""Shared fixtures: where the conformance vectors are, whether clang is there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pybpf.conformance import ENV_VAR, find_directory
from pybpf.toolchain import ToolchainError, find_clang


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    directory = find_directory(Path(__file__))
    if directory is None or not directory.is_dir():
        pytest.fail(
            f"bpf_conformance test vectors not found: set {ENV_VAR} or put shared/conformance/tests beside the checkout"
        )
    return directory


@pytest.fixture(autouse=True)
def _private_pin_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects with pinned maps must not pin into the user's default pin root during tests."""
    monkeypatch.setenv("PYBPF_PIN_ROOT", str(tmp_path_factory.mktemp("pins")))


@pytest.fixture(scope="session")
def need_clang() -> Callable[[], None]:
    """Call it to skip the test (from where it is called) on a machine without clang: tests that
    compile C check what they can before needing a compiler."""

    def check() -> None:
        try:
            find_clang()
        except ToolchainError as exc:
            pytest.skip(str(exc))

    return check
