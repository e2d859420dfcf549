"""Building the transactions a wallet sends, before and apart from sending them: the fee a
transaction of its size should carry, and what a confirmed transaction did to an address's
balance (for history). What a payload spends besides the fee is the ledger's own rule
(`pacata.chain.transitions.spend_of`).

Rules: amounts are integers of base units; the fee is the node's rule
(`pacata.chain.fee_estimate.fee_for_size`: `min_fee`, or the rate per 1,000 bytes if more) for
the size of the signed transaction. A signature has a fixed size, so the unsigned transaction
with the fee in place tells that size exactly; the fee's own varint can grow it, so the fee is
recomputed until it no longer changes. Nothing here talks to the node: the caller gives the
chain id, the nonce and the rate it read (`pacata.rpc`).
"""

from __future__ import annotations

from pacata.chain.fee_estimate import fee_for_size
from pacata.chain.keys import Address
from pacata.chain.transactions import (
    ChannelClose,
    ChannelSettle,
    Payload,
    Transaction,
    Transfer,
    named_address,
)
from pacata.chain.transitions import spend_of


def unsigned_transaction(
    chain_id: str,
    sender_public_key: bytes,
    nonce: int,
    payload: Payload,
    *,
    min_fee: int,
    rate_per_kb: int,
    fee: int | None = None,
) -> Transaction:
    """The transaction to sign: `fee` if given, else the fee its size calls for."""
    if fee is not None:
        return Transaction(chain_id, sender_public_key, nonce, fee, payload)
    chosen = min_fee
    while True:
        draft = Transaction(chain_id, sender_public_key, nonce, chosen, payload)
        needed = fee_for_size(min_fee, rate_per_kb, draft.size)
        if needed <= chosen:
            return draft
        chosen = needed


def balance_change(tx: Transaction, address: Address) -> int | None:
    """What confirmed transaction `tx` did to `address`'s spendable balance, or None when the
    transaction alone does not tell (a settlement's and a close's amounts depend on the
    channel's state: the relay's share of what was newly paid, the client's refund)."""
    change = 0
    if tx.sender_address == address:
        if isinstance(tx.payload, ChannelSettle | ChannelClose):
            return None
        change -= tx.fee + spend_of(tx.payload)
    elif isinstance(tx.payload, ChannelSettle | ChannelClose):
        return None
    if isinstance(tx.payload, Transfer) and tx.payload.recipient == address:
        change += tx.payload.amount
    return change


def counterparty(tx: Transaction, address: Address) -> Address | None:
    """The other address of `tx` seen from `address`: a transfer's recipient or sender, a
    channel opening's relay; None for a transaction that has none (a bond)."""
    if tx.sender_address == address:
        return named_address(tx.payload)
    return tx.sender_address
