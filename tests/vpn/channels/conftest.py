"""One channel, its keys and its price, shared by the paid-tunnel tests: a client key and a
relay address derived from fixed labels, a deposit of 10 PAC at 1 PAC per GiB (about 10.7
bytes a unit, so amounts move with every packet)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.receipts import Receipt
from pacata.chain.state import Channel
from pacata.vpn.channels import ClientChannel, RelayChannel, amount_for_bytes


def key_of(label: str) -> PrivateKey:
    return PrivateKey(sha256(label.encode()))


@dataclass(frozen=True)
class ChannelSetup:
    chain_id: str
    channel_id: bytes
    channel: Channel
    client_key: PrivateKey
    price: int

    def receipt(
        self,
        cumulative_bytes: int,
        cumulative_amount: int | None = None,
        *,
        key: PrivateKey | None = None,
        chain_id: str | None = None,
        channel_id: bytes | None = None,
    ) -> Receipt:
        """A signed receipt; by default for this channel, paying the bytes at the price."""
        amount = cumulative_amount
        if amount is None:
            amount = amount_for_bytes(cumulative_bytes, self.price)
        unsigned = Receipt(
            chain_id or self.chain_id,
            channel_id or self.channel_id,
            cumulative_bytes,
            amount,
        )
        return unsigned.signed(key or self.client_key)

    def with_channel(self, **changes: Any) -> ChannelSetup:
        return replace(self, channel=replace(self.channel, **changes))

    def relay(self, **options: Any) -> RelayChannel:
        return RelayChannel(self.channel_id, self.channel, self.chain_id, self.price, **options)

    def client(self, **options: Any) -> ClientChannel:
        return ClientChannel(
            self.channel_id, self.channel, self.chain_id, self.price, self.client_key, **options
        )


@pytest.fixture(scope="session")
def setup() -> ChannelSetup:
    client_key = key_of("paid tunnels: client")
    channel = Channel(
        client_public_key=client_key.public_key,
        relay=key_of("paid tunnels: relay").address,
        deposit=10 * UNITS_PER_PAC,
        paid=0,
        settled_bytes=0,
        tier=0,
        client_tunnel_key=sha256(b"paid tunnels: tunnel key"),
        open_height=10,
        expiry_height=1_000,
    )
    return ChannelSetup(
        chain_id="pacata-test",
        channel_id=sha256(b"paid tunnels: channel"),
        channel=channel,
        client_key=client_key,
        price=UNITS_PER_PAC,
    )


@pytest.fixture(scope="session")
def stranger() -> PrivateKey:
    return key_of("paid tunnels: stranger")
