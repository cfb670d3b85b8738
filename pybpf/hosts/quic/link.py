"""A deterministic simulated link between two in-memory QUIC endpoints.

Why simulate: a congestion controller can only be compared with another on the *same* network,
and a real network is never the same twice.  This link is a pair of independent one-way pipes,
each a FIFO serializer (``bandwidth``) followed by a fixed propagation delay, with tail drop when
the queue is full and random loss drawn from a seeded RNG.  All times are integer microseconds, so
a run is a pure function of its inputs and the seed.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from pybpf.errors import PybpfError

CLIENT = 0
SERVER = 1


@dataclass(frozen=True)
class LinkConfig:
    """Shape of both directions of the link (they are symmetric)."""

    bandwidth_bps: int = 10_000_000
    delay_us: int = 20_000
    loss: float = 0.0
    queue_bytes: int | None = 64_000
    seed: int = 1

    def __post_init__(self) -> None:
        if self.bandwidth_bps <= 0:
            raise PybpfError(f"link bandwidth must be positive, got {self.bandwidth_bps} bit/s")
        if self.delay_us < 0:
            raise PybpfError(f"link delay must not be negative, got {self.delay_us} us")
        if not 0.0 <= self.loss < 1.0:
            raise PybpfError(f"link loss rate must be in [0, 1), got {self.loss}")
        if self.queue_bytes is not None and self.queue_bytes <= 0:
            raise PybpfError(f"link queue limit must be positive, got {self.queue_bytes} bytes")


@dataclass
class LinkStats:
    """What happened to the datagrams of one direction."""

    sent: int = 0
    delivered: int = 0
    dropped_random: int = 0
    dropped_queue: int = 0
    bytes_delivered: int = 0


@dataclass(order=True)
class _InTransit:
    arrival_us: int
    seq: int
    destination: int = field(compare=False)
    data: bytes = field(compare=False)


class _Pipe:
    """One direction: serializer, queue accounting, loss."""

    def __init__(self, config: LinkConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.free_at_us = 0
        self.departures: list[tuple[int, int]] = []  # (time the datagram leaves the queue, size)
        self.stats = LinkStats()

    def backlog(self, now_us: int) -> int:
        while self.departures and self.departures[0][0] <= now_us:
            heapq.heappop(self.departures)
        return sum(size for _, size in self.departures)

    def admit(self, size: int, now_us: int) -> int | None:
        """Arrival time of a datagram of ``size`` bytes offered at ``now_us``, or None if dropped."""
        self.stats.sent += 1
        if self.config.loss and self.rng.random() < self.config.loss:
            self.stats.dropped_random += 1
            return None
        limit = self.config.queue_bytes
        if limit is not None and self.backlog(now_us) + size > limit:
            self.stats.dropped_queue += 1
            return None
        start = max(now_us, self.free_at_us)
        # Serialization time rounded up to whole microseconds keeps the clock on an integer grid.
        finish = start + -(-size * 8 * 1_000_000 // self.config.bandwidth_bps)
        self.free_at_us = finish
        heapq.heappush(self.departures, (finish, size))
        return finish + self.config.delay_us


class SimulatedLink:
    """Two pipes (client→server and server→client) and the datagrams in transit on them."""

    def __init__(self, config: LinkConfig) -> None:
        self.config = config
        # One RNG per direction, both derived from the seed: the loss pattern of one direction does
        # not depend on how many datagrams the other direction carried.
        self._pipes = (
            _Pipe(config, random.Random(config.seed * 2 + 0)),
            _Pipe(config, random.Random(config.seed * 2 + 1)),
        )
        self._transit: list[_InTransit] = []
        self._seq = 0

    def send(self, source: int, data: bytes, now_us: int) -> None:
        """Offer a datagram from ``source`` (CLIENT or SERVER) to the other end."""
        arrival = self._pipes[source].admit(len(data), now_us)
        if arrival is None:
            return
        self._seq += 1
        heapq.heappush(self._transit, _InTransit(arrival, self._seq, 1 - source, data))

    def next_arrival_us(self) -> int | None:
        return self._transit[0].arrival_us if self._transit else None

    def deliver(self, now_us: int) -> list[tuple[int, bytes]]:
        """Pop every datagram that has arrived by ``now_us`` as (destination, data), in order."""
        out: list[tuple[int, bytes]] = []
        while self._transit and self._transit[0].arrival_us <= now_us:
            item = heapq.heappop(self._transit)
            stats = self._pipes[1 - item.destination].stats
            stats.delivered += 1
            stats.bytes_delivered += len(item.data)
            out.append((item.destination, item.data))
        return out

    def stats(self, source: int) -> LinkStats:
        return self._pipes[source].stats
