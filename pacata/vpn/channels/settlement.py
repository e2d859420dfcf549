"""When a relay settles a channel's newest receipt on chain (docs/paid-tunnels.md §Settlement).

    reason = settle_due(policy, unsettled_amount=..., fee=min_fee, height=tip,
                        expiry_height=channel.expiry_height, closing=False)

A settle is due, if anything is unsettled, when (checked in this order):

- the channel is closing (the client left, the relay stops carrying it): `CLOSING`;
- the chain is within `expiry_margin_blocks` = 50 of the channel's expiry height: `EXPIRY`.
  After the expiry (and the chain's settlement grace) the client may close the channel and
  take back what was not settled. 50 blocks is five waits of `resubmit_after_blocks` before
  the expiry, so a dropped settle has time to be made again; the grace period is spare time,
  not counted on;
- the transaction fee is at most `fee_share_bps` = 100 (1 %) of the unsettled amount, that is
  the amount is at least 100 fees: `AMOUNT`. The developer fee is a share of every settled
  amount, so only the transaction fee argues for settling less often; at 1 % it costs the
  relay little, and the amount waiting on a receipt the relay alone holds stays small.

"Unsettled" is what the caller counts as neither paid on chain nor already being settled
(`RelayChannel.unsettled_amount` less what `SettleTracker.highest_amount` covers).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pacata.chain.params import BASIS_POINTS


class SettleReason(Enum):
    CLOSING = "closing"
    EXPIRY = "expiry"
    AMOUNT = "amount"


@dataclass(frozen=True, slots=True)
class SettlementPolicy:
    fee_share_bps: int = 100
    expiry_margin_blocks: int = 50
    # A settle not mined within this many blocks is taken as dropped and made again.
    resubmit_after_blocks: int = 10

    def __post_init__(self) -> None:
        if not 0 < self.fee_share_bps <= BASIS_POINTS:
            raise ValueError(f"fee_share_bps must be within 1..{BASIS_POINTS}")
        if self.expiry_margin_blocks < 0:
            raise ValueError("expiry_margin_blocks must not be negative")
        if self.resubmit_after_blocks <= 0:
            raise ValueError("resubmit_after_blocks must be positive")


def settle_due(
    policy: SettlementPolicy,
    *,
    unsettled_amount: int,
    fee: int,
    height: int,
    expiry_height: int,
    closing: bool = False,
) -> SettleReason | None:
    """Why the newest receipt should be settled now, or None if it should wait."""
    if unsettled_amount <= 0:
        return None
    if closing:
        return SettleReason.CLOSING
    if height >= expiry_height - policy.expiry_margin_blocks:
        return SettleReason.EXPIRY
    if unsettled_amount * policy.fee_share_bps >= fee * BASIS_POINTS:
        return SettleReason.AMOUNT
    return None
