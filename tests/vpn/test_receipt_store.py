"""The relay's durable receipt store (pacata/vpn/io/receipt_store.py): one conformance suite
over LevelDB and the in-memory store, reopening, and a receipt that survives SIGKILL."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import pacata
from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.chain.kvstore import KeyValueStore, LevelDBStore, Meanwhile, MemoryStore, WriteBatch
from pacata.chain.receipts import Receipt
from pacata.errors import StoreError
from pacata.vpn.channels import ReceiptRejected, RejectReason, SettleRecord
from pacata.vpn.io.receipt_store import ReceiptStore, receipt_key

CLIENT = PrivateKey(sha256(b"receipt store: client"))
CHANNEL = sha256(b"receipt store: channel")
OTHER_CHANNEL = sha256(b"receipt store: other channel")
DEADLINE_S = 30.0


def receipt(byte_count: int, amount: int, channel_id: bytes = CHANNEL) -> Receipt:
    return Receipt("pacata-test", channel_id, byte_count, amount).signed(CLIENT)


def settle(label: str, channel_id: bytes = CHANNEL, included: int | None = None) -> SettleRecord:
    return SettleRecord(sha256(label.encode()), receipt(1_000, 90, channel_id), 100, included)


class CountingStore:
    """A store that counts the batches written to the one it wraps."""

    def __init__(self, inner: KeyValueStore) -> None:
        self.inner = inner
        self.writes = 0

    def get(self, key: bytes) -> bytes | None:
        return self.inner.get(key)

    def write(self, batch: WriteBatch, meanwhile: Meanwhile | None = None) -> None:
        self.writes += 1
        self.inner.write(batch, meanwhile)

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        return self.inner.iterate(prefix)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture(params=["memory", "leveldb"])
def kv(request: pytest.FixtureRequest, tmp_path: Path) -> CountingStore:
    inner = MemoryStore() if request.param == "memory" else LevelDBStore(tmp_path / "receipts")
    return CountingStore(inner)


@pytest.fixture
def store(kv: CountingStore) -> Iterator[ReceiptStore]:
    with ReceiptStore(kv) as opened:
        yield opened


def test_a_stored_receipt_reads_back(store: ReceiptStore) -> None:
    assert store.receipt(CHANNEL) is None
    store.put_receipt(CHANNEL, receipt(1_000, 90))
    assert store.receipt(CHANNEL) == receipt(1_000, 90)
    store.put_receipt(OTHER_CHANNEL, receipt(5, 1, OTHER_CHANNEL))
    assert dict(store.receipts()) == {
        CHANNEL: receipt(1_000, 90),
        OTHER_CHANNEL: receipt(5, 1, OTHER_CHANNEL),
    }


def test_a_newer_receipt_replaces_the_stored_one(store: ReceiptStore) -> None:
    store.put_receipt(CHANNEL, receipt(1_000, 90))
    store.put_receipt(CHANNEL, receipt(1_005, 90))  # more bytes for the same amount
    store.put_receipt(CHANNEL, receipt(2_000, 180))
    assert store.receipt(CHANNEL) == receipt(2_000, 180)


def test_a_lower_receipt_is_never_stored(store: ReceiptStore) -> None:
    store.put_receipt(CHANNEL, receipt(2_000, 180))
    with pytest.raises(ReceiptRejected) as lower_amount:
        store.put_receipt(CHANNEL, receipt(3_000, 179))
    assert lower_amount.value.reason is RejectReason.AMOUNT_LOWER
    with pytest.raises(ReceiptRejected) as lower_bytes:
        store.put_receipt(CHANNEL, receipt(1_999, 200))
    assert lower_bytes.value.reason is RejectReason.BYTES_LOWER
    assert store.receipt(CHANNEL) == receipt(2_000, 180)


def test_the_stored_receipt_again_writes_nothing(kv: CountingStore, store: ReceiptStore) -> None:
    store.put_receipt(CHANNEL, receipt(2_000, 180))
    writes = kv.writes
    store.put_receipt(CHANNEL, receipt(2_000, 180))
    assert kv.writes == writes


def test_a_receipt_goes_under_its_own_channel(store: ReceiptStore) -> None:
    with pytest.raises(ValueError):
        store.put_receipt(OTHER_CHANNEL, receipt(1, 0))
    with pytest.raises(ValueError):
        store.receipt(b"short")


def test_settles_are_kept_updated_and_removed(store: ReceiptStore) -> None:
    first, second = settle("a"), settle("b", OTHER_CHANNEL)
    store.put_settle(first)
    store.put_settle(second)
    mined = settle("a", included=105)
    store.put_settle(mined)
    assert sorted(store.settles(), key=lambda r: r.txid) == sorted(
        [mined, second], key=lambda r: r.txid
    )
    store.remove_settle(mined)
    assert list(store.settles()) == [second]


def test_forgetting_a_channel_removes_its_receipt_and_settles(store: ReceiptStore) -> None:
    store.put_receipt(CHANNEL, receipt(1_000, 90))
    store.put_receipt(OTHER_CHANNEL, receipt(1_000, 90, OTHER_CHANNEL))
    store.put_settle(settle("a"))
    store.put_settle(settle("b"))
    store.put_settle(settle("c", OTHER_CHANNEL))
    store.remove(CHANNEL)
    assert store.receipt(CHANNEL) is None
    assert dict(store.receipts()) == {OTHER_CHANNEL: receipt(1_000, 90, OTHER_CHANNEL)}
    assert list(store.settles()) == [settle("c", OTHER_CHANNEL)]


def test_a_damaged_record_is_a_store_error(kv: CountingStore, store: ReceiptStore) -> None:
    batch = WriteBatch()
    batch.put(receipt_key(CHANNEL), b"\x01garbage")
    kv.write(batch)
    with pytest.raises(StoreError, match="damaged"):
        store.receipt(CHANNEL)
    with pytest.raises(StoreError):
        list(store.receipts())


def test_another_schema_version_is_refused() -> None:
    kv = MemoryStore()
    batch = WriteBatch()
    batch.put(b"_schema", b"2")
    kv.write(batch)
    with pytest.raises(StoreError, match="schema"):
        ReceiptStore(kv)


def test_receipts_and_settles_survive_a_reopen(tmp_path: Path) -> None:
    with ReceiptStore.open(tmp_path / "receipts") as store:
        store.put_receipt(CHANNEL, receipt(1_000, 90))
        store.put_settle(settle("a", included=101))
    with ReceiptStore.open(tmp_path / "receipts") as store:
        assert store.receipt(CHANNEL) == receipt(1_000, 90)
        assert list(store.settles()) == [settle("a", included=101)]
        with pytest.raises(ReceiptRejected):
            store.put_receipt(CHANNEL, receipt(999, 90))


def test_a_store_in_use_cannot_be_opened_twice(tmp_path: Path) -> None:
    with ReceiptStore.open(tmp_path / "receipts"), pytest.raises(StoreError):
        ReceiptStore.open(tmp_path / "receipts")


# The child stores one receipt, says so with its encoding, then waits to be killed.
_CHILD = """
import sys
from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.chain.receipts import Receipt
from pacata.vpn.io.receipt_store import ReceiptStore

store = ReceiptStore.open(sys.argv[1])
channel_id = sha256(b"receipt store: channel")
key = PrivateKey(sha256(b"receipt store: client"))
receipt = Receipt("pacata-test", channel_id, 123_456, 11_497).signed(key)
store.put_receipt(channel_id, receipt)
print("stored", receipt.encode().hex(), flush=True)
sys.stdin.read()
"""


def read_line_within(proc: subprocess.Popen[bytes], seconds: float) -> str:
    """The child's first line of output, waiting at most `seconds` for it."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + seconds
    output = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line from the child within {seconds} s: {output!r}")
            if selector.select(remaining):
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError(f"the child ended first: {output!r}")
                output += chunk
    return output.split(b"\n", 1)[0].decode()


def test_an_acknowledgeable_receipt_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "receipts"
    repo_root = Path(pacata.__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=repo_root,
    )
    try:
        word, encoded = read_line_within(proc, DEADLINE_S).split()
        assert word == "stored"
        os.kill(proc.pid, signal.SIGKILL)  # right after put_receipt returned
        assert proc.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=DEADLINE_S)
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
    with ReceiptStore.open(path) as store:
        assert store.receipt(CHANNEL) == Receipt.decode(bytes.fromhex(encoded))
