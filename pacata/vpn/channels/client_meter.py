"""A client's side of one channel: signing receipts for its own count, never more
(docs/paid-tunnels.md §Receipt flow).

    client = ClientChannel(channel_id, channel, chain_id, price_per_gib, account_key)
    if client.receipt_due(counted_bytes, now):
        send(ReceiptOffer(client.receipt_for(counted_bytes, now)))
    client.acknowledged(ack.cumulative_amount)
    if client.topup_due(counted_bytes, bytes_per_second): top up the deposit

Rules:
- A receipt is cumulative: the bytes the client's own meter counted on the channel, and the
  amount they cost (`amount_for_bytes`, rounded down). The relay's count (`UsageReport`) is
  only compared with, never paid.
- Never above the deposit: when the count costs more, the receipt signs for the deposit and
  `needs_topup` says so. Never lower than a receipt signed before, nor than what the chain
  says the channel paid (a receipt this key signed): a count that went back is refused.
- A receipt is due when the count has grown by a `receipt_window_fraction` (a quarter) of the
  credit window the relay is assumed to give (`ClientPolicy.credit`, the defaults), or when
  `receipt_interval_s` = 1 s has passed and something is new or not yet acknowledged. A
  quarter leaves three quarters of the window for the receipt's round trip; one second keeps
  a slow tunnel's owed bytes fresh, far inside the relay's 10 s grace.
- A top-up is due when the deposit pays for less than `topup_below_bps` = 10 % of what it pays
  for in all, or for less than `topup_lead_s` = 120 s at the current rate: a top-up must be
  mined and seen by the relay before the deposit runs out, a few blocks, with room for a busy
  mempool.
- An acknowledgement of an amount the client never signed breaks the protocol
  (`RemoteProtocolError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacata.chain.keys import PrivateKey
from pacata.chain.params import BASIS_POINTS
from pacata.chain.receipts import Receipt
from pacata.chain.state import Channel
from pacata.errors import LocalProtocolError, RemoteProtocolError
from pacata.vpn.channels.channel_book import ChannelBook
from pacata.vpn.channels.credit import CreditPolicy
from pacata.vpn.channels.pricing import amount_for_bytes, bytes_for_amount


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    receipt_interval_s: float = 1.0
    receipt_window_fraction: int = 4
    topup_below_bps: int = 1_000
    topup_lead_s: int = 120
    credit: CreditPolicy = field(default_factory=CreditPolicy)

    def __post_init__(self) -> None:
        if self.receipt_interval_s <= 0 or self.receipt_window_fraction <= 0:
            raise ValueError("receipt intervals must be positive")
        if not 0 <= self.topup_below_bps <= BASIS_POINTS:
            raise ValueError(f"topup_below_bps must be within 0..{BASIS_POINTS}")
        if self.topup_lead_s < 0:
            raise ValueError("topup_lead_s must not be negative")


def topup_due(
    policy: ClientPolicy, *, deposit_left_bytes: int, deposit_bytes: int, bytes_per_second: int
) -> bool:
    """Whether what is left of a deposit is low enough to top it up now."""
    low_share = deposit_left_bytes * BASIS_POINTS < deposit_bytes * policy.topup_below_bps
    return low_share or deposit_left_bytes < bytes_per_second * policy.topup_lead_s


class ClientChannel(ChannelBook):
    def __init__(
        self,
        channel_id: bytes,
        channel: Channel,
        chain_id: str,
        price_per_gib: int,
        key: PrivateKey,
        *,
        policy: ClientPolicy | None = None,
        newest_receipt: Receipt | None = None,
    ) -> None:
        if key.public_key != channel.client_public_key:
            raise ValueError("the key is not the channel's client key")
        super().__init__(channel_id, channel, chain_id, price_per_gib, newest_receipt)
        self.policy = policy or ClientPolicy()
        self._key = key
        self._acknowledged = channel.paid
        self._last_sent_at: float | None = None
        self.needs_topup = False

    @property
    def acknowledged_amount(self) -> int:
        return self._acknowledged

    @property
    def receipt_interval_bytes(self) -> int:
        credit = self.policy.credit
        if self.price_per_gib == 0:
            window = credit.max_window_bytes
        else:
            window = credit.window_bytes(bytes_for_amount(self.paid_amount, self.price_per_gib))
        return max(1, window // self.policy.receipt_window_fraction)

    def receipt_due(self, counted_bytes: int, now: float) -> bool:
        new_bytes = counted_bytes - self.receipted_bytes
        if new_bytes >= self.receipt_interval_bytes:
            return True
        unacknowledged = self._acknowledged < self.paid_amount
        if new_bytes <= 0 and not unacknowledged:
            return False
        last = self._last_sent_at
        return last is None or now - last >= self.policy.receipt_interval_s

    def receipt_for(self, counted_bytes: int, now: float) -> Receipt:
        """The receipt to send for `counted_bytes` (this client's cumulative count), signed."""
        if counted_bytes < self.receipted_bytes:
            raise LocalProtocolError(
                f"the meter reads {counted_bytes} bytes, below {self.receipted_bytes} signed for"
            )
        full = amount_for_bytes(counted_bytes, self.price_per_gib)
        amount = min(full, self._channel.deposit)
        if amount < self.paid_amount:
            raise LocalProtocolError(f"{amount} would be below the {self.paid_amount} signed")
        self.needs_topup = amount < full
        self._last_sent_at = now
        newest = self._newest
        if newest is not None and (newest.cumulative_bytes, newest.cumulative_amount) == (
            counted_bytes,
            amount,
        ):
            return newest
        receipt = Receipt(self.chain_id, self.channel_id, counted_bytes, amount).signed(self._key)
        self._newest = receipt
        return receipt

    def acknowledged(self, cumulative_amount: int) -> None:
        """The relay stored our receipt of `cumulative_amount`."""
        if cumulative_amount > self.paid_amount:
            raise RemoteProtocolError(
                f"the relay acknowledges {cumulative_amount}, above the {self.paid_amount} signed"
            )
        self._acknowledged = max(self._acknowledged, cumulative_amount)

    def deposit_left_bytes(self, counted_bytes: int) -> int | None:
        """The bytes the deposit still pays for beyond `counted_bytes`; None on a free tier."""
        if self.price_per_gib == 0:
            return None
        return max(0, bytes_for_amount(self._channel.deposit, self.price_per_gib) - counted_bytes)

    def topup_due(self, counted_bytes: int, bytes_per_second: int) -> bool:
        left = self.deposit_left_bytes(counted_bytes)
        if left is None:
            return False
        return topup_due(
            self.policy,
            deposit_left_bytes=left,
            deposit_bytes=bytes_for_amount(self._channel.deposit, self.price_per_gib),
            bytes_per_second=bytes_per_second,
        )

    def update_channel(self, channel: Channel) -> None:
        super().update_channel(channel)
        self._acknowledged = max(self._acknowledged, channel.paid)
