"""Following settles to finality (pacata/vpn/channels/settle_tracker.py): mined, buried,
dropped and made again, undone by a reorganisation, superseded, and the closing channel
forgotten."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.hashing import sha256
from pacata.errors import DecodeError, LocalProtocolError
from pacata.vpn.channels import (
    ForgetChannel,
    ForgetSettle,
    ForgetWhy,
    SaveSettle,
    SettlementPolicy,
    SettleRecord,
    SettleTracker,
    SubmitSettle,
)

if TYPE_CHECKING:
    from conftest import ChannelSetup

DEPTH = 20  # finality depth
RESUBMIT = SettlementPolicy().resubmit_after_blocks


def txid(label: str) -> bytes:
    return sha256(label.encode())


def tracker(*records: SettleRecord) -> SettleTracker:
    return SettleTracker(DEPTH, SettlementPolicy(), records)


def test_a_mined_settle_is_saved_then_forgotten_once_final(setup: ChannelSetup) -> None:
    settles = tracker()
    receipt = setup.receipt(10_000)
    record = settles.submitted(txid("a"), receipt, 100)
    assert record == SettleRecord(txid("a"), receipt, 100)
    assert settles.on_block(101, {txid("other")}) == []
    mined = SettleRecord(txid("a"), receipt, 100, included_height=102)
    assert settles.on_block(102, {txid("a")}) == [SaveSettle(mined)]
    assert settles.on_block(102 + DEPTH - 1, set()) == []
    assert settles.on_block(102 + DEPTH, set()) == [ForgetSettle(mined, ForgetWhy.FINAL)]
    assert settles.records == ()


def test_a_mined_settle_is_never_dropped(setup: ChannelSetup) -> None:
    settles = tracker()
    settles.submitted(txid("a"), setup.receipt(10_000), 100)
    settles.on_block(101, {txid("a")})
    assert settles.on_block(100 + RESUBMIT, set()) == []


def test_a_settle_not_mined_in_time_is_made_again(setup: ChannelSetup) -> None:
    settles = tracker()
    receipt = setup.receipt(10_000)
    record = settles.submitted(txid("a"), receipt, 100)
    assert settles.on_block(100 + RESUBMIT - 1, set()) == []
    assert settles.on_block(100 + RESUBMIT, set()) == [
        ForgetSettle(record, ForgetWhy.DROPPED),
        SubmitSettle(receipt, closing=False),
    ]
    assert settles.highest_amount(setup.channel_id) == 0
    again = settles.submitted(txid("a again"), receipt, 100 + RESUBMIT)
    assert settles.records == (again,)


def test_a_reorganised_settle_waits_again_and_is_mined_again(setup: ChannelSetup) -> None:
    settles = tracker()
    receipt = setup.receipt(10_000)
    settles.submitted(txid("a"), receipt, 100)
    settles.on_block(101, {txid("a")})
    waiting = SettleRecord(txid("a"), receipt, submitted_height=100)
    assert settles.on_disconnected(100, {txid("a"), txid("other")}) == [SaveSettle(waiting)]
    mined = SettleRecord(txid("a"), receipt, 100, included_height=102)
    assert settles.on_block(102, {txid("a")}) == [SaveSettle(mined)]


def test_a_reorganised_settle_not_mined_again_is_made_again(setup: ChannelSetup) -> None:
    settles = tracker()
    receipt = setup.receipt(10_000)
    settles.submitted(txid("a"), receipt, 100)
    settles.on_block(101, {txid("a")})
    settles.on_disconnected(105, {txid("a")})  # the wait restarts at the new tip
    assert settles.on_block(105 + RESUBMIT - 1, set()) == []
    actions = settles.on_block(105 + RESUBMIT, set())
    assert actions[-1] == SubmitSettle(receipt, closing=False)
    assert isinstance(actions[0], ForgetSettle)
    assert actions[0].why is ForgetWhy.DROPPED


def test_a_dropped_settle_under_a_higher_one_is_not_made_again(setup: ChannelSetup) -> None:
    settles = tracker()
    low = settles.submitted(txid("low"), setup.receipt(10_000), 100)
    settles.submitted(txid("high"), setup.receipt(20_000), 105)
    assert settles.highest_amount(setup.channel_id) == setup.receipt(20_000).cumulative_amount
    assert settles.on_block(100 + RESUBMIT, set()) == [ForgetSettle(low, ForgetWhy.SUPERSEDED)]


def test_a_final_settle_forgets_the_lower_ones_still_waiting(setup: ChannelSetup) -> None:
    settles = tracker()
    settles.submitted(txid("low"), setup.receipt(10_000), 100)
    settles.submitted(txid("high"), setup.receipt(20_000), 100)
    settles.on_block(101, {txid("high")})
    # The low one is left waiting: the tracker drops it once its wait is over...
    actions = settles.on_block(100 + RESUBMIT, set())
    assert [type(a) for a in actions] == [ForgetSettle]
    # ...and nothing is left once the high one is final.
    settles.on_block(101 + DEPTH, set())
    assert settles.records == ()


def test_a_waiting_lower_settle_is_forgotten_when_a_higher_one_is_final(
    setup: ChannelSetup,
) -> None:
    settles = SettleTracker(DEPTH, SettlementPolicy(resubmit_after_blocks=1_000))
    low = settles.submitted(txid("low"), setup.receipt(10_000), 100)
    settles.submitted(txid("high"), setup.receipt(20_000), 100)
    settles.on_block(101, {txid("high")})
    actions = settles.on_block(101 + DEPTH, set())
    assert actions[1] == ForgetSettle(low, ForgetWhy.SUPERSEDED)
    assert settles.records == ()


def test_the_last_settle_of_a_closing_channel_forgets_the_channel(setup: ChannelSetup) -> None:
    settles = tracker()
    settles.submitted(txid("last"), setup.receipt(10_000), 100, closing=True)
    settles.on_block(101, {txid("last")})
    actions = settles.on_block(101 + DEPTH, set())
    assert actions[-1] == ForgetChannel(setup.channel_id)


def test_a_closing_settle_made_again_is_still_closing(setup: ChannelSetup) -> None:
    settles = tracker()
    receipt = setup.receipt(10_000)
    settles.submitted(txid("last"), receipt, 100, closing=True)
    assert settles.on_block(100 + RESUBMIT, set())[-1] == SubmitSettle(receipt, closing=True)


def test_the_same_settle_is_not_tracked_twice(setup: ChannelSetup) -> None:
    settles = tracker()
    settles.submitted(txid("a"), setup.receipt(10_000), 100)
    with pytest.raises(LocalProtocolError):
        settles.submitted(txid("a"), setup.receipt(20_000), 100)
    with pytest.raises(LocalProtocolError):
        settles.submitted(txid("b"), setup.receipt(10_000), 100)


def test_a_restored_tracker_goes_on_where_it_stopped(setup: ChannelSetup) -> None:
    receipt = setup.receipt(10_000)
    mined = SettleRecord(txid("a"), receipt, 100, included_height=101, closing=True)
    settles = tracker(mined)
    assert settles.highest_amount(setup.channel_id) == receipt.cumulative_amount
    actions = settles.on_block(101 + DEPTH, set())
    assert actions == [ForgetSettle(mined, ForgetWhy.FINAL), ForgetChannel(setup.channel_id)]


def test_a_finality_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        SettleTracker(0)


@given(
    st.integers(0, 1 << 40),
    st.integers(0, 1 << 63),
    st.one_of(st.none(), st.integers(0, 1 << 63)),
    st.booleans(),
)
def test_records_round_trip(
    setup: ChannelSetup, byte_count: int, submitted: int, included: int | None, closing: bool
) -> None:
    record = SettleRecord(txid("a"), setup.receipt(byte_count), submitted, included, closing)
    assert SettleRecord.decode(record.encode()) == record


def test_damaged_records_are_refused(setup: ChannelSetup) -> None:
    encoded = SettleRecord(txid("a"), setup.receipt(5), 100, 101).encode()
    with pytest.raises(DecodeError):
        SettleRecord.decode(encoded + b"\x00")
    with pytest.raises(DecodeError):
        SettleRecord.decode(encoded[:-1])
    with pytest.raises(DecodeError):
        SettleRecord.decode(encoded[:-1] + b"\x02")  # a boolean is 0 or 1
    with pytest.raises(ValueError):
        SettleRecord(b"short", setup.receipt(5), 100)
