"""Per-peer rate limits and priorities: what a relay's tiers buy (docs/paid-tunnels.md §Tiers).

    limits = PeerLimits()
    limits.set(peer_key, PeerLimit(rate=12_500_000, priority=1), now)   # 100 Mbit/s, tier 1
    if limits.admit(peer_key, len(packet), now): forward(packet)
    for peer in limits.by_priority(batches): ...                        # higher tiers first

Rules:
- A limit is a token bucket per peer and direction, in bytes per second, policing (a packet
  over the limit is dropped, as `tc police` does; TCP reads the loss and slows down). The
  bucket holds `burst` bytes: half a second at the rate, at least 64 KiB. A TCP flow through
  a policer needs that much to keep its window open: with a tenth of a second a tier limited
  to 8 Mbit/s measured 3.0 Mbit/s under iperf3, with half a second 7.5 (3 s runs,
  tests/integration/test_paid_tunnel.py).
- A peer with no limit (rate 0, or never set) is admitted without any bookkeeping; an engine
  with no limits at all pays one truth test per batch.
- Priority orders the peers of one batch when the relay has more to send than it can: the
  higher first, and among equals the order they came in. It never drops.
- A budget caps what a peer may move at all: the engine refuses its packets, both ways, once
  the peer's byte counters (received plus sent, the device's, as `wg show` reports them)
  reach `budget`. A relay sets it to what the client has paid for plus its credit window, and
  raises it with every receipt: the client can never owe more than the window, and its
  receipts pace it as acknowledgements pace TCP (docs/paid-tunnels.md §Credit window).
- Sans-I/O: `now` is passed in (monotonic seconds); no clock is read here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MIN_BURST_BYTES = 64 * 1024
BURST_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class PeerLimit:
    rate: int = 0  # bytes per second in each direction; 0: unlimited
    priority: int = 0  # higher goes first
    budget: int | None = None  # the peer's counters (received + sent) may not pass it

    def __post_init__(self) -> None:
        if self.rate < 0:
            raise ValueError("a rate limit is not negative")
        if self.budget is not None and self.budget < 0:
            raise ValueError("a budget is not negative")


class TokenBucket:
    """`rate` bytes a second, at most `burst` saved up."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: int, now: float, burst: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("a bucket has a positive rate")
        self.rate = rate
        self.burst = burst if burst is not None else max(MIN_BURST_BYTES, int(rate * BURST_SECONDS))
        self.tokens = float(self.burst)
        self.stamp = now

    def take(self, size: int, now: float) -> bool:
        """Whether `size` bytes may pass now (and takes them if so)."""
        if now > self.stamp:
            self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if self.tokens >= size:
            self.tokens -= size
            return True
        return False


class PeerLimits:
    """The limits of an interface's peers (see the module rules)."""

    def __init__(self) -> None:
        self._limits: dict[bytes, PeerLimit] = {}
        self._buckets: dict[tuple[bytes, bool], TokenBucket] = {}
        self.dropped: dict[bytes, int] = {}

    def __bool__(self) -> bool:
        return bool(self._limits)

    def set(self, peer: bytes, limit: PeerLimit, now: float) -> None:
        """Sets (or, with no rate, priority or budget, removes) a peer's limit; a new rate
        starts with a full bucket, an unchanged one keeps its bucket (a budget raised by every
        receipt must not refill it)."""
        old = self._limits.get(peer, PeerLimit())
        if limit == PeerLimit():
            self._limits.pop(peer, None)
        else:
            self._limits[peer] = limit
        if limit.rate == old.rate and (peer, True) in self._buckets:
            return
        for outbound in (False, True):
            self._buckets.pop((peer, outbound), None)
            if limit.rate:
                self._buckets[(peer, outbound)] = TokenBucket(limit.rate, now)

    def remove(self, peer: bytes) -> None:
        self.set(peer, PeerLimit(), 0.0)
        self.dropped.pop(peer, None)

    def get(self, peer: bytes) -> PeerLimit:
        return self._limits.get(peer, PeerLimit())

    def budget(self, peer: bytes) -> int | None:
        limit = self._limits.get(peer)
        return None if limit is None else limit.budget

    def admit(self, peer: bytes, size: int, now: float, *, outbound: bool) -> bool:
        """Whether a packet of `size` bytes to (outbound) or from `peer` may pass."""
        bucket = self._buckets.get((peer, outbound))
        if bucket is None or bucket.take(size, now):
            return True
        self.dropped[peer] = self.dropped.get(peer, 0) + 1
        return False

    def by_priority(self, peers: Iterable[bytes]) -> list[bytes]:
        """`peers` with the higher priorities first (a stable order among equals)."""
        limits = self._limits
        return sorted(peers, key=lambda peer: -limits[peer].priority if peer in limits else 0)
