"""The terms of a channel a command opens — deposit, tier, lifetime — declared once for
`connect` (the node's account pays) and `channel open` (a wallet's account pays)."""

from __future__ import annotations

import argparse

from pacata.chain.transactions import MAX_TIERS
from pacata.cli.amounts import pac_to_units
from pacata.cli.arguments import amount, bounded_int, checked

DEFAULT_DEPOSIT = "1"  # PAC
NODE_DEFAULT_BLOCKS = 10_000  # what the node takes when `connect` names no lifetime
MAX_BLOCKS = 2**32


def declare_channel_terms(parser: argparse.ArgumentParser, *, blocks_default: int | None) -> None:
    """`--deposit`, `--tier` and `--blocks` (`blocks_default` None: the node chooses)."""
    parser.add_argument(
        "--deposit",
        metavar="AMOUNT",
        type=checked(amount),
        default=pac_to_units(DEFAULT_DEPOSIT),
        help=f"PAC locked in the channel, at most 8 decimals (default {DEFAULT_DEPOSIT})",
    )
    parser.add_argument(
        "--tier",
        type=checked(bounded_int(0, MAX_TIERS - 1, "a tier")),
        default=0,
        help="the tier of the relay's offer (default 0)",
    )
    shown = f"the node's, {NODE_DEFAULT_BLOCKS}" if blocks_default is None else blocks_default
    parser.add_argument(
        "--blocks",
        metavar="N",
        type=checked(bounded_int(1, MAX_BLOCKS, "a number of blocks")),
        default=blocks_default,
        help=f"the channel expires N blocks after the tip (default {shown})",
    )
