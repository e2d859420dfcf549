"""Paying and being paid for tunnels: the VPN plugin's metering, receipts and settlement.

The rules are the sans-I/O cores' (pacata/vpn/channels/, docs/paid-tunnels.md); this module
feeds them what the node sees and carries out what they decide:

- **Relay** (`RelayPayments`): a meter per admitted channel, fed the engine's byte counters
  for the client's peer every `METER_INTERVAL_S` and at every receipt. The peer's budget in
  the engine is what the client has paid for plus its credit window: past it every packet is
  refused, so a client never owes more than the window and its receipts pace it. A client
  held at its budget is throttled; held for the policy's `drop_grace_s` it is dropped (its
  peer removed) until a receipt brings it back, when the relay re-adds it and handshakes.
  The tier's rate limit and priority apply throughout. Receipts come over the peer link
  ("vpn/receipts"): each is checked and written to the receipt store with a synced write
  before the acknowledgement goes back. After each block the newest receipt of each channel
  is settled when the policy says so (the fee a small share, expiry near, the channel
  ended); each settle is tracked to finality and resubmitted if it is dropped or
  reorganised away, and the tracking is stored too. At start every stored receipt above
  what the chain has paid is settled at once: a restart, even a kill, loses no acknowledged
  receipt.
- **Client** (`ClientPayments`): a meter per channel it pays, counting what its own engine
  carried to and from the relay (received plus sent, from where its newest receipt stood), and
  signing a receipt for that count — never more — when one is due; the receipt is stored
  before it is sent. It tops the channel up (by its first deposit) when the deposit runs low,
  and closes the channel to claim the refund once expiry and the settlement grace have passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pacata.chain.chain import Chain
from pacata.chain.keys import PrivateKey
from pacata.chain.receipts import Receipt
from pacata.chain.state import Channel
from pacata.chain.transactions import ChannelClose, ChannelSettle, ChannelTopup, Payload
from pacata.errors import PacataError
from pacata.node.vpn_chain import AccountTransactions, channel_of
from pacata.vpn.channel_peers import PlannedPeer
from pacata.vpn.channels import (
    ClientChannel,
    ClientPolicy,
    ForgetChannel,
    ForgetSettle,
    ReceiptAck,
    ReceiptMessage,
    ReceiptNack,
    ReceiptOffer,
    RelayChannel,
    SaveSettle,
    SettleAction,
    SettleTracker,
    SubmitSettle,
    UsageReport,
    Verdict,
    amount_for_bytes,
    answer_offer,
    settle_due,
)
from pacata.vpn.channels.engine_counter import EngineCounter
from pacata.vpn.io.receipt_store import ReceiptStore
from pacata.vpn.rate_limit import PeerLimit

log = logging.getLogger("pacata.node.vpn")

METER_INTERVAL_S = 0.5
# While a client's tunnel moves bytes, its meter looks this often: its receipts pace it.
BUSY_METER_INTERVAL_S = 0.005
# ... and for this long after its bytes last moved (a client held at its budget moves none);
# moving means at least this many bytes in a tick.
BUSY_HOLD_S = 2.0
BUSY_BYTES = 4096
# Credit left below which a client is held (throttled) until its next receipt.
STALL_BYTES = 16 * 1024
# A top-up at speed buys this long at the current rate; and the client tops up when less than
# this long is left (the client policy's `topup_lead_s`).
TOPUP_LEAD_S = 30
# Blocks a client waits for its top-up to be mined before it submits another.
TOPUP_PATIENCE_BLOCKS = 10
# Over how long a client measures its channel's rate (to top up in time).
RATE_WINDOW_S = 5.0
_SEVERITY = {Verdict.OK: 0, Verdict.THROTTLE: 1, Verdict.DROP: 2}


@dataclass(frozen=True, slots=True)
class Terms:
    """What a channel's tier costs and buys, from the relay's offer."""

    price_per_gib: int
    limit: PeerLimit


def _submit(account: AccountTransactions, payload: Payload, what: str) -> bytes | None:
    """Submits `payload` from the node's account; its txid, or None (logged) if refused."""
    try:
        return account.submit(payload).txid
    except PacataError as exc:
        log.warning("%s refused: %s", what, exc)
        return None


