"""A relay's meter of one channel (pacata/vpn/channels/relay_meter.py): counting, the verdict
through throttle and drop and back, durable acceptance, restarts, settles and top-ups."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.chain.receipts import Receipt
from pacata.vpn.channels import CreditPolicy, ReceiptRejected, RelayChannel, Verdict
from pacata.vpn.channels.credit import MIB
from pacata.vpn.channels.pricing import amount_for_bytes, bytes_for_amount

if TYPE_CHECKING:
    from conftest import ChannelSetup

T0 = 1_000.0


def pay_all(setup: ChannelSetup, meter: RelayChannel, now: float) -> None:
    """The client pays for every byte the meter counts (no loss allowance in the way)."""
    meter.accept_receipt(setup.receipt(meter.billed_bytes), now)


def overdraw(meter: RelayChannel, by: int, now: float) -> None:
    """Carries (received) exactly `by` bytes more than the window allows."""
    meter.observe(meter.paid_bytes + meter.window_bytes + by, 0, now)


def test_both_directions_of_the_engine_counters_are_billed(setup: ChannelSetup) -> None:
    meter = setup.relay()
    meter.observe(100, 200, T0)
    assert meter.billed_bytes == 300
    meter.observe(150, 250, T0 + 1)
    assert meter.billed_bytes == 400


def test_a_counter_reset_keeps_what_was_counted(setup: ChannelSetup) -> None:
    meter = setup.relay()
    meter.observe(1_000, 3_000, T0)
    meter.observe(10, 3_500, T0 + 1)  # the peer was added again: rx starts over
    assert meter.billed_bytes == 1_010 + 3_500
    with pytest.raises(ValueError):
        meter.observe(-1, 0, T0 + 2)


def test_what_is_sent_is_charged_less_the_loss_allowance(setup: ChannelSetup) -> None:
    meter = setup.relay()
    meter.observe(1_000, 100_000, T0)
    assert meter.billed_bytes == 101_000
    assert meter.chargeable_bytes == 99_000
    assert setup.relay(policy=CreditPolicy(loss_allowance_bps=0)).chargeable_bytes == 0


def test_a_new_client_may_owe_the_initial_window(setup: ChannelSetup) -> None:
    meter = setup.relay()
    paid_for = bytes_for_amount(0, setup.price)  # a zero amount still covers 10 bytes
    assert meter.window_bytes == 256 * 1024 + paid_for // 2
    meter.observe(paid_for + meter.window_bytes, 0, T0)
    assert meter.owed_bytes == meter.window_bytes
    assert meter.state(T0) is Verdict.OK
    assert meter.next_timer() is None


def test_throttle_then_drop_after_the_grace_time_then_restored_by_paying(
    setup: ChannelSetup,
) -> None:
    meter = setup.relay()
    overdraw(meter, 1, T0)
    assert meter.state(T0) is Verdict.THROTTLE
    assert meter.next_timer() == T0 + 10.0
    assert meter.state(T0 + 9.999) is Verdict.THROTTLE
    assert meter.state(T0 + 10.0) is Verdict.DROP
    pay_all(setup, meter, T0 + 11)
    assert meter.owed_bytes == 0
    assert meter.state(T0 + 11) is Verdict.OK
    assert meter.next_timer() is None


def test_a_receipt_in_time_stops_the_throttle_clock(setup: ChannelSetup) -> None:
    meter = setup.relay()
    overdraw(meter, 1, T0)
    assert meter.state(T0) is Verdict.THROTTLE
    pay_all(setup, meter, T0 + 5)
    assert meter.state(T0 + 5) is Verdict.OK
    overdraw(meter, 1, T0 + 6)  # behind again: a new clock
    assert meter.state(T0 + 12) is Verdict.THROTTLE
    assert meter.state(T0 + 16) is Verdict.DROP


def test_a_receipt_that_does_not_catch_up_leaves_the_client_throttled(
    setup: ChannelSetup,
) -> None:
    meter = setup.relay()
    overdraw(meter, 100_000, T0)
    accepted = meter.accept_receipt(setup.receipt(1_000), T0 + 1)
    assert accepted.is_new
    assert not accepted.caught_up
    assert meter.state(T0 + 1) is Verdict.THROTTLE
    assert meter.state(T0 + 10) is Verdict.DROP  # the clock runs from the first overdraw


def test_owing_past_the_hard_limit_drops_at_once(setup: ChannelSetup) -> None:
    meter = setup.relay()
    limit = meter.window_bytes + 8 * MIB
    meter.observe(meter.paid_bytes + limit, 0, T0)
    assert meter.state(T0) is Verdict.THROTTLE
    meter.observe(meter.paid_bytes + limit + 1, 0, T0)
    assert meter.state(T0) is Verdict.DROP


def test_the_window_grows_with_payment_up_to_the_cap(setup: ChannelSetup) -> None:
    meter = setup.relay()
    meter.observe(8 * MIB, 0, T0)
    pay_all(setup, meter, T0)
    assert meter.window_bytes == 256 * 1024 + meter.paid_bytes // 2
    assert meter.window_bytes > 256 * 1024 + MIB
    meter.observe(200 * MIB, 0, T0 + 1)
    pay_all(setup, meter, T0 + 1)
    assert meter.window_bytes == 8 * MIB


def test_a_receipt_is_persisted_before_the_meter_takes_it(setup: ChannelSetup) -> None:
    meter = setup.relay()
    persisted: list[tuple[bytes, Receipt, Receipt | None]] = []

    def persist(channel_id: bytes, receipt: Receipt) -> None:
        persisted.append((channel_id, receipt, meter.newest_receipt))

    receipt = setup.receipt(5_000)
    meter.accept_receipt(receipt, T0, persist)
    assert persisted == [(setup.channel_id, receipt, None)]
    meter.accept_receipt(receipt, T0, persist)  # a repeat: stored already
    assert len(persisted) == 1


def test_a_failed_write_leaves_the_meter_as_it_was(setup: ChannelSetup) -> None:
    meter = setup.relay()
    first = setup.receipt(1_000)
    meter.accept_receipt(first, T0)

    def failing(channel_id: bytes, receipt: Receipt) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        meter.accept_receipt(setup.receipt(2_000), T0, failing)
    assert meter.newest_receipt == first


def test_a_restarted_relay_counts_on_from_its_stored_receipt(setup: ChannelSetup) -> None:
    stored = setup.receipt(50 * MIB)
    meter = setup.relay(newest_receipt=stored)
    assert meter.newest_receipt == stored
    assert meter.billed_bytes == 50 * MIB
    meter.observe(1_000, 0, T0)
    assert meter.billed_bytes == 50 * MIB + 1_000
    assert meter.state(T0) is Verdict.OK
    with pytest.raises(ReceiptRejected):
        meter.accept_receipt(setup.receipt(50 * MIB - 1), T0)


def test_a_restart_without_receipts_counts_from_the_settled_bytes(setup: ChannelSetup) -> None:
    meter = setup.with_channel(paid=1_000, settled_bytes=10_000).relay()
    assert meter.billed_bytes == 10_000
    assert meter.paid_amount == 1_000


def test_a_stored_receipt_of_another_channel_is_refused(setup: ChannelSetup) -> None:
    with pytest.raises(ValueError):
        setup.relay(newest_receipt=setup.receipt(5, channel_id=bytes(32)))
    with pytest.raises(ValueError):
        setup.relay(newest_receipt=setup.receipt(5, chain_id="elsewhere"))


def test_a_free_tier_owes_nothing(setup: ChannelSetup) -> None:
    meter = replace(setup, price=0).relay()
    meter.observe(1 << 40, 1 << 40, T0)
    assert meter.owed_bytes == 0
    assert meter.state(T0 + 100) is Verdict.OK


def test_unsettled_amount_follows_the_chain(setup: ChannelSetup) -> None:
    meter = setup.relay()
    assert meter.unsettled_amount == 0
    meter.accept_receipt(setup.receipt(20_000, 1_000), T0)
    assert meter.unsettled_amount == 1_000
    meter.chain_paid(600)
    assert meter.unsettled_amount == 400
    meter.chain_paid(1_000)
    assert meter.unsettled_amount == 0
    meter.chain_paid(600)  # the settle was reorganised away
    assert meter.unsettled_amount == 400
    with pytest.raises(ValueError):
        meter.chain_paid(-1)


def test_a_top_up_lets_higher_receipts_in(setup: ChannelSetup) -> None:
    meter = setup.with_channel(deposit=100).relay()
    with pytest.raises(ReceiptRejected):
        meter.accept_receipt(setup.receipt(5_000, 150), T0)
    meter.update_channel(replace(meter.channel, deposit=200))
    assert meter.accept_receipt(setup.receipt(5_000, 150), T0).is_new


def test_a_record_of_another_channel_is_refused(setup: ChannelSetup) -> None:
    meter = setup.relay()
    with pytest.raises(ValueError):
        meter.update_channel(replace(setup.channel, client_public_key=bytes(33)))


offers = st.lists(
    st.tuples(st.integers(0, 1 << 24), st.integers(0, 2_000), st.booleans()),
    min_size=1,
    max_size=12,
)


@settings(max_examples=40, deadline=None)
@given(offers)
def test_accepted_receipts_never_go_back(
    setup: ChannelSetup, offered: list[tuple[int, int, bool]]
) -> None:
    meter = setup.with_channel(deposit=1_500).relay()
    accepted: list[Receipt] = []
    for step, (byte_count, amount, forged) in enumerate(offered):
        receipt = setup.receipt(byte_count, amount)
        if forged:
            receipt = replace(receipt, cumulative_bytes=byte_count + 1)
        try:
            if meter.accept_receipt(receipt, T0 + step).is_new:
                accepted.append(receipt)
        except ReceiptRejected:
            continue
    for older, newer in itertools.pairwise(accepted):
        assert older.cumulative_amount <= newer.cumulative_amount
        assert older.cumulative_bytes <= newer.cumulative_bytes
    assert all(r.verify(setup.client_key.public_key) for r in accepted)
    assert all(r.cumulative_amount <= 1_500 for r in accepted)
    assert meter.newest_receipt == (accepted[-1] if accepted else None)


def test_owed_bytes_match_the_payment_exactly(setup: ChannelSetup) -> None:
    meter = setup.relay()
    meter.observe(1_000_000, 0, T0)
    meter.accept_receipt(setup.receipt(1_000_000, amount_for_bytes(600_000, setup.price)), T0)
    assert meter.owed_bytes == 1_000_000 - bytes_for_amount(
        amount_for_bytes(600_000, setup.price), setup.price
    )
