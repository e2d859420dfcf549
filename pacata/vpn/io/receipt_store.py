"""The relay's durable store of receipts and settles (docs/paid-tunnels.md §What the relay
stores).

    store = ReceiptStore.open(datadir / "receipts")
    store.put_receipt(channel_id, receipt)     # returns once the write is synced: then ack
    for channel_id, receipt in store.receipts(): ...
    store.put_settle(record); store.remove_settle(record); store.settles()
    store.remove(channel_id)                   # the channel's receipt and settles

Rules:
- One LevelDB database of its own (through `pacata.chain.kvstore.LevelDBStore`, whose writes
  are synced), so a receipt `put_receipt` returned for survives a kill of the process and a
  power loss: the relay acknowledges a receipt only after that.
- Per channel, only the newest receipt is kept, and never replaced by a lower one (amount or
  bytes: `ReceiptRejected`, as the meter refuses it); putting the stored receipt again writes
  nothing.
- Keys (a one-byte table, then ids; the schema version under `_schema`, another version is
  refused at open):

  | table | key                  | value                           |
  |-------|----------------------|---------------------------------|
  | `r`   | channel id           | the newest receipt's encoding   |
  | `s`   | channel id + txid    | a `SettleRecord`'s encoding     |

- One thread uses a store at a time (the relay's receipt handler); a read of a damaged record
  is a `StoreError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

from pacata.chain.hashing import HASH_SIZE
from pacata.chain.kvstore import KeyValueStore, LevelDBStore, WriteBatch
from pacata.chain.receipts import Receipt
from pacata.errors import DecodeError, StoreError
from pacata.vpn.channels.receipt_rules import check_not_lower
from pacata.vpn.channels.settle_tracker import SettleRecord

SCHEMA_VERSION = b"1"
VERSION_KEY = b"_schema"
RECEIPT = b"r"
SETTLE = b"s"

T = TypeVar("T")


def receipt_key(channel_id: bytes) -> bytes:
    if len(channel_id) != HASH_SIZE:
        raise ValueError(f"a channel id is {HASH_SIZE} bytes")
    return RECEIPT + channel_id


def settle_key(record: SettleRecord) -> bytes:
    return SETTLE + record.channel_id + record.txid


def _decoded(decode: Callable[[bytes], T], key: bytes, value: bytes) -> T:
    try:
        return decode(value)
    except DecodeError as exc:
        raise StoreError(f"the receipt store's record {key.hex()} is damaged: {exc}") from None


class ReceiptStore:
    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv
        version = kv.get(VERSION_KEY)
        if version is None:
            batch = WriteBatch()
            batch.put(VERSION_KEY, SCHEMA_VERSION)
            kv.write(batch)
        elif version != SCHEMA_VERSION:
            kv.close()
            raise StoreError(f"receipt store has schema {version!r}, need {SCHEMA_VERSION!r}")

    @classmethod
    def open(cls, path: Path | str) -> Self:
        """The store in the directory `path` (made if missing)."""
        return cls(LevelDBStore(path, sync=True))

    def close(self) -> None:
        self._kv.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def receipt(self, channel_id: bytes) -> Receipt | None:
        key = receipt_key(channel_id)
        value = self._kv.get(key)
        return None if value is None else _decoded(Receipt.decode, key, value)

    def put_receipt(self, channel_id: bytes, receipt: Receipt) -> None:
        """Stores `receipt` as the channel's newest; returns once it is durable."""
        if receipt.channel_id != channel_id:
            raise ValueError("the receipt is for another channel")
        stored = self.receipt(channel_id)
        if stored == receipt:
            return
        if stored is not None:
            check_not_lower(receipt, stored.cumulative_amount, stored.cumulative_bytes)
        batch = WriteBatch()
        batch.put(receipt_key(channel_id), receipt.encode())
        self._kv.write(batch)

    def receipts(self) -> Iterator[tuple[bytes, Receipt]]:
        for key, value in self._kv.iterate(RECEIPT):
            yield key[len(RECEIPT) :], _decoded(Receipt.decode, key, value)

    def remove(self, channel_id: bytes) -> None:
        """Forgets a channel: its receipt and its settles, in one write."""
        batch = WriteBatch()
        batch.delete(receipt_key(channel_id))
        for key, _ in self._kv.iterate(SETTLE + channel_id):
            batch.delete(key)
        self._kv.write(batch)

    def put_settle(self, record: SettleRecord) -> None:
        batch = WriteBatch()
        batch.put(settle_key(record), record.encode())
        self._kv.write(batch)

    def remove_settle(self, record: SettleRecord) -> None:
        batch = WriteBatch()
        batch.delete(settle_key(record))
        self._kv.write(batch)

    def settles(self) -> Iterator[SettleRecord]:
        for key, value in self._kv.iterate(SETTLE):
            yield _decoded(SettleRecord.decode, key, value)
