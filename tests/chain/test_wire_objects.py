"""Every ledger wire object: round trips, and truncated or mutated encodings refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.chain.bandwidth_pool import Earning, EpochEarners
from pacata.chain.blocks import Block
from pacata.chain.chainstore import BlockInfo, BlockStatus, UndoRecord
from pacata.chain.codec import MAX_U64, WireObject, Writer
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.receipts import Receipt
from pacata.chain.state import Account, ChainTotals, Channel, RelayRecord, Unbonding
from pacata.chain.transactions import (
    PAYLOAD_TYPES,
    Bond,
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    ChannelTopup,
    Evidence,
    RelayOffer,
    RelayRegister,
    RelayRetire,
    RelayUpdate,
    Transaction,
    Transfer,
    TxKind,
    Unbond,
    make_transaction,
)
from pacata.errors import DecodeError

KEYS = [PrivateKey(bytes([i]) * 32) for i in range(1, 4)]

u64 = st.integers(min_value=0, max_value=MAX_U64)
positive = st.integers(min_value=1, max_value=MAX_U64)
h32 = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(Address)
chain_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=32)
pubkeys = st.sampled_from([k.public_key for k in KEYS])

headers = st.builds(
    BlockHeader,
    height=u64,
    prev_hash=h32,
    slot=u64,
    timestamp_ms=u64,
    producer=pubkeys,
    tx_root=h32,
    state_root=h32,
    vrf_output=st.binary(min_size=64, max_size=64),
    vrf_proof=st.binary(min_size=80, max_size=80),
    signature=st.binary(min_size=64, max_size=64),
)
receipts = st.builds(
    Receipt,
    chain_id=chain_ids,
    channel_id=h32,
    cumulative_bytes=u64,
    cumulative_amount=u64,
    signature=st.binary(min_size=64, max_size=64),
)
offers = st.builds(
    lambda key, endpoints, tiers: RelayOffer(
        key, endpoints, tuple(p for p, _ in tiers), tuple(r for _, r in tiers)
    ),
    h32,
    st.lists(st.text(max_size=20), min_size=1, max_size=8).map(tuple),
    st.lists(st.tuples(u64, u64), min_size=1, max_size=8),
)
PAYLOADS: dict[TxKind, st.SearchStrategy[Any]] = {
    TxKind.TRANSFER: st.builds(Transfer, addresses, positive),
    TxKind.BOND: st.builds(Bond, positive, h32),
    TxKind.UNBOND: st.builds(Unbond, positive),
    TxKind.RELAY_REGISTER: st.builds(RelayRegister, offers),
    TxKind.RELAY_UPDATE: st.builds(RelayUpdate, offers),
    TxKind.RELAY_RETIRE: st.just(RelayRetire()),
    TxKind.CHANNEL_OPEN: st.builds(ChannelOpen, addresses, positive, st.integers(0, 7), h32, u64),
    TxKind.CHANNEL_TOPUP: st.builds(ChannelTopup, h32, positive),
    TxKind.CHANNEL_SETTLE: st.builds(ChannelSettle, receipts),
    TxKind.CHANNEL_CLOSE: st.builds(ChannelClose, h32),
    TxKind.EVIDENCE: st.builds(Evidence, headers, headers),
}
payloads = st.one_of(*PAYLOADS.values())
transactions = st.builds(
    Transaction,
    chain_id=chain_ids,
    sender=pubkeys,
    nonce=u64,
    fee=u64,
    payload=payloads,
    signature=st.binary(min_size=64, max_size=64),
)
accounts = st.builds(
    Account,
    balance=u64,
    nonce=u64,
    bond=u64,
    vrf_public_key=st.sampled_from([b"", bytes(range(32))]),
    unbonding=st.lists(st.builds(Unbonding, u64, u64), max_size=16).map(tuple),
)
channels = st.builds(
    Channel,
    client_public_key=pubkeys,
    relay=addresses,
    deposit=u64,
    paid=u64,
    settled_bytes=u64,
    tier=st.integers(0, 255),
    client_tunnel_key=h32,
    open_height=u64,
    expiry_height=u64,
)
earners = st.builds(
    lambda epoch, entries: EpochEarners(
        epoch, tuple(Earning(Address(raw), amount) for raw, amount in sorted(entries.items()))
    ),
    u64,
    st.dictionaries(st.binary(min_size=20, max_size=20), positive, min_size=1, max_size=20),
)
wire_objects = st.one_of(
    headers,
    receipts,
    transactions,
    accounts,
    channels,
    st.builds(ChainTotals, u64, u64, u64),
    st.builds(RelayRecord, pubkeys, offers, u64),
    earners,
    st.builds(BlockInfo, u64, h32, st.sampled_from(list(BlockStatus))),
    st.builds(
        UndoRecord,
        st.lists(
            st.tuples(st.binary(max_size=64), st.none() | st.binary(max_size=100)), max_size=5
        ).map(tuple),
    ),
    st.builds(Block, headers, st.lists(transactions, max_size=3).map(tuple)),
)


def test_every_kind_has_a_payload_type_and_strategy() -> None:
    assert set(PAYLOAD_TYPES) == set(TxKind) == set(PAYLOADS)


@settings(max_examples=300)
@given(wire_objects)
def test_round_trip(obj: WireObject) -> None:
    encoded = obj.encode()
    decoded = type(obj).decode(encoded)
    assert decoded == obj
    assert decoded.encode() == encoded


@settings(max_examples=300)
@given(wire_objects)
def test_encode_gives_the_bytes_of_write_to(obj: WireObject) -> None:
    # Some types encode their common case without a Writer (a block's accounts); the bytes
    # must be those of the one format `write_to` defines.
    writer = Writer()
    obj.write_to(writer)
    assert obj.encode() == writer.getvalue()


@settings(max_examples=150)
@given(wire_objects, st.data())
def test_truncated_encoding_is_refused(obj: WireObject, data: st.DataObject) -> None:
    encoded = obj.encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(DecodeError):
        type(obj).decode(encoded[:cut])


@settings(max_examples=150)
@given(wire_objects, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_are_refused(obj: WireObject, extra: bytes) -> None:
    with pytest.raises(DecodeError):
        type(obj).decode(obj.encode() + extra)


@settings(max_examples=300)
@given(transactions, st.data())
def test_mutated_transaction_never_decodes_to_the_same_object(
    tx: Transaction, data: st.DataObject
) -> None:
    encoded = bytearray(tx.encode())
    index = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[index] ^= data.draw(st.integers(min_value=1, max_value=255))
    try:
        mutated = Transaction.decode(bytes(encoded))
    except DecodeError:
        return
    # A mutation that still decodes is a different transaction with a different id.
    assert mutated != tx
    assert mutated.txid != tx.txid


def test_unknown_kind_and_version_are_refused() -> None:
    tx = make_transaction(KEYS[0], "pacata-test", 0, 1000, Transfer(KEYS[1].address, 5))
    encoded = bytearray(tx.encode())
    kind_offset = 1 + 1 + len("pacata-test")
    assert encoded[kind_offset] == TxKind.TRANSFER
    encoded[kind_offset] = 99
    with pytest.raises(DecodeError, match="unknown transaction kind 99"):
        Transaction.decode(bytes(encoded))
    encoded = bytearray(tx.encode())
    encoded[0] = 2
    with pytest.raises(DecodeError, match="version"):
        Transaction.decode(bytes(encoded))


def test_zero_amount_transfer_is_refused_on_decode() -> None:
    tx = make_transaction(KEYS[0], "pacata-test", 0, 1000, Transfer(KEYS[1].address, 1))
    encoded = tx.encode()
    # the amount is the last field before the 64-byte signature: uvarint 1 -> 0
    assert encoded[-65] == 1
    mutated = encoded[:-65] + b"\x00" + encoded[-64:]
    with pytest.raises(DecodeError, match="amount must be positive"):
        Transaction.decode(mutated)


def test_an_offer_gives_one_rate_limit_per_tier() -> None:
    with pytest.raises(ValueError, match="one rate limit per tier: 2 prices, 1 rate limits"):
        RelayOffer(bytes(32), ("198.51.100.1:51820",), (1, 2), (0,))
    offer = RelayOffer(bytes(32), ("198.51.100.1:51820",), (1, 2), (0, 200))
    encoded = offer.encode()
    # The rate limits are the last field: a count, then a uvarint each (200 takes two bytes).
    assert encoded.endswith(b"\x02\x00\xc8\x01")
    for count, values in ((1, b"\x00"), (3, b"\x00\x00\x00"), (0, b"")):
        with pytest.raises(DecodeError, match="one rate limit per tier"):
            RelayOffer.decode(encoded[:-4] + bytes((count,)) + values)
    tx = make_transaction(KEYS[0], "pacata-test", 0, 1000, RelayRegister(offer))
    body, signature = tx.encode()[:-64], tx.encode()[-64:]
    with pytest.raises(DecodeError, match="one rate limit per tier"):
        Transaction.decode(body[:-4] + b"\x01\x00" + signature)


def test_uncompressed_or_invalid_sender_key_is_refused() -> None:
    tx = make_transaction(KEYS[0], "pacata-test", 0, 1000, Transfer(KEYS[1].address, 1))
    encoded = bytearray(tx.encode())
    sender_offset = 1 + 1 + len("pacata-test") + 1
    encoded[sender_offset] = 0x04
    with pytest.raises(DecodeError, match="compressed"):
        Transaction.decode(bytes(encoded))


def test_signature_covers_chain_id_and_every_field() -> None:
    key = KEYS[0]
    tx = make_transaction(key, "pacata-a", 3, 1000, Transfer(KEYS[1].address, 7))
    assert tx.has_valid_signature()
    for changed in (
        Transaction("pacata-b", tx.sender, 3, 1000, tx.payload, tx.signature),
        Transaction("pacata-a", tx.sender, 4, 1000, tx.payload, tx.signature),
        Transaction("pacata-a", tx.sender, 3, 1001, tx.payload, tx.signature),
        Transaction("pacata-a", tx.sender, 3, 1000, Transfer(KEYS[1].address, 8), tx.signature),
        Transaction("pacata-a", KEYS[1].public_key, 3, 1000, tx.payload, tx.signature),
    ):
        assert not changed.has_valid_signature()


def test_header_signature_and_hash() -> None:
    key = KEYS[0]
    header = BlockHeader(1, bytes(32), 1, 1000, key.public_key, bytes(32), bytes(32)).signed(key)
    assert header.has_valid_signature()
    assert BlockHeader.decode(header.encode()).hash == header.hash
    moved = BlockHeader(1, bytes(32), 2, 1000, key.public_key, bytes(32), bytes(32))
    assert moved.hash != header.hash
    with pytest.raises(ValueError, match="producer"):
        header.signed(KEYS[1])


@settings(max_examples=200)
@given(accounts)
def test_an_account_is_empty_exactly_when_it_equals_the_empty_account(account: Account) -> None:
    assert account.is_empty == (account == Account())
    assert Account(nonce=account.nonce).is_empty == (account.nonce == 0)