# -- the relay ------------------------------------------------------------------------------


class RelayPayments:
    def __init__(
        self,
        chain: Chain,
        account: AccountTransactions,
        store: ReceiptStore,
    ) -> None:
        self.chain = chain
        self.account = account
        self.store = store
        self.meters: dict[bytes, RelayChannel] = {}
        self.peer_of: dict[bytes, bytes] = {}  # channel id -> the client's tunnel key
        self.terms: dict[bytes, Terms] = {}
        self.verdicts: dict[bytes, Verdict] = {}
        self.stalled_since: dict[bytes, float] = {}
        self.tracker = SettleTracker(chain.params.finality_depth, records=store.settles())

    def admit(self, peer: PlannedPeer, terms: Terms) -> None:
        if peer.channel_id in self.meters:
            return
        self.meters[peer.channel_id] = RelayChannel(
            peer.channel_id,
            peer.channel,
            self.chain.params.chain_id,
            terms.price_per_gib,
            newest_receipt=self.store.receipt(peer.channel_id),
        )
        self.peer_of[peer.channel_id] = peer.public_key
        self.terms[peer.channel_id] = terms
        self.verdicts[peer.channel_id] = Verdict.OK

    def end(self, channel_id: bytes) -> None:
        """The channel no longer admits its client: settle what its receipts still owe."""
        meter = self.meters.pop(channel_id, None)
        self.peer_of.pop(channel_id, None)
        self.terms.pop(channel_id, None)
        self.verdicts.pop(channel_id, None)
        self.stalled_since.pop(channel_id, None)
        if meter is not None and meter.newest_receipt is not None:
            self._settle(channel_id, meter.newest_receipt, meter.channel, closing=True)

    def channel_changed(self, channel_id: bytes, channel: Channel | None) -> None:
        meter = self.meters.get(channel_id)
        if meter is not None and channel is not None:
            meter.update_channel(channel)

    def answer(self, offer: ReceiptOffer, now: float) -> ReceiptAck | ReceiptNack:
        """Checks a client's receipt, stores it durably, and answers (see the module rules)."""
        return answer_offer(self.meters, offer, now, self.store.put_receipt)

    def refresh(
        self, channel_id: bytes, counted: tuple[int, int] | None, now: float
    ) -> tuple[int | None, Verdict]:
        """Feeds a meter the engine's counters of its peer (None: the peer is not in the
        engine); the peer's budget in engine bytes (None without counters) and the verdict."""
        meter = self.meters[channel_id]
        if counted is not None:
            meter.observe(counted[0], counted[1], now)
        credit = max(0, meter.paid_bytes + meter.window_bytes - meter.chargeable_bytes)
        budget = None if counted is None else counted[0] + counted[1] + credit
        verdict = meter.state(now)
        if credit >= STALL_BYTES:
            self.stalled_since.pop(channel_id, None)
        else:
            since = self.stalled_since.setdefault(channel_id, now)
            held = Verdict.DROP if now - since >= meter.policy.drop_grace_s else Verdict.THROTTLE
            verdict = max(verdict, held, key=_SEVERITY.__getitem__)
        return budget, verdict

    def in_good_standing(self, channel_id: bytes) -> bool:
        """The client keeps up: not held at its budget, no verdict against it."""
        return self.verdicts.get(channel_id) is Verdict.OK and channel_id not in self.stalled_since

    def settle_stored(self) -> None:
        """Settles every stored receipt the chain has not paid and no settle covers (start)."""
        for channel_id, receipt in list(self.store.receipts()):
            channel = self.chain_channel(channel_id)
            if channel is None:
                if not any(r.channel_id == channel_id for r in self.tracker.records):
                    self.store.remove(channel_id)  # closed: nothing more can be settled
                continue
            self._settle(channel_id, receipt, channel, closing=False, at_start=True)

    def on_block(self, height: int, txids: Collection[bytes]) -> None:
        self._carry_out(self.tracker.on_block(height, txids))
        for channel_id, meter in self.meters.items():
            receipt = meter.newest_receipt
            if receipt is not None:
                self._settle(channel_id, receipt, meter.channel, closing=False)

    def on_disconnected(self, height: int, txids: Collection[bytes]) -> None:
        self._carry_out(self.tracker.on_disconnected(height, txids))

    def chain_channel(self, channel_id: bytes) -> Channel | None:
        return channel_of(self.chain, channel_id)

    def _settle(
        self,
        channel_id: bytes,
        receipt: Receipt,
        channel: Channel,
        *,
        closing: bool,
        at_start: bool = False,
    ) -> None:
        covered = max(channel.paid, self.tracker.highest_amount(channel_id))
        unsettled = receipt.cumulative_amount - covered
        reason = settle_due(
            self.tracker.policy,
            unsettled_amount=unsettled,
            fee=self.chain.params.min_fee,
            height=self.chain.height,
            expiry_height=channel.expiry_height,
            closing=closing or at_start,
        )
        if reason is None:
            return
        txid = _submit(self.account, ChannelSettle(receipt), f"settle of {channel_id.hex()[:16]}")
        if txid is None:
            return
        record = self.tracker.submitted(txid, receipt, self.chain.height, closing=closing)
        self.store.put_settle(record)
        log.info(
            "settling channel %s: %d base units (%s)",
            channel_id.hex()[:16],
            receipt.cumulative_amount,
            reason.value,
        )

    def _carry_out(self, actions: list[SettleAction]) -> None:
        for action in actions:
            if isinstance(action, SaveSettle):
                self.store.put_settle(action.record)
            elif isinstance(action, ForgetSettle):
                self.store.remove_settle(action.record)
            elif isinstance(action, ForgetChannel):
                self.store.remove(action.channel_id)
            elif isinstance(action, SubmitSettle):
                channel = self.chain_channel(action.receipt.channel_id)
                if channel is not None:
                    self._settle(action.receipt.channel_id, action.receipt, channel, closing=True)


