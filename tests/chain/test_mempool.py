"""The mempool: admission rules, ordering, replacement, bounds, and following the chain."""

from __future__ import annotations

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.keys import PrivateKey
from pacata.chain.mempool import Mempool
from pacata.chain.transactions import Transfer, make_transaction
from pacata.errors import MempoolRejected
from pacata.testing import ChainFactory

ALICE, BOB, CAROL = devnet_key(1), devnet_key(2), devnet_key(3)


def _tx(key: PrivateKey, nonce: int, fee: int = 1_000, amount: int = 1, chain_id: str = ""):  # type: ignore[no-untyped-def]
    factory_chain_id = chain_id or "pacata-devnet-1"
    return make_transaction(key, factory_chain_id, nonce, fee, Transfer(BOB.address, amount))


@pytest.fixture
def factory() -> ChainFactory:
    return ChainFactory()


def test_admits_valid_and_refuses_duplicates(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    tx = _tx(ALICE, 0)
    assert pool.add(tx) == tx.txid
    assert tx.txid in pool
    with pytest.raises(MempoolRejected, match="already in the mempool"):
        pool.add(tx)
    assert len(pool) == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: _tx(ALICE, 0, chain_id="pacata-other-1"), "is for chain"),
        (lambda: _tx(ALICE, 0, fee=999), "below the minimum"),
        (lambda: _tx(ALICE, 1), "nonce gap: got 1, next is 0"),
        (lambda: _tx(ALICE, 0, amount=10**17), "insufficient balance"),
    ],
)
def test_refusals_name_the_reason(factory: ChainFactory, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    pool = Mempool(factory.chain)
    with pytest.raises(MempoolRejected, match=reason):
        pool.add(make())
    assert len(pool) == 0


def test_bad_signature_is_refused(factory: ChainFactory) -> None:
    tx = _tx(ALICE, 0)
    forged = make_transaction(ALICE, tx.chain_id, 0, tx.fee, Transfer(CAROL.address, 1))
    from dataclasses import replace

    forged = replace(forged, signature=tx.signature, _encoding=None)
    with pytest.raises(MempoolRejected, match="invalid signature"):
        Mempool(factory.chain).add(forged)


def test_used_nonce_is_refused(factory: ChainFactory) -> None:
    factory.next_block([factory.transfer(ALICE, BOB.address, 1)])
    with pytest.raises(MempoolRejected, match="already used"):
        Mempool(factory.chain).add(_tx(ALICE, 0))


def test_pending_spends_count_against_the_balance(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    balance = factory.chain.account(ALICE.address).balance
    half = balance // 2
    pool.add(_tx(ALICE, 0, amount=half))
    with pytest.raises(MempoolRejected, match="pending transactions"):
        pool.add(_tx(ALICE, 1, amount=half))
    pool.add(_tx(ALICE, 1, amount=half - 10_000))


def test_replace_by_fee(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    first = _tx(ALICE, 0, fee=10_000)
    pool.add(first)
    with pytest.raises(MempoolRejected, match="at least 11000"):
        pool.add(_tx(ALICE, 0, fee=10_999, amount=2))
    better = _tx(ALICE, 0, fee=11_000, amount=2)
    pool.add(better)
    assert first.txid not in pool
    assert better.txid in pool
    assert len(pool) == 1


def test_select_orders_by_fee_and_keeps_nonce_order(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    alice = [_tx(ALICE, 0, fee=1_000), _tx(ALICE, 1, fee=50_000), _tx(ALICE, 2, fee=1_000)]
    carol = [_tx(CAROL, 0, fee=20_000), _tx(CAROL, 1, fee=5_000)]
    for tx in [*alice, *carol]:
        pool.add(tx)
    chosen = pool.select(max_count=100, max_bytes=10**6)
    assert chosen[0] == carol[0]
    assert [t for t in chosen if t.sender == ALICE.public_key] == alice
    assert [t for t in chosen if t.sender == CAROL.public_key] == carol
    assert len(pool.select(max_count=2, max_bytes=10**6)) == 2
    # What select returns applies as a block.
    factory.next_block(chosen)
    assert factory.chain.account(ALICE.address).nonce == 3


def test_bounded_by_count_evicting_the_cheapest(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain, max_count=3)
    cheap = _tx(ALICE, 0, fee=1_000)
    cheap_next = _tx(ALICE, 1, fee=90_000)
    pool.add(cheap)
    pool.add(cheap_next)
    pool.add(_tx(CAROL, 0, fee=5_000))
    pool.add(_tx(BOB, 0, fee=6_000))
    # The cheapest went, and with it the same sender's later nonce (it could never execute).
    assert cheap.txid not in pool
    assert cheap_next.txid not in pool
    assert len(pool) == 2
    with pytest.raises(MempoolRejected, match="fee per byte is too low"):
        Mempool(factory.chain, max_count=0).add(_tx(ALICE, 0))


def test_bounded_by_bytes(factory: ChainFactory) -> None:
    size = _tx(ALICE, 0).size
    pool = Mempool(factory.chain, max_bytes=size * 2)
    for key in (ALICE, BOB, CAROL):
        pool.add(_tx(key, 0, fee=2_000 if key is ALICE else 1_500))
    assert pool.size_bytes <= size * 2
    assert len(pool) == 2


def test_follows_the_chain_and_readmits_after_a_reorg() -> None:
    main = ChainFactory(seed=5)
    main.next_block()
    rival = main.fork(1, seed=6)
    node = ChainFactory(seed=7)
    node.chain.add_block(main.chain.block_at(1))
    pool = Mempool(node.chain)

    included = main.transfer(ALICE, BOB.address, 3)
    waiting = main.transfer(ALICE, BOB.address, 4)
    pool.add(included)
    pool.add(waiting)
    block = main.next_block([included])
    pool.apply_update(node.chain.add_block(block))
    assert included.txid not in pool
    assert waiting.txid in pool

    # A longer rival branch without `included`: it comes back to the pool, ahead of `waiting`.
    rival_blocks = [rival.next_block(slot_gap=2) for _ in range(2)]
    for rival_block in rival_blocks:
        pool.apply_update(node.chain.add_block(rival_block))
    assert node.chain.tip == rival.chain.tip
    assert included.txid in pool
    assert waiting.txid in pool
    assert pool.select(10, 10**6) == [included, waiting]
    assert pool.pending_nonce(ALICE.address) == 2


def test_transactions_made_stale_by_a_block_are_dropped(factory: ChainFactory) -> None:
    pool = Mempool(factory.chain)
    mine = _tx(ALICE, 0, fee=1_000, amount=5)
    pool.add(mine)
    rival = _tx(ALICE, 0, fee=1_000, amount=6)  # same nonce, mined elsewhere
    pool.apply_update(factory.chain.add_block(factory.next_block([rival], connect=False)))
    assert mine.txid not in pool
    assert len(pool) == 0
