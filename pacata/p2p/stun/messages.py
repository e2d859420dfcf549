"""The STUN message codec (RFC 5389 §6, §15; RFC 3489 §12): `StunMessage`, its attributes as
opaque values, FINGERPRINT, and `is_stun`, the dispatch test of the shared UDP port.

Rules (section numbers are RFC 5389's unless named otherwise):

- Messages (§6): a 20-byte header (two zero bits, the type, the length of what follows, the magic
  cookie 0x2112A442, a 96-bit transaction id) and attributes (§15) padded to 4 bytes. A message
  without the cookie is a classic RFC 3489 one, whose transaction id is the 128 bits after the
  length (§12).
- Decoding is strict (`StunMessage.decode` raises `DecodeError`): the size must agree with the
  length field and be a multiple of 4, every attribute must fit, FINGERPRINT (§15.5: CRC-32 of
  what precedes it XOR 0x5354554E) must be the last attribute and be right. Padding bytes are
  ignored as §15 says, and so are attributes after MESSAGE-INTEGRITY other than FINGERPRINT
  (§15.4). At most `MAX_ATTRIBUTES` attributes are read. What an attribute's value means is
  `attributes.py`'s business.
- `is_stun(datagram)` says whether a datagram of the shared UDP port is STUN, from its header
  alone (docs/p2p-udp.md §Dispatch): the two top bits zero, the length field equal to the size
  less 20 and a multiple of 4, and the magic cookie, or, without the cookie, the type of a
  Binding request (a classic client). A WireGuard message (type 1-4 then three zero bytes) has
  a zero length field and at least 32 bytes, so it is never STUN.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from pacata.errors import DecodeError

MAGIC_COOKIE = 0x2112A442
MAGIC_COOKIE_BYTES = struct.pack(">I", MAGIC_COOKIE)
HEADER_SIZE = 20
TRANSACTION_ID_SIZE = 12
CLASSIC_TRANSACTION_ID_SIZE = 16
FINGERPRINT_XOR = 0x5354554E
FINGERPRINT_SIZE = 8  # the attribute header and the CRC
MAX_ATTRIBUTES = 32
MAX_MESSAGE_SIZE = 1500

_HEADER = struct.Struct(">HHI")
_ATTRIBUTE_HEADER = struct.Struct(">HH")
_U32 = struct.Struct(">I")


class MessageClass(IntEnum):
    """The two class bits C1 C0 of the message type (§6)."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS_RESPONSE = 0b10
    ERROR_RESPONSE = 0b11


class Method(IntEnum):
    BINDING = 0x001


class AttributeType(IntEnum):
    """Attribute types this agent knows (§18.2, RFC 3489 §11.2, RFC 5780 §7)."""

    MAPPED_ADDRESS = 0x0001
    CHANGE_REQUEST = 0x0003
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    REALM = 0x0014
    NONCE = 0x0015
    XOR_MAPPED_ADDRESS = 0x0020
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028


# Comprehension-required attributes this agent understands in a request (§7.3.1). It does not
# authenticate, so USERNAME and MESSAGE-INTEGRITY are understood and ignored (§10: a usage
# without credentials).
_UNDERSTOOD_REQUIRED = frozenset(
    {
        AttributeType.MAPPED_ADDRESS,
        AttributeType.CHANGE_REQUEST,
        AttributeType.USERNAME,
        AttributeType.MESSAGE_INTEGRITY,
        AttributeType.ERROR_CODE,
        AttributeType.UNKNOWN_ATTRIBUTES,
        AttributeType.REALM,
        AttributeType.NONCE,
        AttributeType.XOR_MAPPED_ADDRESS,
    }
)


def encode_message_type(method: int, message_class: MessageClass) -> int:
    """The 14-bit type: method bits M11-M0 with the class bits C1 C0 between them (§6)."""
    if not 0 <= method <= 0xFFF:
        raise ValueError(f"method {method} does not fit in 12 bits")
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((message_class & 0b01) << 4)
        | ((message_class & 0b10) << 7)
    )


