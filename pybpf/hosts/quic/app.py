"""The application's side of the bundled eBPF plugins: the maps it fills and reads.

A plugin's maps live with the plugin instance, i.e. with one connection, so everything here takes
the connection's :class:`~pybpf.hosts.quic.plugin_host.EbpfDispatcher`.  Writes made before the
connection exists are applied right after it is built and the plugins are inserted
(:meth:`EbpfDispatcher.when_bound`), so a connection can start with its priorities or quantum set.

* round-robin scheduler (``roundrobin``): slot 0 of the array map ``quantum`` (u64; 0 = none) is
  the per-packet byte quantum: :func:`set_quantum`;
* priority scheduler (``priority``): the hash map ``priorities`` (u64 stream id -> u64 priority,
  lowest first; a stream without an entry comes after those with one): :func:`set_priorities`,
  read back with :func:`priorities`.

The message extension's channel is in :mod:`pybpf.hosts.quic.messages`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from pybpf.errors import PybpfError
from pybpf.hosts.quic.plugin_host import EbpfDispatcher
from pybpf.isa.semantics import M64

ROUNDROBIN_ID = "org.pybpf.quic.roundrobin"
PRIORITY_ID = "org.pybpf.quic.priority"
U64 = struct.Struct("<Q")


def _u64(value: int, what: str) -> bytes:
    if not 0 <= value <= M64:
        raise PybpfError(f"{what} must be an unsigned 64-bit integer, got {value}")
    return U64.pack(value)


def set_quantum(dispatcher: EbpfDispatcher, quantum: int) -> None:
    """The round-robin plugin's per-packet byte quantum on this connection (0: no quantum)."""
    value = _u64(quantum, "the quantum")

    def apply(d: EbpfDispatcher) -> None:
        d.plugin(ROUNDROBIN_ID).maps["quantum"][0] = value

    dispatcher.when_bound(apply)


def set_priorities(dispatcher: EbpfDispatcher, priorities: Mapping[int, int | None]) -> None:
    """Set (or, with ``None``, remove) the priority of streams of this connection, by stream id.

    Takes effect at the next packet the connection builds: the plugin reads the map every time
    aioquic orders its streams."""
    encoded = {_u64(sid, "a stream id"): None if p is None else _u64(p, "a priority") for sid, p in priorities.items()}

    def apply(d: EbpfDispatcher) -> None:
        table = d.plugin(PRIORITY_ID).maps["priorities"]
        for key, value in encoded.items():
            if value is None:
                if key in table:
                    del table[key]
            else:
                table[key] = value

    dispatcher.when_bound(apply)


def priorities(dispatcher: EbpfDispatcher) -> dict[int, int]:
    """The priority map of this connection as the plugin sees it."""
    table = dispatcher.plugin(PRIORITY_ID).maps["priorities"]
    return {U64.unpack(key)[0]: U64.unpack(value)[0] for key, value in table.items()}


__all__ = ["PRIORITY_ID", "ROUNDROBIN_ID", "priorities", "set_priorities", "set_quantum"]
