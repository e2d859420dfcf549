"""The credit window (pacata/vpn/channels/credit.py): its start, its growth with what the
channel has paid, its cap, the hard limit and the loss allowance."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.vpn.channels.credit import KIB, MIB, CreditPolicy

POLICY = CreditPolicy()


def test_the_chosen_numbers() -> None:
    assert POLICY.initial_window_bytes == 256 * KIB
    assert POLICY.max_window_bytes == 8 * MIB
    assert POLICY.growth_divisor == 2
    assert POLICY.overdraft_bytes == 8 * MIB
    assert POLICY.drop_grace_s == 10.0
    assert POLICY.loss_allowance_bps == 200


def test_a_new_channel_gets_the_initial_window() -> None:
    assert POLICY.window_bytes(0) == 256 * KIB
    assert POLICY.window_bytes(1) == 256 * KIB  # less than a byte of growth


def test_the_window_grows_by_half_of_what_was_paid() -> None:
    assert POLICY.window_bytes(2) == 256 * KIB + 1
    assert POLICY.window_bytes(2 * MIB) == 256 * KIB + MIB
    assert POLICY.window_bytes(8 * MIB) == 256 * KIB + 4 * MIB


def test_the_window_stops_at_the_cap() -> None:
    reached_at = (8 * MIB - 256 * KIB) * 2
    assert reached_at == 15 * MIB + 512 * KIB
    assert POLICY.window_bytes(reached_at - 2) == 8 * MIB - 1
    assert POLICY.window_bytes(reached_at) == 8 * MIB
    assert POLICY.window_bytes(1 << 50) == 8 * MIB


@given(st.integers(0, 1 << 40), st.integers(0, 1 << 40))
def test_the_window_never_shrinks_as_payments_grow(first: int, second: int) -> None:
    low, high = sorted((first, second))
    assert (
        POLICY.initial_window_bytes
        <= POLICY.window_bytes(low)
        <= POLICY.window_bytes(high)
        <= POLICY.max_window_bytes
    )


def test_the_hard_limit_is_the_window_and_the_overdraft() -> None:
    assert POLICY.hard_limit_bytes(0) == 256 * KIB + 8 * MIB
    assert POLICY.hard_limit_bytes(1 << 40) == 16 * MIB


def test_the_loss_allowance_forgives_a_share_of_what_was_sent_only() -> None:
    assert POLICY.chargeable_bytes(1_000, 0) == 1_000
    assert POLICY.chargeable_bytes(0, 10_000) == 9_800
    assert POLICY.chargeable_bytes(1_000, 10_000) == 10_800
    assert CreditPolicy(loss_allowance_bps=0).chargeable_bytes(5, 7) == 12


@pytest.mark.parametrize(
    "options",
    [
        {"initial_window_bytes": 0},
        {"initial_window_bytes": 9 * MIB},
        {"growth_divisor": 0},
        {"overdraft_bytes": -1},
        {"drop_grace_s": -1.0},
        {"loss_allowance_bps": 10_000},
        {"loss_allowance_bps": -1},
    ],
)
def test_nonsense_policies_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CreditPolicy(**options)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        POLICY.window_bytes(-1)
    with pytest.raises(ValueError):
        POLICY.chargeable_bytes(-1, 0)
