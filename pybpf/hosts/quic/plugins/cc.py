"""Reference congestion controllers written against the ``cc_*`` operations only.

Each replaces all six ``cc_*`` operations and keeps its state in integers (times in us, sizes in
bytes), so its phase-2 eBPF C version is a direct transcription.  Inputs of every ``cc_*``
operation start with ``now_us, cwnd, ssthresh, bytes_in_flight, max_datagram_size``; outputs are
``(cwnd, ssthresh)`` with ``SSTHRESH_INFINITE`` for "unset".
"""

from __future__ import annotations

from pybpf.hosts.quic.dispatch import PythonPlugin, Values, unpack_ints
from pybpf.hosts.quic.table import SSTHRESH_INFINITE

GRANULARITY_US = 1000
INITIAL_WINDOW_PACKETS = 10
MINIMUM_WINDOW_PACKETS = 2


class RttMonitor:
    """aioquic's ``QuicRttMonitor`` (slow-start exit on rising RTT) in integer microseconds."""

    SIZE = 5

    def __init__(self) -> None:
        self.increases = 0
        self.ready = False
        self.filtered_min = 0  # 0 = unset (RTT samples are at least 1 ms)
        self.sample_idx = 0
        self.sample_max = 0
        self.sample_min = 0
        self.sample_time_us = 0
        self.samples = [0] * self.SIZE

    def add_rtt(self, rtt_us: int) -> None:
        self.samples[self.sample_idx] = rtt_us
        self.sample_idx += 1
        if self.sample_idx >= self.SIZE:
            self.sample_idx = 0
            self.ready = True
        if self.ready:
            self.sample_max = self.samples[0]
            self.sample_min = self.samples[0]
            for sample in self.samples[1:]:
                if sample < self.sample_min:
                    self.sample_min = sample
                elif sample > self.sample_max:
                    self.sample_max = sample

    def is_rtt_increasing(self, now_us: int, rtt_us: int) -> bool:
        if now_us > self.sample_time_us + GRANULARITY_US:
            self.add_rtt(rtt_us)
            self.sample_time_us = now_us
            if self.ready:
                if self.filtered_min == 0 or self.filtered_min > self.sample_max:
                    self.filtered_min = self.sample_max
                delta = self.sample_min - self.filtered_min
                if delta * 4 >= self.filtered_min:
                    self.increases += 1
                    if self.increases >= self.SIZE:
                        return True
                elif delta > 0:
                    self.increases = 0
        return False


