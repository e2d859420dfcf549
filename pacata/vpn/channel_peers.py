"""Which WireGuard peers the chain says this node should have: the chain as the control plane.

    peers = ChannelPeers(account_address, account_public_key, confirmations=2)
    peers.observe(channel_id, channel)            # a channel record changed (None: closed)
    plan = peers.plan(height, offer_of)           # what to add and what to remove

A node takes part in channels in two roles, maybe both at once:

- as a **relay** (`channel.relay` is its account): it admits the channel's client, keyed by the
  `client_tunnel_key` of the `CHANNEL_OPEN`, allowed only that key's overlay address (/128);
- as a **client** (`channel.client_public_key` is its account key): it adds the relay, keyed
  by the WireGuard key of the relay's on-chain offer, at the offer's first endpoint that is an
  IP address and port, allowed the relay's overlay address.

Rules (docs/paid-tunnels.md §Gating):
- A channel counts once it is `confirmations` deep (opened at height h: at tip h it has one)
  and until it expires (`height >= expiry_height`) or closes. A used-up channel still counts:
  its client may top it up, and meanwhile the relay's byte budget holds it (it cannot pay for
  more than its deposit) and drops it after the grace, as any client that stops paying
  (docs/paid-tunnels.md §Tiers).
  A reorganisation that takes the opening away takes the channel away: the caller feeds the
  records of the new chain (`resync`) and the plan removes what is gone.
- One WireGuard peer per key: when several counting channels share a key (a client that opened
  a new channel before the old one ended), the newest opening stands for the peer.
- `plan` compares what should be with what the last plan made (`applied`), so replaying the
  same chain changes nothing; sans-I/O: no clock, no sockets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from pacata.chain.keys import Address
from pacata.chain.state import Channel
from pacata.chain.transactions import RelayOffer
from pacata.p2p.udp_address import Address as SocketAddress
from pacata.p2p.udp_address import normalize_address
from pacata.vpn.overlay import overlay_host

Role = Literal["relay", "client"]
OfferLookup = Callable[[Address], RelayOffer | None]


@dataclass(frozen=True, slots=True)
class PlannedPeer:
    """A WireGuard peer the chain asks for, and the channel it stands for."""

    public_key: bytes
    role: Role  # our role in the channel: "relay" admits a client, "client" adds a relay
    channel_id: bytes
    channel: Channel = field(compare=False)  # its paid amount moves; the peer does not
    allowed_ips: tuple[ipaddress.IPv6Network, ...] = ()
    endpoint: SocketAddress | None = None


@dataclass(frozen=True, slots=True)
class PeerPlan:
    add: tuple[PlannedPeer, ...] = ()  # new peers, or peers whose settings changed
    remove: tuple[bytes, ...] = ()  # public keys

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


def first_ip_endpoint(offer: RelayOffer) -> SocketAddress | None:
    """The first of an offer's endpoints that is `IP:PORT` (`[IPv6]:PORT`), normalized."""
    for text in offer.endpoints:
        host, _, port = text.rpartition(":")
        try:
            return normalize_address(host.removeprefix("[").removesuffix("]"), int(port))
        except ValueError:
            continue
    return None


@dataclass
class ChannelPeers:
    account: Address
    account_public_key: bytes
    confirmations: int = 1
    _channels: dict[bytes, Channel] = field(default_factory=dict)
    applied: dict[bytes, PlannedPeer] = field(default_factory=dict)
    stopped: set[bytes] = field(default_factory=set)  # channels this node stopped using

    def __post_init__(self) -> None:
        if self.confirmations < 1:
            raise ValueError("a channel needs at least one confirmation (its own block)")

    def role_in(self, channel: Channel) -> Role | None:
        if channel.relay == self.account:
            return "relay"
        if channel.client_public_key == self.account_public_key:
            return "client"
        return None

    def observe(self, channel_id: bytes, channel: Channel | None) -> None:
        """A channel's record as the chain now has it (None: it is gone)."""
        if channel is None or self.role_in(channel) is None:
            self._channels.pop(channel_id, None)
            self.stopped.discard(channel_id)
        else:
            self._channels[channel_id] = channel

    def resync(self, channels: Iterable[tuple[bytes, Channel]]) -> None:
        """Replaces every channel seen with `channels` (after a reorganisation, at start)."""
        self._channels.clear()
        for channel_id, channel in channels:
            self.observe(channel_id, channel)

    @property
    def channels(self) -> dict[bytes, Channel]:
        return dict(self._channels)

    def stop(self, channel_id: bytes) -> None:
        """This node stops using the channel (a client that disconnects): its peer goes at
        the next plan, whatever the chain says; the channel stays until it is closed."""
        self.stopped.add(channel_id)

    def counts(self, channel: Channel, height: int) -> bool:
        """Whether a channel admits its peer at tip `height`."""
        return (
            height - channel.open_height + 1 >= self.confirmations
            and height < channel.expiry_height
        )

    def plan(self, height: int, offer_of: OfferLookup) -> PeerPlan:
        """The peers to add and remove to match the chain at tip `height`; the plan is taken
        as applied."""
        wanted: dict[bytes, PlannedPeer] = {}
        for channel_id, channel in sorted(
            self._channels.items(), key=lambda item: (item[1].open_height, item[0])
        ):
            if channel_id in self.stopped or not self.counts(channel, height):
                continue
            peer = self._peer(channel_id, channel, offer_of)
            if peer is not None:
                wanted[peer.public_key] = peer  # the newest opening wins
        add = tuple(peer for key, peer in wanted.items() if self.applied.get(key) != peer)
        remove = tuple(key for key in self.applied if key not in wanted)
        self.applied = wanted
        return PeerPlan(add, remove)

    def _peer(
        self, channel_id: bytes, channel: Channel, offer_of: OfferLookup
    ) -> PlannedPeer | None:
        if self.role_in(channel) == "relay":
            key = channel.client_tunnel_key
            return PlannedPeer(key, "relay", channel_id, channel, (overlay_host(key),))
        offer = offer_of(channel.relay)
        if offer is None:  # the relay retired: its clients' tunnels end
            return None
        key = offer.wireguard_key
        return PlannedPeer(
            key, "client", channel_id, channel, (overlay_host(key),), first_ip_endpoint(offer)
        )
