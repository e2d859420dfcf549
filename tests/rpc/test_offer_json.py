"""The API's JSON of a relay offer: each tier's price per GiB and its rate limit."""

from __future__ import annotations

from pacata.chain.devnet import devnet_key
from pacata.chain.transactions import RelayOffer, RelayRegister, make_transaction
from pacata.rpc.schemas import TransactionSchema


def test_a_relay_registration_shows_each_tiers_price_and_rate_limit() -> None:
    offer = RelayOffer(
        bytes(range(32)), ("198.51.100.4:51820",), (900_000, 4_000_000), (0, 12_500_000)
    )
    tx = make_transaction(devnet_key(4), "pacata-devnet-1", 0, 1_000, RelayRegister(offer))
    dumped = TransactionSchema().dump(tx)
    assert dumped["kind"] == "RELAY_REGISTER"
    assert dumped["payload"]["offer"] == {
        "wireguard_key": bytes(range(32)).hex(),
        "endpoints": ["198.51.100.4:51820"],
        "prices_per_gib": [900_000, 4_000_000],
        "rate_limits": [0, 12_500_000],
    }
