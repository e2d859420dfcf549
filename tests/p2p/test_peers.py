"""Peer management: dialing with backoff, limits, scores and bans with expiry; where a peer's
UDP port is."""

from __future__ import annotations

from typing import cast

from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.p2p.connection import PeerConnection
from pacata.p2p.network import PeerSession
from pacata.p2p.peers import DialAddress, Offence, PeerLimits, PeerManager
from pacata.p2p.records import Endpoint, NodeRecord, Transport

BOOT = DialAddress("192.0.2.1", 9741)
OTHER = DialAddress("192.0.2.2", 9741)
NODE = bytes(32)


def test_bootnodes_first_then_learned_within_the_outbound_limit() -> None:
    peers = PeerManager(PeerLimits(max_outbound=1))
    peers.learn(OTHER)
    peers.add_bootnode(BOOT)
    assert peers.dials_due(0.0, 0, set()) == [BOOT]
    assert peers.dials_due(0.0, 1, set()) == []  # full
    assert peers.dials_due(0.0, 0, set()) == [OTHER]  # BOOT is busy


def test_exponential_backoff_capped_and_reset_after_a_stable_connection() -> None:
    peers = PeerManager(PeerLimits(backoff_base=1.0, backoff_max=8.0, stable_after=30.0))
    peers.add_bootnode(BOOT)
    now = 0.0
    waits = []
    for _ in range(6):
        assert peers.dials_due(now, 0, set()) == [BOOT]
        peers.dial_failed(BOOT, now)
        next_time = peers.next_dial_time(0, set())
        assert next_time is not None
        waits.append(next_time - now)
        assert peers.dials_due(next_time - 0.01, 0, set()) == []
        now = next_time
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    peers.dials_due(now, 0, set())
    peers.disconnected(BOOT, lasted=31.0, now=now)
    assert peers.next_dial_time(0, set()) == now + 1.0
    peers.dials_due(now + 1.0, 0, set())
    peers.disconnected(BOOT, lasted=2.0, now=now + 1.0)  # short-lived: back off again
    assert peers.next_dial_time(0, set()) == now + 2.0


def test_connected_or_self_addresses_are_not_dialed() -> None:
    peers = PeerManager()
    peers.learn(OTHER, node_id=NODE)
    assert peers.dials_due(0.0, 0, {NODE}) == []
    peers.add_bootnode(BOOT)
    assert peers.dials_due(0.0, 0, set()) == [BOOT, OTHER]
    peers.mark_self(BOOT)
    peers.dial_failed(OTHER, 0.0)
    assert peers.dials_due(100.0, 0, set()) == [OTHER]


def test_invalid_data_bans_at_once_small_offences_add_up_and_decay() -> None:
    peers = PeerManager(PeerLimits(ban_seconds=60.0, decay_per_second=1.0))
    assert peers.penalize(NODE, "198.51.100.7", Offence.INVALID_BLOCK, 0.0, "bad block")
    assert peers.is_banned_node(NODE, 59.0) and peers.is_banned_host("198.51.100.7", 59.0)
    assert [b.reason for b in peers.bans(1.0)] == ["bad block", "bad block"]
    assert not peers.is_banned_node(NODE, 60.0)  # expired
    assert peers.bans(61.0) == []
    other = b"\x01" * 32
    for i in range(9):
        assert not peers.penalize(other, "h", Offence.UNSOLICITED_DATA, 0.0, "x"), i
    assert peers.score(other, 5.0) == 85.0
    assert not peers.penalize(other, "h", Offence.UNSOLICITED_DATA, 5.0, "x")
    assert peers.penalize(other, "h", Offence.UNSOLICITED_DATA, 5.0, "x")
    assert not peers.penalize(b"\x02" * 32, "h2", Offence.BLOCK_FROM_FUTURE, 0.0, "early")
    assert peers.bans_total == 2


def test_banned_hosts_are_not_dialed_and_inbound_is_limited() -> None:
    peers = PeerManager(PeerLimits(max_inbound=2))
    peers.add_bootnode(BOOT)
    peers.penalize(None, BOOT.host, Offence.INVALID_MESSAGE, 0.0, "garbage")
    assert peers.dials_due(1.0, 0, set()) == []
    assert peers.accepts_inbound(1) and not peers.accepts_inbound(2)
    assert str(DialAddress("::1", 5)) == "[::1]:5"


def _session(remote: DialAddress, endpoints: tuple[Endpoint, ...]) -> PeerSession:
    record = NodeRecord.create(PrivateKey(sha256(b"udp peer")), 1, endpoints, bytes(32))
    connection = cast(PeerConnection, None)  # udp_address reads the record and the remote only
    return PeerSession(1, connection, remote, None, 0.0, 0.0, record.node_id, record)


def test_a_peers_udp_address_is_its_connections_host_and_its_records_udp_port() -> None:
    tcp = Endpoint(Transport.TCP, "0.0.0.0", 9741)
    listening = Endpoint(Transport.UDP, "0.0.0.0", 9741)
    remote = DialAddress("::ffff:198.51.100.7", 40312)  # seen through a dual-stack socket
    assert _session(remote, (tcp, listening)).udp_address == ("198.51.100.7", 9741)
    # A UDP endpoint at the host we see it at (its reflexive address, as its NAT maps it) wins.
    mapped = Endpoint(Transport.UDP, "198.51.100.7", 61000)
    assert _session(remote, (tcp, listening, mapped)).udp_address == ("198.51.100.7", 61000)
    named = Endpoint(Transport.UDP, "node.example.org", 9742)
    assert _session(remote, (tcp, named)).udp_address == ("198.51.100.7", 9742)
    assert _session(remote, (tcp,)).udp_address is None


def test_next_dial_time_skips_what_only_an_event_makes_dialable() -> None:
    # An inbound peer's own address is learned with its node id while it is connected: it is
    # not dialable until it disconnects, so it sets no deadline (a deadline of 0.0 here kept
    # a node's timer firing back to back).
    peers = PeerManager(PeerLimits(max_outbound=2))
    peers.learn(OTHER, node_id=NODE)
    assert peers.next_dial_time(0, {NODE}) is None
    assert peers.next_dial_time(0, set()) == 0.0
    # No room to dial: nothing is due, however old the addresses.
    assert peers.next_dial_time(2, set()) is None


def test_next_dial_time_waits_for_a_ban_to_expire() -> None:
    peers = PeerManager(PeerLimits(ban_seconds=100.0))
    peers.learn(OTHER, node_id=NODE)
    peers.penalize(NODE, OTHER.host, Offence.INVALID_BLOCK, 10.0, "bad block")
    assert peers.dials_due(50.0, 0, set()) == []
    assert peers.next_dial_time(0, set()) == 110.0
    assert peers.dials_due(110.0, 0, set()) == [OTHER]
