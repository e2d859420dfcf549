"""What a relay accepts as a channel's newest receipt (pacata/vpn/channels/receipt_rules.py),
each reason to refuse one shown with a real signed receipt offered to a relay's meter."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from pacata.chain.keys import PrivateKey
from pacata.chain.receipts import Receipt
from pacata.errors import PacataError, ValidationError
from pacata.vpn.channels import ReceiptRejected, RejectReason, RelayChannel

if TYPE_CHECKING:
    from conftest import ChannelSetup

NOW = 100.0


def refusal(meter: RelayChannel, receipt: Receipt) -> RejectReason:
    with pytest.raises(ReceiptRejected) as caught:
        meter.accept_receipt(receipt, NOW)
    return caught.value.reason


def test_a_refusal_is_a_validation_error() -> None:
    error = ReceiptRejected(RejectReason.BAD_SIGNATURE, "detail")
    assert isinstance(error, ValidationError)
    assert isinstance(error, PacataError)
    assert "bad-signature" in str(error)


def test_a_receipt_for_another_chain(setup: ChannelSetup) -> None:
    receipt = setup.receipt(1_000, chain_id="pacata-other")
    assert refusal(setup.relay(), receipt) is RejectReason.WRONG_CHAIN


def test_a_receipt_for_another_channel(setup: ChannelSetup) -> None:
    receipt = setup.receipt(1_000, channel_id=bytes(32))
    assert refusal(setup.relay(), receipt) is RejectReason.WRONG_CHANNEL


def test_a_receipt_signed_by_someone_else(setup: ChannelSetup, stranger: PrivateKey) -> None:
    assert refusal(setup.relay(), setup.receipt(1_000, key=stranger)) is RejectReason.BAD_SIGNATURE


def test_a_receipt_whose_fields_were_changed_after_signing(setup: ChannelSetup) -> None:
    forged = replace(setup.receipt(1_000), cumulative_amount=50)
    assert refusal(setup.relay(), forged) is RejectReason.BAD_SIGNATURE


def test_an_amount_lower_than_the_newest_accepted(setup: ChannelSetup) -> None:
    meter = setup.relay()
    meter.accept_receipt(setup.receipt(2_000, 150), NOW)
    assert refusal(meter, setup.receipt(3_000, 149)) is RejectReason.AMOUNT_LOWER
    assert meter.newest_receipt == setup.receipt(2_000, 150)


def test_bytes_lower_than_the_newest_accepted(setup: ChannelSetup) -> None:
    meter = setup.relay()
    meter.accept_receipt(setup.receipt(2_000, 150), NOW)
    assert refusal(meter, setup.receipt(1_999, 160)) is RejectReason.BYTES_LOWER


def test_lower_than_what_the_chain_has_settled(setup: ChannelSetup) -> None:
    meter = setup.with_channel(paid=500, settled_bytes=6_000).relay()
    assert refusal(meter, setup.receipt(7_000, 499)) is RejectReason.AMOUNT_LOWER
    assert refusal(meter, setup.receipt(5_999, 600)) is RejectReason.BYTES_LOWER
    assert meter.accept_receipt(setup.receipt(6_000, 500), NOW).is_new


def test_an_amount_above_the_deposit(setup: ChannelSetup) -> None:
    deposit = setup.channel.deposit
    meter = setup.relay()
    assert refusal(meter, setup.receipt(1 << 40, deposit + 1)) is RejectReason.ABOVE_DEPOSIT
    assert meter.accept_receipt(setup.receipt(1 << 40, deposit), NOW).is_new


def test_cheap_checks_come_before_the_signature(setup: ChannelSetup, stranger: PrivateKey) -> None:
    meter = setup.relay()
    meter.accept_receipt(setup.receipt(2_000, 150), NOW)
    lower_and_forged = setup.receipt(1_000, 10, key=stranger)
    assert refusal(meter, lower_and_forged) is RejectReason.AMOUNT_LOWER


def test_a_repeat_is_accepted_again_with_nothing_new(setup: ChannelSetup) -> None:
    meter = setup.relay()
    receipt = setup.receipt(2_000)
    assert meter.accept_receipt(receipt, NOW).is_new
    again = meter.accept_receipt(receipt, NOW)
    assert not again.is_new
    assert again.receipt == receipt


def test_more_bytes_for_the_same_amount_is_new(setup: ChannelSetup) -> None:
    # At a low price, a few more bytes cost nothing more: the amount stays, the bytes move.
    meter = setup.relay()
    meter.accept_receipt(setup.receipt(2_000, 186), NOW)
    assert meter.accept_receipt(setup.receipt(2_005, 186), NOW).is_new


def test_a_receipt_paying_less_than_its_bytes_is_kept(setup: ChannelSetup) -> None:
    # Holding it is worth more than holding the older one; the verdict judges the payment.
    meter = setup.relay()
    meter.observe(1_000, 1_000, NOW)
    accepted = meter.accept_receipt(setup.receipt(2_000, 1), NOW)
    assert accepted.is_new
    assert accepted.caught_up  # 2,000 bytes owed is well within the window
    assert meter.newest_receipt == setup.receipt(2_000, 1)
