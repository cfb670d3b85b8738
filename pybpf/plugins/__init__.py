"""Pluginized protocols: hosts declare operations, plugins of eBPF bytecode extend them safely.

The PQUIC and xBGP models in one framework (see ``docs/plugins.md``):

* :mod:`~pybpf.plugins.host` -- :class:`Host` (operations, fields, policy) and :class:`Endpoint`;
* :mod:`~pybpf.plugins.session` -- :class:`Session`, the dispatcher (chains, next(), nesting,
  cycles, faults);
* :mod:`~pybpf.plugins.operations` -- operations, invocations, chains;
* :mod:`~pybpf.plugins.manifest`, :mod:`~pybpf.plugins.package` -- manifests and packages;
* :mod:`~pybpf.plugins.instance` -- a plugin loaded and verified into a scope;
* :mod:`~pybpf.plugins.memory` -- heap, scratch and shared memory;
* :mod:`~pybpf.plugins.api`, :mod:`~pybpf.plugins.platform` -- the API and its verifier platform;
* :mod:`~pybpf.plugins.faults` -- fault records;
* :mod:`~pybpf.plugins.build` -- compiling and packing plugins.
"""

from __future__ import annotations

from pathlib import Path

from pybpf.plugins.faults import Fault, FaultKind, PluginError, SessionClosedError
from pybpf.plugins.host import Endpoint, Field, Host
from pybpf.plugins.instance import Bytecode, PluginInstance
from pybpf.plugins.manifest import Manifest, ManifestError
from pybpf.plugins.operations import NO_PARAM, Invocation, Mode, Operation
from pybpf.plugins.package import PluginPackage
from pybpf.plugins.session import Session


def include_dir() -> Path:
    """The directory holding ``pybpf/plugin.h`` (what ``pybpf plugin cflags`` prints)."""
    return Path(__file__).resolve().parent.parent / "include"


__all__ = [
    "NO_PARAM",
    "Bytecode",
    "Endpoint",
    "Fault",
    "FaultKind",
    "Field",
    "Host",
    "Invocation",
    "Manifest",
    "ManifestError",
    "Mode",
    "Operation",
    "PluginError",
    "PluginInstance",
    "PluginPackage",
    "Session",
    "SessionClosedError",
    "include_dir",
]
