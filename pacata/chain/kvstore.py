"""Key-value stores under the chain: LevelDB (plyvel) and an in-memory twin.

Both honour one contract, checked by one conformance suite (tests/chain/test_kvstore.py):
`get` reads, `write` applies a `WriteBatch` atomically (all of it or none of it, also across a
crash of the process), `iterate` walks one key prefix in key order. LevelDB batches are written
with `sync=True`, so a block that `write` returned for survives power loss too. `write` also runs
the caller's `meanwhile` work, while the batch is being made durable where the store can do both
(LevelDB lets go of the GIL while it writes), and in any case before it returns or raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import plyvel

from pacata.errors import StoreError


class WriteBatch:
    """Puts and deletes to apply together; the last operation on a key wins."""

    __slots__ = ("ops",)

    def __init__(self) -> None:
        self.ops: dict[bytes, bytes | None] = {}

    def put(self, key: bytes, value: bytes) -> None:
        self.ops[key] = value

    def delete(self, key: bytes) -> None:
        self.ops[key] = None

    def __len__(self) -> int:
        return len(self.ops)


# `meanwhile`: work the caller wants done while a batch is made durable (the chain's state cache
# takes a block's records). It runs whether the write succeeds or not, must not fail itself, and
# the write's error, if any, is raised after it; the caller undoes what `meanwhile` did then.
Meanwhile = Callable[[], None]


class KeyValueStore(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def write(self, batch: WriteBatch, meanwhile: Meanwhile | None = None) -> None: ...

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...

    def close(self) -> None: ...


class MemoryStore:
    """A dict behind the store contract: for tests, simulations and throwaway nodes."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("store is closed")

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._data.get(key)

    def write(self, batch: WriteBatch, meanwhile: Meanwhile | None = None) -> None:
        try:
            self._check_open()
            for key, value in batch.ops.items():
                if value is None:
                    self._data.pop(key, None)
                else:
                    self._data[key] = value
        finally:
            if meanwhile is not None:
                meanwhile()

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        self._check_open()
        for key in sorted(k for k in self._data if k.startswith(prefix)):
            yield key, self._data[key]

    def close(self) -> None:
        self._closed = True


# LevelDB's defaults suit compressible values; the chain's are mostly state-tree nodes, hashes and
# signatures (about 20,000 keys a block of 2,000 transfers; docs/BENCHMARKS.md §Block validation):
# - no compression: they do not compress, and trying costs CPU at every compaction (importing
#   blocks, compactions took 38% of the process's CPU time with Snappy, 19% without);
# - a 10-bit Bloom filter per table: a read of a key that a table lacks costs no block read.
# Bitcoin Core's LevelDB makes the same two choices. Each table records its own compression and
# filter, so a database written with other options opens and reads as before.
_LEVELDB_OPTIONS = {"compression": None, "bloom_filter_bits": 10}
# Below this many operations a batch is written on the caller's thread, `meanwhile` after it:
# handing a small write to another thread costs more than the overlap gives.
_OVERLAPPED_WRITE_OPS = 1024


class LevelDBStore:
    """LevelDB through plyvel; one process at a time may open a database."""

    def __init__(self, path: Path | str, *, sync: bool = True) -> None:
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise StoreError(f"the database at {path} is not a directory") from None
        except OSError as exc:
            raise StoreError(f"cannot make the database at {path}: {exc.strerror}") from None
        try:
            self._db = plyvel.DB(str(path), create_if_missing=True, **_LEVELDB_OPTIONS)
        except plyvel.CorruptionError as exc:
            raise StoreError(f"the database at {path} is corrupt: {_reason(exc)}") from None
        except plyvel.Error as exc:
            reason = _reason(exc)
            if "LOCK" in reason:  # LevelDB's lock file: one process at a time
                reason += " (another process, such as a running node, has it open)"
            raise StoreError(f"cannot open the database at {path}: {reason}") from None
        self._sync = sync
        self._writer: ThreadPoolExecutor | None = None

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(key)
        return value

    def write(self, batch: WriteBatch, meanwhile: Meanwhile | None = None) -> None:
        """Writes `batch` atomically. LevelDB lets go of the GIL while it writes (and syncs), so
        for a large batch `meanwhile` runs then, and the write in a thread of the store's own."""
        writing: Future[None] | None = None
        try:
            if self._db.closed:
                raise StoreError("store is closed")
            wb = self._db.write_batch(sync=self._sync)
            put, delete = wb.put, wb.delete
            for key, value in batch.ops.items():
                if value is None:
                    delete(key)
                else:
                    put(key, value)
            if meanwhile is not None and len(batch) >= _OVERLAPPED_WRITE_OPS:
                if self._writer is None:
                    self._writer = ThreadPoolExecutor(1, thread_name_prefix="leveldb-write")
                writing = self._writer.submit(wb.write)
            else:
                wb.write()
        finally:
            try:
                if meanwhile is not None:
                    meanwhile()
            finally:
                if writing is not None:
                    writing.result()

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        with self._db.iterator(prefix=prefix) as it:
            yield from it

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        if not self._db.closed:
            self._db.close()


def _reason(exc: plyvel.Error) -> str:
    """LevelDB's message, which plyvel gives as bytes."""
    reason = exc.args[0] if exc.args else exc
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
