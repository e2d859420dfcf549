"""The client's side of a channel (pacata/vpn/channels/client_meter.py): receipts for its own
count and never more, within the deposit, paced by bytes and time; top-ups."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.errors import LocalProtocolError, RemoteProtocolError
from pacata.vpn.channels import ClientPolicy, topup_due
from pacata.vpn.channels.pricing import amount_for_bytes, bytes_for_amount

if TYPE_CHECKING:
    from conftest import ChannelSetup

T0 = 500.0


def test_a_receipt_pays_for_the_count_and_is_signed(setup: ChannelSetup) -> None:
    client = setup.client()
    receipt = client.receipt_for(1_000_000, T0)
    assert receipt.chain_id == setup.chain_id
    assert receipt.channel_id == setup.channel_id
    assert receipt.cumulative_bytes == 1_000_000
    assert receipt.cumulative_amount == amount_for_bytes(1_000_000, setup.price)
    assert receipt.verify(setup.client_key.public_key)
    assert client.newest_receipt == receipt
    assert not client.needs_topup


def test_a_receipt_never_signs_beyond_the_deposit(setup: ChannelSetup) -> None:
    client = setup.with_channel(deposit=1_000).client()
    receipt = client.receipt_for(1_000_000, T0)
    assert receipt.cumulative_amount == 1_000
    assert client.needs_topup
    client.update_channel(replace(setup.channel, deposit=1_000_000))
    assert client.receipt_for(1_000_001, T0 + 1).cumulative_amount == amount_for_bytes(
        1_000_001, setup.price
    )
    assert not client.needs_topup


def test_a_count_that_goes_back_is_refused(setup: ChannelSetup) -> None:
    client = setup.client()
    client.receipt_for(5_000, T0)
    with pytest.raises(LocalProtocolError):
        client.receipt_for(4_999, T0)


def test_the_same_count_gives_the_same_receipt(setup: ChannelSetup) -> None:
    client = setup.client()
    first = client.receipt_for(5_000, T0)
    assert client.receipt_for(5_000, T0 + 1) is first


def test_a_client_resumes_from_what_the_chain_settled(setup: ChannelSetup) -> None:
    client = setup.with_channel(paid=400, settled_bytes=4_300).client()
    assert client.paid_amount == 400
    with pytest.raises(LocalProtocolError):
        client.receipt_for(4_000, T0)
    assert client.receipt_for(4_400, T0).cumulative_amount == 409


def test_a_client_resumes_from_its_newest_receipt(setup: ChannelSetup) -> None:
    newest = setup.receipt(9_000)
    client = setup.client(newest_receipt=newest)
    assert client.receipted_bytes == 9_000
    with pytest.raises(LocalProtocolError):
        client.receipt_for(8_000, T0)


def test_only_the_channel_key_signs(setup: ChannelSetup) -> None:
    with pytest.raises(ValueError):
        setup.with_channel(client_public_key=bytes(33)).client()


def test_a_newest_receipt_of_another_channel_is_refused(setup: ChannelSetup) -> None:
    with pytest.raises(ValueError):
        setup.client(newest_receipt=setup.receipt(5, channel_id=bytes(32)))


def test_a_receipt_is_due_every_quarter_window(setup: ChannelSetup) -> None:
    client = setup.client()
    quarter = client.receipt_interval_bytes
    window = 256 * 1024 + bytes_for_amount(0, setup.price) // 2
    assert quarter == window // 4
    client.receipt_for(0, T0)  # the first receipt, sent at T0
    client.acknowledged(0)
    assert not client.receipt_due(quarter - 1, T0)
    assert client.receipt_due(quarter, T0)


def test_the_quarter_grows_with_the_window(setup: ChannelSetup) -> None:
    client = setup.client()
    before = client.receipt_interval_bytes
    client.receipt_for(64 * 1024 * 1024, T0)
    assert client.receipt_interval_bytes == 8 * 1024 * 1024 // 4 > before


def test_a_receipt_is_due_after_the_interval_when_something_is_new(setup: ChannelSetup) -> None:
    client = setup.client()
    assert not client.receipt_due(0, T0)  # nothing counted, nothing to sign
    assert client.receipt_due(1, T0)  # never sent yet
    receipt = client.receipt_for(1, T0)
    client.acknowledged(receipt.cumulative_amount)
    assert not client.receipt_due(1, T0 + 5)  # nothing new, all acknowledged
    assert not client.receipt_due(2, T0 + 0.5)
    assert client.receipt_due(2, T0 + 1.0)


def test_an_unacknowledged_receipt_is_sent_again(setup: ChannelSetup) -> None:
    client = setup.client()
    receipt = client.receipt_for(100_000, T0)
    assert not client.receipt_due(100_000, T0 + 0.5)
    assert client.receipt_due(100_000, T0 + 1.0)
    assert client.receipt_for(100_000, T0 + 1.0) is receipt
    client.acknowledged(receipt.cumulative_amount)
    assert client.acknowledged_amount == receipt.cumulative_amount
    assert not client.receipt_due(100_000, T0 + 9)


def test_an_acknowledgement_of_more_than_was_signed_breaks_the_protocol(
    setup: ChannelSetup,
) -> None:
    client = setup.client()
    receipt = client.receipt_for(100_000, T0)
    with pytest.raises(RemoteProtocolError):
        client.acknowledged(receipt.cumulative_amount + 1)


def test_top_up_below_a_tenth_of_the_deposit() -> None:
    policy = ClientPolicy()
    assert not topup_due(policy, deposit_left_bytes=1_000, deposit_bytes=10_000, bytes_per_second=0)
    assert topup_due(policy, deposit_left_bytes=999, deposit_bytes=10_000, bytes_per_second=0)


def test_top_up_two_minutes_ahead_at_the_current_rate() -> None:
    policy = ClientPolicy()
    left = 120 * 1_000_000
    assert not topup_due(
        policy, deposit_left_bytes=left, deposit_bytes=10 * left, bytes_per_second=1_000_000
    )
    assert topup_due(
        policy, deposit_left_bytes=left - 1, deposit_bytes=10 * left, bytes_per_second=1_000_000
    )


def test_a_channel_tells_when_to_top_up(setup: ChannelSetup) -> None:
    client = setup.client()
    deposit_bytes = bytes_for_amount(setup.channel.deposit, setup.price)
    assert client.deposit_left_bytes(0) == deposit_bytes
    assert not client.topup_due(0, bytes_per_second=1_000)
    assert client.topup_due(deposit_bytes * 95 // 100, bytes_per_second=1_000)
    assert client.deposit_left_bytes(deposit_bytes + 5) == 0


def test_a_free_tier_never_needs_a_top_up(setup: ChannelSetup) -> None:
    client = replace(setup, price=0).client()
    assert client.deposit_left_bytes(1 << 40) is None
    assert not client.topup_due(1 << 40, bytes_per_second=1 << 30)
    assert client.receipt_for(1 << 40, T0).cumulative_amount == 0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 1 << 32), min_size=1, max_size=8),
    st.integers(1, 10**9),
    st.integers(0, 10**6),
)
def test_a_client_never_signs_beyond_its_count_or_its_deposit(
    setup: ChannelSetup, counts: list[int], price: int, deposit: int
) -> None:
    client = replace(setup.with_channel(deposit=deposit), price=price).client()
    for step, counted in enumerate(sorted(counts)):
        receipt = client.receipt_for(counted, T0 + step)
        assert receipt.cumulative_bytes == counted
        assert receipt.cumulative_amount <= amount_for_bytes(counted, price)
        assert receipt.cumulative_amount <= deposit
        assert client.needs_topup == (amount_for_bytes(counted, price) > deposit)


@pytest.mark.parametrize(
    "options",
    [
        {"receipt_interval_s": 0.0},
        {"receipt_window_fraction": 0},
        {"topup_below_bps": 10_001},
        {"topup_lead_s": -1},
    ],
)
def test_nonsense_policies_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ClientPolicy(**options)