# -- the client -----------------------------------------------------------------------------


class ClientPayments:
    def __init__(
        self,
        chain: Chain,
        account: AccountTransactions,
        key: PrivateKey,
        store: ReceiptStore,
    ) -> None:
        self.chain = chain
        self.account = account
        self.key = key
        self.store = store
        self.meters: dict[bytes, ClientChannel] = {}
        self.relay_of: dict[bytes, bytes] = {}  # channel id -> the relay's WireGuard key
        self.counters: dict[bytes, tuple[EngineCounter, EngineCounter, int]] = {}
        self.deposits: dict[bytes, int] = {}
        self.pending_topups: dict[bytes, int] = {}  # channel id -> height submitted
        self.closing: set[bytes] = set()
        self.rate_marks: dict[bytes, tuple[float, int]] = {}
        self.rates: dict[bytes, int] = {}

    def admit(self, peer: PlannedPeer, terms: Terms) -> None:
        channel_id = peer.channel_id
        if channel_id in self.meters:
            return
        newest = self.store.receipt(channel_id)
        meter = ClientChannel(
            channel_id,
            peer.channel,
            self.chain.params.chain_id,
            terms.price_per_gib,
            self.key,
            policy=ClientPolicy(topup_lead_s=TOPUP_LEAD_S),
            newest_receipt=newest,
        )
        self.meters[channel_id] = meter
        self.relay_of[channel_id] = peer.public_key
        self.counters[channel_id] = (EngineCounter(), EngineCounter(), meter.receipted_bytes)
        self.deposits.setdefault(channel_id, peer.channel.deposit)

    def end(self, channel_id: bytes) -> None:
        tables: tuple[dict[bytes, Any], ...] = (
            self.meters, self.relay_of, self.counters, self.pending_topups, self.rate_marks,
            self.rates,
        )  # fmt: skip
        for table in tables:
            table.pop(channel_id, None)

    def channel_changed(self, channel_id: bytes, channel: Channel | None) -> None:
        meter = self.meters.get(channel_id)
        if meter is None or channel is None:
            return
        if channel.deposit > meter.channel.deposit:
            self.pending_topups.pop(channel_id, None)
        meter.update_channel(channel)

    def counted(self, channel_id: bytes, counters: Mapping[bytes, tuple[int, int]]) -> int:
        """The bytes this node carried on the channel, by its own meter."""
        received, sent, start = self.counters[channel_id]
        reading = counters.get(self.relay_of[channel_id])
        if reading is not None:  # None: the relay is not (or no longer) a peer
            received.update(reading[0])
            sent.update(reading[1])
        return start + received.total + sent.total

    def tick(
        self,
        counters: Mapping[bytes, tuple[int, int]],
        now: float,
        send: Callable[[bytes, ReceiptMessage], bool],
    ) -> None:
        """Signs and sends the receipts that are due (`send(relay_key, message)`: False if
        the relay is not reachable now; the receipt goes again at the next tick)."""
        for channel_id, meter in self.meters.items():
            counted = self.counted(channel_id, counters)
            if meter.topup_due(counted, self._rate(channel_id, counted, now)):
                self._top_up(channel_id)  # before the deposit runs out, not when it has
            if not meter.receipt_due(counted, now):
                continue
            receipt = meter.receipt_for(counted, now)
            self.store.put_receipt(channel_id, receipt)
            send(self.relay_of[channel_id], ReceiptOffer(receipt))
            if meter.needs_topup:
                self._top_up(channel_id)

    def _rate(self, channel_id: bytes, counted: int, now: float) -> int:
        """Bytes a second the channel moves, averaged over the last `RATE_WINDOW_S` or so."""
        since, then = self.rate_marks.get(channel_id, (now, counted))
        if now - since >= RATE_WINDOW_S:
            self.rate_marks[channel_id] = (now, counted)
            self.rates[channel_id] = int((counted - then) / (now - since))
        elif channel_id not in self.rate_marks:
            self.rate_marks[channel_id] = (now, counted)
        return self.rates.get(channel_id, 0)

    def greet(
        self,
        channel_id: bytes,
        counters: Mapping[bytes, tuple[int, int]],
        now: float,
        send: Callable[[bytes, ReceiptMessage], bool],
    ) -> None:
        """Offers the relay the channel's newest receipt (the first: zero bytes, zero amount)
        until it acknowledges one: the acknowledgement says it has admitted us."""
        meter = self.meters.get(channel_id)
        if meter is None:
            return
        receipt = meter.newest_receipt
        if receipt is None:
            receipt = meter.receipt_for(self.counted(channel_id, counters), now)
            self.store.put_receipt(channel_id, receipt)
        send(self.relay_of[channel_id], ReceiptOffer(receipt))

    def on_message(self, message: ReceiptMessage) -> None:
        meter = self.meters.get(getattr(message, "channel_id", b""))
        if meter is None:
            return
        if isinstance(message, ReceiptAck):
            meter.acknowledged(message.cumulative_amount)
        elif isinstance(message, ReceiptNack):
            log.warning("the relay refused our receipt of %s: %s", meter.channel_id.hex()[:16],
                        message.reason)  # fmt: skip
        elif isinstance(message, UsageReport):
            log.debug(
                "channel %s: the relay counts %d bytes",
                meter.channel_id.hex()[:16],
                message.relay_counted_bytes,
            )

    def on_block(self, channels: Mapping[bytes, Channel], height: int) -> None:
        """Closes the ended channels of this node once their grace has passed (the refund)."""
        params = self.chain.params
        for channel_id, channel in channels.items():
            if channel.client_public_key != self.key.public_key or channel_id in self.closing:
                continue
            if height + 1 >= params.channel_closable_height(channel.expiry_height):
                what = f"close of {channel_id.hex()[:16]}"
                if _submit(self.account, ChannelClose(channel_id), what) is not None:
                    self.closing.add(channel_id)
                    log.info("closing channel %s for its refund", channel_id.hex()[:16])

    def _top_up(self, channel_id: bytes) -> None:
        submitted = self.pending_topups.get(channel_id)
        if submitted is not None and self.chain.height < submitted + TOPUP_PATIENCE_BLOCKS:
            return  # one at a time; again if it was not mined in time
        # The first deposit again, or more at speed: enough for `TOPUP_LEAD_S` at the rate.
        meter = self.meters[channel_id]
        ahead = amount_for_bytes(self.rates.get(channel_id, 0) * TOPUP_LEAD_S, meter.price_per_gib)
        amount = max(self.deposits[channel_id], ahead)
        if _submit(self.account, ChannelTopup(channel_id, amount), "top-up") is not None:
            self.pending_topups[channel_id] = self.chain.height
            log.info("topping channel %s up by %d", channel_id.hex()[:16], amount)
