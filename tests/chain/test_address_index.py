"""The address index (pacata/chain/address_index.py) on real signed chains: which addresses
each transaction kind touches, channels by client and relay, paging, following a
reorganisation, catching up, starting over, and consistency after a crash at every write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from pacata.chain.address_index import AddressIndex, IndexOutOfStep, entry_transaction
from pacata.chain.address_index_schema import (
    KEY_PREFIX,
    TIP_KEY,
    UNDO_PREFIX,
    ChainPosition,
    Role,
    channel_key,
    undo_key,
)
from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.kvstore import KeyValueStore, LevelDBStore, MemoryStore, WriteBatch
from pacata.chain.receipts import Receipt
from pacata.chain.transactions import (
    Bond,
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    ChannelTopup,
    Evidence,
    RelayOffer,
    RelayRegister,
    RelayRetire,
    RelayUpdate,
    Transfer,
    TxKind,
    Unbond,
)
from pacata.chain.transitions import channel_id_of
from pacata.errors import StoreError
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.ledger import with_params

GENESIS = with_params(shipped_genesis("devnet"), settlement_grace_blocks=1, unbonding_delay=5)
PARAMS = GENESIS.params
ALICE, BOB, RELAY, STAKER, REPORTER = (devnet_key(i) for i in range(1, 6))
OFFER = RelayOffer(bytes(32), ("203.0.113.5:51820",), (100_000, 400_000), (0, 0))
KEEP = 4


def fresh_factory(seed: int = 0) -> ChainFactory:
    return ChainFactory(devnet_chain(genesis=GENESIS), seed=seed)


def build_index(chain: Chain, kv: KeyValueStore | None = None) -> AddressIndex:
    index = AddressIndex(kv if kv is not None else MemoryStore(), keep_undo=KEEP)
    while not index.advance(chain):
        pass
    return index


def contents(index: AddressIndex) -> dict[bytes, bytes]:
    """Every entry of the index but its undo lists, which depend on the way it came (an undo
    list pruned, or kept since the blocks came in one step)."""
    return {k: v for k, v in index.kv.iterate(b"") if not k.startswith(UNDO_PREFIX)}


def kinds(index: AddressIndex, chain: Chain, address: Address) -> list[TxKind]:
    """The kinds of `address`'s history, oldest first, each entry read back from its block."""
    found = []
    for entry in reversed(index.transactions(address, limit=1_000)):
        encoding = chain.store.block_encoding(chain.store.main_hash_at(entry.height) or b"")
        assert encoding is not None
        tx = entry_transaction(entry, encoding)
        assert tx is not None and tx.txid == entry.txid
        found.append(tx.kind)
    return found


class Story:
    """A chain on which every kind of transaction is mined, and the channel it opens."""

    def __init__(self) -> None:
        self.factory = factory = fresh_factory()
        chain = factory.chain
        sign = factory.sign
        factory.next_block(
            [sign(RELAY, RelayRegister(OFFER)), sign(ALICE, Transfer(BOB.address, 5_000))]
        )
        open_tx = sign(ALICE, ChannelOpen(RELAY.address, 1_000_000, 1, bytes(32), 5))
        self.channel_id = channel_id_of(ALICE.public_key, open_tx.nonce)
        factory.next_block([open_tx, sign(STAKER, Bond(PARAMS.min_bond * 2, bytes(range(32))))])
        cheaper = RelayOffer(bytes(32), ("203.0.113.5:51820",), (50_000,), (0,))
        factory.next_block(
            [sign(ALICE, ChannelTopup(self.channel_id, 500_000)), sign(RELAY, RelayUpdate(cheaper))]
        )
        receipt = Receipt(factory.chain_id, self.channel_id, 4_096, 200_000).signed(ALICE)
        factory.next_block(
            [sign(RELAY, ChannelSettle(receipt)), sign(STAKER, Unbond(PARAMS.min_bond))]
        )
        while chain.height < 5 + PARAMS.settlement_grace_blocks:
            factory.next_block()
        factory.next_block([sign(ALICE, ChannelClose(self.channel_id))])
        factory.next_block([sign(REPORTER, self.equivocation(chain)), sign(RELAY, RelayRetire())])

    @staticmethod
    def equivocation(chain: Chain) -> Evidence:
        """Two headers STAKER signed for one slot (it is bonded: the evidence slashes it)."""
        header = replace(chain.tip, producer=STAKER.public_key)
        first = header.signed(STAKER)
        second = replace(header, timestamp_ms=header.timestamp_ms + 1).signed(STAKER)
        return Evidence(first, second)


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