def decode_message_type(message_type: int) -> tuple[int, MessageClass]:
    """(method, class) of a 14-bit message type."""
    method = (
        (message_type & 0x000F) | ((message_type >> 1) & 0x0070) | ((message_type >> 2) & 0x0F80)
    )
    message_class = MessageClass(((message_type >> 4) & 0b01) | ((message_type >> 7) & 0b10))
    return method, message_class


_BINDING_REQUEST_TYPE = encode_message_type(Method.BINDING, MessageClass.REQUEST)


def is_stun(datagram: bytes) -> bool:
    """Whether a datagram of the shared UDP port is a STUN message, from its header alone.

    RFC 5389 §6 and §7.3: the two top bits zero, a length field that is the size less the
    header and a multiple of 4, and the magic cookie; without the cookie only a Binding request
    (an RFC 3489 client, §12.2) is STUN. The full checks are `StunMessage.decode`'s.
    """
    if len(datagram) < HEADER_SIZE or len(datagram) > MAX_MESSAGE_SIZE or datagram[0] & 0xC0:
        return False
    message_type: int
    length: int
    cookie: int
    message_type, length, cookie = _HEADER.unpack_from(datagram)
    if length != len(datagram) - HEADER_SIZE or length % 4:
        return False
    return cookie == MAGIC_COOKIE or message_type == _BINDING_REQUEST_TYPE


def fingerprint_of(data: bytes) -> int:
    """The FINGERPRINT value of the message bytes that precede it (§15.5)."""
    return (binascii.crc32(data) ^ FINGERPRINT_XOR) & 0xFFFFFFFF


def is_comprehension_required(attribute_type: int) -> bool:
    return attribute_type < 0x8000


@dataclass(frozen=True, slots=True)
class StunAttribute:
    """One attribute: its type and its value, unpadded."""

    type: int
    value: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.type <= 0xFFFF:
            raise ValueError(f"attribute type {self.type} does not fit in 16 bits")
        if len(self.value) > MAX_MESSAGE_SIZE:
            raise ValueError(f"attribute value of {len(self.value)} bytes is too long")


