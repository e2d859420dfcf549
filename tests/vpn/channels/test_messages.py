"""The "vpn/receipts" messages (pacata/vpn/channels/messages.py): round trips, the size bound,
and strict decoding."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.codec import MAX_U64
from pacata.chain.receipts import MAX_CHAIN_ID_SIZE, Receipt
from pacata.errors import DecodeError
from pacata.p2p.extensions import SubProtocol
from pacata.vpn.channels import (
    MAX_MESSAGE_BYTES,
    SUBPROTOCOL_NAME,
    ReceiptAck,
    ReceiptMessage,
    ReceiptNack,
    ReceiptOffer,
    UsageReport,
    decode_message,
)
from pacata.vpn.channels.messages import MAX_REASON_BYTES

if TYPE_CHECKING:
    from conftest import ChannelSetup

CHANNEL = bytes(range(32))
u64 = st.integers(0, MAX_U64)
channel_ids = st.binary(min_size=32, max_size=32)
reasons = st.text(max_size=16).filter(lambda text: len(text.encode()) <= MAX_REASON_BYTES)
receipts = st.builds(
    Receipt,
    st.text(max_size=8),
    channel_ids,
    u64,
    u64,
    st.binary(min_size=64, max_size=64),
)
messages = st.one_of(
    st.builds(ReceiptOffer, receipts),
    st.builds(ReceiptAck, channel_ids, u64),
    st.builds(ReceiptNack, channel_ids, reasons),
    st.builds(UsageReport, channel_ids, u64),
)


@given(messages)
def test_every_message_round_trips(message: ReceiptMessage) -> None:
    payload = message.encode_message()
    assert len(payload) <= MAX_MESSAGE_BYTES
    assert decode_message(payload) == message


def test_the_kinds_are_fixed(setup: ChannelSetup) -> None:
    assert ReceiptOffer(setup.receipt(1)).encode_message()[0] == 1
    assert ReceiptAck(CHANNEL, 5).encode_message() == b"\x02" + CHANNEL + b"\x05"
    assert ReceiptNack(CHANNEL, "no").encode_message() == b"\x03" + CHANNEL + b"\x02no"
    assert UsageReport(CHANNEL, 128).encode_message() == b"\x04" + CHANNEL + b"\x80\x01"


def test_the_largest_message_fits_the_bound() -> None:
    largest = ReceiptOffer(
        Receipt("x" * MAX_CHAIN_ID_SIZE, CHANNEL, MAX_U64, MAX_U64, bytes(64))
    ).encode_message()
    assert len(largest) == 150 <= MAX_MESSAGE_BYTES
    nack = ReceiptNack(CHANNEL, "x" * MAX_REASON_BYTES).encode_message()
    assert len(nack) <= MAX_MESSAGE_BYTES


def test_the_bound_fits_a_sub_protocol_of_the_peer_link() -> None:
    protocol = SubProtocol(
        SUBPROTOCOL_NAME, decode_message, lambda peer, message, now: None, MAX_MESSAGE_BYTES
    )
    assert protocol.name == "vpn/receipts"


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"", "empty"),
        (b"\x00" + CHANNEL + b"\x01", "unknown"),
        (b"\x05" + CHANNEL + b"\x01", "unknown"),
        (b"\x02" + CHANNEL + b"\x01\x00", "trailing"),
        (b"\x02" + CHANNEL, "truncated"),
        (b"\x02" + CHANNEL[:31], "truncated"),
        (b"\x02" + CHANNEL + b"\x80\x00", "non-minimal"),
        (b"\x03" + CHANNEL + b"\x41" + b"x" * 65, "bound"),
        (b"\x03" + CHANNEL + b"\x02\xff\xfe", "UTF-8"),
        (b"\x02" + bytes(MAX_MESSAGE_BYTES), "at most"),
    ],
)
def test_malformed_payloads_are_refused(payload: bytes, error: str) -> None:
    with pytest.raises(DecodeError, match=error):
        decode_message(payload)


def test_a_truncated_offer_is_refused(setup: ChannelSetup) -> None:
    payload = ReceiptOffer(setup.receipt(1_000)).encode_message()
    for cut in range(1, len(payload)):
        with pytest.raises(DecodeError):
            decode_message(payload[:cut])
    with pytest.raises(DecodeError, match="trailing"):
        decode_message(payload + b"\x00")


def test_messages_refuse_bad_fields() -> None:
    with pytest.raises(ValueError):
        ReceiptAck(b"short", 1)
    with pytest.raises(ValueError):
        UsageReport(b"short", 1)
    with pytest.raises(ValueError):
        ReceiptNack(CHANNEL, "é" * 33)  # 66 bytes of UTF-8
