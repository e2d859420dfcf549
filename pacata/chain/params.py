"""Consensus parameters of a chain, fixed by its genesis file (docs/genesis.md).

All amounts are in base units: 1 PAC = 10**8 units. Shares are in basis points (1/10,000).
`GENESIS_BOUNDS` holds the range a genesis file may give each parameter: values a working chain
can have. `ChainParams` itself checks only what its arithmetic needs, so that tests can build
chains in code with values no genesis file may give (a block of a few hundred bytes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pacata.chain.blocks import MAX_BLOCK_TRANSACTIONS
from pacata.chain.codec import MAX_U64
from pacata.chain.keys import Address

UNITS_PER_PAC = 10**8
BASIS_POINTS = 10_000
DAY_MS = 86_400_000

# Why each bound (docs/genesis.md §Bounds):
# - amounts are uvarints, at most 2**64 - 1 (the genesis also checks that the supply plus a
#   century of block rewards stays below that);
# - a slot of 100 ms leaves time to make, send and check a block; a slot over a minute, or an
#   epoch over 30 days (checked by the genesis), is a chain that next to never moves;
# - a block fits one peer-to-peer frame (4 MiB) and the block codec's transaction count, and
#   holds at least a few transactions beside the 1 KiB that production keeps for the header;
# - delays counted in blocks stay below 100 million (three years of 1 s slots): beyond that a
#   bond or a channel deposit is locked for good, and a reorg deeper than 10,000 blocks is a
#   chain without finality;
# - a settlement grace of at least one block: with none, a client's close can be mined ahead of
#   the relay's last settle, and the relay loses its last receipt to a race.
GENESIS_BOUNDS: Mapping[str, tuple[int, int]] = {
    "block_reward": (0, MAX_U64),
    "producer_share_bps": (0, BASIS_POINTS),
    "bandwidth_pool_share_bps": (0, BASIS_POINTS),
    "developer_share_bps": (0, BASIS_POINTS),
    "developer_fee_bps": (0, BASIS_POINTS),
    "min_fee": (0, MAX_U64),
    "min_bond": (0, MAX_U64),
    "unbonding_delay": (0, 100_000_000),
    "finality_depth": (1, 10_000),
    "max_block_transactions": (1, MAX_BLOCK_TRANSACTIONS),
    "max_block_bytes": (16 * 1024, 4_000_000),
    "slot_ms": (100, 60_000),
    "epoch_slots": (1, 1_000_000),
    "active_slot_coeff_bps": (1, BASIS_POINTS),
    "clock_allowance_ms": (0, 60_000),
    "max_channel_blocks": (1, 100_000_000),
    "settlement_grace_blocks": (1, 100_000_000),
}
MAX_EPOCH_MS = 30 * DAY_MS
# The genesis supply plus this long of block rewards, one block a slot, fits an amount.
SUPPLY_HORIZON_MS = 36_525 * DAY_MS  # a century of 365.25-day years


@dataclass(frozen=True, slots=True)
class ChainParams:
    chain_id: str
    developer_fund: Address
    # Minted by every block, split between the producer, the bandwidth pool and the fund.
    block_reward: int = 10 * UNITS_PER_PAC
    producer_share_bps: int = 6_000
    bandwidth_pool_share_bps: int = 3_500
    developer_share_bps: int = 500
    # Taken from each channel settlement for the developer fund.
    developer_fee_bps: int = 100
    min_fee: int = 1_000
    min_bond: int = 1_000 * UNITS_PER_PAC
    unbonding_delay: int = 1_000
    finality_depth: int = 100
    max_block_transactions: int = 5_000
    max_block_bytes: int = 2_000_000
    slot_ms: int = 1_000
    epoch_slots: int = 100
    # f of the slot lottery: the chance that a producer holding all the weight wins a slot.
    active_slot_coeff_bps: int = 5_000
    # How far ahead of a node's clock a block's slot may start and still be accepted.
    clock_allowance_ms: int = 2_000
    # A channel lives at most this many blocks, so deposits cannot be locked forever.
    max_channel_blocks: int = 1_000_000
    # After a channel's expiry height, the client may close it only once this many more blocks
    # have passed; meanwhile the relay can still settle its last receipt (docs/ledger.md).
    settlement_grace_blocks: int = 100

    def __post_init__(self) -> None:
        shares = self.producer_share_bps + self.bandwidth_pool_share_bps + self.developer_share_bps
        if shares != BASIS_POINTS:
            raise ValueError(f"reward shares must add up to {BASIS_POINTS} bps, not {shares}")
        if not 0 <= self.developer_fee_bps <= BASIS_POINTS:
            raise ValueError("developer_fee_bps must be within 0..10000")
        if not 0 < self.active_slot_coeff_bps <= BASIS_POINTS:
            raise ValueError("active_slot_coeff_bps must be within 1..10000")
        if self.active_slot_coeff_bps < BASIS_POINTS and self.active_slot_coeff_bps > 9_500:
            raise ValueError("active_slot_coeff_bps must be 10000 or at most 9500")
        for name in (
            "finality_depth",
            "max_block_transactions",
            "max_block_bytes",
            "slot_ms",
            "epoch_slots",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.settlement_grace_blocks < 0:
            raise ValueError("settlement_grace_blocks must not be negative")

    def reward_split(self) -> tuple[int, int, int]:
        """(producer, bandwidth pool, developer fund) parts of one block reward; no unit lost."""
        pool = self.block_reward * self.bandwidth_pool_share_bps // BASIS_POINTS
        developer = self.block_reward * self.developer_share_bps // BASIS_POINTS
        return self.block_reward - pool - developer, pool, developer

    def channel_closable_height(self, expiry_height: int) -> int:
        """The first height whose block may hold the client's close of a channel expiring at
        `expiry_height`: the settlement grace after it is the relay's (docs/ledger.md)."""
        return expiry_height + self.settlement_grace_blocks + 1

    def developer_fee(self, amount: int) -> int:
        return amount * self.developer_fee_bps // BASIS_POINTS
