"""How the explorer writes numbers, amounts, times and sizes (also its templates' filters)."""

from __future__ import annotations

import time
from functools import lru_cache

from pacata.chain.keys import Address
from pacata.chain.params import UNITS_PER_PAC

_DECIMALS = len(str(UNITS_PER_PAC)) - 1


@lru_cache(maxsize=1 << 16)
def address_text(address: Address) -> str:
    """`address`'s `pac1…` form, cached: bech32m's checksum costs some 100 µs in Python, and a
    page names dozens of addresses, most of them again and again."""
    return str(address)


@lru_cache(maxsize=1 << 12)
def parse_address(text: str) -> Address:
    """`Address.from_string`, cached (the same checksum cost); `DecodeError` is not cached."""
    return Address.from_string(text)


def pac(units: int) -> str:
    """`units` in PAC, without trailing zeros: 150000000 → "1.5 PAC"."""
    whole, fraction = divmod(units, UNITS_PER_PAC)
    text = f"{whole:,}"
    if fraction:
        text += "." + f"{fraction:0{_DECIMALS}d}".rstrip("0")
    return f"{text} PAC"


def pac_number(units: int) -> float:
    """`units` in PAC as a number, for charts only (never for sums)."""
    return units / UNITS_PER_PAC


def count(number: int) -> str:
    return f"{number:,}"


def data_size(size: int) -> str:
    """Bytes in binary units: 1536 → "1.5 KiB"."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def utc(timestamp_ms: int) -> str:
    """A timestamp as ISO 8601 UTC, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp_ms / 1000))


def seconds(milliseconds: int | float | None) -> str:
    if milliseconds is None:
        return "–"
    return f"{milliseconds / 1000:.1f} s"


def short_hex(data: bytes, digits: int = 12) -> str:
    """The first `digits` hex digits of `data` and an ellipsis (the full value goes in a title
    or a link)."""
    text = data.hex()
    return text if len(text) <= digits else text[:digits] + "…"


def rate(bytes_per_second: int) -> str:
    return "unlimited" if bytes_per_second == 0 else f"{data_size(bytes_per_second)}/s"
