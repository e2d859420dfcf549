"""Per-peer rate limits and priorities (pacata/vpn/rate_limit.py), and the engine enforcing them."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.testing.tun import SocketPairTun
from pacata.testing.wireguard import ipv4_packet
from pacata.vpn.rate_limit import MIN_BURST_BYTES, PeerLimit, PeerLimits, TokenBucket
from tests.vpn.test_userspace_engine import connected_pair

A, B, C = b"a" * 32, b"b" * 32, b"c" * 32


def test_a_bucket_passes_its_burst_then_its_rate() -> None:
    bucket = TokenBucket(1_000_000, now=0.0)
    assert bucket.burst == 500_000
    assert bucket.take(500_000, 0.0)
    assert not bucket.take(1, 0.0)
    assert bucket.take(50_000, 0.05)  # 50 ms at 1 MB/s
    assert not bucket.take(1_000, 0.05)
    assert TokenBucket(10, now=0.0).burst == MIN_BURST_BYTES
    with pytest.raises(ValueError):
        TokenBucket(0, now=0.0)


@given(st.lists(st.tuples(st.floats(0, 0.5), st.integers(1, 70_000)), max_size=200))
def test_a_bucket_never_passes_more_than_burst_plus_rate_times_time(
    steps: list[tuple[float, int]],
) -> None:
    rate = 200_000
    bucket = TokenBucket(rate, now=0.0)
    now, passed = 0.0, 0
    for step, size in steps:
        now += step
        if bucket.take(size, now):
            passed += size
    assert passed <= bucket.burst + rate * now + 1e-6


def test_limits_per_peer_and_direction() -> None:
    limits = PeerLimits()
    assert not limits
    assert limits.admit(A, 10**9, 0.0, outbound=True)  # no limit: anything
    limits.set(A, PeerLimit(rate=1_000), 0.0)
    assert limits
    assert limits.admit(A, MIN_BURST_BYTES, 0.0, outbound=True)
    assert not limits.admit(A, 1, 0.0, outbound=True)
    assert limits.admit(A, MIN_BURST_BYTES, 0.0, outbound=False)  # its own bucket
    assert limits.dropped == {A: 1}
    assert limits.admit(B, 10**9, 0.0, outbound=True)
    limits.remove(A)
    assert not limits and limits.dropped == {}
    with pytest.raises(ValueError):
        PeerLimit(rate=-1)


def test_higher_priorities_go_first_and_equals_keep_their_order() -> None:
    limits = PeerLimits()
    limits.set(B, PeerLimit(priority=2), 0.0)
    limits.set(C, PeerLimit(rate=5, priority=1), 0.0)
    assert limits.by_priority([A, C, B]) == [B, C, A]
    assert limits.by_priority([A, b"d" * 32]) == [A, b"d" * 32]


def received_until_quiet(tun: SocketPairTun, quiet: float = 0.3) -> int:
    """Packets the engine delivers until none comes for `quiet` seconds (after a burst)."""
    count = 0
    while not tun.nothing_delivered(within=quiet):
        count += 1
    return count


def test_the_engine_polices_a_limited_peer_both_ways_until_lifted() -> None:
    for alice, bob in connected_pair(vnet_header=False, data_threads=1):
        rate = 100_000
        alice.engine.set_peer_limit(bob.public_key, PeerLimit(rate=rate, priority=1))
        assert alice.engine.peer_limit(bob.public_key) == PeerLimit(rate, 1)
        to_bob = ipv4_packet(bytes(1_000), "10.0.0.1", "10.0.0.2")
        started = time.monotonic()
        for _ in range(400):  # 408 kB offered at once
            alice.tun.inject(to_bob)
        received = received_until_quiet(bob.tun)
        elapsed = time.monotonic() - started
        assert 0 < received < 400
        assert received * len(to_bob) <= MIN_BURST_BYTES + rate * elapsed + len(to_bob)
        drops = alice.engine.counters.drops
        assert drops["over the peer's rate limit"] == 400 - received
        # Inbound from the limited peer is policed by its own bucket.
        to_alice = ipv4_packet(bytes(1_000), "10.0.0.2", "10.0.0.1")
        for _ in range(400):
            bob.tun.inject(to_alice)
        assert 0 < received_until_quiet(alice.tun) < 400
        # Lifted: everything passes again.
        alice.engine.set_peer_limit(bob.public_key, PeerLimit())
        for _ in range(50):
            alice.tun.inject(to_bob)
        assert received_until_quiet(bob.tun) == 50
