"""The monitoring plugin: post observers that export cwnd, bytes in flight, RTT samples and losses.

In phase 2 the same observers write fixed-size records into a map that Python reads while the
connection runs; here they append ``(time_us, value)`` integer pairs to lists.
"""

from __future__ import annotations

from typing import ClassVar

from pybpf.hosts.quic.dispatch import PythonPlugin, Values, unpack_ints

_CC_OPS = frozenset({
    "cc_packet_sent", "cc_packet_acked", "cc_packets_lost", "cc_packets_expired",
    "cc_persistent_congestion", "cc_rtt_sample",
})


class Monitor(PythonPlugin):
    """Observe every congestion-control event (never replaces anything)."""

    NAME = "monitor"
    OBSERVES: ClassVar[frozenset[str]] = _CC_OPS

    def __init__(self) -> None:
        self.cwnd: list[tuple[int, int]] = []
        self.bytes_in_flight: list[tuple[int, int]] = []
        self.rtt: list[tuple[int, int]] = []
        self.losses: list[tuple[int, int]] = []
        self.lost_total = 0
        self.events = 0

    def observe(self, op: str, param: int | None, inputs: Values, outputs: Values) -> None:
        now_us, _, _, bytes_in_flight, _ = unpack_ints(inputs[:5])
        self.events += 1
        cwnd = unpack_ints(outputs)[0]
        if not self.cwnd or self.cwnd[-1][1] != cwnd:
            self.cwnd.append((now_us, cwnd))
        self.bytes_in_flight.append((now_us, bytes_in_flight))
        if op == "cc_rtt_sample":
            self.rtt.append((now_us, unpack_ints(inputs[5:6])[0]))
        elif op == "cc_packets_lost":
            self.lost_total += unpack_ints(inputs[5:6])[0]
            self.losses.append((now_us, self.lost_total))

    def series(self) -> dict[str, list[tuple[float, float]]]:
        """The series in seconds, with RTT in milliseconds (for tables and plots)."""
        return {
            "cwnd": [(t / 1e6, float(v)) for t, v in self.cwnd],
            "bytes_in_flight": [(t / 1e6, float(v)) for t, v in self.bytes_in_flight],
            "rtt_ms": [(t / 1e6, v / 1000) for t, v in self.rtt],
            "losses": [(t / 1e6, float(v)) for t, v in self.losses],
        }
