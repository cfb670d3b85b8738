"""The committed eBPF objects are exactly what their C sources build to."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_committed_objects_are_fresh() -> None:
    spec = importlib.util.spec_from_file_location("build_objects", ROOT / "tools" / "build_objects.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_objects"] = module
    spec.loader.exec_module(module)
    assert module.sources(), "no C sources found"
    stale = module.stale_objects()
    assert not stale, f"rebuild with `python tools/build_objects.py`: {[str(p.relative_to(ROOT)) for p in stale]}"
