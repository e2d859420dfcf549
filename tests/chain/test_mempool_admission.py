"""Mempool admission as `AcceptToMemoryPool`: a transaction enters only if it applies to the
tip's state plus its sender's pending ones; what stops applying after a block is evicted with
its reason; the journal brings the pending transactions back after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from pacata.chain import schema
from pacata.chain.devnet import devnet_key
from pacata.chain.keys import Address
from pacata.chain.kvstore import LevelDBStore, MemoryStore, WriteBatch
from pacata.chain.mempool import LoadReport, Mempool
from pacata.chain.receipts import Receipt
from pacata.chain.transactions import (
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    RelayOffer,
    RelayRegister,
    RelayRetire,
    Transaction,
    Transfer,
)
from pacata.chain.transitions import channel_id_of
from pacata.errors import MempoolRejected
from pacata.testing import ChainFactory

CLIENT, RELAY, OTHER = devnet_key(1), devnet_key(2), devnet_key(3)
OFFER = RelayOffer(bytes(range(32)), ("198.51.100.7:51820",), (1_000,), (0,))


@pytest.fixture
def factory() -> ChainFactory:
    """A devnet chain on which RELAY is a registered relay."""
    factory = ChainFactory(seed=3)
    factory.next_block([factory.sign(RELAY, RelayRegister(OFFER))])
    return factory


def _open(factory: ChainFactory, relay: Address) -> Transaction:
    return factory.sign(
        CLIENT,
        ChannelOpen(
            relay=relay,
            deposit=10**8,
            tier=0,
            client_tunnel_key=bytes(32),
            expiry_height=factory.chain.height + 100,
        ),
    )


def test_a_channel_to_an_account_that_is_not_a_relay_is_refused(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    with pytest.raises(MempoolRejected, match="is not a registered relay"):
        pool.add(_open(factory, OTHER.address))
    assert len(pool) == 0


def test_a_settle_whose_receipt_the_client_did_not_sign_is_refused(
    factory: ChainFactory,
) -> None:
    opened = _open(factory, RELAY.address)
    factory.next_block([opened])
    channel_id = channel_id_of(CLIENT.public_key, opened.nonce)
    forged = Receipt(factory.chain_id, channel_id, 1_000, 500).signed(OTHER)
    pool = Mempool(factory.chain)
    with pytest.raises(MempoolRejected, match="not signed by the channel's client"):
        pool.add(factory.sign(RELAY, ChannelSettle(forged)))
    factory.forget_pending_nonces()
    honest = Receipt(factory.chain_id, channel_id, 1_000, 500).signed(CLIENT)
    assert pool.add(factory.sign(RELAY, ChannelSettle(honest)))


def test_a_transaction_that_needs_a_pending_one_before_it_is_admitted(
    factory: ChainFactory,
) -> None:
    # A new account funded by a pending transfer cannot spend yet: only the sender's own pending
    # transactions count. Its own chain of nonces does.
    pool = Mempool(factory.chain)
    newcomer = factory.new_key()
    pool.add(factory.transfer(CLIENT, newcomer.address, 10**9))
    with pytest.raises(MempoolRejected, match="insufficient balance"):
        pool.add(factory.transfer(newcomer, OTHER.address, 1))
    opened = _open(factory, RELAY.address)
    pool.add(opened)
    assert pool.pending_nonce(CLIENT.address) == 2
    assert pool.select(10, 10**6)[1] == opened


def test_a_close_is_admitted_only_once_the_settlement_grace_has_passed(
    factory: ChainFactory,
) -> None:
    chain = factory.chain
    opened = factory.sign(CLIENT, ChannelOpen(RELAY.address, 10**8, 0, bytes(32), 3))
    factory.next_block([opened])
    channel_id = channel_id_of(CLIENT.public_key, opened.nonce)
    first = 3 + chain.params.settlement_grace_blocks + 1
    pool = Mempool(chain)
    while chain.height + 1 < first:
        with pytest.raises(MempoolRejected, match=f"can be closed from height {first} "):
            pool.add(factory.sign(CLIENT, ChannelClose(channel_id)))
        factory.forget_pending_nonces()
        # The relay's settle is admitted all through the grace.
        receipt = Receipt(factory.chain_id, channel_id, chain.height, chain.height).signed(CLIENT)
        settle = factory.sign(RELAY, ChannelSettle(receipt))
        pool.add(settle)
        pool.apply_update(
            chain.add_block(factory.next_block(pool.select(10, 10**6), connect=False))
        )
        assert settle.txid not in pool and pool.why_gone(settle.txid) is None
    close = factory.sign(CLIENT, ChannelClose(channel_id))
    pool.add(close)
    # Once admitted it stays valid: later heights only leave the grace further behind.
    pool.apply_update(chain.add_block(factory.next_block([], connect=False)))
    assert close.txid in pool


def test_a_block_that_retires_the_relay_evicts_pending_channel_opens(
    factory: ChainFactory,
) -> None:
    pool = Mempool(factory.chain)
    opened = _open(factory, RELAY.address)
    after = factory.transfer(CLIENT, OTHER.address, 5)
    pool.add(opened)
    pool.add(after)
    unrelated = factory.transfer(OTHER, CLIENT.address, 7)
    pool.add(unrelated)
    retire = factory.sign(RELAY, RelayRetire())
    pool.apply_update(factory.chain.add_block(factory.next_block([retire], connect=False)))
    assert opened.txid not in pool and after.txid not in pool
    assert pool.why_gone(opened.txid) == f"evicted: {RELAY.address} is not a registered relay"
    assert pool.why_gone(after.txid) == f"evicted: follows the evicted {opened.txid.hex()}"
    assert unrelated.txid in pool and pool.why_gone(unrelated.txid) is None


def test_a_rival_with_the_same_nonce_in_a_block_evicts_and_says_why(
    factory: ChainFactory,
) -> None:
    pool = Mempool(factory.chain)
    mine = factory.transfer(CLIENT, OTHER.address, 5)
    pool.add(mine)
    factory.forget_pending_nonces()
    rival = factory.transfer(CLIENT, OTHER.address, 6)
    pool.apply_update(factory.chain.add_block(factory.next_block([rival], connect=False)))
    assert len(pool) == 0
    assert pool.why_gone(mine.txid) == f"evicted: nonce {mine.nonce} already used (next is 1)"
    assert pool.why_gone(rival.txid) is None  # mined, never evicted


def test_a_replacement_is_remembered(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    first = factory.transfer(CLIENT, OTHER.address, 5)
    pool.add(first)
    factory.forget_pending_nonces()
    better = factory.sign(CLIENT, Transfer(OTHER.address, 5), fee=10_000)
    pool.add(better)
    assert pool.why_gone(first.txid) == f"replaced by {better.txid.hex()}"


def test_a_replacement_that_does_not_apply_is_refused(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    first = factory.transfer(CLIENT, OTHER.address, 5)
    pool.add(first)
    factory.forget_pending_nonces()
    balance = factory.chain.account(CLIENT.address).balance
    with pytest.raises(MempoolRejected, match="insufficient balance"):
        pool.add(factory.sign(CLIENT, Transfer(OTHER.address, balance), fee=10_000))
    assert first.txid in pool and pool.why_gone(first.txid) is None


def test_a_replacement_evicts_the_later_ones_it_leaves_unfunded(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    balance = factory.chain.account(CLIENT.address).balance
    first = factory.transfer(CLIENT, OTHER.address, 5)
    second = factory.transfer(CLIENT, OTHER.address, balance // 2)
    pool.add(first)
    pool.add(second)
    factory.forget_pending_nonces()
    greedy = factory.sign(CLIENT, Transfer(OTHER.address, balance * 3 // 4), fee=10_000)
    pool.add(greedy)
    assert list(pool.transactions()) == [greedy]
    assert pool.why_gone(second.txid) is not None
    assert pool.why_gone(second.txid).startswith("evicted: insufficient balance")  # type: ignore[union-attr]


def _pool_with_journal(factory: ChainFactory, journal: MemoryStore) -> tuple[Mempool, list[bytes]]:
    pool = Mempool(factory.chain, journal=journal)
    txids = [pool.add(tx) for tx in factory.random_transfers(30)]
    return pool, txids


def test_the_journal_brings_pending_transactions_back(factory: ChainFactory) -> None:
    journal = MemoryStore()
    pool, txids = _pool_with_journal(factory, journal)
    mined = pool.select(5, 10**6)
    pool.apply_update(factory.chain.add_block(factory.next_block(mined, connect=False)))
    again = Mempool(factory.chain, journal=journal)
    report = again.load()
    assert report.admitted == 25 and report.refused == 0 and report.undecodable == 0
    assert sorted(tx.txid for tx in again.transactions()) == sorted(
        t for t in txids if t not in {tx.txid for tx in mined}
    )


def test_the_journal_drops_what_no_longer_applies_and_what_does_not_decode(
    factory: ChainFactory, tmp_path: Path
) -> None:
    journal = LevelDBStore(tmp_path / "mempool", sync=False)
    try:
        pool = Mempool(factory.chain, journal=journal)
        mine = factory.transfer(CLIENT, OTHER.address, 5)
        pool.add(mine)
        garbage = WriteBatch()
        garbage.put(schema.mempool_key(bytes(32)), b"\x01not a transaction")
        journal.write(garbage)
        # While the node was down, a rival with the same nonce was mined.
        factory.forget_pending_nonces()
        factory.next_block([factory.transfer(CLIENT, OTHER.address, 6)])
        again = Mempool(factory.chain, journal=journal)
        assert again.load() == LoadReport(admitted=0, refused=1, undecodable=1)
        assert len(again) == 0
        assert list(journal.iterate(schema.MEMPOOL_TX)) == []
    finally:
        journal.close()
