"""Per-block summaries: what the lists, the charts and the live events show of a block.

A summary is derived from the block alone (and its parent's timestamp), so it is cached by the
block's hash for good; the explorer computes the summary of each new block when it hears of it
(`BlockConnected`), so the home page and the event stream never decode a block twice. Reads go
through the store: a height is looked up on the main chain at the moment of the request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.keys import Address
from pacata.chain.transactions import Transaction, TxKind
from pacata.explorer.cache import LruCache

SUMMARY_CACHE_BLOCKS = 8_192
# The latest transactions are looked for in at most this many blocks below the tip.
LATEST_TX_SCAN_BLOCKS = 500


@dataclass(frozen=True, slots=True)
class BlockSummary:
    height: int
    hash: bytes
    slot: int
    timestamp_ms: int
    producer: Address
    tx_count: int
    size: int
    fees: int
    # Milliseconds since the parent's timestamp (None for the genesis block).
    interval_ms: int | None

    def as_event(self) -> dict[str, Any]:
        """The JSON of the live event of this block (docs/explorer.md §Live updates)."""
        return {
            "height": self.height,
            "hash": self.hash.hex(),
            "slot": self.slot,
            "timestamp_ms": self.timestamp_ms,
            "producer": str(self.producer),
            "tx_count": self.tx_count,
            "size": self.size,
            "fees": self.fees,
            "interval_ms": self.interval_ms,
        }


@dataclass(frozen=True, slots=True)
class TxSummary:
    """A confirmed transaction in a list: where it is, and what it is."""

    txid: bytes
    height: int
    kind: TxKind
    sender: Address
    fee: int
    timestamp_ms: int


class BlockSummaries:
    """Summaries of `chain`'s blocks, cached by hash."""

    def __init__(self, chain: Chain, capacity: int = SUMMARY_CACHE_BLOCKS) -> None:
        self.chain = chain
        self._cache: LruCache[bytes, BlockSummary] = LruCache(capacity)
        self._latest_txs: tuple[bytes, list[TxSummary]] | None = None

    def of_block(self, block: Block, size: int | None = None) -> BlockSummary:
        found = self._cache.get(block.hash)
        if found is not None:
            return found
        header = block.header
        interval = None
        # Block 1's parent is the genesis, whose time is the chain's fixed start, not a
        # production time: the interval is a production interval from block 2 on.
        if header.height > 1:
            # The parent's header only: its summary would read the grandparent's, and so on.
            cached = self._cache.get(header.prev_hash)
            parent = cached if cached is not None else self.chain.store.header(header.prev_hash)
            interval = None if parent is None else header.timestamp_ms - parent.timestamp_ms
        if size is None:
            encoding = self.chain.store.block_encoding(block.hash)
            size = len(encoding) if encoding is not None else len(block.encode())
        summary = BlockSummary(
            height=header.height,
            hash=block.hash,
            slot=header.slot,
            timestamp_ms=header.timestamp_ms,
            producer=Address.from_public_key(header.producer),
            tx_count=len(block.transactions),
            size=size,
            fees=sum(tx.fee for tx in block.transactions),
            interval_ms=interval,
        )
        self._cache.put(block.hash, summary)
        return summary

    def summary(self, block_hash: bytes) -> BlockSummary | None:
        """The summary of a stored block, or None if there is no such block."""
        found = self._cache.get(block_hash)
        if found is not None:
            return found
        encoding = self.chain.store.block_encoding(block_hash)
        if encoding is None:
            return None
        block = Block.decode(encoding)
        return self.of_block(block, len(encoding))

    def at(self, height: int) -> BlockSummary | None:
        """The summary of the main chain's block at `height`, if there is one."""
        block_hash = self.chain.store.main_hash_at(height)
        return None if block_hash is None else self.summary(block_hash)

    def below(self, top: int, count: int) -> list[BlockSummary]:
        """The main chain's blocks from height `top` down, at most `count`, newest first."""
        found = []
        for height in range(min(top, self.chain.height), max(top - count, -1), -1):
            summary = self.at(height)
            if summary is not None:
                found.append(summary)
        return found

    def latest_transactions(self, count: int) -> list[TxSummary]:
        """The newest `count` confirmed transactions (looked for in the last
        `LATEST_TX_SCAN_BLOCKS` blocks), newest first; computed once per tip."""
        tip = self.chain.tip.hash
        if self._latest_txs is not None and self._latest_txs[0] == tip:
            return self._latest_txs[1]
        found: list[TxSummary] = []
        height = self.chain.height
        lowest = max(1, height - LATEST_TX_SCAN_BLOCKS + 1)
        while height >= lowest and len(found) < count:
            summary = self.at(height)
            if summary is not None and summary.tx_count:
                block = self.chain.block(summary.hash)
                for tx in reversed(block.transactions):
                    found.append(_tx_summary(tx, summary))
                    if len(found) == count:
                        break
            height -= 1
        self._latest_txs = (tip, found)
        return found


def _tx_summary(tx: Transaction, block: BlockSummary) -> TxSummary:
    return TxSummary(tx.txid, block.height, tx.kind, tx.sender_address, tx.fee, block.timestamp_ms)
