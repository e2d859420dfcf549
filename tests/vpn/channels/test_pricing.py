"""Prices (pacata/vpn/channels/pricing.py): exact integer costs, rounded down, and the inverse
that tells how many bytes an amount pays for."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.params import UNITS_PER_PAC
from pacata.vpn.channels.pricing import GIB, amount_for_bytes, bytes_for_amount

byte_counts = st.integers(min_value=0, max_value=1 << 50)
prices = st.integers(min_value=1, max_value=10_000 * UNITS_PER_PAC)
amounts = st.integers(min_value=0, max_value=1 << 60)


def test_a_gib_costs_the_price() -> None:
    assert GIB == 1_073_741_824
    assert amount_for_bytes(GIB, UNITS_PER_PAC) == UNITS_PER_PAC
    assert amount_for_bytes(3 * GIB, 7) == 21


def test_costs_round_down() -> None:
    # 1 PAC per GiB: a unit is 10.74 bytes.
    assert amount_for_bytes(10, UNITS_PER_PAC) == 0
    assert amount_for_bytes(11, UNITS_PER_PAC) == 1
    assert amount_for_bytes(GIB - 1, UNITS_PER_PAC) == UNITS_PER_PAC - 1


def test_an_amount_pays_for_the_most_bytes_it_covers() -> None:
    assert bytes_for_amount(UNITS_PER_PAC, UNITS_PER_PAC) == GIB + 10  # 10 more bytes cost 0
    assert bytes_for_amount(0, UNITS_PER_PAC) == 10
    assert bytes_for_amount(1, GIB) == 1  # a unit a byte: one byte


def test_a_free_tier_costs_nothing_and_has_no_inverse() -> None:
    assert amount_for_bytes(1 << 40, 0) == 0
    with pytest.raises(ValueError, match="free tier"):
        bytes_for_amount(5, 0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: amount_for_bytes(-1, 1),
        lambda: amount_for_bytes(1, -1),
        lambda: bytes_for_amount(-1, 1),
        lambda: bytes_for_amount(1, -1),
    ],
)
def test_negative_inputs_are_refused(call: Callable[[], int]) -> None:
    with pytest.raises(ValueError):
        call()


@given(byte_counts, prices, amounts)
def test_bytes_for_amount_is_the_exact_inverse(byte_count: int, price: int, amount: int) -> None:
    assert (amount_for_bytes(byte_count, price) <= amount) == (
        byte_count <= bytes_for_amount(amount, price)
    )


@given(byte_counts, byte_counts, prices)
def test_costs_grow_with_bytes_and_never_exceed_the_exact_price(
    smaller: int, larger: int, price: int
) -> None:
    smaller, larger = sorted((smaller, larger))
    assert amount_for_bytes(smaller, price) <= amount_for_bytes(larger, price)
    assert amount_for_bytes(larger, price) * GIB <= larger * price