class NewReno(PythonPlugin):
    """RFC 9002 NewReno exactly as aioquic's ``RenoCongestionControl`` computes it."""

    NAME = "newreno"

    def __init__(self) -> None:
        self.recovery_start_us = 0
        self.stash = 0
        self.monitor = RttMonitor()

    def op_cc_packet_sent(self, param: int | None, inputs: Values) -> Values:
        return inputs[1], inputs[2]

    def op_cc_packet_acked(self, param: int | None, inputs: Values) -> Values:
        _, cwnd, ssthresh, _, mds, _, sent_bytes, sent_time_us = unpack_ints(inputs)
        if sent_time_us <= self.recovery_start_us:
            return cwnd, ssthresh  # no growth during recovery
        if cwnd < ssthresh:
            return cwnd + sent_bytes, ssthresh  # slow start
        self.stash += sent_bytes  # congestion avoidance: one datagram per window acked
        count = self.stash // cwnd
        if count:
            self.stash -= count * cwnd
            cwnd += count * mds
        return cwnd, ssthresh

    def op_cc_packets_lost(self, param: int | None, inputs: Values) -> Values:
        now_us, cwnd, ssthresh, _, mds, _, _, last_sent_time_us = unpack_ints(inputs)
        if last_sent_time_us > self.recovery_start_us:  # a new congestion event
            self.recovery_start_us = now_us
            cwnd = max(cwnd // 2, MINIMUM_WINDOW_PACKETS * mds)
            ssthresh = cwnd
        return cwnd, ssthresh

    def op_cc_packets_expired(self, param: int | None, inputs: Values) -> Values:
        return inputs[1], inputs[2]

    def op_cc_persistent_congestion(self, param: int | None, inputs: Values) -> Values:
        self.recovery_start_us = 0
        return MINIMUM_WINDOW_PACKETS * unpack_ints(inputs)[4], inputs[2]

    def op_cc_rtt_sample(self, param: int | None, inputs: Values) -> Values:
        now_us, cwnd, ssthresh, _, _, rtt_us, _, _ = unpack_ints(inputs)
        if ssthresh == SSTHRESH_INFINITE and self.monitor.is_rtt_increasing(now_us, rtt_us):
            ssthresh = cwnd
        return cwnd, ssthresh


def icbrt(value: int) -> int:
    """Integer cube root (floor) by bisection: 22 iterations cover the u64 range CUBIC needs."""
    if value <= 0:
        return 0
    lo, hi = 0, 1 << 22
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if mid * mid * mid <= value:
            lo = mid
        else:
            hi = mid - 1
    return lo


class IntegerCubic(NewReno):
    """CUBIC (RFC 9438) in integers: C = 0.4, beta = 0.7, fast convergence, Reno-friendly region.

    Times in milliseconds inside the cubic function so ``(t - K)^3`` stays well inside 64 bits.
    """

    NAME = "icubic"

    def __init__(self) -> None:
        super().__init__()
        self.w_max = 0
        self.k_ms = 0
        self.epoch_start_us = 0
        self.w_est = 0
        self.rtt_us = 20_000

    def op_cc_packet_acked(self, param: int | None, inputs: Values) -> Values:
        now_us, cwnd, ssthresh, _, mds, _, sent_bytes, sent_time_us = unpack_ints(inputs)
        if sent_time_us <= self.recovery_start_us:
            return cwnd, ssthresh
        if cwnd < ssthresh:
            return cwnd + sent_bytes, ssthresh
        if self.epoch_start_us == 0:  # first ACK of a congestion-avoidance epoch
            self.epoch_start_us = now_us
            self.w_est = cwnd
            if self.w_max < cwnd:
                self.w_max = cwnd
            # K^3 = (W_max - cwnd) / (C * mds) in s^3; in ms^3 that is * 1e9, and 1/C = 10/4
            self.k_ms = icbrt((self.w_max - cwnd) * 10 * 1_000_000_000 // (4 * mds))
        self.w_est += mds * sent_bytes // cwnd
        t_ms = (now_us - self.epoch_start_us + self.rtt_us) // 1000
        d = min(max(t_ms - self.k_ms, -100_000), 100_000)
        w_cubic = self.w_max + 4 * mds * d * d * d // (10 * 1_000_000_000)
        if w_cubic < self.w_est:
            return self.w_est, ssthresh  # Reno-friendly region
        target = min(max(w_cubic, cwnd), cwnd * 3 // 2)
        return cwnd + (target - cwnd) * mds // cwnd, ssthresh

    def op_cc_packets_lost(self, param: int | None, inputs: Values) -> Values:
        now_us, cwnd, ssthresh, bytes_in_flight, mds, _, _, last_sent_time_us = unpack_ints(inputs)
        if last_sent_time_us > self.recovery_start_us:
            self.recovery_start_us = now_us
            # fast convergence: remember less than the window we reached if it shrank
            self.w_max = cwnd * 17 // 20 if cwnd < self.w_max else cwnd
            ssthresh = max(bytes_in_flight * 7 // 10, MINIMUM_WINDOW_PACKETS * mds)
            cwnd = ssthresh
            self.epoch_start_us = 0
        return cwnd, ssthresh

    def op_cc_persistent_congestion(self, param: int | None, inputs: Values) -> Values:
        self.epoch_start_us = 0
        return super().op_cc_persistent_congestion(param, inputs)

    def op_cc_rtt_sample(self, param: int | None, inputs: Values) -> Values:
        self.rtt_us = unpack_ints(inputs)[5]
        return super().op_cc_rtt_sample(param, inputs)


class Westwood(NewReno):
    """TCP Westwood+-like: after a loss, ssthresh = estimated bandwidth x minimum RTT.

    The bandwidth estimate is acked bytes per sampling interval (at least one minimum RTT, and
    at least 10 ms), smoothed with a 3/4 EWMA (7/8 lags too far behind a slow start).  Growth is NewReno's.
    """

    NAME = "westwood"
    MIN_INTERVAL_US = 10_000

    def __init__(self) -> None:
        super().__init__()
        self.bwe = 0  # bytes per second
        self.acked = 0
        self.sample_start_us = 0
        self.min_rtt_us = 0

    def op_cc_packet_acked(self, param: int | None, inputs: Values) -> Values:
        now_us = unpack_ints(inputs[:1])[0]
        self.acked += unpack_ints(inputs[6:7])[0]
        if self.sample_start_us == 0:
            self.sample_start_us = now_us
        interval = max(self.min_rtt_us, self.MIN_INTERVAL_US)
        elapsed = now_us - self.sample_start_us
        if elapsed >= interval:
            sample = self.acked * 1_000_000 // elapsed
            self.bwe = sample if self.bwe == 0 else (3 * self.bwe + sample) // 4
            self.acked = 0
            self.sample_start_us = now_us
        return super().op_cc_packet_acked(param, inputs)

    def op_cc_packets_lost(self, param: int | None, inputs: Values) -> Values:
        now_us, cwnd, ssthresh, _, mds, _, _, last_sent_time_us = unpack_ints(inputs)
        if last_sent_time_us > self.recovery_start_us:
            self.recovery_start_us = now_us
            estimate = self.bwe * self.min_rtt_us // 1_000_000
            ssthresh = max(estimate, MINIMUM_WINDOW_PACKETS * mds) if estimate else max(cwnd // 2, 2 * mds)
            cwnd = min(cwnd, ssthresh)
        return cwnd, ssthresh

    def op_cc_rtt_sample(self, param: int | None, inputs: Values) -> Values:
        rtt_us = unpack_ints(inputs)[5]
        if self.min_rtt_us == 0 or rtt_us < self.min_rtt_us:
            self.min_rtt_us = rtt_us
        return super().op_cc_rtt_sample(param, inputs)
