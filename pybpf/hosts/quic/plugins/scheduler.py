"""Reference stream schedulers: which stream writes next (``stream_priority``) and how much
(``stream_quota``).  aioquic serves streams round-robin, one packet's worth at a time."""

from __future__ import annotations

from pybpf.hosts.quic.dispatch import PythonPlugin, Values, unpack_ints

LOWEST = 1 << 32


class RoundRobinScheduler(PythonPlugin):
    """Every stream has the same priority: aioquic's own rotation decides.  With ``quantum``,
    each stream writes at most that many new bytes per packet, so streams share packets."""

    NAME = "round-robin"

    def __init__(self, quantum: int = 0) -> None:
        self.quantum = quantum

    def op_stream_priority(self, param: int | None, inputs: Values) -> Values:
        return (0,)

    def op_stream_quota(self, param: int | None, inputs: Values) -> Values:
        credit = unpack_ints(inputs)[1]
        return (min(credit, self.quantum) if self.quantum else credit,)


class PriorityScheduler(PythonPlugin):
    """Strict priority: the stream with the lowest priority value that has data goes first.

    Streams not given a priority come last, in aioquic's order.  ``priorities`` maps a stream id
    to its priority (in phase 2: a map the application fills).
    """

    NAME = "priority"

    def __init__(self, priorities: dict[int, int] | None = None) -> None:
        self.priorities = dict(priorities or {})

    def op_stream_priority(self, param: int | None, inputs: Values) -> Values:
        stream_id, pending, _ = unpack_ints(inputs)
        if pending == 0:
            return (LOWEST + 1,)  # nothing new to send: do not hold the others back
        return (self.priorities.get(stream_id, LOWEST),)
