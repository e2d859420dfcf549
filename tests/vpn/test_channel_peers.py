"""`ChannelPeers` (pacata/vpn/channel_peers.py): the peers the chain asks for, in both roles."""

from __future__ import annotations

import os

import pytest

from pacata.chain.keys import Address, PrivateKey
from pacata.chain.state import Channel
from pacata.chain.transactions import RelayOffer
from pacata.vpn.channel_peers import ChannelPeers, PeerPlan, first_ip_endpoint
from pacata.vpn.overlay import OVERLAY_PREFIX, overlay_address, overlay_host

RELAY = PrivateKey(bytes(31) + b"\x01")
CLIENT = PrivateKey(bytes(31) + b"\x02")
OTHER = PrivateKey(bytes(31) + b"\x03")
RELAY_WG = bytes(range(32))
CLIENT_WG = bytes(range(1, 33))
OFFER = RelayOffer(RELAY_WG, ("relay.example:9741", "192.0.2.7:9741"), (100,), (0,))


def channel(**overrides: object) -> Channel:
    fields: dict[str, object] = {
        "client_public_key": CLIENT.public_key,
        "relay": RELAY.address,
        "deposit": 1_000,
        "paid": 0,
        "settled_bytes": 0,
        "tier": 0,
        "client_tunnel_key": CLIENT_WG,
        "open_height": 10,
        "expiry_height": 50,
    }
    fields.update(overrides)
    return Channel(**fields)  # type: ignore[arg-type]


def offers(relay: Address) -> RelayOffer | None:
    return OFFER if relay == RELAY.address else None


def relay_side(confirmations: int = 2) -> ChannelPeers:
    return ChannelPeers(RELAY.address, RELAY.public_key, confirmations)


def test_a_relay_admits_a_channel_once_deep_enough_until_it_expires() -> None:
    peers = relay_side(confirmations=2)
    peers.observe(b"c" * 32, channel())
    assert not peers.plan(10, offers)  # one confirmation
    plan = peers.plan(11, offers)
    [peer] = plan.add
    assert (peer.public_key, peer.role, peer.allowed_ips) == (
        CLIENT_WG,
        "relay",
        (overlay_host(CLIENT_WG),),
    )
    assert peer.endpoint is None
    assert not peers.plan(30, offers)  # nothing changed: nothing to do
    assert peers.plan(50, offers) == PeerPlan(remove=(CLIENT_WG,))  # expired


def test_closed_and_reorganised_away_remove_the_peer_and_used_up_does_not() -> None:
    peers = relay_side(confirmations=1)
    peers.observe(b"c" * 32, channel())
    assert peers.plan(10, offers).add
    peers.observe(b"c" * 32, channel(paid=999))  # a settle: the peer stays, unchanged
    assert not peers.plan(12, offers)
    peers.observe(b"c" * 32, channel(paid=1_000))  # used up: it may be topped up; it stays
    assert not peers.plan(13, offers)
    peers.observe(b"c" * 32, None)  # closed
    assert peers.plan(13, offers).remove == (CLIENT_WG,)
    peers.observe(b"c" * 32, channel())
    assert peers.plan(13, offers).add
    peers.resync([])  # the new chain has no such opening
    assert peers.plan(13, offers).remove == (CLIENT_WG,)


def test_channels_of_others_are_ignored() -> None:
    peers = relay_side(confirmations=1)
    peers.observe(b"x" * 32, channel(relay=OTHER.address))
    peers.observe(b"y" * 32, channel(client_public_key=OTHER.public_key, relay=OTHER.address))
    assert peers.channels == {}
    assert not peers.plan(20, offers)


def test_the_newest_opening_stands_for_a_shared_key() -> None:
    peers = relay_side(confirmations=1)
    peers.observe(b"a" * 32, channel(open_height=10, expiry_height=30))
    peers.observe(b"b" * 32, channel(open_height=20, expiry_height=60))
    [peer] = peers.plan(25, offers).add
    assert peer.channel_id == b"b" * 32
    assert not peers.plan(35, offers)  # the older one expired; the key stays a peer
    assert peers.plan(60, offers).remove == (CLIENT_WG,)


def test_a_client_adds_the_relay_from_its_offer() -> None:
    peers = ChannelPeers(CLIENT.address, CLIENT.public_key, 1)
    peers.observe(b"c" * 32, channel())
    [peer] = peers.plan(10, offers).add
    assert (peer.public_key, peer.role, peer.endpoint) == (RELAY_WG, "client", ("192.0.2.7", 9741))
    assert peer.allowed_ips == (overlay_host(RELAY_WG),)
    assert peers.plan(10, lambda relay: None).remove == (RELAY_WG,)  # the relay retired


def test_endpoints_and_addresses() -> None:
    assert first_ip_endpoint(RelayOffer(RELAY_WG, ("[2001:db8::7]:1",), (1,), (0,))) == (
        "2001:db8::7",
        1,
    )
    assert first_ip_endpoint(RelayOffer(RELAY_WG, ("a.example:1", "x:y"), (1,), (0,))) is None
    key = os.urandom(32)
    address = overlay_address(key)
    assert address in OVERLAY_PREFIX and address.packed[6:] == key[:10]
    with pytest.raises(ValueError, match="32 bytes"):
        overlay_address(key[:31])
    with pytest.raises(ValueError, match="confirmation"):
        ChannelPeers(RELAY.address, RELAY.public_key, 0)


def test_a_stopped_channel_loses_its_peer_until_it_is_gone() -> None:
    peers = ChannelPeers(CLIENT.address, CLIENT.public_key, 1)
    peers.observe(b"c" * 32, channel())
    assert peers.plan(10, offers).add
    peers.stop(b"c" * 32)
    assert peers.plan(11, offers).remove == (RELAY_WG,)
    assert not peers.plan(12, offers)
    peers.observe(b"c" * 32, None)  # closed: forgotten, stop included
    assert peers.stopped == set()
