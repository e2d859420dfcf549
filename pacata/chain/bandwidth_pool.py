"""The bandwidth pool: each epoch's pool is paid to the relays that settled receipts in it
(docs/ledger.md §The bandwidth pool).

Rules:
- Every block adds its pool share of the reward to `ChainTotals.bandwidth_pool`
  (`transitions.apply_block_rewards`).
- Every CHANNEL_SETTLE of epoch e sets its relay's entry in the `EpochEarners` record to what
  the relay has settled in e so far (the whole settled deltas, developer fee included: its
  bandwidth credit's `earned`).
- The first block of a later epoch pays the pool, before its own transactions and reward
  (`consensus.begin_block`): with S the sum of the entries, relay i receives
  pool × settled_i // S. What the integer divisions leave stays in the pool for the next
  payout, and the record is deleted. When no relay settled, there is no record and the whole
  pool carries over.
- At most `MAX_EPOCH_EARNERS` relays share a payout, which bounds its work and the record's
  size. Once the record is full, a relay not in it enters only when its settled total of the
  epoch exceeds the smallest entry, which it replaces (the lowest address among equal smallest
  entries); on a tie the entry stays. The record therefore always holds relays with the largest
  totals, so filling it early with tiny settlements keeps no one out.
Only integers; the record's encoding is canonical (addresses strictly ascending, amounts
positive, at least one entry) and decoded strictly.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace
from itertools import pairwise
from operator import attrgetter
from typing import Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.keys import Address
from pacata.chain.state import Namespace, StateOverlay, state_key
from pacata.errors import DecodeError

MAX_EPOCH_EARNERS = 1_024
EARNERS_KEY = state_key(Namespace.EARNERS, b"")


@dataclass(frozen=True, slots=True)
class Earning(WireObject):
    """What one relay settled in the epoch."""

    relay: Address
    settled: int

    def write_to(self, writer: Writer) -> None:
        self.relay.write_to(writer)
        writer.uvarint(self.settled)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(Address.read_from(reader), reader.uvarint())


def _raw(earning: Earning) -> bytes:
    return earning.relay.raw


_settled = attrgetter("settled")


@dataclass(frozen=True, slots=True)
class EpochEarners(WireObject):
    """The relays that settled receipts in `epoch`, by address, and what each settled."""

    epoch: int
    earnings: tuple[Earning, ...]

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.epoch)
        writer.sequence(self.earnings, MAX_EPOCH_EARNERS, lambda e: e.write_to(writer))

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        epoch = reader.uvarint()
        earnings = reader.sequence(MAX_EPOCH_EARNERS, lambda: Earning.read_from(reader))
        if not earnings:
            raise DecodeError("an EpochEarners record lists at least one relay")
        for before, after in pairwise(earnings):
            if before.relay.raw >= after.relay.raw:
                raise DecodeError("the relays of an EpochEarners record must ascend strictly")
        if any(e.settled == 0 for e in earnings):
            raise DecodeError("an EpochEarners entry must have settled a positive amount")
        return cls(epoch, earnings)


def epoch_earners(state: StateOverlay) -> EpochEarners | None:
    return state.record(EARNERS_KEY, EpochEarners.decode)


def record_earning(state: StateOverlay, relay: Address, settled_in_epoch: int, epoch: int) -> None:
    """Sets `relay`'s entry to `settled_in_epoch`, its settled total of `epoch` (> 0)."""
    found = epoch_earners(state)
    # A record of an earlier epoch is one no block has paid yet: only the mempool, which applies
    # transactions to the tip's state without the next block's epoch rotation, meets one.
    earnings = found.earnings if found is not None and found.epoch == epoch else ()
    entry = Earning(relay, settled_in_epoch)
    index = bisect_left(earnings, relay.raw, key=_raw)
    if index < len(earnings) and earnings[index].relay == relay:
        updated = (*earnings[:index], entry, *earnings[index + 1 :])
    elif len(earnings) < MAX_EPOCH_EARNERS:
        updated = (*earnings[:index], entry, *earnings[index:])
    else:
        amounts = list(map(_settled, earnings))
        least = min(amounts)
        if settled_in_epoch <= least:
            return
        smallest = amounts.index(least)  # the lowest address among equal smallest
        rest = (*earnings[:smallest], *earnings[smallest + 1 :])
        index = bisect_left(rest, relay.raw, key=_raw)
        updated = (*rest[:index], entry, *rest[index:])
    state.set_record(EARNERS_KEY, EpochEarners(epoch, updated))


def pay_bandwidth_pool(state: StateOverlay) -> dict[Address, int]:
    """Pays the pool to the listed relays in proportion to what they settled; returns what
    each received. The remainder stays in the pool; without earners the pool carries over."""
    found = epoch_earners(state)
    if found is None:
        return {}
    state.set_record(EARNERS_KEY, None)
    totals = state.totals()
    pool = totals.bandwidth_pool
    total_settled = sum(e.settled for e in found.earnings)
    paid: dict[Address, int] = {}
    for earning in found.earnings:
        share = pool * earning.settled // total_settled
        if share:
            account = state.account(earning.relay)
            state.set_account(earning.relay, account.with_balance(account.balance + share))
            paid[earning.relay] = share
    if paid:
        state.set_totals(replace(totals, bandwidth_pool=pool - sum(paid.values())))
    return paid
