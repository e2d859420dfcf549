"""What commands print: one JSON document with `--json` (amounts in base units, bytes in hex,
addresses `pac1…`, as the API has them), else rich tables and lines for a person, amounts in
PAC with all 8 decimals."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pacata.chain.keys import Address
from pacata.cli.amounts import pac_text
from pacata.cli.arguments import ID_PREFIX

if TYPE_CHECKING:
    from rich.console import Console

UNWRAPPED_WIDTH = 1_000  # columns of rich's tables when standard output is no terminal


def jsonable(value: Any) -> Any:
    """`value` as JSON has it in the API: bytes in hex, addresses `pac1…`, amounts integers."""
    if isinstance(value, Address):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def print_json(document: Any) -> None:
    print(json.dumps(jsonable(document), indent=2), flush=True)


def console() -> Console:
    """Rich on standard output; at the terminal's width, and for a pipe or a file at its
    tables' own width (rich would take 80 columns and fold addresses)."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else UNWRAPPED_WIDTH
    return Console(file=sys.stdout, highlight=False, width=width)


def progress(quiet: bool) -> Callable[[str], None]:
    """Where a command tells how it goes: standard output, but nowhere with `--json` (whose
    standard output is the one JSON document)."""
    if quiet:
        return lambda line: None
    return lambda line: print(line, flush=True)


def short_id(channel_id: bytes) -> str:
    return channel_id.hex()[:ID_PREFIX]


def short_address(address: Address) -> str:
    text = str(address)
    return f"{text[:10]}…{text[-6:]}"


def optional_pac(units: int | None) -> str:
    return "-" if units is None else pac_text(units)


def byte_count(count: int | None) -> str:
    """A byte count for a person: "512 B", "1.5 MiB"."""
    if count is None:
        return "-"
    if count < 1024:
        return f"{count} B"
    value, units = count / 1024, ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value, units = value / 1024, units[1:]
    return f"{value:.1f} {units[0]}"


def rate(bytes_per_s: int) -> str:
    return "unlimited" if bytes_per_s == 0 else f"{bytes_per_s:,} B/s"


def tiers(prices: Sequence[int], rate_limits: Sequence[int]) -> list[str]:
    return [
        f"tier {tier}: {pac_text(price)} PAC/GiB, {rate(limit)}"
        for tier, (price, limit) in enumerate(zip(prices, rate_limits, strict=False))
    ]
