"""Named congestion-control setups for the CLI, the benchmark and the tests.

``reno`` and ``cubic`` are aioquic's own controllers reached through the anchors' defaults;
``newreno``, ``icubic`` and ``westwood`` are the Python reference plugins replacing them;
``ebpf-newreno``, ``ebpf-cubic`` and ``ebpf-westwood`` are the bundled C plugins (prebuilt zips)
run by the plugin framework.  Every setup also carries a monitoring plugin (the Python one, or the
eBPF one for eBPF setups), so each run has its series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pybpf.errors import PybpfError
from pybpf.hosts.quic.dispatch import PythonDispatcher, PythonPlugin
from pybpf.hosts.quic.exchange import PluginExchange
from pybpf.hosts.quic.harness import Endpoint
from pybpf.hosts.quic.plugin_host import EbpfDispatcher, PluginSource, bundled
from pybpf.hosts.quic.plugins.cc import IntegerCubic, NewReno, Westwood
from pybpf.hosts.quic.plugins.monitor import Monitor

CONTROLLERS: dict[str, tuple[str, Callable[[], PythonPlugin] | None, str]] = {
    "reno": ("reno", None, "aioquic's built-in NewReno (anchors' default)"),
    "cubic": ("cubic", None, "aioquic's built-in CUBIC (anchors' default)"),
    "newreno": ("reno", NewReno, "reference plugin: NewReno on the anchors"),
    "icubic": ("reno", IntegerCubic, "reference plugin: integer CUBIC"),
    "westwood": ("reno", Westwood, "reference plugin: Westwood+-like"),
}

EBPF_CONTROLLERS: dict[str, tuple[str, str]] = {
    "ebpf-newreno": ("newreno", "eBPF plugin: NewReno (same windows as aioquic's Reno)"),
    "ebpf-cubic": ("cubic", "eBPF plugin: integer CUBIC (same windows as icubic)"),
    "ebpf-westwood": ("westwood", "eBPF plugin: Westwood+-like (same windows as westwood)"),
}


def controller_names() -> list[str]:
    return sorted([*CONTROLLERS, *EBPF_CONTROLLERS])


def controller_endpoint(name: str, *extra: PythonPlugin, plugins: Sequence[PluginSource | Path] = (),
                        engine: str | None = None, exchange: PluginExchange | None = None) -> Endpoint:
    """An anchored endpoint running controller ``name`` with a monitor (and ``extra`` plugins).

    ``plugins`` (eBPF packages: zips or directories) switch the endpoint to the framework
    dispatcher with the eBPF monitor; they combine with ``reno``, ``cubic`` (aioquic's controller
    stays the default under them) and the ``ebpf-*`` controllers, not with Python plugins.  So does
    ``exchange`` (plugins offered by or to the peer, :mod:`pybpf.hosts.quic.exchange`).
    """
    if name in EBPF_CONTROLLERS:
        if extra:
            raise PybpfError(f"{name} runs eBPF plugins only; Python plugins cannot join it")
        sources: list[PluginSource] = [bundled(EBPF_CONTROLLERS[name][0]), bundled("monitor"), *plugins]
        return Endpoint(dispatcher=EbpfDispatcher(sources, engine=engine, exchange=exchange), algorithm="reno")
    try:
        algorithm, factory, _ = CONTROLLERS[name]
    except KeyError:
        raise PybpfError(f"unknown congestion controller {name!r}; choose from {', '.join(controller_names())}") from None
    if plugins or exchange is not None:
        if factory is not None or extra:
            raise PybpfError(f"eBPF plugins run with reno, cubic or an ebpf-* controller, not with {name!r}")
        return Endpoint(dispatcher=EbpfDispatcher([bundled("monitor"), *plugins], engine=engine, exchange=exchange),
                        algorithm=algorithm)
    python_plugins: list[PythonPlugin] = [Monitor(), *extra]
    if factory is not None:
        python_plugins.insert(0, factory())
    return Endpoint(dispatcher=PythonDispatcher(python_plugins), algorithm=algorithm)
