"""Rebuild the QUIC host's committed artefacts: ``include/pquic.h`` and the prebuilt plugin zips.

Run ``python -m pybpf.hosts.quic.build_plugins`` after changing the anchor table or a bundled
plugin's C source; the tests check that the committed header and objects are what this produces.

Why the prefix map: clang writes the source and include paths into the objects' debug info; the
paths are mapped to the package-relative ``pybpf/...`` so a prebuilt object names no machine's
directories and two machines (with the same clang) build the same bytes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pybpf.hosts.quic.plugin_host import BUNDLED, HEADER, PLUGINS_DIR, c_header
from pybpf.plugins.build import build
from pybpf.plugins.package import PluginPackage

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
"""The ``pybpf`` package directory (mapped to ``pybpf`` in debug info)."""


def build_bundled(name: str, output: Path | None = None) -> PluginPackage:
    """Compile the bundled plugin ``name`` from its sources (``output``: where to write the zip)."""
    # clang runs in the package's parent, where the mapped ``pybpf/...`` paths exist: it reads the
    # source lines of the BTF line info through them, so the objects are the same wherever the
    # build is started from (a checkout or an installed package)
    return build(PLUGINS_DIR / name, output, extra_cflags=[f"-ffile-prefix-map={PACKAGE_ROOT}=pybpf"],
                 cwd=PACKAGE_ROOT.parent)


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(BUNDLED)
    HEADER.parent.mkdir(parents=True, exist_ok=True)
    HEADER.write_text(c_header())
    print(f"wrote {HEADER.name}")
    for name in names:
        out = PLUGINS_DIR / f"{name}.zip"
        package = build_bundled(name, out)
        print(f"built {out.name}: {package.id} ({', '.join(sorted(package.objects))})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
