"""The address index's stored records (pacata/chain/address_index_schema.py): `TxEntry`,
`PartyEntry`, `ChannelEntry` and `BlockUndo` round-trip, and a truncated, extended or altered
value never decodes to the record it was (CONVENTIONS.md 2). The index reads them back from a
store of its own: a value that does not decode is a `StoreError` there
(tests/chain/test_address_index.py), never a wrong answer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.chain import address_index_schema
from pacata.chain.address_index_schema import BlockUndo, ChannelEntry, PartyEntry, TxEntry
from pacata.chain.chainstore import UndoRecord
from pacata.chain.codec import MAX_U64, WireObject
from pacata.chain.keys import Address
from pacata.errors import DecodeError

u64 = st.integers(min_value=0, max_value=MAX_U64)
h32 = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(Address)

tx_entries = st.builds(TxEntry, txid=h32, height=u64, index=u64, offset=u64, size=u64)
party_entries = st.builds(PartyEntry, channel_id=h32, height=u64, index=u64)
closings = st.none() | st.tuples(u64, h32)
channel_entries = st.builds(
    lambda client, relay, tier, expiry, height, index, txid, closing: ChannelEntry(
        client, relay, tier, expiry, height, index, txid, *(closing or (None, None))
    ),
    addresses,
    addresses,
    st.integers(0, 255),
    u64,
    u64,
    u64,
    h32,
    closings,
)
# An undo list as the index writes them: its keys (at most 64 bytes) with the value each had
# before the block (None: absent).
undo_records = st.lists(
    st.tuples(st.binary(max_size=64), st.none() | st.binary(max_size=200)), max_size=6
).map(lambda previous: UndoRecord(tuple(previous)))
block_undos = st.builds(BlockUndo, block_hash=h32, parent_hash=h32, previous=undo_records)

STRATEGIES: dict[type[WireObject], st.SearchStrategy[WireObject]] = {
    TxEntry: tx_entries,
    PartyEntry: party_entries,
    ChannelEntry: channel_entries,
    BlockUndo: block_undos,
}
records = st.one_of(*STRATEGIES.values())


@settings(max_examples=300)
@given(records)
def test_a_record_round_trips_to_the_same_bytes(record: WireObject) -> None:
    encoded = record.encode()
    decoded = type(record).decode(encoded)
    assert decoded == record
    assert decoded.encode() == encoded


@settings(max_examples=200)
@given(records, st.data())
def test_a_truncated_record_is_refused(record: WireObject, data: st.DataObject) -> None:
    encoded = record.encode()
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(DecodeError):
        type(record).decode(encoded[:cut])


@settings(max_examples=200)
@given(records, st.binary(min_size=1, max_size=8))
def test_trailing_bytes_after_a_record_are_refused(record: WireObject, extra: bytes) -> None:
    with pytest.raises(DecodeError):
        type(record).decode(record.encode() + extra)


@settings(max_examples=300)
@given(records, st.data())
def test_an_altered_record_is_refused_or_another_canonical_record(
    record: WireObject, data: st.DataObject
) -> None:
    """Flipping bits of a byte: either refused, or the canonical encoding of another record
    (so no record has two encodings)."""
    encoded = bytearray(record.encode())
    at = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    encoded[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    try:
        altered = type(record).decode(bytes(encoded))
    except DecodeError:
        return
    assert altered != record
    assert altered.encode() == bytes(encoded)


def test_non_canonical_forms_are_refused() -> None:
    entry = TxEntry(bytes(32), 5, 1, 200, 143)
    encoded = entry.encode()
    assert encoded[32] == 5
    # The height as a two-byte varint (0x85 0x00): the same number, not minimal.
    with pytest.raises(DecodeError, match="non-minimal varint"):
        TxEntry.decode(encoded[:32] + b"\x85\x00" + encoded[33:])
    channel = ChannelEntry(Address(bytes(20)), Address(b"\x01" * 20), 0, 9, 2, 0, bytes(32))
    open_only = channel.encode()
    assert open_only[-1] == 0  # the closing's flag: none
    with pytest.raises(DecodeError, match="boolean must be 0 or 1"):
        ChannelEntry.decode(open_only[:-1] + b"\x02")
    # A closing flag with no closing after it.
    with pytest.raises(DecodeError):
        ChannelEntry.decode(open_only[:-1] + b"\x01")


def test_every_record_of_the_schema_has_its_strategy_here() -> None:
    """A record added to the schema must get its round trip here too."""
    defined = {
        value
        for value in vars(address_index_schema).values()
        if isinstance(value, type)
        and issubclass(value, WireObject)
        and value.__module__ == address_index_schema.__name__
    }
    assert defined == set(STRATEGIES)
