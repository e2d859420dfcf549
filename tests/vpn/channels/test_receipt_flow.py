"""A client and a relay wired together, as the peer link would carry their messages (encoded,
decoded, delayed), with time moved by hand: an honest client is never throttled, every
acknowledged receipt was stored first, and a client that stops paying is dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pacata.chain.receipts import Receipt
from pacata.vpn.channels import (
    ClientChannel,
    ReceiptAck,
    ReceiptOffer,
    RelayChannel,
    Verdict,
    answer_offer,
    decode_message,
)

if TYPE_CHECKING:
    from conftest import ChannelSetup

STEP = 0.01  # seconds of traffic between looks at the counters


@dataclass
class Link:
    """The two sides of one channel and the messages in flight between them."""

    client: ClientChannel
    relay: RelayChannel
    one_way_delay: float
    loss_to_client_bps: int = 0
    paying: bool = True
    now: float = 0.0
    stored: dict[bytes, Receipt] = field(default_factory=dict)
    in_flight: list[tuple[float, str, bytes]] = field(default_factory=list)
    client_counted: int = 0
    relay_rx: int = 0
    relay_tx: int = 0
    verdicts: list[Verdict] = field(default_factory=list)

    def persist(self, channel_id: bytes, receipt: Receipt) -> None:
        self.stored[channel_id] = receipt

    def run(self, seconds: float, up_bytes_per_s: int, down_bytes_per_s: int) -> None:
        for _ in range(round(seconds / STEP)):
            self.now += STEP
            self._carry(int(up_bytes_per_s * STEP), int(down_bytes_per_s * STEP))
            self._deliver()
            if self.paying and self.client.receipt_due(self.client_counted, self.now):
                offer = ReceiptOffer(self.client.receipt_for(self.client_counted, self.now))
                self.in_flight.append(
                    (self.now + self.one_way_delay, "relay", offer.encode_message())
                )
            self.verdicts.append(self.relay.state(self.now))

    def _carry(self, up: int, down: int) -> None:
        lost = down * self.loss_to_client_bps // 10_000
        self.relay_rx += up
        self.relay_tx += down
        self.client_counted += up + down - lost
        self.relay.observe(self.relay_rx, self.relay_tx, self.now)

    def _deliver(self) -> None:
        due = [m for m in self.in_flight if m[0] <= self.now]
        self.in_flight = [m for m in self.in_flight if m[0] > self.now]
        for _, to, payload in due:
            message = decode_message(payload)
            if to == "relay":
                assert isinstance(message, ReceiptOffer)
                meters = {self.relay.channel_id: self.relay}
                answer = answer_offer(meters, message, self.now, self.persist)
                assert isinstance(answer, ReceiptAck)
                stored = self.stored[answer.channel_id]
                assert stored.cumulative_amount >= answer.cumulative_amount
                arrival = self.now + self.one_way_delay
                self.in_flight.append((arrival, "client", answer.encode_message()))
            else:
                assert isinstance(message, ReceiptAck)
                self.client.acknowledged(message.cumulative_amount)


def link(setup: ChannelSetup, one_way_delay: float, loss_to_client_bps: int = 0) -> Link:
    return Link(setup.client(), setup.relay(), one_way_delay, loss_to_client_bps)


def test_an_honest_client_at_ten_megabits_is_never_throttled(setup: ChannelSetup) -> None:
    tunnel = link(setup, one_way_delay=0.05)
    tunnel.run(5.0, up_bytes_per_s=250_000, down_bytes_per_s=1_000_000)
    assert set(tunnel.verdicts) == {Verdict.OK}
    assert tunnel.relay.newest_receipt == tunnel.stored[setup.channel_id]
    assert tunnel.client.acknowledged_amount > 0


def test_a_fast_client_that_has_paid_runs_at_hundreds_of_megabits(setup: ChannelSetup) -> None:
    tunnel = link(setup, one_way_delay=0.02)
    tunnel.run(3.0, up_bytes_per_s=100_000, down_bytes_per_s=400_000)  # earns its window
    assert tunnel.relay.window_bytes > 256 * 1024
    tunnel.run(3.0, up_bytes_per_s=5_000_000, down_bytes_per_s=60_000_000)  # ~520 Mbit/s
    assert tunnel.relay.window_bytes == 8 * 1024 * 1024
    assert Verdict.DROP not in tunnel.verdicts
    assert set(tunnel.verdicts[-100:]) == {Verdict.OK}


def test_a_lossy_path_stays_within_the_window(setup: ChannelSetup) -> None:
    # 1.5 % of what the relay sends never reaches the client, which pays for its own count.
    tunnel = link(setup, one_way_delay=0.03, loss_to_client_bps=150)
    tunnel.run(20.0, up_bytes_per_s=100_000, down_bytes_per_s=1_000_000)
    assert set(tunnel.verdicts) == {Verdict.OK}


def test_a_client_that_stops_paying_is_throttled_then_dropped(setup: ChannelSetup) -> None:
    tunnel = link(setup, one_way_delay=0.05)
    tunnel.run(2.0, up_bytes_per_s=10_000, down_bytes_per_s=40_000)
    tunnel.paying = False
    stopped_at = len(tunnel.verdicts)
    tunnel.run(30.0, up_bytes_per_s=10_000, down_bytes_per_s=40_000)
    after = tunnel.verdicts[stopped_at:]
    first_throttle = after.index(Verdict.THROTTLE)
    first_drop = after.index(Verdict.DROP)
    assert set(after[:first_throttle]) == {Verdict.OK}
    grace = (first_drop - first_throttle) * STEP
    assert 10.0 <= grace <= 10.0 + STEP * 1.001  # the grace time, seen at the next step


def test_a_client_that_runs_up_the_overdraft_is_dropped_at_once(setup: ChannelSetup) -> None:
    tunnel = link(setup, one_way_delay=0.05)
    tunnel.paying = False
    tunnel.run(1.0, up_bytes_per_s=0, down_bytes_per_s=10_000_000)
    first_drop = tunnel.verdicts.index(Verdict.DROP)
    assert first_drop * STEP < 1.0
    assert tunnel.relay.owed_bytes > tunnel.relay.window_bytes + 8 * 1024 * 1024
