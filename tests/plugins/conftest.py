"""Fixtures: the test plugins under src/, compiled once per test session with clang.

Each directory of ``src/`` with a ``manifest.json`` is a plugin; ``src/toy.h`` is the toy host's
header (kept identical to ``Host.c_header()`` by a test).  The hostile gallery is one object
(``src/hostile/hostile.c``, plus ``loop.c``, which the loader refuses as a whole) and one manifest
per case in ``src/hostile/manifests/``.  Builds go to a session temporary directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pybpf.plugins.build import build, cflags
from pybpf.plugins.manifest import validate
from pybpf.plugins.package import PluginPackage
from pybpf.toolchain import compile_bpf

SRC = Path(__file__).parent / "src"
HOSTILE = SRC / "hostile"
ENGINES = ("interp", "jit")


@pytest.fixture(scope="session")
def plugins(tmp_path_factory: pytest.TempPathFactory, need_clang: Callable[[], None]) -> dict[str, PluginPackage]:
    """Every plugin of src/, built (name of its directory -> package)."""
    need_clang()
    out = tmp_path_factory.mktemp("plugins")
    built: dict[str, PluginPackage] = {}
    for d in sorted(SRC.iterdir()):
        if (d / "manifest.json").is_file():
            built[d.name] = build(d, out / f"{d.name}.zip", workdir=out / d.name, extra_cflags=[f"-I{SRC}"])
    return built


@pytest.fixture(scope="session")
def zips(plugins: dict[str, PluginPackage], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("zips")
    paths = {}
    for name, pkg in plugins.items():
        path = out / f"{name}.zip"
        path.write_bytes(pkg.to_zip())
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def hostile_objects(tmp_path_factory: pytest.TempPathFactory, need_clang: Callable[[], None]) -> dict[str, bytes]:
    need_clang()
    out = tmp_path_factory.mktemp("hostile")
    objects = {}
    for src in ("hostile.c", "loop.c"):
        target = out / src.replace(".c", ".o")
        compile_bpf(HOSTILE / src, target, extra=[*cflags(), f"-I{SRC}"])
        objects[target.name] = target.read_bytes()
    return objects


def hostile_package(case: str, objects: dict[str, bytes]) -> PluginPackage:
    data = json.loads((HOSTILE / "manifests" / f"{case}.json").read_text())
    manifest = validate(data, f"{case}.json")
    needed = {b.object: objects[b.object] for b in manifest.bytecodes}
    return PluginPackage(manifest, needed, case)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)
