"""Peer messages and framing: round trips, strict decoding, bounds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.codec import Writer
from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.errors import DecodeError, LocalProtocolError, RemoteProtocolError
from pacata.p2p.framing import FrameDecoder, encode_frame
from pacata.p2p.messages import (
    MAX_BLOCK_REQUEST,
    MAX_DETAIL_BYTES,
    MAX_HEADERS,
    MESSAGE_TYPES,
    BlockAnnouncement,
    BlockData,
    Disconnect,
    DisconnectReason,
    Extension,
    GetBlocks,
    GetHeaders,
    GetPeers,
    GetTransactions,
    Headers,
    Hello,
    InvBlocks,
    InvTransactions,
    ItemKind,
    Message,
    MessageKind,
    NotFound,
    Peers,
    Ping,
    Pong,
    Role,
    TlsBinding,
    Transactions,
    decode_message,
)
from pacata.p2p.records import NodeRecord
from pacata.testing.ledger import ChainFactory

KEY = PrivateKey(sha256(b"messages test key"))
RECORD = NodeRecord.create(KEY, 3, (), bytes(32))
H = [sha256(bytes([i])) for i in range(4)]
BINDING = TlsBinding(sha256(b"mine"), sha256(b"theirs"))


def sample_messages() -> list[Message]:
    factory = ChainFactory()
    block = factory.next_block(factory.random_transfers(2))
    hello = Hello(1, "pacata-devnet-1", H[0], 7, H[1], RECORD)
    return [
        hello.signed(KEY, Role.INITIATOR, BINDING),
        Disconnect(DisconnectReason.WRONG_CHAIN, "other chain"),
        Ping(2**64 - 1),
        Pong(0),
        InvBlocks((BlockAnnouncement(H[0], 5), BlockAnnouncement(H[1], 6))),
        InvTransactions(tuple(H)),
        GetBlocks(tuple(H[:2])),
        BlockData(block.encode()),
        GetTransactions((H[3],)),
        Transactions(tuple(tx.encode() for tx in block.transactions)),
        NotFound(ItemKind.TRANSACTION, (H[2],)),
        GetHeaders(tuple(H), 2000),
        Headers((factory.chain.block_at(0).header, block.header)),
        GetPeers(),
        Peers((RECORD,)),
        Extension("vpn/receipts", b"\x01\x02"),
    ]


def test_every_kind_round_trips() -> None:
    messages = sample_messages()
    assert {m.kind for m in messages} == set(MESSAGE_TYPES)
    for message in messages:
        encoded = message.encode_message()
        assert encoded[0] == message.kind
        assert decode_message(encoded) == message


def test_trailing_truncated_and_unknown_are_refused() -> None:
    for message in sample_messages():
        encoded = message.encode_message()
        with pytest.raises(DecodeError):
            decode_message(encoded + b"\x00")
        if len(encoded) > 1:
            with pytest.raises(DecodeError):
                decode_message(encoded[:-1])
    with pytest.raises(DecodeError):
        decode_message(b"")
    with pytest.raises(DecodeError, match="unknown message kind"):
        decode_message(b"\xff")


def test_bounds_are_enforced_on_decode() -> None:
    too_many = bytes([MessageKind.GET_BLOCKS]) + bytes([MAX_BLOCK_REQUEST + 1])
    with pytest.raises(DecodeError, match="exceed"):
        decode_message(too_many + bytes(32 * (MAX_BLOCK_REQUEST + 1)))
    with pytest.raises(DecodeError, match="max_count"):
        decode_message(GetHeaders((H[0],), 1).encode_message()[:-1] + bytes([0]))
    too_far = GetHeaders((H[0],), 1).encode_message()[:-1] + bytes([0x80 | 0x51, 0x0F])
    assert MAX_HEADERS + 1 == 0x0F << 7 | 0x51
    with pytest.raises(DecodeError, match="max_count"):
        decode_message(too_far)


@pytest.mark.parametrize(
    "detail", ["x" * 65, "x" * MAX_DETAIL_BYTES, "é" * 128, "€" * 85], ids=["65", "256", "é", "€"]
)
def test_a_disconnect_detail_within_the_bound_encodes_as_it_came(detail: str) -> None:
    # Found by benchmarks/fuzz.py: details of 65 to 256 bytes decoded, then re-encoded cut to
    # 64 characters, so a decoded Disconnect was not the canonical encoding of its bytes.
    writer = Writer()
    writer.u8(MessageKind.DISCONNECT)
    writer.u8(DisconnectReason.PROTOCOL_VIOLATION)
    writer.text(detail, MAX_DETAIL_BYTES)
    data = writer.getvalue()
    assert decode_message(data).encode_message() == data


def test_a_longer_disconnect_detail_is_cut_at_a_character_boundary() -> None:
    sent = Disconnect(DisconnectReason.REQUESTED, "é" * 200)
    received = decode_message(sent.encode_message())
    assert received == Disconnect(DisconnectReason.REQUESTED, "é" * (MAX_DETAIL_BYTES // 2))
    odd = Disconnect(DisconnectReason.REQUESTED, "x" + "€" * 100)  # 301 bytes: cut inside a €
    assert decode_message(odd.encode_message()) == Disconnect(
        DisconnectReason.REQUESTED, "x" + "€" * 85
    )


def test_hello_signature_binds_role_and_both_certificates() -> None:
    hello = Hello(1, "c", H[0], 0, H[1], RECORD).signed(KEY, Role.INITIATOR, BINDING)
    receiver_view = TlsBinding(BINDING.peer_certificate, BINDING.local_certificate)
    assert hello.verify(Role.INITIATOR, receiver_view)
    assert not hello.verify(Role.RESPONDER, receiver_view)  # reflected
    assert not hello.verify(Role.INITIATOR, BINDING)  # another session's certificates
    relayed = TlsBinding(sha256(b"middle"), BINDING.local_certificate)
    assert not hello.verify(Role.INITIATOR, relayed)
    with pytest.raises(ValueError):
        Hello(1, "c", H[0], 0, H[1], RECORD).signed(PrivateKey(H[3]), Role.INITIATOR, BINDING)


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=20), st.integers(1, 50))
def test_frames_survive_any_split(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(0, len(stream), chunk):
        out += decoder.feed(stream[i : i + chunk])
    assert out == payloads
    assert decoder.buffered == 0


def test_oversize_frame_is_refused_from_its_length_alone() -> None:
    decoder = FrameDecoder(max_frame_bytes=100)
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        decoder.feed((101).to_bytes(4, "big"))
    with pytest.raises(RemoteProtocolError, match="empty"):
        FrameDecoder().feed(bytes(4))
    with pytest.raises(LocalProtocolError):
        encode_frame(b"")
