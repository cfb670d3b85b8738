"""``pybpf plugin``: build, check and inspect plugins.

* ``pybpf plugin build DIR [-o OUT.zip]`` compiles the plugin's C files with clang (conventions in
  :mod:`pybpf.plugins.build`) and packs manifest and objects into a zip (default ``DIR.zip``);
* ``pybpf plugin cflags`` prints the ``-I`` flag that finds ``pybpf/plugin.h``;
* ``pybpf plugin check PATH [--host MODULE:HOST]`` validates the manifest and verifies every
  bytecode (with a host: operations and fields too);
* ``pybpf plugin header MODULE:HOST`` prints a host's C header (operation and field ids).

``MODULE:HOST`` names a :class:`~pybpf.plugins.host.Host` object, or a function returning one,
importable from the current directory.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from pybpf.errors import PybpfError


def _host(spec: str) -> Any:
    from pybpf.plugins.host import Host

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise PybpfError(f"{spec!r}: name a host as MODULE:ATTRIBUTE")
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PybpfError(f"{spec}: cannot import {module_name}: {exc}") from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise PybpfError(f"{spec}: module {module_name} has no attribute {attr!r}")
    if callable(obj) and not isinstance(obj, Host):
        obj = obj()
    if not isinstance(obj, Host):
        raise PybpfError(f"{spec}: {type(obj).__name__} is not a pybpf.plugins.Host")
    return obj


def cmd_build(args: argparse.Namespace) -> int:
    from pybpf.plugins.build import build

    directory = Path(args.dir)
    output = Path(args.output) if args.output else directory.resolve().with_suffix(".zip")
    package = build(directory, output)
    print(f"{output}: {package.id} {package.manifest.version} ({', '.join(sorted(package.objects))})")
    return 0


def cmd_cflags(args: argparse.Namespace) -> int:
    from pybpf.plugins.build import cflags

    print(" ".join(cflags()))
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from pybpf.plugins.build import check
    from pybpf.plugins.package import PluginPackage

    package = PluginPackage.open(args.path)
    host = _host(args.host) if args.host else None
    print(f"{package.id} {package.manifest.version} ({package.manifest.scope} scope)")
    for line in check(package, host):
        print(f"  {line}")
    return 0


def cmd_header(args: argparse.Namespace) -> int:
    print(_host(args.host).c_header(), end="")
    return 0


def add_plugin_parser(sub: Any) -> None:
    p = sub.add_parser(
        "plugin",
        help="build, check and inspect protocol plugins",
        description="Work with pybpf plugins: a manifest.json plus eBPF objects compiled from C.",
    )
    psub = p.add_subparsers(dest="plugin_command", required=True)
    b = psub.add_parser("build", help="compile a plugin directory and pack it into a zip")
    b.add_argument("dir", help="plugin directory (manifest.json and C sources)")
    b.add_argument("-o", "--output", help="zip file to write (default: DIR.zip)")
    b.set_defaults(func=cmd_build)
    c = psub.add_parser("cflags", help="print the compiler flags that find pybpf/plugin.h")
    c.set_defaults(func=cmd_cflags)
    k = psub.add_parser("check", help="validate the manifest and verify every bytecode")
    k.add_argument("path", help="plugin directory or zip file")
    k.add_argument("--host", help="MODULE:HOST to check operations and fields against")
    k.set_defaults(func=cmd_check)
    h = psub.add_parser("header", help="print a host's C header of operation and field ids")
    h.add_argument("host", help="MODULE:HOST (a Host object or a function returning one)")
    h.set_defaults(func=cmd_header)