def test_each_kind_touches_its_sender_and_its_other_parties(story: Story) -> None:
    chain = story.factory.chain
    index = build_index(chain)
    assert index.tip is not None and index.tip.hash == chain.tip.hash
    assert kinds(index, chain, ALICE.address) == [
        TxKind.TRANSFER,
        TxKind.CHANNEL_OPEN,
        TxKind.CHANNEL_TOPUP,
        TxKind.CHANNEL_SETTLE,  # the relay settles: the client is touched too
        TxKind.CHANNEL_CLOSE,
    ]
    assert kinds(index, chain, BOB.address) == [TxKind.TRANSFER]
    assert kinds(index, chain, RELAY.address) == [
        TxKind.RELAY_REGISTER,
        TxKind.CHANNEL_OPEN,
        TxKind.CHANNEL_TOPUP,
        TxKind.RELAY_UPDATE,
        TxKind.CHANNEL_SETTLE,
        TxKind.CHANNEL_CLOSE,  # after the close the state has no channel: the index's table
        TxKind.RELAY_RETIRE,
    ]
    assert kinds(index, chain, STAKER.address) == [TxKind.BOND, TxKind.UNBOND, TxKind.EVIDENCE]
    assert kinds(index, chain, REPORTER.address) == [TxKind.EVIDENCE]
    assert index.transactions(PrivateKey(b"\x01" * 32).address) == []
    assert index.transaction_count(ALICE.address) == 5


def test_an_entry_says_where_its_transaction_is(story: Story) -> None:
    chain = story.factory.chain
    index = build_index(chain)
    for entry in index.transactions(RELAY.address, limit=100):
        block = chain.block_at(entry.height)
        assert block.transactions[entry.index].txid == entry.txid


def test_channels_by_client_and_by_relay_with_their_closing(story: Story) -> None:
    chain = story.factory.chain
    index = build_index(chain)
    (as_client,) = index.channels(ALICE.address, (Role.CLIENT,))
    (as_relay,) = index.channels(RELAY.address, (Role.RELAY,))
    assert as_client == as_relay
    assert as_client.channel_id == story.channel_id
    assert index.channels(ALICE.address, (Role.RELAY,)) == []
    assert index.channels(BOB.address) == []
    entry = index.channel(story.channel_id)
    assert entry is not None
    opening = chain.block_at(entry.open_height).transactions[entry.open_index]
    assert opening.txid == entry.open_txid and opening.kind is TxKind.CHANNEL_OPEN
    assert (entry.client, entry.relay, entry.tier, entry.expiry_height) == (
        ALICE.address,
        RELAY.address,
        1,
        5,
    )
    assert entry.closed and entry.close_height is not None and entry.close_txid is not None
    closing = chain.block_at(entry.close_height).transactions[0]
    assert closing.txid == entry.close_txid and closing.kind is TxKind.CHANNEL_CLOSE
    assert index.channel(bytes(32)) is None


def test_pages_before_a_position_are_the_older_entries_newest_first() -> None:
    factory = fresh_factory()
    for round_ in range(6):  # 1 to 3 transfers to BOB per block
        factory.next_block(
            [factory.transfer(ALICE, BOB.address, 1 + i) for i in range(1 + round_ % 3)]
        )
    index = build_index(factory.chain)
    everything = index.transactions(BOB.address, limit=1_000)
    positions = [entry.position for entry in everything]
    assert len(positions) == 12 and positions == sorted(positions, reverse=True)
    # Every position as a cursor, and positions between entries, give the exact remainder.
    probes = positions + [ChainPosition(p.height, p.index + 1) for p in positions]
    probes += [ChainPosition(0, 0), ChainPosition(100, 0)]
    for before in probes:
        for limit in (1, 2, 5, 100):
            expected = [e for e in everything if e.position < before][:limit]
            assert index.transactions(BOB.address, before, limit) == expected


