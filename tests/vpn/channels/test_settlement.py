"""When a relay settles (pacata/vpn/channels/settlement.py), at each threshold."""

from __future__ import annotations

from typing import Any

import pytest

from pacata.vpn.channels import SettlementPolicy, SettleReason, settle_due

POLICY = SettlementPolicy()
FEE = 1_000
EXPIRY = 10_000
FAR = 1_000  # a height far from the expiry


def due(**changes: Any) -> SettleReason | None:
    inputs: dict[str, Any] = {
        "unsettled_amount": 1,
        "fee": FEE,
        "height": FAR,
        "expiry_height": EXPIRY,
        "closing": False,
    }
    inputs.update(changes)
    return settle_due(POLICY, **inputs)


def test_the_chosen_numbers() -> None:
    assert POLICY.fee_share_bps == 100
    assert POLICY.expiry_margin_blocks == 50
    assert POLICY.resubmit_after_blocks == 10


def test_settle_once_the_fee_is_one_percent_of_the_amount() -> None:
    assert due(unsettled_amount=100 * FEE - 1) is None
    assert due(unsettled_amount=100 * FEE) is SettleReason.AMOUNT
    assert due(unsettled_amount=10**12) is SettleReason.AMOUNT


def test_settle_near_the_expiry_whatever_the_amount() -> None:
    assert due(height=EXPIRY - 51) is None
    assert due(height=EXPIRY - 50) is SettleReason.EXPIRY
    assert due(height=EXPIRY + 5) is SettleReason.EXPIRY


def test_settle_a_closing_channel_whatever_the_amount() -> None:
    assert due(closing=True) is SettleReason.CLOSING


def test_nothing_unsettled_is_never_due() -> None:
    assert due(unsettled_amount=0, closing=True, height=EXPIRY) is None
    assert due(unsettled_amount=0, fee=0) is None


def test_a_free_transaction_settles_any_amount() -> None:
    assert due(unsettled_amount=1, fee=0) is SettleReason.AMOUNT


@pytest.mark.parametrize(
    "options",
    [
        {"fee_share_bps": 0},
        {"fee_share_bps": 10_001},
        {"expiry_margin_blocks": -1},
        {"resubmit_after_blocks": 0},
    ],
)
def test_nonsense_policies_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SettlementPolicy(**options)
