"""The values of the STUN attributes this agent reads or writes (RFC 5389 §15, RFC 5780 §7.2).

Rules:

- MAPPED-ADDRESS (§15.1) and XOR-MAPPED-ADDRESS (§15.2): zero, family (1 = IPv4, 2 = IPv6),
  port, address; the XOR form masks port and address with the magic cookie and, for IPv6, the
  transaction id, and belongs to RFC 5389 messages only.
- ERROR-CODE (§15.6): a class 3-6 and a number 0-99, and a UTF-8 reason of at most 763 bytes;
  UNKNOWN-ATTRIBUTES (§15.9): a list of 16-bit types; CHANGE-REQUEST (RFC 5780 §7.2): 32 bits
  of flags.
- Every `decode_*` checks sizes and ranges and raises `DecodeError`; every `encode_*` refuses
  what it cannot encode with `ValueError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from pacata.errors import DecodeError
from pacata.p2p.stun.messages import MAGIC_COOKIE, MAGIC_COOKIE_BYTES, TRANSACTION_ID_SIZE
from pacata.p2p.udp_address import ADDRESS_SIZES, Address, pack_host, unpack_host

MAX_REASON_BYTES = 763  # §15.6: fewer than 128 characters, at most 763 bytes

CHANGE_IP_FLAG = 0x04
CHANGE_PORT_FLAG = 0x02


def encode_mapped_address(address: Address) -> bytes:
    """MAPPED-ADDRESS (§15.1): zero, family, port, address."""
    family, packed = pack_host(address[0])
    return struct.pack(">BBH", 0, family, address[1]) + packed


def decode_mapped_address(value: bytes) -> Address:
    if len(value) < 4:
        raise DecodeError(f"an address attribute is at least 4 bytes, got {len(value)}")
    _, family, port = struct.unpack_from(">BBH", value)
    if len(value) != 4 + ADDRESS_SIZES.get(family, -4):
        raise DecodeError(f"address attribute of family {family} has {len(value)} bytes")
    return unpack_host(family, value[4:]), port


def _xor_mask(family: int, transaction_id: bytes) -> bytes:
    # §15.2: the address is XORed with the cookie, then (IPv6) with the transaction id.
    return MAGIC_COOKIE_BYTES if family == 1 else MAGIC_COOKIE_BYTES + transaction_id


def encode_xor_mapped_address(address: Address, transaction_id: bytes) -> bytes:
    """XOR-MAPPED-ADDRESS (§15.2) of `address` for a message with `transaction_id`."""
    family, packed = pack_host(address[0])
    mask = _xor_mask(family, transaction_id)
    xored = bytes(a ^ b for a, b in zip(packed, mask, strict=True))
    return struct.pack(">BBH", 0, family, address[1] ^ (MAGIC_COOKIE >> 16)) + xored


def decode_xor_mapped_address(value: bytes, transaction_id: bytes) -> Address:
    if len(transaction_id) != TRANSACTION_ID_SIZE:
        raise DecodeError("XOR-MAPPED-ADDRESS belongs to RFC 5389 messages only")
    if len(value) < 4:
        raise DecodeError(f"an address attribute is at least 4 bytes, got {len(value)}")
    _, family, xport = struct.unpack_from(">BBH", value)
    if len(value) != 4 + ADDRESS_SIZES.get(family, -4):
        raise DecodeError(f"address attribute of family {family} has {len(value)} bytes")
    mask = _xor_mask(family, transaction_id)
    packed = bytes(a ^ b for a, b in zip(value[4:], mask, strict=True))
    return unpack_host(family, packed), xport ^ (MAGIC_COOKIE >> 16)


def encode_error_code(code: int, reason: str) -> bytes:
    """ERROR-CODE (§15.6): 21 zero bits, the hundreds (3-6), the rest (0-99), a reason."""
    if not 300 <= code <= 699:
        raise ValueError(f"error code {code} is outside 300-699")
    raw_reason = reason.encode("utf-8")
    if len(raw_reason) > MAX_REASON_BYTES:
        raise ValueError("reason phrase too long")
    return struct.pack(">HBB", 0, code // 100, code % 100) + raw_reason


def decode_error_code(value: bytes) -> tuple[int, str]:
    if len(value) < 4 or len(value) > 4 + MAX_REASON_BYTES:
        raise DecodeError(f"ERROR-CODE of {len(value)} bytes")
    _, hundreds, number = struct.unpack_from(">HBB", value)
    hundreds &= 0x07
    if not 3 <= hundreds <= 6 or number > 99:
        raise DecodeError(f"error code {hundreds}{number:02d} out of range")
    try:
        reason = value[4:].decode("utf-8")
    except UnicodeDecodeError:
        raise DecodeError("ERROR-CODE reason is not UTF-8") from None
    return hundreds * 100 + number, reason


def encode_unknown_attributes(types: Iterable[int]) -> bytes:
    return b"".join(struct.pack(">H", kind) for kind in types)


def decode_unknown_attributes(value: bytes) -> tuple[int, ...]:
    if len(value) % 2:
        raise DecodeError("UNKNOWN-ATTRIBUTES has an odd length")
    return tuple(struct.unpack(f">{len(value) // 2}H", value))


def decode_change_request(value: bytes) -> int:
    """The flags of CHANGE-REQUEST (RFC 5780 §7.2): change IP 0x4, change port 0x2."""
    if len(value) != 4:
        raise DecodeError(f"CHANGE-REQUEST is 4 bytes, got {len(value)}")
    return int.from_bytes(value, "big")
