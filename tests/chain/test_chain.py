"""Block import, validation failures, fork choice, reorganisation and persistence."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from pacata.chain import schema
from pacata.chain.blocks import Block
from pacata.chain.chain import AddStatus, Chain
from pacata.chain.consensus import BlockFromFuture
from pacata.chain.devnet import devnet_developer_fund_key, devnet_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.hashing import ZERO_HASH
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.kvstore import LevelDBStore, MemoryStore
from pacata.chain.merkle import merkle_root
from pacata.chain.state import Namespace, state_key, tree_key, value_hash
from pacata.chain.state_tree import verify_proof
from pacata.chain.transactions import Transaction, Transfer, make_transaction
from pacata.chain.validation import validate_body
from pacata.chain.verifier import InlineVerifier
from pacata.errors import (
    BlockNotFound,
    ConsensusError,
    DecodeError,
    InvalidBlock,
    StoreError,
)
from pacata.node.signature_process import ProcessVerifier
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.ledger import with_params

GENESIS = shipped_genesis("devnet")
PARAMS = GENESIS.params
ALICE = devnet_key(1)
BOB = devnet_key(2)
PRODUCER = devnet_key(0)


def snapshot(store: MemoryStore) -> dict[bytes, bytes]:
    return dict(store.iterate(b""))


def state_entries(chain: Chain) -> dict[bytes, bytes]:
    return {k[1:]: v for k, v in chain.kv.iterate(schema.STATE)}


def test_genesis_state() -> None:
    chain = devnet_chain()
    assert chain.height == 0
    assert chain.tip.prev_hash == ZERO_HASH
    for entry in GENESIS.accounts:
        assert chain.account(entry.address) == entry.account
    assert chain.block_at(0).hash == chain.genesis_hash
    # The same genesis file always gives the same genesis block.
    assert devnet_chain().genesis_hash == chain.genesis_hash


def test_transfer_moves_exact_amounts_and_pays_rewards() -> None:
    factory = ChainFactory()
    chain = factory.chain
    carol = PrivateKey.generate().address
    fund = devnet_developer_fund_key().address
    before = {a: chain.account(a).balance for a in (ALICE.address, PRODUCER.address, fund)}
    totals_before = chain.totals()
    fee = PARAMS.min_fee * 3
    factory.next_block([factory.sign(ALICE, Transfer(carol, 12_345), fee=fee)])
    producer_part, pool_part, developer_part = PARAMS.reward_split()
    assert chain.account(ALICE.address).balance == before[ALICE.address] - 12_345 - fee
    assert chain.account(ALICE.address).nonce == 1
    assert chain.account(carol).balance == 12_345
    assert chain.account(PRODUCER.address).balance == before[PRODUCER.address] + producer_part + fee
    assert chain.account(fund).balance == before[fund] + developer_part
    totals = chain.totals()
    assert totals.bandwidth_pool == totals_before.bandwidth_pool + pool_part > 0
    assert totals.minted == totals_before.minted + PARAMS.block_reward


def test_a_second_node_imports_the_same_blocks_to_the_same_state() -> None:
    factory = ChainFactory(seed=1)
    blocks = factory.blocks(5, transfers_per_block=40)
    other = devnet_chain()
    for block in blocks:
        assert other.add_block(Block.decode(block.encode())).status is AddStatus.CONNECTED
    assert other.state_root == factory.chain.state_root
    assert state_entries(other) == state_entries(factory.chain)
    assert other.add_block(blocks[-1]).status is AddStatus.KNOWN


def test_transactions_are_found_by_id() -> None:
    factory = ChainFactory()
    tx = factory.transfer(ALICE, BOB.address, 5)
    block = factory.next_block([tx])
    found, block_hash, index = factory.chain.store.transaction(tx.txid) or (None, b"", -1)
    assert found == tx
    assert block_hash == block.hash
    assert index == 0


def test_the_store_gives_a_blocks_encoding_as_stored_on_any_branch() -> None:
    factory = ChainFactory()
    factory.next_block([factory.transfer(ALICE, BOB.address, 5)])
    rival = factory.fork(factory.chain.height, seed=3)
    main = factory.next_block([factory.transfer(ALICE, BOB.address, 6)])
    side = rival.next_block([rival.transfer(ALICE, BOB.address, 7)], slot_gap=2)
    store = factory.chain.store
    factory.chain.add_block(side)
    # Both stored at one height: one of them is off the main chain, whichever won.
    assert store.main_hash_at(side.height) in (main.hash, side.hash)
    for block in (factory.chain.block_at(0), main, side):
        encoding = store.block_encoding(block.hash)
        assert encoding == block.encode() and Block.decode(encoding) == block
    assert store.block_encoding(bytes(32)) is None


def test_orphan_is_refused_with_block_not_found() -> None:
    factory = ChainFactory()
    first = factory.next_block()
    second = factory.next_block()
    other = devnet_chain()
    with pytest.raises(BlockNotFound):
        other.add_block(second)
    other.add_block(first)
    assert other.add_block(second).status is AddStatus.CONNECTED


# -- invalid blocks change nothing ------------------------------------------------------


def _assert_refused(block: Block, match: str, error: type[Exception] = InvalidBlock) -> None:
    store = MemoryStore()
    chain = devnet_chain(store)
    before = snapshot(store)
    with pytest.raises(error, match=match):
        chain.add_block(block)
    assert snapshot(store) == before
    assert chain.height == 0


def _block_with(transactions: list[Transaction], on: Chain | None = None) -> Block:
    """A block of exactly `transactions` on the tip of `on` (a fresh chain), never applied.

    A real block for the next slot (the producer's winning VRF proof, the right linkage), with
    its transactions replaced: the chain must find what is wrong with them.
    """
    good = ChainFactory(on or devnet_chain()).next_block([], connect=False)
    header = replace(good.header, tx_root=merkle_root([tx.txid for tx in transactions]))
    return Block(header.signed(PRODUCER), tuple(transactions))


def test_nonce_gap_is_refused() -> None:
    tx = make_transaction(ALICE, GENESIS.chain_id, 1, PARAMS.min_fee, Transfer(BOB.address, 1))
    _assert_refused(_block_with([tx]), "nonce gap")


def test_duplicate_transaction_in_a_block_is_refused() -> None:
    tx = make_transaction(ALICE, GENESIS.chain_id, 0, PARAMS.min_fee, Transfer(BOB.address, 1))
    _assert_refused(_block_with([tx, tx]), "appears twice")


def test_replayed_transaction_is_refused() -> None:
    factory = ChainFactory()
    tx = factory.transfer(ALICE, BOB.address, 10)
    factory.next_block([tx])
    chain = factory.chain
    tip = chain.tip
    with pytest.raises(ValueError, match="already used"):
        factory.next_block([tx])
    replay = _block_with([tx], on=chain)
    with pytest.raises(InvalidBlock, match="already used"):
        chain.add_block(replay)
    assert chain.tip == tip


def test_replay_from_another_chain_id_is_refused() -> None:
    tx = make_transaction(ALICE, "pacata-other-1", 0, PARAMS.min_fee, Transfer(BOB.address, 1))
    assert tx.has_valid_signature()
    _assert_refused(_block_with([tx]), "is for chain 'pacata-other-1'")
    # Re-labelled for this chain, the same signature no longer verifies.
    relabelled = replace(tx, chain_id=GENESIS.chain_id, _encoding=None)
    _assert_refused(_block_with([relabelled]), "invalid signature")


def test_insufficient_balance_is_refused() -> None:
    balance = GENESIS.accounts[1].account.balance
    tx = make_transaction(
        ALICE, GENESIS.chain_id, 0, PARAMS.min_fee, Transfer(BOB.address, balance)
    )
    _assert_refused(_block_with([tx]), "insufficient balance")


def test_fee_below_minimum_is_refused() -> None:
    tx = make_transaction(ALICE, GENESIS.chain_id, 0, PARAMS.min_fee - 1, Transfer(BOB.address, 1))
    _assert_refused(_block_with([tx]), "below the minimum")


def test_bad_transaction_signature_is_refused() -> None:
    tx = make_transaction(ALICE, GENESIS.chain_id, 0, PARAMS.min_fee, Transfer(BOB.address, 1))
    forged = replace(tx, signature=bytes([tx.signature[0] ^ 1]) + tx.signature[1:], _encoding=None)
    _assert_refused(_block_with([forged]), "invalid signature")


def test_bad_header_signature_is_refused() -> None:
    block = ChainFactory().next_block(connect=False)
    forged = replace(block.header, signature=bytes(64))
    _assert_refused(Block(forged, block.transactions), "producer's signature")


def test_wrong_state_root_is_refused() -> None:
    block = ChainFactory().next_block(connect=False)
    header = replace(block.header, state_root=bytes(32)).signed(PRODUCER)
    _assert_refused(Block(header, block.transactions), "state_root")


def test_wrong_tx_root_is_refused() -> None:
    factory = ChainFactory()
    block = factory.next_block([factory.transfer(ALICE, BOB.address, 1)], connect=False)
    header = replace(block.header, tx_root=bytes(32)).signed(PRODUCER)
    _assert_refused(Block(header, block.transactions), "tx_root")


@pytest.mark.parametrize("verifier", ["inline", "process"])
def test_a_wrong_tx_root_outranks_a_bad_signature(verifier: str) -> None:
    # The signatures are sent to be verified before the root is computed; the root's error is
    # still the one reported, and the verifier is free again for the next block.
    factory = ChainFactory()
    block = factory.next_block(factory.random_transfers(4), connect=False)
    txs = list(block.transactions)
    txs[1] = replace(txs[1], signature=bytes(64), _encoding=None)
    header = replace(block.header, tx_root=bytes(32)).signed(PRODUCER)
    process = ProcessVerifier(min_batch=1) if verifier == "process" else None
    try:
        chain = Chain(MemoryStore(), GENESIS, process or InlineVerifier())
        with pytest.raises(InvalidBlock, match="tx_root"):
            chain.add_block(Block(header, tuple(txs)))
        assert chain.height == 0
        assert process is None or not process.busy
        assert chain.add_block(block).status is AddStatus.CONNECTED
    finally:
        if process is not None:
            process.close()


def child_processes() -> set[int]:
    """The pids of this process's children, from /proc."""
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended meanwhile
            # "pid (comm) state ppid ...": comm may hold spaces, so split after its ")".
            if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid():
                children.add(int(entry.name))
    return children


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_chain_opened_as_a_library_starts_no_process() -> None:
    # What a wallet or an explorer does: open a chain and import blocks. Signatures are
    # verified inline; only the node injects its verifier process (pacata/node/daemon.py).
    before = child_processes()
    factory = ChainFactory(seed=3)
    assert isinstance(factory.chain.verifier, InlineVerifier)
    block = factory.next_block(factory.random_transfers(300), connect=False)
    chain = Chain(MemoryStore(), GENESIS)
    assert chain.add_block(block).status is AddStatus.CONNECTED
    assert child_processes() == before


def test_slot_must_advance_and_link_must_hold() -> None:
    block = ChainFactory().next_block(connect=False)
    header = block.header
    same_slot = replace(header, slot=0, timestamp_ms=GENESIS.timestamp_ms)
    _assert_refused(Block(same_slot.signed(PRODUCER), ()), "slot 0 is not after")
    _assert_refused(Block(replace(header, height=5).signed(PRODUCER), ()), "height")
    late = replace(header, timestamp_ms=header.timestamp_ms + PARAMS.slot_ms)
    _assert_refused(Block(late.signed(PRODUCER), ()), "outside slot", ConsensusError)


def test_producer_without_weight_is_refused() -> None:
    block = ChainFactory().next_block(connect=False)
    stolen = replace(block.header, producer=ALICE.public_key).signed(ALICE)
    _assert_refused(Block(stolen, ()), "has no weight in epoch 0", ConsensusError)


def test_vrf_proof_must_verify_and_match() -> None:
    block = ChainFactory().next_block(connect=False)
    header = block.header
    bad_proof = bytes([header.vrf_proof[0] ^ 1]) + header.vrf_proof[1:]
    _assert_refused(
        Block(replace(header, vrf_proof=bad_proof).signed(PRODUCER), ()),
        "VRF proof does not verify",
        ConsensusError,
    )
    other_output = bytes(64)
    _assert_refused(
        Block(replace(header, vrf_output=other_output).signed(PRODUCER), ()),
        "vrf_output is not the output",
        ConsensusError,
    )


def test_block_from_the_future_is_refused_until_its_time() -> None:
    block = ChainFactory().next_block(connect=False)
    chain = devnet_chain()
    slot_start = GENESIS.timestamp_ms + block.header.slot * PARAMS.slot_ms
    with pytest.raises(BlockFromFuture):
        chain.add_block(block, now_ms=slot_start - PARAMS.clock_allowance_ms - 1)
    assert chain.height == 0
    assert chain.add_block(block, now_ms=slot_start).status is AddStatus.CONNECTED


def test_oversized_block_is_refused() -> None:
    factory = ChainFactory()
    block = factory.next_block(factory.random_transfers(3), connect=False)
    size = len(block.encode())
    validate_body(block, PARAMS, size)
    with pytest.raises(InvalidBlock, match="exceed the limit"):
        validate_body(block, replace(PARAMS, max_block_transactions=2), size)
    with pytest.raises(InvalidBlock, match="bytes exceeds"):
        validate_body(block, replace(PARAMS, max_block_bytes=size - 1), size)


def test_malformed_block_encodings_are_refused_and_change_nothing() -> None:
    factory = ChainFactory(seed=3)
    block = factory.next_block(factory.random_transfers(5), connect=False)
    encoded = block.encode()
    store = MemoryStore()
    chain = devnet_chain(store)
    before = snapshot(store)
    for index in range(0, len(encoded), 7):
        mutated = bytearray(encoded)
        mutated[index] ^= 0x55
        try:
            decoded = Block.decode(bytes(mutated))
        except DecodeError:
            continue
        with pytest.raises((InvalidBlock, ConsensusError, BlockNotFound)):
            chain.add_block(decoded, bytes(mutated))
    for cut in (0, 10, len(encoded) // 2, len(encoded) - 1):
        with pytest.raises(DecodeError):
            Block.decode(encoded[:cut])
    assert snapshot(store) == before
    assert chain.add_block(Block.decode(encoded)).status is AddStatus.CONNECTED


# -- forks and reorganisations --------------------------------------------------------


def test_reorg_restores_every_balance_exactly() -> None:
    main = ChainFactory(seed=10)
    main.blocks(4, transfers_per_block=20)
    rival = main.fork(4, seed=11)
    main_blocks = main.blocks(4, transfers_per_block=30)
    rival_blocks = [rival.next_block(rival.random_transfers(25), slot_gap=2) for _ in range(5)]

    node = devnet_chain()
    for h in range(1, 5):
        node.add_block(main.chain.block_at(h))
    for block in main_blocks:
        node.add_block(block)
    assert node.tip == main.chain.tip
    for block in rival_blocks[:-2]:
        assert node.add_block(block).status is AddStatus.SIDE_BRANCH
    update = node.add_block(rival_blocks[-2])
    # At equal height the lower VRF output, then the lower hash wins; either way no state mixes.
    assert update.status in (AddStatus.SIDE_BRANCH, AddStatus.REORGANIZED)
    update = node.add_block(rival_blocks[-1])
    assert node.tip == rival.chain.tip
    assert node.state_root == rival.chain.state_root
    assert state_entries(node) == state_entries(rival.chain)
    assert all(not node.is_on_main_chain(b.hash) for b in main_blocks)
    for block in main_blocks:
        for tx in block.transactions:
            assert node.store.tx_location(tx.txid) is None

    # And back: the original branch grows longer, every entry returns to its exact value.
    for block in main.blocks(2, transfers_per_block=5):
        node.add_block(block)
    assert node.tip == main.chain.tip
    assert state_entries(node) == state_entries(main.chain)


def test_double_spend_across_a_reorg() -> None:
    main = ChainFactory(seed=20)
    main.next_block()
    rival = main.fork(1, seed=21)
    carol, dave = PrivateKey.generate().address, PrivateKey.generate().address
    everything = main.chain.account(ALICE.address).balance - PARAMS.min_fee
    spend_to_carol = main.transfer(ALICE, carol, everything)
    spend_to_dave = rival.transfer(ALICE, dave, everything)
    assert spend_to_carol.nonce == spend_to_dave.nonce
    block_a = main.next_block([spend_to_carol])
    rival_blocks = [rival.next_block([spend_to_dave], slot_gap=2), rival.next_block()]

    node = devnet_chain()
    node.add_block(main.chain.block_at(1))
    node.add_block(block_a)
    assert node.account(carol).balance == everything
    # The tie at height 2 may already switch branches (lower hash); height 3 surely does.
    updates = [node.add_block(block) for block in rival_blocks]
    assert [u.status for u in updates].count(AddStatus.REORGANIZED) == 1
    assert [b.hash for u in updates for b in u.disconnected] == [block_a.hash]
    assert node.tip == rival.chain.tip
    assert node.account(carol).balance == 0
    assert node.account(dave).balance == everything
    assert node.account(ALICE.address).balance == 0
    # The spend to carol can never come back on this branch.
    again = _block_with([spend_to_carol], on=node)
    with pytest.raises(InvalidBlock, match="already used"):
        node.add_block(again)


def test_invalid_block_in_a_longer_branch_keeps_the_old_chain() -> None:
    main = ChainFactory(seed=30)
    main.blocks(2, transfers_per_block=3)
    rival = main.fork(1, seed=31)
    good = rival.next_block(slot_gap=2)
    bad_base = rival.next_block([rival.transfer(ALICE, BOB.address, 1)], connect=False)
    bad = Block(
        replace(bad_base.header, state_root=bytes(32)).signed(PRODUCER), bad_base.transactions
    )
    node = devnet_chain()
    for h in (1, 2):
        node.add_block(main.chain.block_at(h))
    node.add_block(good)
    # `good` ties with the main tip and may win on its hash; either way that is the chain to keep.
    tip, root, entries = node.tip, node.state_root, state_entries(node)
    with pytest.raises(InvalidBlock, match="state_root"):
        node.add_block(bad)
    assert node.tip == tip
    assert node.state_root == root
    assert state_entries(node) == entries
    # Refused again: remembered as invalid when it was stored on a side branch, re-validated
    # (and stored nowhere) when it was offered as a child of the tip.
    with pytest.raises(InvalidBlock, match=r"known to be invalid|state_root"):
        node.add_block(bad)
    assert node.tip == tip


def test_no_reorg_below_the_finality_depth() -> None:
    genesis = with_params(GENESIS, finality_depth=3)
    main = ChainFactory(devnet_chain(genesis=genesis), seed=40)
    rival = ChainFactory(devnet_chain(genesis=genesis), seed=41)
    main.blocks(6)
    rival_blocks = [rival.next_block(slot_gap=2) for _ in range(9)]
    node = devnet_chain(genesis=genesis)
    for h in range(1, 7):
        node.add_block(main.chain.block_at(h))
    tip = node.tip
    with pytest.raises(InvalidBlock, match="finality"):
        node.add_block(rival_blocks[0])
    assert node.tip == tip


# -- proofs, persistence ----------------------------------------------------------------


def test_account_proof_verifies_against_the_state_root() -> None:
    factory = ChainFactory()
    factory.blocks(2, transfers_per_block=10)
    chain = factory.chain
    key = tree_key(state_key(Namespace.ACCOUNT, ALICE.address.raw))
    encoded = chain.account(ALICE.address).encode()
    proof = chain.account_proof(ALICE.address)
    assert verify_proof(chain.state_root, key, value_hash(encoded), proof)
    assert not verify_proof(chain.state_root, key, value_hash(encoded + b"x"), proof)
    nobody = Address(bytes(20))
    absent = chain.account_proof(nobody)
    assert verify_proof(
        chain.state_root, tree_key(state_key(Namespace.ACCOUNT, nobody.raw)), None, absent
    )


def test_leveldb_chain_reopens_at_its_tip(tmp_path: Path) -> None:
    factory = ChainFactory(seed=50)
    blocks = factory.blocks(3, transfers_per_block=10)
    store = LevelDBStore(tmp_path / "db")
    chain = Chain(store, GENESIS)
    for block in blocks:
        chain.add_block(block)
    store.close()
    store = LevelDBStore(tmp_path / "db")
    try:
        reopened = Chain(store, GENESIS)
        assert reopened.tip == factory.chain.tip
        assert state_entries(reopened) == state_entries(factory.chain)
        assert reopened.add_block(factory.next_block()).status is AddStatus.CONNECTED
    finally:
        store.close()


def test_store_of_another_chain_is_refused(tmp_path: Path) -> None:
    store = LevelDBStore(tmp_path / "db")
    Chain(store, GENESIS)
    store.close()
    store = LevelDBStore(tmp_path / "db")
    try:
        other = replace(GENESIS, params=replace(PARAMS, chain_id="pacata-other-1"))
        with pytest.raises(StoreError, match="another chain"):
            Chain(store, other)
    finally:
        store.close()


def test_second_process_cannot_open_a_store(tmp_path: Path) -> None:
    store = LevelDBStore(tmp_path / "db")
    try:
        with pytest.raises(StoreError, match="cannot open"):
            LevelDBStore(tmp_path / "db")
    finally:
        store.close()
