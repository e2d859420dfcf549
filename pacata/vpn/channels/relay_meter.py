"""A relay's meter of one open channel: bytes carried, receipts accepted, and the verdict on
the client (docs/paid-tunnels.md §Metering).

    meter = RelayChannel(channel_id, channel, chain_id, price_per_gib, policy=CreditPolicy())
    meter.observe(rx_bytes, tx_bytes, now)        # the engine's counters for the client's peer
    accepted = meter.accept_receipt(receipt, now, persist=store.put_receipt)
    meter.state(now)                              # OK, THROTTLE or DROP

Rules:
- The engine's counters are cumulative since the peer was added; a counter that goes down was
  reset (the peer was added again) and counting goes on from what was seen before it.
- Bytes are counted from where the channel stood when the meter was made: the newest receipt
  the relay stored, else the bytes the chain has settled. So after a restart what the relay
  carried but never got a receipt for (at most one window) is forgiven, not billed twice.
- The client covers the chargeable bytes (`CreditPolicy.chargeable_bytes`: received plus sent,
  less the loss allowance on what was sent). What it has paid for is the most bytes its newest
  amount covers (`bytes_for_amount`); a receipt's own byte count is the client's meter, kept
  and never lower, but money is what the verdict weighs. A free tier (price 0) owes nothing.
- Verdict: `OK` while the bytes owed are within the credit window; `THROTTLE` past it; `DROP`
  past the window plus the overdraft, or once throttled for `drop_grace_s` (credit.py). A
  receipt that brings the bytes owed back within the window restores `OK` and stops the
  throttle clock.
- `accept_receipt` checks a receipt (receipt_rules.py) and, if it is new, has `persist` write
  it before the meter takes it: a receipt the relay has not stored is never counted, so an
  acknowledgement made after `accept_receipt` returns is always of a stored receipt.
- Sans-I/O: time is the `now` passed in; nothing here reads a clock or touches a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum

from pacata.chain.receipts import Receipt
from pacata.chain.state import Channel
from pacata.vpn.channels.channel_book import ChannelBook
from pacata.vpn.channels.credit import CreditPolicy
from pacata.vpn.channels.engine_counter import EngineCounter
from pacata.vpn.channels.pricing import bytes_for_amount
from pacata.vpn.channels.receipt_rules import check_receipt

# Writes a channel's newest receipt durably (the receipt store's `put_receipt`).
Persist = Callable[[bytes, Receipt], None]


class Verdict(Enum):
    OK = "ok"
    THROTTLE = "throttle"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class ReceiptAccepted:
    receipt: Receipt
    is_new: bool  # False: it repeats the newest receipt, whose acknowledgement was lost
    caught_up: bool  # the bytes owed are within the credit window after it


class RelayChannel(ChannelBook):
    def __init__(
        self,
        channel_id: bytes,
        channel: Channel,
        chain_id: str,
        price_per_gib: int,
        *,
        policy: CreditPolicy | None = None,
        newest_receipt: Receipt | None = None,
    ) -> None:
        super().__init__(channel_id, channel, chain_id, price_per_gib, newest_receipt)
        self.policy = policy or CreditPolicy()
        self._start_bytes = self.receipted_bytes
        self._received = EngineCounter()
        self._sent = EngineCounter()
        self._throttled_since: float | None = None

    @property
    def billed_bytes(self) -> int:
        """Every byte carried for the client, as the relay counts them."""
        return self._start_bytes + self._received.total + self._sent.total

    @property
    def chargeable_bytes(self) -> int:
        return self._start_bytes + self.policy.chargeable_bytes(
            self._received.total, self._sent.total
        )

    @property
    def paid_bytes(self) -> int:
        if self.price_per_gib == 0:
            return self.chargeable_bytes  # a free tier: whatever was carried is paid for
        return bytes_for_amount(self.paid_amount, self.price_per_gib)

    @property
    def window_bytes(self) -> int:
        return self.policy.window_bytes(self.paid_bytes)

    @property
    def owed_bytes(self) -> int:
        return max(0, self.chargeable_bytes - self.paid_bytes)

    @property
    def unsettled_amount(self) -> int:
        """What the newest accepted receipt would pay beyond what the chain says is paid."""
        if self._newest is None:
            return 0
        return max(0, self._newest.cumulative_amount - self._channel.paid)

    def observe(self, rx_bytes: int, tx_bytes: int, now: float) -> None:
        """The engine's cumulative counters of the client's peer: received from it, sent to
        it."""
        self._received.update(rx_bytes)
        self._sent.update(tx_bytes)
        self._track_throttle(now)

    def accept_receipt(
        self, receipt: Receipt, now: float, persist: Persist | None = None
    ) -> ReceiptAccepted:
        """Takes `receipt` as the channel's newest, or raises `ReceiptRejected`; `persist`
        stores a new one durably first (its failure leaves the meter as it was)."""
        is_new = check_receipt(
            receipt,
            chain_id=self.chain_id,
            channel_id=self.channel_id,
            channel=self._channel,
            newest=self._newest,
        )
        if is_new:
            if persist is not None:
                persist(self.channel_id, receipt)
            self._newest = receipt
        self._track_throttle(now)
        return ReceiptAccepted(receipt, is_new, self.owed_bytes <= self.window_bytes)

    def state(self, now: float) -> Verdict:
        """The verdict on the client at `now`; the throttle clock starts at the first look
        that finds it past the window."""
        self._track_throttle(now)
        if self._throttled_since is None:
            return Verdict.OK
        if self.owed_bytes > self.policy.hard_limit_bytes(self.paid_bytes):
            return Verdict.DROP
        if now >= self._throttled_since + self.policy.drop_grace_s:
            return Verdict.DROP
        return Verdict.THROTTLE

    def next_timer(self) -> float | None:
        """When a throttled client is due to be dropped, if it is throttled."""
        if self._throttled_since is None:
            return None
        return self._throttled_since + self.policy.drop_grace_s

    def chain_paid(self, amount: int) -> None:
        """The chain's paid amount for the channel moved (a settle was mined or undone)."""
        if amount < 0:
            raise ValueError("a paid amount is not negative")
        self._channel = replace(self._channel, paid=amount)

    def _track_throttle(self, now: float) -> None:
        if self.owed_bytes <= self.window_bytes:
            self._throttled_since = None
        elif self._throttled_since is None:
            self._throttled_since = now
