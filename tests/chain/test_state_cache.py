"""The state cache: decoded records in front of the store, always what the store holds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

import pytest

from pacata.chain.blocks import Block
from pacata.chain.chain import AddStatus, Chain
from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.devnet import devnet_key
from pacata.chain.keys import PrivateKey
from pacata.chain.kvstore import Meanwhile, MemoryStore, WriteBatch
from pacata.chain.merkle import merkle_root
from pacata.chain.state import (
    Account,
    ChainTotals,
    Namespace,
    StateOverlay,
    state_key,
)
from pacata.chain.state_cache import StateCache
from pacata.chain.transactions import Transaction, Transfer, make_transaction
from pacata.errors import DecodeError, InvalidBlock, StoreError
from pacata.testing import ChainFactory, devnet_chain

ALICE = devnet_key(1)


class CountingStore:
    """A dict of encoded records that counts its reads."""

    def __init__(self, entries: dict[bytes, bytes]) -> None:
        self.entries = entries
        self.reads = 0

    def get_state(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.entries.get(key)


def account_key(index: int) -> bytes:
    return state_key(Namespace.ACCOUNT, index.to_bytes(20, "big"))


def store_of(count: int) -> CountingStore:
    return CountingStore({account_key(i): Account(balance=i + 1).encode() for i in range(count)})


def test_a_record_read_twice_is_read_from_the_store_once_and_decoded_once() -> None:
    store = store_of(3)
    cache = StateCache(store)
    raw, first = cache.read_record(account_key(1), Account.decode)
    assert raw == Account(balance=2).encode()
    assert first == Account(balance=2)
    again = cache.read_record(account_key(1), Account.decode)[1]
    assert again is first
    assert store.reads == 1
    assert cache.get_state(account_key(1)) == raw
    assert store.reads == 1


def test_an_absent_key_is_remembered_as_absent() -> None:
    store = store_of(1)
    cache = StateCache(store)
    assert cache.read_record(account_key(5), Account.decode) == (None, None)
    assert cache.read_record(account_key(5), ChainTotals.decode) == (None, None)
    assert cache.get_state(account_key(5)) is None
    assert store.reads == 1


@dataclass(frozen=True, slots=True)
class FiveNumbers(WireObject):
    """Five uvarints: an empty-handed account's encoding reads as one too."""

    numbers: tuple[int, ...]

    def write_to(self, writer: Writer) -> None:
        for number in self.numbers:
            writer.uvarint(number)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(tuple(reader.uvarint() for _ in range(5)))


def test_a_record_is_only_handed_to_a_reader_of_its_own_type() -> None:
    key = account_key(0)
    store = CountingStore({key: Account(balance=7).encode()})
    cache = StateCache(store)
    assert cache.read_record(key, Account.decode)[1] == Account(balance=7)
    # The same bytes read as another type are decoded as that type, not handed the account.
    raw, as_other = cache.read_record(key, FiveNumbers.decode)
    assert as_other == FiveNumbers((7, 0, 0, 0, 0))
    assert cache.read_record(key, Account.decode)[1] == Account(balance=7)
    assert raw == Account(balance=7).encode()
    assert store.reads == 1


def test_a_record_that_does_not_decode_raises_and_caches_nothing() -> None:
    key = account_key(0)
    cache = StateCache(CountingStore({key: b"\xff"}))
    with pytest.raises(DecodeError):
        cache.read_record(key, Account.decode)
    assert len(cache) == 0
    with pytest.raises(DecodeError):
        cache.read_record(key, Account.decode)


def test_committed_and_reverted_records_replace_what_was_cached() -> None:
    store = store_of(2)
    cache = StateCache(store)
    cache.read_record(account_key(0), Account.decode)
    new = Account(balance=99, nonce=1)
    cache.committed({account_key(0): new.encode(), account_key(1): None}, {account_key(0): new})
    assert cache.read_record(account_key(0), Account.decode)[1] is new
    assert cache.read_record(account_key(1), Account.decode) == (None, None)
    cache.reverted([(account_key(0), Account(balance=1).encode()), (account_key(1), None)])
    assert cache.read_record(account_key(0), Account.decode)[1] == Account(balance=1)
    assert cache.get_state(account_key(1)) is None
    assert store.reads == 1


def test_the_cache_stays_within_its_bound_and_right() -> None:
    store = store_of(100)
    cache = StateCache(store, size=8)
    for _ in range(2):
        for i in range(100):
            assert cache.read_record(account_key(i), Account.decode)[1] == Account(balance=i + 1)
            assert len(cache) <= 8
    cache.committed({account_key(i): None for i in range(20)}, {})
    assert len(cache) <= 8
    with pytest.raises(ValueError, match="at least one"):
        StateCache(store, size=0)


