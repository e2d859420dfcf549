"""The wire messages (pacata/vpn/wireguard/messages.py): exact sizes, little-endian fields,
round trips, strict decoding, and the "is this datagram WireGuard's?" classifier."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.errors import DecodeError
from pacata.vpn.wireguard.messages import (
    COOKIE_REPLY_SIZE,
    HANDSHAKE_INITIATION_SIZE,
    HANDSHAKE_RESPONSE_SIZE,
    MAC1_OFFSET,
    MAC2_OFFSET,
    TRANSPORT_MIN_SIZE,
    CookieReply,
    HandshakeInitiation,
    HandshakeResponse,
    MessageType,
    TransportData,
    classify_datagram,
)

indices = st.integers(min_value=0, max_value=2**32 - 1)


def fixed(size: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=size, max_size=size)


initiations = st.builds(
    HandshakeInitiation, indices, fixed(32), fixed(48), fixed(28), fixed(16), fixed(16)
)
responses = st.builds(
    HandshakeResponse, indices, indices, fixed(32), fixed(16), fixed(16), fixed(16)
)
cookie_replies = st.builds(CookieReply, indices, fixed(24), fixed(32))
transports = st.builds(
    TransportData,
    indices,
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(min_size=16, max_size=200),
)


def test_sizes_are_those_of_the_whitepaper() -> None:
    assert (HANDSHAKE_INITIATION_SIZE, HANDSHAKE_RESPONSE_SIZE, COOKIE_REPLY_SIZE) == (148, 92, 64)
    assert TRANSPORT_MIN_SIZE == 32
    assert MAC1_OFFSET[MessageType.HANDSHAKE_INITIATION] == 116
    assert MAC2_OFFSET[MessageType.HANDSHAKE_INITIATION] == 132
    assert MAC1_OFFSET[MessageType.HANDSHAKE_RESPONSE] == 60
    assert MAC2_OFFSET[MessageType.HANDSHAKE_RESPONSE] == 76


def test_field_layout_is_little_endian() -> None:
    encoded = HandshakeResponse(0x01020304, 0x0A0B0C0D, bytes(32), bytes(16)).encode()
    assert encoded[:12] == bytes.fromhex("02000000" + "04030201" + "0d0c0b0a")
    transport = TransportData(7, 0x0102030405060708, bytes(16)).encode()
    assert transport[:16] == bytes.fromhex("04000000" + "07000000" + "0807060504030201")


@given(st.one_of(initiations, responses, cookie_replies, transports))
def test_round_trip(
    message: HandshakeInitiation | HandshakeResponse | CookieReply | TransportData,
) -> None:
    encoded = message.encode()
    assert type(message).decode(encoded) == message
    assert classify_datagram(encoded) is MessageType(encoded[0])


@given(initiations, st.integers(min_value=1, max_value=3), st.integers(min_value=1, max_value=255))
def test_nonzero_reserved_bytes_are_not_wireguard(
    message: HandshakeInitiation, position: int, value: int
) -> None:
    encoded = bytearray(message.encode())
    encoded[position] = value
    assert classify_datagram(bytes(encoded)) is None
    with pytest.raises(DecodeError):
        HandshakeInitiation.decode(bytes(encoded))


@pytest.mark.parametrize(
    ("kind", "size"),
    [(HandshakeInitiation, 148), (HandshakeResponse, 92), (CookieReply, 64)],
)
@pytest.mark.parametrize("delta", [-1, 1])
def test_fixed_size_messages_refuse_any_other_size(
    kind: type[HandshakeInitiation | HandshakeResponse | CookieReply], size: int, delta: int
) -> None:
    data = struct.pack("<I", {148: 1, 92: 2, 64: 3}[size]) + bytes(size - 4 + delta)
    assert classify_datagram(data) is None
    with pytest.raises(DecodeError):
        kind.decode(data)


def test_decoding_the_wrong_type_is_refused() -> None:
    response = HandshakeResponse(1, 2, bytes(32), bytes(16)).encode()
    with pytest.raises(DecodeError):
        CookieReply.decode(response[:64])
    with pytest.raises(DecodeError):
        TransportData.decode(response)


def test_transport_data_needs_room_for_a_tag() -> None:
    assert classify_datagram(b"\x04\x00\x00\x00" + bytes(27)) is None
    assert classify_datagram(b"\x04\x00\x00\x00" + bytes(28)) is MessageType.TRANSPORT_DATA
    with pytest.raises(DecodeError):
        TransportData.decode(b"\x04\x00\x00\x00" + bytes(27))
    with pytest.raises(ValueError, match="tag"):
        TransportData(1, 1, bytes(15))


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\x01",
        b"\x00\x00\x00\x00" + bytes(144),
        b"\x05\x00\x00\x00" + bytes(60),
        b"\x01\x00\x00\x01" + bytes(144),
        # A STUN binding request (RFC 5389): type 0x0001, length 0, magic cookie, transaction id.
        bytes.fromhex("000100002112a442") + bytes(12),
    ],
)
def test_other_protocols_are_not_wireguard(datagram: bytes) -> None:
    assert classify_datagram(datagram) is None


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: HandshakeInitiation(2**32, bytes(32), bytes(48), bytes(28)), "32 bits"),
        (lambda: HandshakeInitiation(1, bytes(31), bytes(48), bytes(28)), "ephemeral"),
        (lambda: HandshakeResponse(1, -1, bytes(32), bytes(16)), "32 bits"),
        (lambda: CookieReply(1, bytes(12), bytes(32)), "nonce"),
        (lambda: TransportData(1, 2**64, bytes(16)), "64 bits"),
    ],
)
def test_constructors_check_their_fields(factory: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        factory()  # type: ignore[operator]
