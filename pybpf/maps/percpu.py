"""Virtual CPUs for per-CPU maps.

pybpf runs programs on *virtual* CPUs.  The number of them (what ``libbpf_num_possible_cpus()``
would report) is a process-wide setting read when a map is created: per-CPU maps allocate one value
slot per virtual CPU and record the count in their header, so later changes do not affect existing
maps.  The default is the ``PYBPF_CPUS`` environment variable, else ``os.cpu_count()``, else 4.

The *current* CPU is a :mod:`contextvars` variable (default 0), so each thread or asyncio task can
run programs "on" its own CPU; ``bpf_get_smp_processor_id`` returns :func:`current_cpu` and per-CPU
maps use that CPU's slot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

ENV_VAR = "PYBPF_CPUS"


def _default_cpus() -> int:
    text = os.environ.get(ENV_VAR, "")
    if text.strip():
        value = int(text)
        if value < 1:
            raise ValueError(f"{ENV_VAR} must be at least 1, got {value}")
        return value
    return os.cpu_count() or 4


_cpus = _default_cpus()
_current: ContextVar[int] = ContextVar("pybpf_current_cpu", default=0)


def cpus() -> int:
    """Number of virtual CPUs new per-CPU maps get."""
    return _cpus


def set_cpus(count: int) -> None:
    """Set the number of virtual CPUs for maps created from now on."""
    global _cpus
    if count < 1:
        raise ValueError(f"the number of CPUs must be at least 1, got {count}")
    _cpus = count


def current_cpu() -> int:
    """The virtual CPU the running program is on (``bpf_get_smp_processor_id``)."""
    return _current.get()


def set_current_cpu(cpu: int) -> Token[int]:
    """Make ``cpu`` current in this context; returns a token for :func:`reset_current_cpu`."""
    if not 0 <= cpu < _cpus:
        raise ValueError(f"cpu {cpu} out of range: there are {_cpus} virtual CPUs")
    return _current.set(cpu)


def reset_current_cpu(token: Token[int]) -> None:
    _current.reset(token)


@contextmanager
def on_cpu(cpu: int) -> Iterator[int]:
    """``with on_cpu(1): ...`` runs the block as if on virtual CPU 1."""
    token = set_current_cpu(cpu)
    try:
        yield cpu
    finally:
        _current.reset(token)
