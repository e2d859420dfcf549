"""What a relay answers to a receipt offer (pacata/vpn/channels/relay_answers.py): an
acknowledgement only after the durable write, a refusal with its reason otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pacata.chain.receipts import Receipt
from pacata.vpn.channels import (
    ReceiptAck,
    ReceiptNack,
    ReceiptOffer,
    RelayChannel,
    UsageReport,
    answer_offer,
    decode_message,
    usage_report,
)

if TYPE_CHECKING:
    from conftest import ChannelSetup

NOW = 50.0


class Journal:
    """Stands for the receipt store: what was written, in order."""

    def __init__(self) -> None:
        self.written: list[tuple[bytes, Receipt]] = []

    def put_receipt(self, channel_id: bytes, receipt: Receipt) -> None:
        self.written.append((channel_id, receipt))


def test_a_good_receipt_is_stored_then_acknowledged(setup: ChannelSetup) -> None:
    meters = {setup.channel_id: setup.relay()}
    journal = Journal()
    receipt = setup.receipt(4_096)
    answer = answer_offer(meters, ReceiptOffer(receipt), NOW, journal.put_receipt)
    assert answer == ReceiptAck(setup.channel_id, receipt.cumulative_amount)
    assert journal.written == [(setup.channel_id, receipt)]


def test_a_repeat_is_acknowledged_without_a_write(setup: ChannelSetup) -> None:
    meters = {setup.channel_id: setup.relay()}
    journal = Journal()
    offer = ReceiptOffer(setup.receipt(4_096))
    first = answer_offer(meters, offer, NOW, journal.put_receipt)
    assert answer_offer(meters, offer, NOW + 1, journal.put_receipt) == first
    assert len(journal.written) == 1


def test_a_refused_receipt_gets_its_reason(setup: ChannelSetup) -> None:
    meters = {setup.channel_id: setup.relay()}
    journal = Journal()
    offer = ReceiptOffer(setup.receipt(4_096, chain_id="another-chain"))
    answer = answer_offer(meters, offer, NOW, journal.put_receipt)
    assert answer == ReceiptNack(setup.channel_id, "wrong-chain")
    assert decode_message(answer.encode_message()) == answer
    assert journal.written == []


def test_an_unknown_channel_is_refused(setup: ChannelSetup) -> None:
    journal = Journal()
    answer = answer_offer({}, ReceiptOffer(setup.receipt(1)), NOW, journal.put_receipt)
    assert answer == ReceiptNack(setup.channel_id, "unknown-channel")


def test_no_acknowledgement_when_the_write_fails(setup: ChannelSetup) -> None:
    meter = setup.relay()

    def failing(channel_id: bytes, receipt: Receipt) -> None:
        raise OSError("no space left on device")

    with pytest.raises(OSError):
        answer_offer({setup.channel_id: meter}, ReceiptOffer(setup.receipt(10)), NOW, failing)
    assert meter.newest_receipt is None


def test_the_usage_report_carries_the_relay_count(setup: ChannelSetup) -> None:
    meter: RelayChannel = setup.relay()
    meter.observe(300, 700, NOW)
    assert usage_report(meter) == UsageReport(setup.channel_id, 1_000)
