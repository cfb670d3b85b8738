"""Named congestion-control setups for the CLI, the benchmark and the tests.

``reno`` and ``cubic`` are aioquic's own controllers reached through the anchors' defaults;
``newreno``, ``icubic`` and ``westwood`` are the Python reference plugins replacing them.
Every setup also carries the monitoring plugin, so each run has its series.
"""

from __future__ import annotations

from collections.abc import Callable

from pybpf.errors import PybpfError
from pybpf.hosts.quic.dispatch import PythonDispatcher, PythonPlugin
from pybpf.hosts.quic.harness import Endpoint
from pybpf.hosts.quic.plugins.cc import IntegerCubic, NewReno, Westwood
from pybpf.hosts.quic.plugins.monitor import Monitor

CONTROLLERS: dict[str, tuple[str, Callable[[], PythonPlugin] | None, str]] = {
    "reno": ("reno", None, "aioquic's built-in NewReno (anchors' default)"),
    "cubic": ("cubic", None, "aioquic's built-in CUBIC (anchors' default)"),
    "newreno": ("reno", NewReno, "reference plugin: NewReno on the anchors"),
    "icubic": ("reno", IntegerCubic, "reference plugin: integer CUBIC"),
    "westwood": ("reno", Westwood, "reference plugin: Westwood+-like"),
}


def controller_endpoint(name: str, *extra: PythonPlugin) -> Endpoint:
    """An anchored endpoint running controller ``name`` with a monitor (and ``extra`` plugins)."""
    try:
        algorithm, factory, _ = CONTROLLERS[name]
    except KeyError:
        raise PybpfError(f"unknown congestion controller {name!r}; choose from {', '.join(CONTROLLERS)}") from None
    plugins: list[PythonPlugin] = [Monitor(), *extra]
    if factory is not None:
        plugins.insert(0, factory())
    return Endpoint(dispatcher=PythonDispatcher(plugins), algorithm=algorithm)
