"""Building a wallet's transactions (pacata/wallet/transactions.py): the fee for its size as
the node computes it, and what a transaction did to a balance."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.devnet import devnet_key
from pacata.chain.fee_estimate import fee_for_size
from pacata.chain.keys import PrivateKey
from pacata.chain.transactions import (
    Bond,
    ChannelClose,
    ChannelOpen,
    Payload,
    Transaction,
    Transfer,
    Unbond,
)
from pacata.wallet.transactions import (
    balance_change,
    counterparty,
    unsigned_transaction,
)

ALICE, BOB, RELAY = devnet_key(1), devnet_key(2), devnet_key(3)
CHAIN = "pacata-devnet-1"
CHANNEL = bytes(range(32))


def _tx(payload: Payload, fee: int = 1_000, sender: PrivateKey = ALICE) -> Transaction:
    return Transaction(CHAIN, sender.public_key, 7, fee, payload)


@given(
    min_fee=st.integers(0, 10**6),
    rate=st.integers(0, 10**9),
    amount=st.integers(1, 2**64 - 1),
)
def test_the_fee_is_what_its_own_size_calls_for(min_fee: int, rate: int, amount: int) -> None:
    tx = unsigned_transaction(
        CHAIN, ALICE.public_key, 3, Transfer(BOB.address, amount), min_fee=min_fee, rate_per_kb=rate
    )
    signed = tx.signed(ALICE)
    assert signed.fee == fee_for_size(min_fee, rate, signed.size)
    # and no smaller fee would do for a transaction of its size
    assert fee_for_size(min_fee, rate, tx.size) <= tx.fee


def test_a_given_fee_is_kept() -> None:
    tx = unsigned_transaction(
        CHAIN, ALICE.public_key, 0, Transfer(BOB.address, 1), min_fee=1_000, rate_per_kb=0, fee=5
    )
    assert tx.fee == 5  # the node refuses it below min_fee: the wallet does not second-guess


def test_balance_changes_from_each_side() -> None:
    transfer = _tx(Transfer(BOB.address, 500), fee=20)
    assert balance_change(transfer, ALICE.address) == -520
    assert balance_change(transfer, BOB.address) == 500
    assert counterparty(transfer, ALICE.address) == BOB.address
    assert counterparty(transfer, BOB.address) == ALICE.address
    opening = _tx(ChannelOpen(RELAY.address, 300, 0, bytes(32), 100), fee=10)
    assert balance_change(opening, ALICE.address) == -310
    assert balance_change(opening, RELAY.address) == 0
    assert counterparty(opening, ALICE.address) == RELAY.address
    assert balance_change(_tx(Unbond(50), fee=10), ALICE.address) == -10
    # A close's refund depends on the channel: the transaction alone does not say.
    assert balance_change(_tx(ChannelClose(CHANNEL)), ALICE.address) is None
    assert balance_change(_tx(ChannelClose(CHANNEL)), RELAY.address) is None
    assert counterparty(_tx(Bond(1, bytes(32))), ALICE.address) is None
