"""The credit window: how many bytes a relay carries for a client before it is paid for them
(docs/paid-tunnels.md §Credit window).

    policy = CreditPolicy()
    window = policy.window_bytes(paid_bytes)          # 256 KiB, growing to 8 MiB
    chargeable = policy.chargeable_bytes(rx, tx)       # what the client is asked to cover

Rules and numbers (the relay's choice; the client assumes the defaults to pace its receipts):
- A new channel gets `initial_window_bytes` = 256 KiB of credit: what a relay risks on a client
  it has never been paid by. Orchid cuts a client off at 128 KiB owed; 256 KiB lets a first
  receipt make its round trip over the peer link at about 20 Mbit/s (100 ms) without a stall.
- The window grows by one byte for every `growth_divisor` = 2 bytes the channel has paid for,
  up to `max_window_bytes` = 8 MiB (reached after 15.5 MiB paid). Growth follows money received,
  not receipts counted: "doubling per receipt" would let a client that pays a unit at a time
  reach the cap after five tiny receipts. So what a relay lends a channel is never more than
  the initial window plus half of what the channel has already paid. (An eighth was tried
  first: a 100 MB transfer then spent most of its time at small windows, its TCP flow stalled
  at the relay's budget again and again; half reaches full speed within the first 16 MiB.)
- The cap bounds what a relay lends one channel: 8 MiB; Mysterium lets about 20 MB run unpaid.
  The window works like a TCP window: a client moves at most one window per receipt round
  trip, and at 1 Gbit/s 8 MiB is 67 ms of traffic, so a 20 ms path with a receipt every quarter
  window (2 MiB) runs at about 1 Gbit/s, some 60 receipts a second. A larger cap buys fewer
  receipts per second for more money at risk; at 8 MiB the receipt rate stays well within what
  a relay signs, verifies and syncs.
- Owing more than the window throttles the client (the relay slows its peer down); owing more
  than the window plus `overdraft_bytes` = 8 MiB, or staying throttled for `drop_grace_s` =
  10 s, drops it. The overdraft is for honest bursts: TCP doubles its rate every round trip,
  the window grows with payment, and the relay looks at its counters only so often, so a fast
  client overshoots now and then and must be slowed, not cut. It also bounds the loss per
  channel, 16 MiB at the most, should throttling not slow a client at all. Ten seconds lets a
  client whose peer link broke reconnect and deliver its receipt; one that does not pay is gone
  within that time.
- `loss_allowance_bps` = 200 (2 %) of what the relay sends is forgiven: datagrams lost on the
  way to the client are counted by the relay but never by the client, which pays for its own
  count only. Without it any lossy path would drift out of its window for good. A client that
  under-counts on purpose gains at most that 2 %.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacata.chain.params import BASIS_POINTS

KIB = 1 << 10
MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    initial_window_bytes: int = 256 * KIB
    max_window_bytes: int = 8 * MIB
    growth_divisor: int = 2
    overdraft_bytes: int = 8 * MIB
    drop_grace_s: float = 10.0
    loss_allowance_bps: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.initial_window_bytes <= self.max_window_bytes:
            raise ValueError("the initial window is positive and at most the maximum window")
        if self.growth_divisor <= 0:
            raise ValueError("growth_divisor must be positive")
        if self.overdraft_bytes < 0:
            raise ValueError("overdraft_bytes must not be negative")
        if self.drop_grace_s < 0:
            raise ValueError("drop_grace_s must not be negative")
        if not 0 <= self.loss_allowance_bps < BASIS_POINTS:
            raise ValueError(f"loss_allowance_bps must be within 0..{BASIS_POINTS - 1}")

    def window_bytes(self, paid_bytes: int) -> int:
        """The bytes a channel that has paid for `paid_bytes` may owe without being throttled."""
        if paid_bytes < 0:
            raise ValueError("paid_bytes must not be negative")
        grown = self.initial_window_bytes + paid_bytes // self.growth_divisor
        return min(self.max_window_bytes, grown)

    def hard_limit_bytes(self, paid_bytes: int) -> int:
        """Owing more than this drops the client at once, grace or not."""
        return self.window_bytes(paid_bytes) + self.overdraft_bytes

    def chargeable_bytes(self, received: int, sent: int) -> int:
        """What a client is asked to cover of the bytes the relay received from it and sent to
        it: everything less the loss allowance on what was sent."""
        if received < 0 or sent < 0:
            raise ValueError("byte counts must not be negative")
        return received + sent - sent * self.loss_allowance_bps // BASIS_POINTS
