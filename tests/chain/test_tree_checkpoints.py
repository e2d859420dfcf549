"""State-tree nodes written at checkpoints: what the store holds, and the rebuild after a stop
without one (pacata/chain/tree_checkpoints.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pacata.chain import schema
from pacata.chain.blocks import Block
from pacata.chain.chain import AddStatus, Chain
from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.kvstore import KeyValueStore, LevelDBStore, MemoryStore, WriteBatch
from pacata.chain.merkle import merkle_root
from pacata.chain.state import Namespace, state_key, tree_key, value_hash
from pacata.chain.state_tree import EMPTY_ROOT, StateTree, encoded_nodes_under, verify_proof
from pacata.chain.tree_checkpoints import TreeNodeBuffer
from pacata.chain.verifier import InlineVerifier
from pacata.errors import InvalidBlock, StoreError
from pacata.node.signature_process import ProcessVerifier
from pacata.testing import ChainFactory
from pacata.testing.ledger import PRODUCER_INDEX

GENESIS = shipped_genesis("devnet")


def stored_nodes(kv: KeyValueStore) -> dict[bytes, bytes]:
    return {key[len(schema.TREE_NODE) :]: value for key, value in kv.iterate(schema.TREE_NODE)}


def assert_store_holds_the_tree(kv: KeyValueStore, root: bytes) -> None:
    """Every node under `root` is in the store: a tree reading the store alone walks it all."""
    nodes = stored_nodes(kv)
    stack = [root]
    while stack:
        node_hash = stack.pop()
        if node_hash == EMPTY_ROOT:
            continue
        assert node_hash in nodes, f"node {node_hash.hex()} under the root is not stored"
        encoding = nodes[node_hash]
        if encoding[0] == 1:
            stack += [encoding[1:33], encoding[33:65]]


def assert_proves_every_account(chain: Chain) -> None:
    accounts = schema.STATE + state_key(Namespace.ACCOUNT, b"")
    for key, value in chain.kv.iterate(accounts):
        address_key = key[len(schema.STATE) :]
        held = StateTree(chain.store.read_tree_node).get(chain.state_root, tree_key(address_key))
        assert held == value_hash(value)


def test_nodes_are_written_at_checkpoints_only_and_only_the_tips() -> None:
    factory = ChainFactory(seed=1)
    blocks = factory.blocks(7, transfers_per_block=20)
    kv = MemoryStore()
    chain = Chain(kv, GENESIS, checkpoint_blocks=3)
    genesis_nodes = len(stored_nodes(kv))
    chain.add_block(blocks[0])
    made_by_the_first = set(chain.tree_nodes)
    chain.add_block(blocks[1])
    assert len(stored_nodes(kv)) == genesis_nodes  # no checkpoint yet: nothing written
    assert kv.get(schema.TREE_CHECKPOINT) == chain.genesis_hash
    chain.add_block(blocks[2])  # the third block since genesis: a checkpoint
    assert kv.get(schema.TREE_CHECKPOINT) == blocks[2].hash
    assert_store_holds_the_tree(kv, chain.state_root)
    # Nodes that the first block made and later ones replaced were never written.
    assert made_by_the_first - stored_nodes(kv).keys()
    assert len(chain.tree_nodes) == 0
    for block in blocks[3:]:
        chain.add_block(block)
    assert kv.get(schema.TREE_CHECKPOINT) == blocks[5].hash
    chain.checkpoint()
    assert kv.get(schema.TREE_CHECKPOINT) == blocks[6].hash
    assert_store_holds_the_tree(kv, chain.state_root)
    assert chain.state_root == factory.chain.state_root


def test_a_stop_without_checkpoint_rebuilds_the_tree(tmp_path: Path) -> None:
    factory = ChainFactory(seed=2)
    blocks = factory.blocks(6, transfers_per_block=15)
    store = LevelDBStore(tmp_path / "db")
    try:
        chain = Chain(store, GENESIS, checkpoint_blocks=4)
        for block in blocks:
            chain.add_block(block)
        assert store.get(schema.TREE_CHECKPOINT) == blocks[3].hash
    finally:
        store.close()  # as a crash would leave it: two blocks' nodes only in memory
    store = LevelDBStore(tmp_path / "db")
    try:
        reopened = Chain(store, GENESIS, checkpoint_blocks=4)
        assert reopened.tip == factory.chain.tip
        assert len(reopened.tree_nodes) > 0  # rebuilt from the checkpoint, not yet written
        reopened.checkpoint()
        assert_store_holds_the_tree(store, reopened.state_root)
        assert_proves_every_account(reopened)
        assert reopened.add_block(factory.next_block(factory.random_transfers(5))).status is (
            AddStatus.CONNECTED
        )
    finally:
        store.close()


def test_a_reorganisation_across_a_checkpoint_and_a_rebuild(tmp_path: Path) -> None:
    main = ChainFactory(seed=3)
    main.blocks(2, transfers_per_block=10)
    rival = main.fork(2, seed=4)
    main_blocks = main.blocks(3, transfers_per_block=10)
    rival_blocks = [rival.next_block(rival.random_transfers(10), slot_gap=2) for _ in range(4)]

    store = LevelDBStore(tmp_path / "db")
    try:
        node = Chain(store, GENESIS, checkpoint_blocks=2)
        for height in (1, 2):
            node.add_block(main.chain.block_at(height))
        for block in main_blocks:
            node.add_block(block)
        # The checkpoint is at main height 4, above the fork point (2).
        assert store.get(schema.TREE_CHECKPOINT) == main_blocks[1].hash
        statuses = [node.add_block(block).status for block in rival_blocks]
        assert AddStatus.REORGANIZED in statuses
        assert node.tip == rival.chain.tip
    finally:
        store.close()
    # Reopened without a checkpoint at the new tip: rebuilt through the fork point.
    store = LevelDBStore(tmp_path / "db")
    try:
        reopened = Chain(store, GENESIS, checkpoint_blocks=2)
        assert reopened.state_root == rival.chain.state_root
        reopened.checkpoint()
        assert_store_holds_the_tree(store, reopened.state_root)
        assert_proves_every_account(reopened)
        for address in (main_blocks[0].transactions[0].sender_address,):
            key = state_key(Namespace.ACCOUNT, address.raw)
            raw = reopened.store.get_state(key)
            assert verify_proof(
                reopened.state_root,
                tree_key(key),
                None if raw is None else value_hash(raw),
                reopened.account_proof(address),
            )
    finally:
        store.close()


def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    factory = ChainFactory(seed=5)
    blocks = factory.blocks(3, transfers_per_block=5)
    store = LevelDBStore(tmp_path / "db")
    try:
        chain = Chain(store, GENESIS, checkpoint_blocks=1)  # every node written, as version 1
        for block in blocks:
            chain.add_block(block)
        batch = WriteBatch()
        batch.put(schema.VERSION, b"1")
        batch.delete(schema.TREE_CHECKPOINT)
        store.write(batch)
    finally:
        store.close()
    store = LevelDBStore(tmp_path / "db")
    try:
        reopened = Chain(store, GENESIS)
        assert store.get(schema.VERSION) == str(schema.SCHEMA_VERSION).encode()
        assert store.get(schema.TREE_CHECKPOINT) == blocks[-1].hash
        assert len(reopened.tree_nodes) == 0
        assert_proves_every_account(reopened)
    finally:
        store.close()


def test_a_checkpoint_naming_a_missing_block_is_refused() -> None:
    kv = MemoryStore()
    Chain(kv, GENESIS)
    batch = WriteBatch()
    batch.put(schema.TREE_CHECKPOINT, bytes(32))
    kv.write(batch)
    with pytest.raises(StoreError, match="checkpoint is missing"):
        Chain(kv, GENESIS)


def test_a_store_without_a_checkpoint_is_refused() -> None:
    kv = MemoryStore()
    Chain(kv, GENESIS)
    batch = WriteBatch()
    batch.delete(schema.TREE_CHECKPOINT)
    kv.write(batch)
    with pytest.raises(StoreError, match="names no state-tree checkpoint"):
        Chain(kv, GENESIS)


def test_a_corrupt_flat_state_is_caught_by_the_rebuild() -> None:
    factory = ChainFactory(seed=6)
    blocks = factory.blocks(2, transfers_per_block=5)
    kv = MemoryStore()
    chain = Chain(kv, GENESIS, checkpoint_blocks=10)
    for block in blocks:
        chain.add_block(block)
    sender = blocks[1].transactions[0].sender_address
    batch = WriteBatch()
    batch.put(schema.state_entry_key(state_key(Namespace.ACCOUNT, sender.raw)), b"\x00\x00")
    kv.write(batch)
    with pytest.raises(StoreError, match="does not match the tip's state root"):
        Chain(kv, GENESIS)


def test_an_invalid_block_leaves_no_nodes_behind() -> None:
    factory = ChainFactory(seed=7)
    good = factory.next_block(factory.random_transfers(5), connect=False)
    forged = replace(good.header, state_root=bytes(32)).signed(devnet_key(PRODUCER_INDEX))
    chain = Chain(MemoryStore(), GENESIS)
    with pytest.raises(InvalidBlock, match="state_root"):
        chain.add_block(Block(forged, good.transactions))
    assert len(chain.tree_nodes) == 0
    assert chain.add_block(good).status is AddStatus.CONNECTED
    assert len(chain.tree_nodes) > 0
    # On top of buffered nodes, a refused block's update takes back only what it added.
    buffered = dict(chain.tree_nodes.nodes)
    factory.chain.add_block(good)
    after = factory.next_block(factory.random_transfers(5), connect=False)
    forged = replace(after.header, state_root=bytes(32)).signed(devnet_key(PRODUCER_INDEX))
    with pytest.raises(InvalidBlock, match="state_root"):
        chain.add_block(Block(forged, after.transactions))
    assert chain.tree_nodes.nodes == buffered
    assert chain.add_block(after).status is AddStatus.CONNECTED


def test_the_buffer_discards_what_was_added_since_a_mark() -> None:
    buffer = TreeNodeBuffer(Chain(MemoryStore(), GENESIS).store)
    buffer.add({b"a" * 32: b"first", b"b" * 32: b"second"})
    mark = buffer.mark()
    # An update may meet a node that is already buffered: it stays, the new ones go.
    buffer.nodes.update({b"b" * 32: b"second", b"c" * 32: b"third", b"d" * 32: b"fourth"})
    buffer.discard_since(mark)
    assert sorted(buffer) == [b"a" * 32, b"b" * 32]
    buffer.discard_since(buffer.mark())
    assert len(buffer) == 2


@pytest.mark.parametrize("verifier", [InlineVerifier(), None], ids=["inline", "process"])
def test_a_bad_signature_outranks_an_execution_error(verifier: InlineVerifier | None) -> None:
    factory = ChainFactory(seed=8)
    good = factory.next_block(factory.random_transfers(3), connect=False)
    txs = list(good.transactions)
    txs[2] = replace(
        txs[2], signature=bytes([txs[2].signature[0] ^ 1]) + txs[2].signature[1:], _encoding=None
    )
    header = replace(
        good.header, state_root=bytes(32), tx_root=merkle_root([tx.txid for tx in txs])
    ).signed(devnet_key(PRODUCER_INDEX))
    process = ProcessVerifier(min_batch=1) if verifier is None else None
    try:
        chain = Chain(MemoryStore(), GENESIS, verifier or process)
        with pytest.raises(InvalidBlock, match="transaction 2 has an invalid signature"):
            chain.add_block(Block(header, tuple(txs)))
        assert chain.height == 0
        assert len(chain.tree_nodes) == 0
        assert chain.add_block(good).status is AddStatus.CONNECTED
    finally:
        if process is not None:
            process.close()


def test_encoded_nodes_under_descends_only_through_the_given_nodes() -> None:
    tree_nodes: dict[bytes, bytes] = {}
    tree = StateTree(tree_nodes.get, cache_size=0)
    root, made = tree.update(EMPTY_ROOT, {bytes([i]) * 32: bytes([i]) * 32 for i in range(1, 9)})
    assert dict(encoded_nodes_under(root, made)) == made
    # Without the root's left child, nothing below it is reached.
    left = made[root][1:33]
    partial = {h: e for h, e in made.items() if h != left}
    reached = dict(encoded_nodes_under(root, partial))
    assert left not in reached and root in reached
    assert len(reached) < len(partial)


def test_the_buffer_reads_itself_first_then_the_store() -> None:
    kv = MemoryStore()
    chain = Chain(kv, GENESIS)
    buffer = TreeNodeBuffer(chain.store, checkpoint_blocks=2, checkpoint_nodes=5)
    stored_hash, stored = next(iter(stored_nodes(kv).items()))
    assert buffer.read(stored_hash) == stored
    assert buffer.read(bytes(32)) is None
    buffer.add({b"h" * 32: b"node"})
    assert buffer.read(b"h" * 32) == b"node"
    assert not buffer.due
    buffer.add({bytes([i]) * 32: b"x" for i in range(5)})
    assert buffer.due  # by nodes; two blocks also make it due
    with pytest.raises(ValueError):
        TreeNodeBuffer(chain.store, checkpoint_blocks=0)
