"""Blocks: a signed header and the transactions it commits to, in order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.collector import collector_paused
from pacata.chain.headers import BlockHeader
from pacata.chain.merkle import merkle_root
from pacata.chain.transactions import Transaction

# A decoding bound only; the consensus limits (genesis parameters) are far lower.
MAX_BLOCK_TRANSACTIONS = 65_536


@dataclass(frozen=True, slots=True)
class Block(WireObject):
    header: BlockHeader
    transactions: tuple[Transaction, ...]

    def write_to(self, writer: Writer) -> None:
        self.header.write_to(writer)
        writer.sequence(self.transactions, MAX_BLOCK_TRANSACTIONS, lambda tx: tx.write_to(writer))

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        with collector_paused():  # thousands of objects, freed by reference counting (collector.py)
            header = BlockHeader.read_from(reader)
            return cls(
                header,
                reader.sequence(MAX_BLOCK_TRANSACTIONS, lambda: Transaction.read_from(reader)),
            )

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def height(self) -> int:
        return self.header.height

    def computed_tx_root(self) -> bytes:
        return merkle_root([tx.txid for tx in self.transactions])
