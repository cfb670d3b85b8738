"""Rebuild the committed eBPF objects from their C sources.

Usage: python tools/build_objects.py [--check]

Every ``*.c`` under ``tests/bpf`` is built three ways, next to its source: ``NAME.o`` (clang's
default cpu, v1 on clang 14), ``NAME.v3.o`` and ``NAME.v4.o``.  The examples under ``examples/``
are built once, with clang's default cpu, so users without clang can run them.  With ``--check`` nothing is
written: the objects are rebuilt in a temporary directory and compared byte for byte with the
committed ones, and the exit status says whether any is stale.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pybpf.toolchain import compile_bpf

ROOT = Path(__file__).resolve().parent.parent
ALL_CPUS = {"": "", ".v3": "v3", ".v4": "v4"}
DEFAULT_CPU = {"": ""}
SOURCE_DIRS = {ROOT / "tests" / "bpf": ALL_CPUS, ROOT / "examples": DEFAULT_CPU}


def sources() -> list[Path]:
    return sorted(p for d in SOURCE_DIRS for p in d.glob("*.c"))


def targets(source: Path) -> list[tuple[Path, str]]:
    variants = SOURCE_DIRS[source.parent]
    return [(source.with_name(source.stem + suffix + ".o"), cpu) for suffix, cpu in variants.items()]


def build(source: Path, output: Path, cpu: str) -> Path:
    # Build from the source's directory with a relative name, so objects carry no absolute path.
    return compile_bpf(Path(source.name), output, cpu=cpu, cwd=source.parent)


def stale_objects() -> list[Path]:
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources():
            for target, cpu in targets(source):
                fresh = build(source, Path(tmp) / target.name, cpu)
                if not target.exists() or target.read_bytes() != fresh.read_bytes():
                    stale.append(target)
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    if args.check:
        stale = stale_objects()
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}")
        return 1 if stale else 0
    for source in sources():
        for target, cpu in targets(source):
            build(source, target.resolve(), cpu)
            print(f"built {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