def test_a_reorganisation_unwinds_the_disconnected_block() -> None:
    """A, B connected; B disconnected; B' connected: the index is the one of A, B'."""
    factory = fresh_factory()
    factory.next_block([factory.transfer(ALICE, BOB.address, 10)])
    rival = factory.fork(factory.chain.height, seed=7)
    factory.next_block([factory.transfer(ALICE, BOB.address, 20)])  # B
    b = factory.chain.tip
    b_prime = rival.next_block([rival.transfer(ALICE, REPORTER.address, 30)], slot_gap=2)

    index = build_index(factory.chain)
    assert kinds(index, factory.chain, BOB.address) == [TxKind.TRANSFER, TxKind.TRANSFER]
    with pytest.raises(IndexOutOfStep):
        index.disconnect(b_prime.hash)  # not the tip
    with pytest.raises(IndexOutOfStep):
        index.connect(b_prime)  # does not follow the tip
    index.disconnect(b.hash)
    index.connect(b_prime)
    assert index.tip is not None and index.tip.hash == b_prime.hash
    assert contents(index) == contents(build_index(rival.chain))
    assert len(index.transactions(BOB.address)) == 1
    assert len(index.transactions(REPORTER.address)) == 1


def test_advance_unwinds_a_branch_the_chain_left_then_follows_the_new_one() -> None:
    factory = fresh_factory()
    factory.next_block([factory.transfer(ALICE, BOB.address, 10)])
    index = build_index(factory.chain, MemoryStore())
    fork_height = factory.chain.height
    for _ in range(2):
        factory.next_block([factory.transfer(ALICE, BOB.address, 20)])
    assert build_index(factory.chain, index.kv).height == fork_height + 2
    rival = factory.fork(fork_height, seed=9)
    for _ in range(3):
        rival.next_block([rival.transfer(BOB, REPORTER.address, 5)], slot_gap=2)
    for height in range(fork_height + 1, rival.chain.height + 1):
        factory.chain.add_block(rival.chain.block_at(height))  # the node's chain reorganises
    assert factory.chain.tip.hash == rival.chain.tip.hash
    index = AddressIndex(index.kv, keep_undo=KEEP)
    steps = 0
    while not index.advance(factory.chain):
        steps += 1
    assert steps == 2  # one step per block unwound, then one to connect the new branch
    assert contents(index) == contents(build_index(rival.chain))


def test_catching_up_from_behind_in_bounded_steps() -> None:
    factory = fresh_factory()
    kv = MemoryStore()
    factory.next_block([factory.transfer(ALICE, BOB.address, 1)])
    index = build_index(factory.chain, kv)
    for i in range(20):
        factory.next_block([factory.transfer(ALICE, BOB.address, 2 + i)])
    index = AddressIndex(kv, keep_undo=KEEP)  # a restart, 20 blocks behind
    assert index.height == 1
    heights = []
    while not index.advance(factory.chain, max_blocks=6):
        heights.append(index.height)
    assert heights == [7, 13, 19]
    assert contents(index) == contents(build_index(factory.chain))
    # A step also ends once it has indexed enough transactions.
    index = AddressIndex(MemoryStore(), keep_undo=KEEP)
    index.advance(factory.chain, max_transactions=3)
    assert index.height == 3  # genesis (none), then blocks 1, 2, 3 of one transfer each


def test_an_index_of_another_chain_starts_over() -> None:
    """The chain was wiped and rebuilt differently: the index's tip is unknown to it."""
    old = fresh_factory(seed=1)
    for _ in range(3):
        old.next_block([old.transfer(ALICE, BOB.address, 1)])
    index = build_index(old.chain)
    new = fresh_factory(seed=2)
    for _ in range(5):
        new.next_block([new.transfer(ALICE, REPORTER.address, 1)], slot_gap=3)
    assert new.chain.store.block_info(old.chain.tip.hash) is None
    index = AddressIndex(index.kv, keep_undo=KEEP)
    while not index.advance(new.chain, max_deletes=5):
        pass
    assert contents(index) == contents(build_index(new.chain))
    assert index.transactions(BOB.address) == []


def test_a_store_of_another_version_or_garbage_is_wiped() -> None:
    factory = fresh_factory()
    factory.next_block([factory.transfer(ALICE, BOB.address, 1)])
    kv = MemoryStore()
    batch = WriteBatch()
    for key in (b"A\x00old-version-key", b"zz", KEY_PREFIX + b"t" + bytes(28)):
        batch.put(key, b"junk")
    batch.put(TIP_KEY, b"not a tip")
    kv.write(batch)
    index = build_index(factory.chain, kv)
    assert contents(index) == contents(build_index(factory.chain))


