"""The bandwidth market as the state holds it: relay offers, open channels, what relays have
settled and earned (docs/explorer.md §Relays).

Rules:
- "Settled" of a relay is what its channels open now have paid it, and the bytes their receipts
  cover (the state's `paid` and `settled_bytes`); a closed channel leaves the state, so what
  it paid is not counted. "Earned" is the relay's bandwidth credit: what it settled in the
  tip's epoch and the epoch before (the consensus record that also weighs a producer).
- One scan of the channels and one of the relays per tip: the rows are cached by tip hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pacata.chain.chain import Chain
from pacata.chain.consensus import BandwidthCredit, epoch_of
from pacata.chain.keys import Address
from pacata.chain.state import Channel, Namespace, RelayRecord, StateOverlay, state_key
from pacata.chain.transactions import RelayOffer


@dataclass(frozen=True, slots=True)
class RelayRow:
    address: Address
    offer: RelayOffer
    registered_height: int
    open_channels: int
    deposits: int
    settled_amount: int
    settled_bytes: int
    earned_recent: int

    @property
    def lowest_price(self) -> int:
        return min(self.offer.prices_per_gib)


@dataclass(frozen=True, slots=True)
class ChannelRow:
    channel_id: bytes
    client: Address
    relay: Address
    tier: int
    deposit: int
    paid: int
    settled_bytes: int
    open_height: int
    expiry_height: int
    closable_height: int


# ?sort= keys and what each sorts by; the default order of each (True: largest first).
RELAY_SORTS: dict[str, tuple[Any, bool]] = {
    "price": (lambda r: (r.lowest_price, r.address.raw), False),
    "channels": (lambda r: (r.open_channels, r.address.raw), True),
    "settled": (lambda r: (r.settled_amount, r.address.raw), True),
    "bytes": (lambda r: (r.settled_bytes, r.address.raw), True),
    "earned": (lambda r: (r.earned_recent, r.address.raw), True),
    "registered": (lambda r: (r.registered_height, r.address.raw), False),
    "address": (lambda r: str(r.address), False),
}


def channel_row(channel_id: bytes, channel: Channel, chain: Chain) -> ChannelRow:
    return ChannelRow(
        channel_id=channel_id,
        client=Address.from_public_key(channel.client_public_key),
        relay=channel.relay,
        tier=channel.tier,
        deposit=channel.deposit,
        paid=channel.paid,
        settled_bytes=channel.settled_bytes,
        open_height=channel.open_height,
        expiry_height=channel.expiry_height,
        closable_height=chain.params.channel_closable_height(channel.expiry_height),
    )


class Market:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self._relays: tuple[bytes, list[RelayRow]] | None = None

    def open_channels(self) -> list[ChannelRow]:
        """Every open channel, in channel id order."""
        return [
            channel_row(channel_id, channel, self.chain)
            for channel_id, channel in self.chain.records(Namespace.CHANNEL, Channel.decode)
        ]

    def relays(self) -> list[RelayRow]:
        """Every relay offer with its channels' totals (computed once per tip)."""
        tip = self.chain.tip.hash
        if self._relays is not None and self._relays[0] == tip:
            return self._relays[1]
        chain = self.chain
        totals: dict[Address, list[int]] = {}
        for _, channel in chain.records(Namespace.CHANNEL, Channel.decode):
            sums = totals.setdefault(channel.relay, [0, 0, 0, 0])
            sums[0] += 1
            sums[1] += channel.deposit
            sums[2] += channel.paid
            sums[3] += channel.settled_bytes
        state = StateOverlay(chain.state)
        epoch = epoch_of(chain.tip.slot, chain.params)
        rows = []
        for raw, record in chain.records(Namespace.RELAY, RelayRecord.decode):
            address = Address(raw)
            credit = state.record(state_key(Namespace.CREDIT, raw), BandwidthCredit.decode)
            count, deposits, paid, settled_bytes = totals.get(address, [0, 0, 0, 0])
            rows.append(
                RelayRow(
                    address=address,
                    offer=record.offer,
                    registered_height=record.registered_height,
                    open_channels=count,
                    deposits=deposits,
                    settled_amount=paid,
                    settled_bytes=settled_bytes,
                    earned_recent=0 if credit is None else credit.recent(epoch + 1),
                )
            )
        self._relays = (tip, rows)
        return rows

    def sorted_relays(self, sort: str, descending: bool) -> list[RelayRow]:
        key, _ = RELAY_SORTS[sort]
        return sorted(self.relays(), key=key, reverse=descending)
