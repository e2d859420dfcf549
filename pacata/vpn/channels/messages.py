"""The "vpn/receipts" sub-protocol of the peer link (docs/paid-tunnels.md §Messages).

    message = kind u8 | body

    kind  message         direction        body
    1     RECEIPT_OFFER   client → relay   a receipt (pacata/chain/receipts.py)
    2     RECEIPT_ACK     relay → client   channel id (32), cumulative amount (uvarint)
    3     RECEIPT_NACK    relay → client   channel id (32), reason (text, at most 64 bytes)
    4     USAGE_REPORT    relay → client   channel id (32), relay-counted bytes (uvarint)

Rules:
- Fields use the canonical codec (pacata/chain/codec.py). `decode_message` refuses an empty
  or oversize payload (over `MAX_MESSAGE_BYTES`), an unknown kind, a truncated body and
  trailing bytes with `DecodeError`.
- A relay sends `RECEIPT_ACK` only once the receipt is durably stored (relay_answers.py), so
  an acknowledged receipt survives the relay's crash; `RECEIPT_NACK` names a `RejectReason`.
- `USAGE_REPORT` is information: the client compares it with its own meter and never pays
  beyond its own count.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE
from pacata.chain.receipts import Receipt
from pacata.errors import DecodeError

SUBPROTOCOL_NAME = "vpn/receipts"
MAX_REASON_BYTES = 64
# The largest message, an offer, is 150 bytes (a receipt with a 32-byte chain id and two
# 10-byte varints); the bound leaves room and keeps a peer from making us read more.
MAX_MESSAGE_BYTES = 256


class MessageKind(IntEnum):
    RECEIPT_OFFER = 1
    RECEIPT_ACK = 2
    RECEIPT_NACK = 3
    USAGE_REPORT = 4


class ReceiptMessage(WireObject):
    __slots__ = ()
    KIND: ClassVar[MessageKind]

    def encode_message(self) -> bytes:
        """The sub-protocol payload: the kind byte, then the body."""
        writer = Writer()
        writer.u8(self.KIND)
        self.write_to(writer)
        return writer.getvalue()


def _check_channel_id(channel_id: bytes) -> None:
    if len(channel_id) != HASH_SIZE:
        raise ValueError(f"a channel id is {HASH_SIZE} bytes")


@dataclass(frozen=True, slots=True)
class ReceiptOffer(ReceiptMessage):
    KIND: ClassVar[MessageKind] = MessageKind.RECEIPT_OFFER
    receipt: Receipt

    def write_to(self, writer: Writer) -> None:
        self.receipt.write_to(writer)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(Receipt.read_from(reader))


@dataclass(frozen=True, slots=True)
class ReceiptAck(ReceiptMessage):
    KIND: ClassVar[MessageKind] = MessageKind.RECEIPT_ACK
    channel_id: bytes
    cumulative_amount: int

    def __post_init__(self) -> None:
        _check_channel_id(self.channel_id)

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.channel_id, HASH_SIZE)
        writer.uvarint(self.cumulative_amount)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(HASH_SIZE), reader.uvarint())


@dataclass(frozen=True, slots=True)
class ReceiptNack(ReceiptMessage):
    KIND: ClassVar[MessageKind] = MessageKind.RECEIPT_NACK
    channel_id: bytes
    reason: str

    def __post_init__(self) -> None:
        _check_channel_id(self.channel_id)
        if len(self.reason.encode("utf-8")) > MAX_REASON_BYTES:
            raise ValueError(f"a reason is at most {MAX_REASON_BYTES} bytes")

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.channel_id, HASH_SIZE)
        writer.text(self.reason, MAX_REASON_BYTES)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(HASH_SIZE), reader.text(MAX_REASON_BYTES))


@dataclass(frozen=True, slots=True)
class UsageReport(ReceiptMessage):
    KIND: ClassVar[MessageKind] = MessageKind.USAGE_REPORT
    channel_id: bytes
    relay_counted_bytes: int

    def __post_init__(self) -> None:
        _check_channel_id(self.channel_id)

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.channel_id, HASH_SIZE)
        writer.uvarint(self.relay_counted_bytes)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(HASH_SIZE), reader.uvarint())


MESSAGE_TYPES: dict[MessageKind, type[ReceiptMessage]] = {
    cls.KIND: cls for cls in (ReceiptOffer, ReceiptAck, ReceiptNack, UsageReport)
}


def decode_message(data: bytes) -> ReceiptMessage:
    """The message in one sub-protocol payload; `DecodeError` for anything but a canonical
    one."""
    if not data:
        raise DecodeError("empty receipt message")
    if len(data) > MAX_MESSAGE_BYTES:
        raise DecodeError(f"a receipt message is at most {MAX_MESSAGE_BYTES} bytes")
    try:
        kind = MessageKind(data[0])
    except ValueError:
        raise DecodeError(f"unknown receipt message kind {data[0]}") from None
    return MESSAGE_TYPES[kind].decode(data[1:])
