"""The local chain and mempool behind the network's `Ledger` interface (docs/p2p.md).

Rules: block import passes the node's clock (`now_ms`) so that blocks from the future are
refused, and the mempool follows every chain update. Blocks are served as stored (their
canonical encoding, never re-encoded); headers follow the main chain from the first locator
hash on it (from genesis if none is).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain, ChainUpdate
from pacata.chain.headers import BlockHeader
from pacata.chain.mempool import Mempool
from pacata.chain.transactions import Transaction
from pacata.p2p.messages import MAX_LOCATOR

DENSE_LOCATOR = 10


class ChainLedger:
    def __init__(self, chain: Chain, mempool: Mempool, now_ms: Callable[[], int]) -> None:
        self.chain = chain
        self.mempool = mempool
        self.now_ms = now_ms
        self._genesis_hash = chain.genesis_hash
        # The network asks for the tip on every wake-up; its hash changes only with a block.
        self._tip_header = chain.tip
        self._tip = (self._tip_header.height, self._tip_header.hash)

    @property
    def chain_id(self) -> str:
        return self.chain.params.chain_id

    @property
    def genesis_hash(self) -> bytes:
        return self._genesis_hash

    def tip(self) -> tuple[int, bytes]:
        header = self.chain.tip
        if header is not self._tip_header:
            self._tip_header = header
            self._tip = (header.height, header.hash)
        return self._tip

    def has_block(self, block_hash: bytes) -> bool:
        return self.chain.store.block_info(block_hash) is not None

    def block_height(self, block_hash: bytes) -> int | None:
        info = self.chain.store.block_info(block_hash)
        return None if info is None else info.height

    def block_encoding(self, block_hash: bytes) -> bytes | None:
        return self.chain.store.block_encoding(block_hash)

    def locator(self) -> tuple[bytes, ...]:
        """Main-chain hashes: the last `DENSE_LOCATOR` blocks, then ever sparser, then genesis."""
        hashes: list[bytes] = []
        height = self.chain.height
        step = 1
        while height > 0 and len(hashes) < MAX_LOCATOR - 1:
            found = self.chain.store.main_hash_at(height)
            if found is not None:
                hashes.append(found)
            if len(hashes) >= DENSE_LOCATOR:
                step *= 2
            height -= step
        hashes.append(self._genesis_hash)
        return tuple(hashes)

    def headers_after(self, locator: tuple[bytes, ...], max_count: int) -> list[BlockHeader]:
        start = 1
        for block_hash in locator:
            if self.chain.is_on_main_chain(block_hash):
                info = self.chain.store.block_info(block_hash)
                assert info is not None
                start = info.height + 1
                break
        headers = []
        for height in range(start, min(self.chain.height, start + max_count - 1) + 1):
            main_hash = self.chain.store.main_hash_at(height)
            header = None if main_hash is None else self.chain.store.header(main_hash)
            if header is None:
                break
            headers.append(header)
        return headers

    def import_block(self, block: Block, encoded: bytes) -> ChainUpdate:
        update = self.chain.add_block(block, encoded, now_ms=self.now_ms())
        self.mempool.apply_update(update)
        return update

    def import_blocks(self, blocks: Iterable[tuple[Block, bytes | None]]) -> Iterator[ChainUpdate]:
        for update in self.chain.import_blocks(blocks, now_ms=self.now_ms()):
            self.mempool.apply_update(update)
            yield update

    def has_transaction(self, txid: bytes) -> bool:
        return txid in self.mempool or self.chain.store.tx_location(txid) is not None

    def transaction_encoding(self, txid: bytes) -> bytes | None:
        tx = self.mempool.get(txid)
        return None if tx is None else tx.encode()

    def pending_txids(self, limit: int) -> list[bytes]:
        return [tx.txid for tx in itertools.islice(self.mempool.transactions(), limit)]

    def add_transaction(self, tx: Transaction) -> None:
        self.mempool.add(tx)
