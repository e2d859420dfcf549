"""Epochs as the chain's data tells them: who produced their blocks, what relays settled in them,
and what the bandwidth pool paid for them (docs/explorer.md §Epochs).

Rules:
- Only epochs that hold blocks are listed (a devnet's slots count from its genesis time, so
  most epoch numbers have none), newest first, found by binary search on the main chain's
  slots; an epoch's blocks are those whose slot is in it.
- The pool of epoch e is paid by the first block of a later epoch (pacata/chain/bandwidth_pool):
  that block's undo record holds the `EpochEarners` record it deleted (what each relay settled
  in e) and the `ChainTotals` before it (the pool it paid from), from which each relay's share is
  recomputed exactly as the ledger computed it. The epoch of the tip has no payout yet: its
  settlements come from the state's record, and the pool from the totals.
- A summary depends on the blocks of its epoch and on the block that paid it: it is cached
  under their hashes, so a reorganisation that changes either makes a new one.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacata.chain.bandwidth_pool import EARNERS_KEY, EpochEarners
from pacata.chain.chain import Chain
from pacata.chain.consensus import CURRENT_STAKES_KEY, StakeSnapshot, epoch_of
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.params import BASIS_POINTS
from pacata.chain.state import TOTALS_KEY, ChainTotals, StateOverlay
from pacata.explorer.cache import LruCache
from pacata.explorer.summaries import BlockSummaries

EPOCH_CACHE = 1_024


@dataclass(frozen=True, slots=True)
class ProducerShare:
    address: Address
    blocks: int
    # Of the epoch's blocks, in basis points.
    share_bps: int


@dataclass(frozen=True, slots=True)
class RelayPayout:
    relay: Address
    settled: int
    paid: int


@dataclass(frozen=True, slots=True)
class PoolPayout:
    """The payout of an epoch's bandwidth pool, made by the block at `height`."""

    height: int
    pool: int
    relays: tuple[RelayPayout, ...]

    @property
    def paid(self) -> int:
        return sum(r.paid for r in self.relays)


@dataclass(frozen=True, slots=True)
class EpochSummary:
    epoch: int
    first_height: int
    last_height: int
    producers: tuple[ProducerShare, ...]
    transactions: int
    fees: int
    # What relays settled in the epoch (channel settle deltas, the developer fee included).
    settled: int
    # None: not paid yet (the tip's epoch), or no relay settled (the pool carried over).
    payout: PoolPayout | None
    # The tip's epoch: still filling.
    current: bool

    @property
    def blocks(self) -> int:
        return self.last_height - self.first_height + 1


@dataclass(frozen=True, slots=True)
class LotteryWeight:
    address: Address
    weight: int
    share_bps: int


class EpochHistory:
    """Summaries of `chain`'s epochs (module rules)."""

    def __init__(self, chain: Chain, summaries: BlockSummaries) -> None:
        self.chain = chain
        self.summaries = summaries
        self._cache: LruCache[tuple[int, bytes, bytes, bytes], EpochSummary] = LruCache(EPOCH_CACHE)

    def _header_at(self, height: int) -> BlockHeader:
        block_hash = self.chain.store.main_hash_at(height)
        header = None if block_hash is None else self.chain.store.header(block_hash)
        assert header is not None, f"the main chain has no header at {height}"
        return header

    def _first_height_from_slot(self, slot: int) -> int:
        """The lowest main-chain height whose slot is `slot` or later (tip + 1 if none)."""
        low, high = 0, self.chain.height + 1
        while low < high:
            middle = (low + high) // 2
            if self._header_at(middle).slot < slot:
                low = middle + 1
            else:
                high = middle
        return low

    def epoch_of_height(self, height: int) -> int:
        return epoch_of(self._header_at(height).slot, self.chain.params)

    def latest(self, count: int, before_epoch: int | None = None) -> list[EpochSummary]:
        """The newest `count` epochs with blocks, below `before_epoch` when given."""
        slots = self.chain.params.epoch_slots
        top = self.chain.height
        if before_epoch is not None:
            top = self._first_height_from_slot(before_epoch * slots) - 1
        found: list[EpochSummary] = []
        while top >= 0 and len(found) < count:
            epoch = self.epoch_of_height(top)
            first = self._first_height_from_slot(epoch * slots)
            found.append(self.summary(epoch, first, top))
            top = first - 1
        return found

    def summary(self, epoch: int, first: int, last: int) -> EpochSummary:
        chain = self.chain
        payer_height = last + 1 if last < chain.height else None
        payer = b"" if payer_height is None else chain.store.main_hash_at(payer_height) or b""
        first_hash = chain.store.main_hash_at(first) or b""
        last_hash = chain.store.main_hash_at(last) or b""
        key = (epoch, first_hash, last_hash, payer)
        return self._cache.get_or_make(
            key, lambda: self._make(epoch, first, last, payer_height, payer)
        )

    def _make(
        self, epoch: int, first: int, last: int, payer_height: int | None, payer: bytes
    ) -> EpochSummary:
        produced: dict[Address, int] = {}
        transactions = fees = 0
        for height in range(first, last + 1):
            block = self.summaries.at(height)
            assert block is not None
            produced[block.producer] = produced.get(block.producer, 0) + 1
            transactions += block.tx_count
            fees += block.fees
        total = last - first + 1
        producers = tuple(
            ProducerShare(address, blocks, blocks * BASIS_POINTS // total)
            for address, blocks in sorted(produced.items(), key=lambda item: -item[1])
        )
        payout = None
        settled = 0
        if payer_height is None:
            earners = StateOverlay(self.chain.state).record(EARNERS_KEY, EpochEarners.decode)
            if earners is not None and earners.epoch == epoch:
                settled = sum(e.settled for e in earners.earnings)
        else:
            payout = self._payout(epoch, payer_height, payer)
            if payout is not None:
                settled = sum(r.settled for r in payout.relays)
        return EpochSummary(
            epoch=epoch,
            first_height=first,
            last_height=last,
            producers=producers,
            transactions=transactions,
            fees=fees,
            settled=settled,
            payout=payout,
            current=payer_height is None,
        )

    def _payout(self, epoch: int, height: int, block_hash: bytes) -> PoolPayout | None:
        """The payout of `epoch`'s pool by the block at `height`, recomputed from the values
        its undo record holds (module rules)."""
        previous = dict(self.chain.store.undo_record(block_hash).previous)
        raw_earners = previous.get(EARNERS_KEY)
        raw_totals = previous.get(TOTALS_KEY)
        if raw_earners is None or raw_totals is None:
            return None
        earners = EpochEarners.decode(raw_earners)
        if earners.epoch != epoch:
            return None
        pool = ChainTotals.decode(raw_totals).bandwidth_pool
        settled_total = sum(e.settled for e in earners.earnings)
        relays = tuple(
            RelayPayout(e.relay, e.settled, pool * e.settled // settled_total)
            for e in earners.earnings
        )
        return PoolPayout(height, pool, relays)

    def lottery_weights(self) -> list[LotteryWeight]:
        """The weights the lottery of the tip's epoch uses (its stake snapshot)."""
        found = StateOverlay(self.chain.state).record(CURRENT_STAKES_KEY, StakeSnapshot.decode)
        if found is None:
            return []
        total = found.total_weight or 1
        return sorted(
            (
                LotteryWeight(e.address, e.weight, e.weight * BASIS_POINTS // total)
                for e in found.entries
            ),
            key=lambda w: -w.weight,
        )

    def pool_now(self) -> int:
        """The bandwidth pool not paid out yet."""
        return self.chain.totals().bandwidth_pool