@dataclass(frozen=True, slots=True)
class StunMessage:
    """A STUN message (§6). A 12-byte `transaction_id` makes an RFC 5389 message with the magic
    cookie; a 16-byte one makes a classic RFC 3489 message (§12), whose id fills the cookie too.

    `fingerprint` says whether the encoding ends with FINGERPRINT; the attribute itself is not
    in `attributes`, since its value is a function of the rest.
    """

    message_class: MessageClass
    method: int
    transaction_id: bytes
    attributes: tuple[StunAttribute, ...] = ()
    fingerprint: bool = False

    def __post_init__(self) -> None:
        if len(self.transaction_id) not in (TRANSACTION_ID_SIZE, CLASSIC_TRANSACTION_ID_SIZE):
            raise ValueError("a transaction id is 12 bytes (RFC 5389) or 16 bytes (RFC 3489)")
        if not 0 <= self.method <= 0xFFF:
            raise ValueError(f"method {self.method} does not fit in 12 bits")
        if len(self.attributes) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        if any(a.type == AttributeType.FINGERPRINT for a in self.attributes):
            raise ValueError("FINGERPRINT is added by encode(), not listed")

    @property
    def classic(self) -> bool:
        """True for an RFC 3489 message (no magic cookie)."""
        return len(self.transaction_id) == CLASSIC_TRANSACTION_ID_SIZE

    def attribute(self, attribute_type: int) -> bytes | None:
        """The value of the first attribute of `attribute_type`, or None."""
        for attribute in self.attributes:
            if attribute.type == attribute_type:
                return attribute.value
        return None

    def unknown_required_attributes(self) -> tuple[int, ...]:
        """The comprehension-required attribute types this agent does not understand, in order
        of first appearance (for UNKNOWN-ATTRIBUTES, §7.3.1)."""
        unknown: dict[int, None] = {}
        for attribute in self.attributes:
            kind = attribute.type
            if is_comprehension_required(kind) and kind not in _UNDERSTOOD_REQUIRED:
                unknown[kind] = None
        return tuple(unknown)

    def encode(self) -> bytes:
        parts: list[bytes] = []
        for attribute in self.attributes:
            value = attribute.value
            parts.append(_ATTRIBUTE_HEADER.pack(attribute.type, len(value)))
            parts.append(value)
            parts.append(bytes(-len(value) % 4))
        body = b"".join(parts)
        length = len(body) + (FINGERPRINT_SIZE if self.fingerprint else 0)
        message_type = encode_message_type(self.method, self.message_class)
        if self.classic:
            header = struct.pack(">HH", message_type, length) + self.transaction_id
        else:
            header = _HEADER.pack(message_type, length, MAGIC_COOKIE) + self.transaction_id
        message = header + body
        if len(message) + (FINGERPRINT_SIZE if self.fingerprint else 0) > MAX_MESSAGE_SIZE:
            raise ValueError(f"a STUN message is at most {MAX_MESSAGE_SIZE} bytes")
        if self.fingerprint:
            crc = fingerprint_of(message)
            message += _ATTRIBUTE_HEADER.pack(AttributeType.FINGERPRINT, 4) + _U32.pack(crc)
        return message

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """The message in `data`; `DecodeError` for anything that is not a valid STUN message."""
        data = bytes(data)
        size = len(data)
        if size < HEADER_SIZE:
            raise DecodeError(f"a STUN message is at least {HEADER_SIZE} bytes, got {size}")
        if size > MAX_MESSAGE_SIZE:
            raise DecodeError(f"a STUN message is at most {MAX_MESSAGE_SIZE} bytes, got {size}")
        if data[0] & 0xC0:
            raise DecodeError("the two top bits of a STUN message are zero")
        message_type, length, cookie = _HEADER.unpack_from(data)
        if length != size - HEADER_SIZE:
            raise DecodeError(f"length field {length} disagrees with {size - HEADER_SIZE} bytes")
        if length % 4:
            raise DecodeError(f"length {length} is not a multiple of 4")
        # Without the cookie, a classic RFC 3489 message: its id is all 128 bits (§12).
        transaction_id = data[8 if cookie == MAGIC_COOKIE else 4 : HEADER_SIZE]
        method, message_class = decode_message_type(message_type)
        attributes: list[StunAttribute] = []
        has_fingerprint = False
        after_integrity = False
        position = HEADER_SIZE
        while position < size:
            if position + 4 > size:
                raise DecodeError(f"truncated attribute header at offset {position}")
            kind, value_length = _ATTRIBUTE_HEADER.unpack_from(data, position)
            start = position + 4
            end = start + value_length
            padded_end = end + (-value_length % 4)
            if padded_end > size:
                raise DecodeError(f"attribute {kind:#06x} of {value_length} bytes overruns")
            value = data[start:end]
            if kind == AttributeType.FINGERPRINT:
                if padded_end != size:
                    raise DecodeError("FINGERPRINT must be the last attribute")
                if value_length != 4:
                    raise DecodeError(f"FINGERPRINT is 4 bytes, got {value_length}")
                if _U32.unpack(value)[0] != fingerprint_of(data[:position]):
                    raise DecodeError("FINGERPRINT does not match the message")
                has_fingerprint = True
            elif not after_integrity:  # §15.4: what follows MESSAGE-INTEGRITY is ignored
                if len(attributes) >= MAX_ATTRIBUTES:
                    raise DecodeError(f"more than {MAX_ATTRIBUTES} attributes")
                attributes.append(StunAttribute(kind, value))
                after_integrity = kind == AttributeType.MESSAGE_INTEGRITY
            position = padded_end
        return cls(message_class, method, transaction_id, tuple(attributes), has_fingerprint)
