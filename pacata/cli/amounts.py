"""Amounts of PAC as people write them, exactly: "5", "0.25", at most 8 decimals; inside,
integers of base units (1 PAC = 10^8), never floats."""

from __future__ import annotations

import re

from pacata.chain.params import UNITS_PER_PAC

PAC_DECIMALS = len(str(UNITS_PER_PAC)) - 1  # UNITS_PER_PAC is 10**8
MAX_AMOUNT = 2**64 - 1  # base units: the ledger's bound on an amount (a u64)

_PAC = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def pac_to_units(text: str, *, allow_zero: bool = False) -> int:
    """`text`, an amount of PAC with at most 8 decimals ("5", "0.25"), in base units, exactly;
    `ValueError` with the reason for anything else (a negative, a 9th decimal, an exponent)."""
    match = _PAC.fullmatch(text)
    if match is None:
        if text.startswith("-"):
            raise ValueError(f"{text} is negative: an amount of PAC is positive")
        raise ValueError(f"{text!r} is not an amount of PAC (write it as 5 or 0.25)")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > PAC_DECIMALS:
        raise ValueError(
            f"{text} has {len(fraction)} decimals: PAC has {PAC_DECIMALS} "
            f"(1 PAC = {UNITS_PER_PAC:,} base units)"
        )
    units = int(whole) * UNITS_PER_PAC + int(fraction.ljust(PAC_DECIMALS, "0"))
    if units == 0 and not allow_zero:
        raise ValueError(f"{text} is zero: the amount must be more than 0")
    if units > MAX_AMOUNT:
        raise ValueError(f"{text} PAC is more than the largest amount, {pac_text(MAX_AMOUNT)}")
    return units


def pac_text(units: int) -> str:
    """Base units as PAC with all 8 decimals: 250000000 → "2.50000000"."""
    sign = "-" if units < 0 else ""
    whole, part = divmod(abs(units), UNITS_PER_PAC)
    return f"{sign}{whole}.{part:0{PAC_DECIMALS}d}"
