"""Node records: encoding round trips, strict decoding, signatures, newest-wins, the size bound
that makes every record a DHT value, and the DHT's validator and comparator for them."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.codec import MAX_U64, Writer
from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.errors import DecodeError
from pacata.p2p.dht_messages import MAX_DATAGRAM_SIZE, MAX_VALUE_SIZE, DhtPacket, Store, Value
from pacata.p2p.records import (
    MAX_ENDPOINTS,
    MAX_HOST_BYTES,
    MAX_RECORD_BYTES,
    Endpoint,
    NodeRecord,
    RecordStore,
    Transport,
    newer_record_value,
    node_id_of,
    validate_record_value,
)

KEY = PrivateKey(sha256(b"record test key"))
OTHER = PrivateKey(sha256(b"record test other key"))
WG = bytes(range(32))


def record(seq: int = 1, key: PrivateKey = KEY, relay: bool = False) -> NodeRecord:
    endpoints = (Endpoint(Transport.TCP, "127.0.0.1", 9741), Endpoint(Transport.UDP, "::1", 9741))
    return NodeRecord.create(key, seq, endpoints, WG, relay=relay)


# At most 3 UTF-8 bytes a character below U+3000: 33 characters stay within MAX_HOST_BYTES.
hosts = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF),
    min_size=1,
    max_size=MAX_HOST_BYTES // 3,
)
endpoints = st.builds(
    Endpoint, st.sampled_from(Transport), hosts, st.integers(min_value=1, max_value=65535)
)


@given(
    seq=st.integers(min_value=0, max_value=2**64 - 1),
    eps=st.lists(endpoints, max_size=8).map(tuple),
    wg=st.binary(min_size=32, max_size=32),
    relay=st.booleans(),
)
def test_record_round_trips_and_verifies(
    seq: int, eps: tuple[Endpoint, ...], wg: bytes, relay: bool
) -> None:
    signed = NodeRecord.create(KEY, seq, eps, wg, relay=relay)
    encoded = signed.encode()
    assert len(encoded) <= MAX_RECORD_BYTES
    decoded = NodeRecord.decode(encoded)
    assert decoded == signed
    assert decoded.verify()


def test_node_id_is_sha256_of_the_compressed_key() -> None:
    assert node_id_of(KEY.public_key) == sha256(KEY.public_key)
    assert record().node_id == node_id_of(KEY.public_key)


def test_tampered_record_does_not_verify() -> None:
    signed = record()
    assert not replace(signed, relay=True).verify()
    assert not replace(signed, seq=2).verify()
    assert not replace(signed, public_key=OTHER.public_key).verify()


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b + b"\x00",  # trailing byte
        lambda b: b[:-1],  # truncated
        lambda b: b"\x02" + b[1:],  # unknown version
        lambda b: b[:1] + b"\x04" + b[2:],  # not a compressed key
    ],
)
def test_bad_encodings_are_refused(mutate: object) -> None:
    encoded = record().encode()
    with pytest.raises(DecodeError):
        NodeRecord.decode(mutate(encoded))  # type: ignore[operator]


def test_unknown_transport_is_refused() -> None:
    encoded = bytearray(record().encode())
    # version, key, seq (1 byte), endpoint count, then the first endpoint's transport
    encoded[1 + 33 + 1 + 1] = 9
    with pytest.raises(DecodeError, match="transport"):
        NodeRecord.decode(bytes(encoded))


def test_newest_wins_and_equal_seq_keeps_the_held_record() -> None:
    old = record(seq=5)
    assert record(seq=6).supersedes(old)
    assert not record(seq=4).supersedes(old)
    assert not record(seq=5, relay=True).supersedes(old)
    assert old.supersedes(None)
    with pytest.raises(ValueError):
        record(key=OTHER).supersedes(old)


def test_record_store_keeps_newest_valid_records_and_is_bounded() -> None:
    store = RecordStore(capacity=2)
    assert store.offer(record(seq=5))
    assert not store.offer(record(seq=5, relay=True))
    assert not store.offer(replace(record(seq=9), relay=True))  # bad signature
    assert store.offer(record(seq=7))
    assert store.get(KEY_ID) == record(seq=7)
    third = NodeRecord.create(PrivateKey(sha256(b"third")), 1, (), WG)
    assert store.offer(record(seq=1, key=OTHER))
    assert store.offer(third)
    assert len(store) == 2
    assert store.get(KEY_ID) is None  # the oldest learned went


KEY_ID = node_id_of(KEY.public_key)


def test_endpoint_forms() -> None:
    assert str(Endpoint(Transport.TCP, "::1", 80)) == "tcp://[::1]:80"
    assert Endpoint(Transport.UDP, "0.0.0.0", 1).is_unspecified
    assert not Endpoint(Transport.UDP, "example.org", 1).is_unspecified
    with pytest.raises(ValueError):
        Endpoint(Transport.TCP, "h", 0)
    assert record().endpoint(Transport.UDP) == Endpoint(Transport.UDP, "::1", 9741)


# -- the size bound: every valid record is a DHT value -----------------------------------------


def largest_record() -> NodeRecord:
    """Every field at its bound: the longest seq, eight endpoints with hosts of the most bytes."""
    host = "h" * (MAX_HOST_BYTES - 3) + "\u00e9" + "h"  # multi-byte text counts in bytes
    endpoints = tuple(Endpoint(Transport.UDP, host, 65535) for _ in range(MAX_ENDPOINTS))
    return NodeRecord.create(KEY, MAX_U64, endpoints, WG, relay=True)


def test_the_largest_valid_record_fits_a_dht_value_and_a_datagram() -> None:
    largest = largest_record()
    encoded = largest.encode()
    assert len(encoded) == MAX_RECORD_BYTES <= MAX_VALUE_SIZE
    assert NodeRecord.decode(encoded) == largest
    assert validate_record_value(largest.node_id, encoded)
    for body in (Store(largest.node_id, encoded), Value(largest.node_id, encoded)):
        assert len(DhtPacket.signed(KEY, bytes(8), body)) <= MAX_DATAGRAM_SIZE


def _encode_by_hand(endpoints: list[tuple[int, str, int]]) -> bytes:
    """A record's encoding written field by field, past `NodeRecord`'s own checks."""
    writer = Writer()
    writer.u8(1)
    writer.fixed(KEY.public_key, 33)
    writer.uvarint(MAX_U64)
    writer.uvarint(len(endpoints))
    for transport, host, port in endpoints:
        writer.u8(transport)
        writer.var_bytes(host.encode("utf-8"), 1 << 16)
        writer.u16(port)
    writer.fixed(WG, 32)
    writer.boolean(True)
    writer.fixed(bytes(64), 64)
    return writer.getvalue()


def test_records_past_the_bounds_are_refused_at_decode() -> None:
    at_bound = [(2, "h" * MAX_HOST_BYTES, 1)] * MAX_ENDPOINTS
    assert NodeRecord.decode(_encode_by_hand(at_bound)).seq == MAX_U64
    too_many = [(2, "h", 1)] * (MAX_ENDPOINTS + 1)
    too_long_host = [(2, "h" * (MAX_HOST_BYTES + 1), 1)]
    larger = [(2, "h" * MAX_HOST_BYTES, 1)] * (MAX_ENDPOINTS + 1)
    with pytest.raises(DecodeError, match="items exceed"):
        NodeRecord.decode(_encode_by_hand(too_many))
    with pytest.raises(DecodeError, match="exceeds the bound"):
        NodeRecord.decode(_encode_by_hand(too_long_host))
    encoded = _encode_by_hand(larger)
    assert len(encoded) > MAX_RECORD_BYTES
    with pytest.raises(DecodeError, match=f"at most {MAX_RECORD_BYTES} bytes"):
        NodeRecord.decode(encoded)
    with pytest.raises(DecodeError, match=f"at most {MAX_RECORD_BYTES} bytes"):
        NodeRecord.decode(largest_record().encode() + b"\x00")


def test_records_past_the_bounds_cannot_be_made() -> None:
    with pytest.raises(ValueError, match="host"):
        Endpoint(Transport.TCP, "h" * (MAX_HOST_BYTES + 1), 1)
    with pytest.raises(ValueError, match="host"):
        Endpoint(Transport.TCP, "\u00e9" * (MAX_HOST_BYTES // 2 + 1), 1)
    endpoint = Endpoint(Transport.TCP, "h", 1)
    with pytest.raises(ValueError, match="endpoints"):
        NodeRecord.create(KEY, 1, (endpoint,) * (MAX_ENDPOINTS + 1), WG)


# -- the DHT's validator and comparator ---------------------------------------------------------


def test_the_dht_validator_wants_a_verified_record_under_its_node_id() -> None:
    signed = record().encode()
    assert validate_record_value(KEY_ID, signed)
    assert not validate_record_value(node_id_of(OTHER.public_key), signed)  # another node's key
    assert not validate_record_value(KEY_ID, replace(record(), relay=True).encode())  # forged
    assert not validate_record_value(KEY_ID, signed + b"\x00")
    assert not validate_record_value(KEY_ID, b"")
    assert not validate_record_value(KEY_ID, b"\xff" * 100)


def test_the_dht_comparator_is_supersedes() -> None:
    old = record(seq=5).encode()
    assert newer_record_value(old, record(seq=6).encode())
    assert not newer_record_value(old, record(seq=4).encode())
    assert not newer_record_value(old, record(seq=5, relay=True).encode())  # equal seq: keep
    assert not newer_record_value(old, old)
    assert not newer_record_value(old, record(seq=9, key=OTHER).encode())  # another node
    assert not newer_record_value(b"garbage", record(seq=6).encode())
    assert not newer_record_value(old, b"garbage")
