"""The four WireGuard messages on the wire (whitepaper §5.4.2–§5.4.4, §5.4.6).

    type  message                 size   layout after the 4-byte header
    1     HandshakeInitiation     148    sender, ephemeral 32, static 48, timestamp 28, mac1, mac2
    2     HandshakeResponse        92    sender, receiver, ephemeral 32, empty 16, mac1, mac2
    3     CookieReply              64    receiver, nonce 24, cookie 32
    4     TransportData          >=32    receiver, counter u64, encrypted packet (>= 16-byte tag)

Rules:

- The header is the type as one byte followed by three zero bytes (Linux and wireguard-go read
  it as a little-endian u32); indices are little-endian u32, the counter a little-endian u64.
- A datagram is WireGuard's only if its header is one of the four above and its size is exact
  (at least 32 bytes for transport data); `classify_datagram` answers that without decoding, so
  that the node's other UDP protocols can take every other datagram.
- `decode` enforces the exact size and the header, refuses trailing bytes, and raises
  `DecodeError`; `encode` is its inverse. The MAC fields cover the encoded bytes before them
  (`MAC1_OFFSET`, `MAC2_OFFSET`), so they are filled by `pacata/vpn/wireguard/cookie.py` on the
  encoded message.
- The transport hot path in `session.py` packs and parses transport headers with the `struct`
  objects here rather than building `TransportData` objects per packet.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from pacata.errors import DecodeError
from pacata.vpn.wireguard.primitives import (
    KEY_SIZE,
    MAC_SIZE,
    TAG_SIZE,
    TIMESTAMP_SIZE,
    XNONCE_SIZE,
)


class MessageType(IntEnum):
    HANDSHAKE_INITIATION = 1
    HANDSHAKE_RESPONSE = 2
    COOKIE_REPLY = 3
    TRANSPORT_DATA = 4


HANDSHAKE_INITIATION_SIZE = 148
HANDSHAKE_RESPONSE_SIZE = 92
COOKIE_REPLY_SIZE = 64
TRANSPORT_HEADER_SIZE = 16
TRANSPORT_MIN_SIZE = TRANSPORT_HEADER_SIZE + TAG_SIZE
ENCRYPTED_STATIC_SIZE = KEY_SIZE + TAG_SIZE
ENCRYPTED_TIMESTAMP_SIZE = TIMESTAMP_SIZE + TAG_SIZE
ENCRYPTED_NOTHING_SIZE = TAG_SIZE
ENCRYPTED_COOKIE_SIZE = MAC_SIZE + TAG_SIZE
MAX_INDEX = 0xFFFFFFFF
MAX_COUNTER = 0xFFFFFFFFFFFFFFFF

_INITIATION = struct.Struct("<II32s48s28s16s16s")
_RESPONSE = struct.Struct("<III32s16s16s16s")
_COOKIE_REPLY = struct.Struct("<II24s32s")
TRANSPORT_HEADER = struct.Struct("<IIQ")

HANDSHAKE_INITIATION_HEADER = struct.pack("<I", MessageType.HANDSHAKE_INITIATION)
HANDSHAKE_RESPONSE_HEADER = struct.pack("<I", MessageType.HANDSHAKE_RESPONSE)
COOKIE_REPLY_HEADER = struct.pack("<I", MessageType.COOKIE_REPLY)
TRANSPORT_DATA_HEADER = struct.pack("<I", MessageType.TRANSPORT_DATA)

# For a message that carries mac1 and mac2, the offsets at which they start: each MAC covers
# every byte of the encoded message before it.
MAC1_OFFSET = {
    MessageType.HANDSHAKE_INITIATION: HANDSHAKE_INITIATION_SIZE - 2 * MAC_SIZE,
    MessageType.HANDSHAKE_RESPONSE: HANDSHAKE_RESPONSE_SIZE - 2 * MAC_SIZE,
}
MAC2_OFFSET = {kind: offset + MAC_SIZE for kind, offset in MAC1_OFFSET.items()}

_FIXED_SIZES = {
    HANDSHAKE_INITIATION_HEADER: (MessageType.HANDSHAKE_INITIATION, HANDSHAKE_INITIATION_SIZE),
    HANDSHAKE_RESPONSE_HEADER: (MessageType.HANDSHAKE_RESPONSE, HANDSHAKE_RESPONSE_SIZE),
    COOKIE_REPLY_HEADER: (MessageType.COOKIE_REPLY, COOKIE_REPLY_SIZE),
}


def classify_datagram(data: bytes) -> MessageType | None:
    """The WireGuard message type of a UDP payload, or None when it is not a WireGuard message.

    Only the header and the size are looked at; nothing is authenticated here.
    """
    header = data[:4]
    if header == TRANSPORT_DATA_HEADER:
        return MessageType.TRANSPORT_DATA if len(data) >= TRANSPORT_MIN_SIZE else None
    fixed = _FIXED_SIZES.get(bytes(header))
    if fixed is None or len(data) != fixed[1]:
        return None
    return fixed[0]


def _check_index(value: int, what: str) -> None:
    if not 0 <= value <= MAX_INDEX:
        raise ValueError(f"{what} must fit in 32 bits, got {value}")


def _check_bytes(value: bytes, size: int, what: str) -> None:
    if len(value) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(value)}")


def _check_exact(data: bytes, size: int, header: bytes, name: str) -> None:
    if len(data) != size:
        raise DecodeError(f"{name} must be {size} bytes, got {len(data)}")
    if data[:4] != header:
        raise DecodeError(f"not a {name}: header {bytes(data[:4]).hex()}")


@dataclass(frozen=True, slots=True)
class HandshakeInitiation:
    """Message 1 (whitepaper §5.4.2)."""

    sender_index: int
    unencrypted_ephemeral: bytes
    encrypted_static: bytes
    encrypted_timestamp: bytes
    mac1: bytes = bytes(MAC_SIZE)
    mac2: bytes = bytes(MAC_SIZE)

    def __post_init__(self) -> None:
        _check_index(self.sender_index, "sender index")
        _check_bytes(self.unencrypted_ephemeral, KEY_SIZE, "ephemeral")
        _check_bytes(self.encrypted_static, ENCRYPTED_STATIC_SIZE, "encrypted static")
        _check_bytes(self.encrypted_timestamp, ENCRYPTED_TIMESTAMP_SIZE, "encrypted timestamp")
        _check_bytes(self.mac1, MAC_SIZE, "mac1")
        _check_bytes(self.mac2, MAC_SIZE, "mac2")

    @property
    def noise_message(self) -> bytes:
        """The Noise handshake message carried inside: e, encrypted s, encrypted timestamp."""
        return self.unencrypted_ephemeral + self.encrypted_static + self.encrypted_timestamp

    def encode(self) -> bytes:
        return _INITIATION.pack(
            MessageType.HANDSHAKE_INITIATION,
            self.sender_index,
            self.unencrypted_ephemeral,
            self.encrypted_static,
            self.encrypted_timestamp,
            self.mac1,
            self.mac2,
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check_exact(data, HANDSHAKE_INITIATION_SIZE, HANDSHAKE_INITIATION_HEADER, cls.__name__)
        _, sender, ephemeral, static, timestamp, mac1, mac2 = _INITIATION.unpack(data)
        return cls(sender, ephemeral, static, timestamp, mac1, mac2)


@dataclass(frozen=True, slots=True)
class HandshakeResponse:
    """Message 2 (whitepaper §5.4.3)."""

    sender_index: int
    receiver_index: int
    unencrypted_ephemeral: bytes
    encrypted_nothing: bytes
    mac1: bytes = bytes(MAC_SIZE)
    mac2: bytes = bytes(MAC_SIZE)

    def __post_init__(self) -> None:
        _check_index(self.sender_index, "sender index")
        _check_index(self.receiver_index, "receiver index")
        _check_bytes(self.unencrypted_ephemeral, KEY_SIZE, "ephemeral")
        _check_bytes(self.encrypted_nothing, ENCRYPTED_NOTHING_SIZE, "encrypted nothing")
        _check_bytes(self.mac1, MAC_SIZE, "mac1")
        _check_bytes(self.mac2, MAC_SIZE, "mac2")

    @property
    def noise_message(self) -> bytes:
        """The Noise handshake message carried inside: e, encrypted empty payload."""
        return self.unencrypted_ephemeral + self.encrypted_nothing

    def encode(self) -> bytes:
        return _RESPONSE.pack(
            MessageType.HANDSHAKE_RESPONSE,
            self.sender_index,
            self.receiver_index,
            self.unencrypted_ephemeral,
            self.encrypted_nothing,
            self.mac1,
            self.mac2,
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check_exact(data, HANDSHAKE_RESPONSE_SIZE, HANDSHAKE_RESPONSE_HEADER, cls.__name__)
        _, sender, receiver, ephemeral, nothing, mac1, mac2 = _RESPONSE.unpack(data)
        return cls(sender, receiver, ephemeral, nothing, mac1, mac2)


@dataclass(frozen=True, slots=True)
class CookieReply:
    """Message 3 (whitepaper §5.4.7): a cookie sealed to the mac1 of the message it answers."""

    receiver_index: int
    nonce: bytes
    encrypted_cookie: bytes

    def __post_init__(self) -> None:
        _check_index(self.receiver_index, "receiver index")
        _check_bytes(self.nonce, XNONCE_SIZE, "nonce")
        _check_bytes(self.encrypted_cookie, ENCRYPTED_COOKIE_SIZE, "encrypted cookie")

    def encode(self) -> bytes:
        return _COOKIE_REPLY.pack(
            MessageType.COOKIE_REPLY, self.receiver_index, self.nonce, self.encrypted_cookie
        )

    @classmethod
    def decode(cls, data: bytes) -> Self:
        _check_exact(data, COOKIE_REPLY_SIZE, COOKIE_REPLY_HEADER, cls.__name__)
        _, receiver, nonce, cookie = _COOKIE_REPLY.unpack(data)
        return cls(receiver, nonce, cookie)


@dataclass(frozen=True, slots=True)
class TransportData:
    """Message 4 (whitepaper §5.4.6): an encrypted, padded IP packet (empty for a keepalive)."""

    receiver_index: int
    counter: int
    encrypted_packet: bytes

    def __post_init__(self) -> None:
        _check_index(self.receiver_index, "receiver index")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise ValueError(f"counter must fit in 64 bits, got {self.counter}")
        if len(self.encrypted_packet) < TAG_SIZE:
            raise ValueError(f"encrypted packet must hold at least a {TAG_SIZE}-byte tag")

    def encode(self) -> bytes:
        header = TRANSPORT_HEADER.pack(
            MessageType.TRANSPORT_DATA, self.receiver_index, self.counter
        )
        return header + self.encrypted_packet

    @classmethod
    def decode(cls, data: bytes) -> Self:
        if len(data) < TRANSPORT_MIN_SIZE:
            raise DecodeError(f"{cls.__name__} must be at least {TRANSPORT_MIN_SIZE} bytes")
        if data[:4] != TRANSPORT_DATA_HEADER:
            raise DecodeError(f"not a {cls.__name__}: header {bytes(data[:4]).hex()}")
        _, receiver, counter = TRANSPORT_HEADER.unpack_from(data)
        return cls(receiver, counter, bytes(data[TRANSPORT_HEADER_SIZE:]))