class TombstoneStore:
    """A store that, like LevelDB, keeps a deleted key as a tombstone that iterations step over
    until a compaction (none here) drops it; an iteration reads the store as it was when it
    began (LevelDB's implicit snapshot). `visited` counts the keys iterations stepped over,
    live or deleted: the work they did. While `failing`, a write fails and changes nothing."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes | None] = {}
        self.visited = 0
        self.failing = False

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def write(self, batch: WriteBatch, meanwhile: Callable[[], None] | None = None) -> None:
        if self.failing:
            raise StoreError("disk full")
        self.data.update(batch.ops)
        if meanwhile is not None:
            meanwhile()

    def iterate(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        snapshot = dict(self.data)
        for key in sorted(k for k in snapshot if k.startswith(prefix)):
            self.visited += 1
            value = snapshot[key]
            if value is not None:
                yield key, value

    def close(self) -> None:
        pass


def test_a_wipe_steps_over_each_key_once_however_many_steps_it_takes() -> None:
    """Each step of a wipe goes on where the last one stopped: a step that started again from
    the first key would step over the tombstones of all the steps before it (quadratic)."""
    factory = fresh_factory()
    factory.next_block([factory.transfer(ALICE, BOB.address, 1)])
    store = TombstoneStore()
    garbage = WriteBatch()
    for number in range(1_000):  # an index of another version, say
        garbage.put(b"A\x00" + number.to_bytes(4, "big"), b"old")
    store.write(garbage)
    index = AddressIndex(store, keep_undo=KEEP)
    assert index.tip is None
    per_step = []
    while True:
        before = store.visited
        done = index.advance(factory.chain, max_deletes=100)
        per_step.append(store.visited - before)
        if done:
            break
    assert per_step == [100] * 10 + [0]  # the last step finds none left, and indexes the chain
    assert contents(index) == contents(build_index(factory.chain))
    assert all(v is None for k, v in store.data.items() if k.startswith(b"A\x00"))


def test_a_wipe_whose_write_failed_deletes_every_key_when_tried_again() -> None:
    factory = fresh_factory()
    store = TombstoneStore()
    garbage = WriteBatch()
    for number in range(50):
        garbage.put(b"A\x00" + number.to_bytes(4, "big"), b"old")
    store.write(garbage)
    index = AddressIndex(store, keep_undo=KEEP)
    assert index.advance(factory.chain, max_deletes=10) is False  # 10 deleted
    store.failing = True
    with pytest.raises(StoreError, match="disk full"):
        index.advance(factory.chain, max_deletes=10)  # keys 10-19: not deleted
    store.failing = False
    while not index.advance(factory.chain, max_deletes=10):
        pass
    assert contents(index) == contents(build_index(factory.chain))


def test_undo_lists_are_kept_for_the_last_blocks_only_and_without_one_it_starts_over() -> None:
    factory = fresh_factory()
    for _ in range(8):
        factory.next_block([factory.transfer(ALICE, BOB.address, 1)])
    index = build_index(factory.chain)
    kept = [h for h in range(9) if index.kv.get(undo_key(h)) is not None]
    assert kept == [5, 6, 7, 8]  # KEEP blocks
    rival = factory.fork(3, seed=4)  # deeper than the undo lists reach
    for _ in range(7):
        rival.next_block([rival.transfer(ALICE, REPORTER.address, 1)], slot_gap=2)
    reorganised = Chain(MemoryStore(), GENESIS)
    for height in range(1, 9):
        reorganised.add_block(factory.chain.block_at(height))
    for height in range(4, rival.chain.height + 1):
        reorganised.add_block(rival.chain.block_at(height))
    assert reorganised.tip.hash == rival.chain.tip.hash
    index = AddressIndex(index.kv, keep_undo=KEEP)
    while not index.advance(reorganised):
        pass
    assert contents(index) == contents(build_index(rival.chain))


class CrashingStore:
    """A store that dies at its `crash_at`-th write: that batch is not applied (a LevelDB
    batch is atomic), and the store refuses everything after, as a dead process would."""

    def __init__(self, kv: KeyValueStore, crash_at: int) -> None:
        self.kv = kv
        self.crash_at = crash_at
        self.writes = 0
        self.dead = False

    def get(self, key: bytes) -> bytes | None:
        return self.kv.get(key)

    def write(self, batch: WriteBatch, meanwhile: Callable[[], None] | None = None) -> None:
        self.writes += 1
        if self.dead or self.writes == self.crash_at:
            self.dead = True
            raise SystemExit("killed")
        self.kv.write(batch, meanwhile)

    def iterate(self, prefix: bytes):  # type: ignore[no-untyped-def]
        return self.kv.iterate(prefix)

    def close(self) -> None:
        self.kv.close()


def _crash_scenario() -> tuple[list[Block], Chain, Chain]:
    """Blocks to feed an index (a branch, then a reorganisation to a longer one), the chain
    before the reorganisation and after it."""
    factory = fresh_factory()
    factory.next_block([factory.transfer(ALICE, BOB.address, 1)])
    factory.next_block([factory.sign(RELAY, RelayRegister(OFFER))])
    open_tx = factory.sign(ALICE, ChannelOpen(RELAY.address, 1_000, 0, bytes(32), 50))
    factory.next_block([open_tx])
    rival = factory.fork(factory.chain.height, seed=3)
    factory.next_block([factory.transfer(BOB, ALICE.address, 2)])
    channel_id = channel_id_of(ALICE.public_key, open_tx.nonce)
    rival.next_block([rival.sign(ALICE, ChannelTopup(channel_id, 7))], slot_gap=2)
    rival.next_block([rival.transfer(ALICE, REPORTER.address, 3)])
    return [rival.chain.block_at(h) for h in range(4, 6)], factory.chain, rival.chain


def test_a_crash_at_any_write_leaves_the_index_of_some_block_and_a_restart_completes_it(
    tmp_path: object,
) -> None:
    new_blocks, before, after = _crash_scenario()
    expected = {
        h: contents(build_index(chain_at(after if h > 3 else before, h)))
        for h in range(after.height + 1)
    }
    expected_old_tip = contents(build_index(before))
    crash_points = 0
    for crash_at in range(1, 40):
        backing = MemoryStore()
        store = CrashingStore(backing, crash_at)
        index = AddressIndex(store, keep_undo=KEEP)
        try:
            # Catch up with the first branch in small steps, then follow a reorganisation
            # event by event, as the plugin does.
            while not index.advance(before, max_blocks=2):
                pass
            index.disconnect(before.tip.hash)
            for block in new_blocks:
                index.connect(block)
        except SystemExit:
            crash_points += 1
        else:
            assert store.writes < crash_at  # it finished before the crash point: done
            break
        survived = AddressIndex(backing, keep_undo=KEEP)
        tip = survived.tip
        assert tip is not None or not contents(survived)
        if tip is not None:  # exactly the index of that block of one of the two branches
            at = {before.tip.hash: expected_old_tip}
            at.update({after.store.main_hash_at(h): expected[h] for h in expected})
            assert contents(survived) == at[tip.hash]
        while not survived.advance(after):
            pass
        assert contents(survived) == expected[after.height]
    assert crash_points >= 6


def chain_at(chain: Chain, height: int) -> Chain:
    """A chain holding `chain`'s main chain up to `height`."""
    copy = Chain(MemoryStore(), GENESIS)
    for h in range(1, height + 1):
        copy.add_block(chain.block_at(h))
    return copy


def test_the_index_in_leveldb_survives_a_reopen(tmp_path: object, story: Story) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "index"
    chain = story.factory.chain
    store = LevelDBStore(path, sync=False)
    index = build_index(chain, store)
    expected = contents(index)
    store.close()
    reopened = AddressIndex(LevelDBStore(path, sync=False), keep_undo=KEEP)
    try:
        assert reopened.tip == index.tip
        assert reopened.advance(chain)  # nothing to do
        assert contents(reopened) == expected
    finally:
        reopened.kv.close()


def test_a_corrupt_entry_is_a_store_error_not_a_wrong_answer(story: Story) -> None:
    index = build_index(story.factory.chain)
    batch = WriteBatch()
    batch.put(channel_key(story.channel_id), b"\xff")
    index.kv.write(batch)
    with pytest.raises(StoreError, match="corrupt address index entry"):
        index.channel(story.channel_id)
