"""Consensus parameters of a chain, fixed by its genesis file (docs/genesis.md).

All amounts are in base units: 1 PAC = 10**8 units. Shares are in basis points (1/10,000).
"""

from __future__ import annotations

from dataclasses import dataclass

from pacata.chain.keys import Address

UNITS_PER_PAC = 10**8
BASIS_POINTS = 10_000


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

    def reward_split(self) -> tuple[int, int, int]:
        """(producer, bandwidth pool, developer fund) parts of one block reward; no unit lost."""
        pool = self.block_reward * self.bandwidth_pool_share_bps // BASIS_POINTS
        developer = self.block_reward * self.developer_share_bps // BASIS_POINTS
        return self.block_reward - pool - developer, pool, developer

    def developer_fee(self, amount: int) -> int:
        return amount * self.developer_fee_bps // BASIS_POINTS
