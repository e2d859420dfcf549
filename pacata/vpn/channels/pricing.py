"""Prices: what a number of bytes costs at a tier's price per GiB, and back (docs/paid-tunnels.md
§Prices).

Rules:
- Integers only: amounts in base units (1 PAC = 10**8 units), bytes as counted, prices in units
  per GiB (2**30 bytes), as relay offers state them on chain.
- `amount_for_bytes` rounds down: a receipt never asks the client for a part of a unit it has
  not used up in full, so a client that pays `amount_for_bytes` of its own count never pays
  more than its count is worth.
- `bytes_for_amount` is its exact inverse over the integers: the most bytes that cost at most
  `amount`, so that `amount_for_bytes(b, p) <= a` exactly when `b <= bytes_for_amount(a, p)`.
  A free tier (price 0) has no inverse: every byte count costs nothing.
"""

from __future__ import annotations

GIB = 1 << 30


def _check_not_negative(**values: int) -> None:
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} must not be negative, got {value}")


def amount_for_bytes(byte_count: int, price_per_gib: int) -> int:
    """What `byte_count` bytes cost at `price_per_gib` units per GiB, rounded down."""
    _check_not_negative(byte_count=byte_count, price_per_gib=price_per_gib)
    return byte_count * price_per_gib // GIB


def bytes_for_amount(amount: int, price_per_gib: int) -> int:
    """The most bytes that cost at most `amount` at `price_per_gib` (a positive price)."""
    _check_not_negative(amount=amount)
    if price_per_gib <= 0:
        raise ValueError("a free tier has no byte count for an amount: every count is free")
    # amount_for_bytes(b) <= amount  <=>  b * price < (amount + 1) * GIB
    return ((amount + 1) * GIB - 1) // price_per_gib
