"""Typed access to the chain database: blocks, block index, main chain, state, undo records.

`ChainStore` reads through a `KeyValueStore`; all writes go through a `WriteBatch` that the caller
commits at once, so a block's data, its state changes, its tree nodes, its undo record and the new
tip land together or not at all. Keys come only from `schema`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from pacata.chain import schema
from pacata.chain.blocks import Block
from pacata.chain.codec import Reader, WireObject, Writer, encode_uvarint
from pacata.chain.hashing import HASH_SIZE
from pacata.chain.headers import BlockHeader
from pacata.chain.kvstore import KeyValueStore, WriteBatch
from pacata.chain.state_reader import StateReader
from pacata.chain.transactions import Transaction
from pacata.errors import DecodeError, StoreError

MAX_STATE_KEY_SIZE = 64
MAX_UNDO_ENTRIES = 1_000_000


class BlockStatus(IntEnum):
    STORED = 0  # header checks passed, body not yet executed
    VALID = 1  # executed successfully at least once
    INVALID = 2  # failed validation: never build on it


@dataclass(frozen=True, slots=True)
class BlockInfo(WireObject):
    height: int
    parent: bytes
    status: BlockStatus

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.height)
        writer.fixed(self.parent, HASH_SIZE)
        writer.u8(self.status)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        height, parent, raw_status = reader.uvarint(), reader.fixed(HASH_SIZE), reader.u8()
        try:
            status = BlockStatus(raw_status)
        except ValueError:
            raise DecodeError(f"unknown block status {raw_status}") from None
        return cls(height, parent, status)


_MAX_VALUE_SIZE = 1 << 20


def _read_optional(reader: Reader) -> bytes | None:
    return reader.var_bytes(_MAX_VALUE_SIZE) if reader.boolean() else None


@dataclass(frozen=True, slots=True)
class UndoRecord(WireObject):
    """What a block changed: each state key with the value it had before (None: absent)."""

    previous: tuple[tuple[bytes, bytes | None], ...]

    def write_to(self, writer: Writer) -> None:
        # A block's undo record has thousands of entries: they are put together here, not
        # field by field through the writer. The format is `read_from`'s: per entry the key
        # (var_bytes) and the optional value (a boolean, then var_bytes).
        previous = self.previous
        if len(previous) > MAX_UNDO_ENTRIES:
            raise ValueError(f"{len(previous)} undo entries exceed the bound of {MAX_UNDO_ENTRIES}")
        parts = [encode_uvarint(len(previous))]
        append = parts.append
        for key, value in previous:
            if len(key) > MAX_STATE_KEY_SIZE:  # so its length is one uvarint byte
                raise ValueError(f"a state key of {len(key)} bytes exceeds {MAX_STATE_KEY_SIZE}")
            append(bytes((len(key),)))
            append(key)
            if value is None:
                append(b"\x00")
            else:
                size = len(value)
                if size > _MAX_VALUE_SIZE:
                    raise ValueError(f"a state value of {size} bytes exceeds the bound")
                append(b"\x01")
                append(bytes((size,)) if size < 0x80 else encode_uvarint(size))
                append(value)
        writer.raw(b"".join(parts))

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            reader.sequence(
                MAX_UNDO_ENTRIES,
                lambda: (reader.var_bytes(MAX_STATE_KEY_SIZE), _read_optional(reader)),
            )
        )


_LOCATION = struct.Struct(">I")


class ChainStore(StateReader):
    """Typed reads of the chain database, and the write-batch builders for the chain's updates."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    def _decode(self, key: bytes, decode: type[WireObject]) -> WireObject | None:
        raw = self.kv.get(key)
        if raw is None:
            return None
        try:
            return decode.decode(raw)
        except DecodeError as exc:
            raise StoreError(f"corrupt record at {key!r}: {exc}") from None

    def get_state(self, key: bytes) -> bytes | None:
        return self.kv.get(schema.state_entry_key(key))

    def read_tree_node(self, node_hash: bytes) -> bytes | None:
        return self.kv.get(schema.tree_node_key(node_hash))

    def header(self, block_hash: bytes) -> BlockHeader | None:
        found = self._decode(schema.header_key(block_hash), BlockHeader)
        assert found is None or isinstance(found, BlockHeader)
        return found

    def block(self, block_hash: bytes) -> Block | None:
        found = self._decode(schema.block_key(block_hash), Block)
        assert found is None or isinstance(found, Block)
        return found

    def block_encoding(self, block_hash: bytes) -> bytes | None:
        """The canonical encoding of a stored block (any branch), as it was received: for
        those that serve it on (a peer, an index reading one transaction out of it) without
        decoding it."""
        return self.kv.get(schema.block_key(block_hash))

    def block_info(self, block_hash: bytes) -> BlockInfo | None:
        found = self._decode(schema.block_info_key(block_hash), BlockInfo)
        assert found is None or isinstance(found, BlockInfo)
        return found

    def undo_record(self, block_hash: bytes) -> UndoRecord:
        found = self._decode(schema.undo_key(block_hash), UndoRecord)
        if not isinstance(found, UndoRecord):
            raise StoreError(f"no undo record for block {block_hash.hex()}")
        return found

    def main_hash_at(self, height: int) -> bytes | None:
        return self.kv.get(schema.main_chain_key(height))

    def tx_location(self, txid: bytes) -> tuple[bytes, int] | None:
        raw = self.kv.get(schema.tx_location_key(txid))
        if raw is None:
            return None
        if len(raw) != HASH_SIZE + _LOCATION.size:
            raise StoreError(f"corrupt transaction location for {txid.hex()}")
        return raw[:HASH_SIZE], _LOCATION.unpack(raw[HASH_SIZE:])[0]

    def transaction(self, txid: bytes) -> tuple[Transaction, bytes, int] | None:
        """(transaction, block hash, index) of a transaction on the main chain."""
        location = self.tx_location(txid)
        if location is None:
            return None
        block = self.block(location[0])
        if block is None or location[1] >= len(block.transactions):
            raise StoreError(f"transaction {txid.hex()} points at a missing block")
        return block.transactions[location[1]], location[0], location[1]

    def meta(self, key: bytes) -> bytes | None:
        return self.kv.get(key)

    def blocks_by_height(self, height: int) -> Iterator[bytes]:
        """Hashes of every stored block (any branch) at `height`."""
        prefix = schema.height_index_prefix(height)
        for key, _ in self.kv.iterate(prefix):
            yield key[len(prefix) :]

    # -- batch builders -------------------------------------------------------------------

    @staticmethod
    def stage_block(batch: WriteBatch, block: Block, info: BlockInfo, encoded: bytes) -> None:
        block_hash = block.hash
        batch.put(schema.block_key(block_hash), encoded)
        batch.put(schema.header_key(block_hash), block.header.encode())
        batch.put(schema.block_info_key(block_hash), info.encode())
        batch.put(schema.height_index_key(block.height, block_hash), b"")

    @staticmethod
    def stage_info(batch: WriteBatch, block_hash: bytes, info: BlockInfo) -> None:
        batch.put(schema.block_info_key(block_hash), info.encode())

    @staticmethod
    def stage_connect(
        batch: WriteBatch,
        block: Block,
        changes: dict[bytes, bytes | None],
        undo: UndoRecord,
    ) -> None:
        block_hash = block.hash
        batch.put(schema.main_chain_key(block.height), block_hash)
        for index, tx in enumerate(block.transactions):
            batch.put(schema.tx_location_key(tx.txid), block_hash + _LOCATION.pack(index))
        for key, value in changes.items():
            if value is None:
                batch.delete(schema.state_entry_key(key))
            else:
                batch.put(schema.state_entry_key(key), value)
        batch.put(schema.undo_key(block_hash), undo.encode())
        batch.put(schema.TIP, block_hash)

    @staticmethod
    def stage_tree_nodes(batch: WriteBatch, nodes: dict[bytes, bytes]) -> None:
        put = batch.put
        tree_node_key = schema.tree_node_key
        for node_hash, node in nodes.items():
            put(tree_node_key(node_hash), node)

    @staticmethod
    def stage_disconnect(batch: WriteBatch, block: Block, undo: UndoRecord) -> None:
        batch.delete(schema.main_chain_key(block.height))
        for tx in block.transactions:
            batch.delete(schema.tx_location_key(tx.txid))
        for key, value in undo.previous:
            if value is None:
                batch.delete(schema.state_entry_key(key))
            else:
                batch.put(schema.state_entry_key(key), value)
        batch.put(schema.TIP, block.header.prev_hash)