def assert_mirrors_store(chain: Chain) -> None:
    """Every key the chain's state cache holds has the store's value, decoded right."""
    assert len(chain.state) > 0
    for key in chain.state:
        raw = chain.store.get_state(key)
        assert chain.state.get_state(key) == raw
        if key[0] == Namespace.ACCOUNT:
            record = chain.state.read_record(key, Account.decode)[1]
            assert record == (None if raw is None else Account.decode(raw))


def test_the_chain_state_cache_follows_connects_and_a_reorganisation() -> None:
    main = ChainFactory(seed=60)
    main.blocks(2, transfers_per_block=10)
    rival = main.fork(2, seed=61)
    main_blocks = main.blocks(2, transfers_per_block=15)
    rival_blocks = [rival.next_block(rival.random_transfers(12), slot_gap=2) for _ in range(3)]

    node = devnet_chain()
    for height in (1, 2):
        node.add_block(main.chain.block_at(height))
    for block in main_blocks:
        node.add_block(block)
    assert_mirrors_store(node)
    statuses = [node.add_block(block).status for block in rival_blocks]
    assert AddStatus.REORGANIZED in statuses
    assert node.tip == rival.chain.tip
    assert_mirrors_store(node)
    # What the cache says is what a reader of the store alone would find.
    for block in main_blocks + rival_blocks:
        for tx in block.transactions:
            payload = tx.payload
            assert isinstance(payload, Transfer)
            for address in (tx.sender_address, payload.recipient):
                assert node.account(address) == StateOverlay(node.store).account(address)


@pytest.mark.parametrize("spoiled", ["state_root", "signature"])
def test_a_refused_block_leaves_the_cache_as_the_store(spoiled: str) -> None:
    factory = ChainFactory(seed=62)
    factory.blocks(1, transfers_per_block=5)
    node = factory.chain
    recipient = PrivateKey(bytes(31) + b"\x07").address
    tx = make_transaction(
        ALICE,
        node.params.chain_id,
        factory.next_nonce(ALICE),
        node.params.min_fee,
        Transfer(recipient, 1_000),
    )
    good = factory.next_block([tx], connect=False)
    if spoiled == "state_root":
        header = replace(good.header, state_root=bytes(32)).signed(factory.producer)
        bad = Block(header, good.transactions)
    else:
        flipped = tx.signature[:-1] + bytes((tx.signature[-1] ^ 1,))
        forged = Transaction(tx.chain_id, tx.sender, tx.nonce, tx.fee, tx.payload, flipped)
        header = replace(good.header, tx_root=merkle_root([forged.txid]))
        bad = Block(header.signed(factory.producer), (forged,))
    before = node.account(ALICE.address)
    with pytest.raises(InvalidBlock):
        node.add_block(bad)
    # The block was executed (its accounts read into the cache) but never stored.
    assert node.account(ALICE.address) == before
    assert node.account(recipient) == Account()
    assert_mirrors_store(node)
    assert node.add_block(good).status is AddStatus.CONNECTED
    assert node.account(recipient).balance == 1_000
    assert_mirrors_store(node)


class FailingWrites(MemoryStore):
    """A memory store whose writes fail (after running `meanwhile`, as a store must) while
    `failing` is set: a full disk, say."""

    failing = False

    def write(self, batch: WriteBatch, meanwhile: Meanwhile | None = None) -> None:
        if not self.failing:
            super().write(batch, meanwhile)
            return
        if meanwhile is not None:
            meanwhile()
        raise StoreError("no space left on device")


def test_a_block_whose_write_fails_leaves_the_cache_as_the_store() -> None:
    # The cache takes a block's records while the store writes it; a failed write takes them back.
    factory = ChainFactory(seed=63)
    blocks = factory.blocks(3, transfers_per_block=8)
    store = FailingWrites()
    node = devnet_chain(store)
    node.add_block(blocks[0])
    store.failing = True
    with pytest.raises(StoreError, match="no space"):
        node.add_block(blocks[1])
    assert node.tip.hash == blocks[0].hash
    assert_mirrors_store(node)
    for tx in blocks[1].transactions:
        assert node.account(tx.sender_address) == StateOverlay(node.store).account(
            tx.sender_address
        )
    store.failing = False
    for block in blocks[1:]:
        assert node.add_block(block).status is AddStatus.CONNECTED
    assert node.state_root == factory.chain.state_root
    assert_mirrors_store(node)
