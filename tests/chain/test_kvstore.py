"""One conformance suite for every key-value store behind the chain."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacata.chain.kvstore import KeyValueStore, LevelDBStore, MemoryStore, WriteBatch
from pacata.errors import StoreError
from pacata.testing import ChainFactory, devnet_chain


@pytest.fixture(params=["memory", "leveldb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueStore]:
    kv: KeyValueStore = MemoryStore() if request.param == "memory" else LevelDBStore(tmp_path)
    yield kv
    kv.close()


def _batch(**ops: bytes | None) -> WriteBatch:
    batch = WriteBatch()
    for key, value in ops.items():
        if value is None:
            batch.delete(key.encode())
        else:
            batch.put(key.encode(), value)
    return batch


def test_get_of_missing_key(store: KeyValueStore) -> None:
    assert store.get(b"nothing") is None


def test_batch_puts_and_deletes(store: KeyValueStore) -> None:
    store.write(_batch(a=b"1", b=b"2", c=b"3"))
    assert store.get(b"b") == b"2"
    store.write(_batch(b=None, c=b"33", d=b"4"))
    assert store.get(b"b") is None
    assert store.get(b"c") == b"33"
    assert store.get(b"d") == b"4"


def test_last_operation_on_a_key_wins(store: KeyValueStore) -> None:
    batch = WriteBatch()
    batch.put(b"k", b"1")
    batch.delete(b"k")
    batch.put(b"j", b"x")
    batch.delete(b"j")
    batch.put(b"j", b"2")
    store.write(batch)
    assert store.get(b"k") is None
    assert store.get(b"j") == b"2"


def test_iterate_walks_one_prefix_in_key_order(store: KeyValueStore) -> None:
    batch = WriteBatch()
    for key in (b"p\x02", b"p\x01", b"q\x00", b"p\xff", b"o\xff", b"p"):
        batch.put(key, key)
    store.write(batch)
    assert [k for k, _ in store.iterate(b"p")] == [b"p", b"p\x01", b"p\x02", b"p\xff"]
    assert [v for _, v in store.iterate(b"q")] == [b"q\x00"]
    assert list(store.iterate(b"z")) == []


def test_binary_keys_and_empty_values(store: KeyValueStore) -> None:
    batch = WriteBatch()
    batch.put(bytes(range(256)), b"")
    store.write(batch)
    assert store.get(bytes(range(256))) == b""


def test_same_chain_on_every_store(store: KeyValueStore) -> None:
    factory = ChainFactory(seed=9)
    blocks = factory.blocks(3, transfers_per_block=15)
    chain = devnet_chain(store)
    for block in blocks:
        chain.add_block(block)
    assert chain.state_root == factory.chain.state_root


@pytest.mark.parametrize("size", [3, 3000])
def test_meanwhile_runs_on_the_callers_thread_with_every_write(
    store: KeyValueStore, size: int
) -> None:
    # A large LevelDB batch is made durable in a thread of the store's own meanwhile.
    batch = WriteBatch()
    for index in range(size):
        batch.put(index.to_bytes(4, "big"), b"v")
    ran: list[threading.Thread] = []
    store.write(batch, lambda: ran.append(threading.current_thread()))
    assert ran == [threading.current_thread()]
    assert store.get((size - 1).to_bytes(4, "big")) == b"v"


def test_a_failed_write_still_runs_meanwhile_then_raises(store: KeyValueStore) -> None:
    store.close()
    ran: list[bool] = []
    with pytest.raises(StoreError, match="closed"):
        store.write(_batch(key=b"value"), lambda: ran.append(True))
    assert ran == [True]


def test_leveldb_persists_across_reopen(tmp_path: Path) -> None:
    store = LevelDBStore(tmp_path)
    store.write(_batch(key=b"value"))
    store.close()
    reopened = LevelDBStore(tmp_path)
    try:
        assert reopened.get(b"key") == b"value"
    finally:
        reopened.close()


def test_memory_store_refuses_use_after_close() -> None:
    store = MemoryStore()
    store.close()
    with pytest.raises(StoreError):
        store.get(b"x")
