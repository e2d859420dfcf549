"""Node records: encoding round trips, strict decoding, signatures, newest-wins."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.errors import DecodeError
from pacata.p2p.records import (
    MAX_RECORD_BYTES,
    Endpoint,
    NodeRecord,
    RecordStore,
    Transport,
    node_id_of,
)

KEY = PrivateKey(sha256(b"record test key"))
OTHER = PrivateKey(sha256(b"record test other key"))
WG = bytes(range(32))


def record(seq: int = 1, key: PrivateKey = KEY, relay: bool = False) -> NodeRecord:
    endpoints = (Endpoint(Transport.TCP, "127.0.0.1", 9741), Endpoint(Transport.UDP, "::1", 9741))
    return NodeRecord.create(key, seq, endpoints, WG, relay=relay)


hosts = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=1, max_size=60
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
