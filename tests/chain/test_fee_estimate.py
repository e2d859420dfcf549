"""The fee estimate (pacata/chain/fee_estimate.py): the minimum below a full block, and above it
a rate that really puts a newcomer into the next block as production would fill it."""

from __future__ import annotations

from pacata.chain.devnet import devnet_key
from pacata.chain.fee_estimate import estimate_fees, fee_for_size, typical_transfer_size
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import PrivateKey
from pacata.chain.mempool import Mempool
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.transactions import Transaction, Transfer, make_transaction
from pacata.testing import devnet_chain
from pacata.testing.ledger import with_params

SENDERS = [devnet_key(i) for i in range(1, 9)]
RECIPIENT = PrivateKey(b"\x09" * 32).address
NEWCOMER = devnet_key(9)


def _mempool(max_block_bytes: int) -> Mempool:
    genesis = with_params(shipped_genesis("devnet"), max_block_bytes=max_block_bytes)
    return Mempool(devnet_chain(genesis=genesis))


def _transfer(mempool: Mempool, key: PrivateKey, fee: int) -> Transaction:
    nonce = mempool.pending_nonce(key.address)
    return make_transaction(key, mempool.chain.params.chain_id, nonce, fee, Transfer(RECIPIENT, 5))


def test_below_a_full_block_the_minimum_fee_is_enough() -> None:
    mempool = _mempool(2_000_000)
    min_fee = mempool.chain.params.min_fee
    for key in SENDERS[:3]:
        mempool.add(_transfer(mempool, key, min_fee * 3))
    estimate = estimate_fees(mempool)
    assert estimate.fee_rate_per_kb == 0
    assert estimate.suggested_fee == estimate.min_fee == min_fee
    assert estimate.fee_for(4_000) == min_fee
    assert estimate.mempool_bytes == mempool.size_bytes
    assert estimate.height == mempool.chain.height
    # A typical transfer: one PAC from a sender of some history (nonce 1,000).
    typical = Transfer(RECIPIENT, UNITS_PER_PAC)
    chain_id = mempool.chain.params.chain_id
    assert make_transaction(SENDERS[0], chain_id, 1_000, min_fee, typical).size == 143
    assert estimate.transfer_size == 143


def test_above_a_full_block_the_suggestion_makes_the_next_block_and_the_minimum_does_not() -> None:
    mempool = _mempool(1_000)  # about seven transfers
    params = mempool.chain.params
    for round_ in range(2):
        for i, key in enumerate(SENDERS):
            mempool.add(_transfer(mempool, key, params.min_fee + 150 * i + 10 * round_))
    assert len(mempool.select(params.max_block_transactions, params.max_block_bytes)) < len(mempool)
    estimate = estimate_fees(mempool)
    assert estimate.fee_rate_per_kb > 0
    assert estimate.suggested_fee > params.min_fee
    size = _transfer(mempool, NEWCOMER, estimate.suggested_fee).size
    needed = estimate.fee_for(size)
    assert needed > params.min_fee
    for fee, chosen in ((needed, True), (params.min_fee, False)):
        probe = Mempool(mempool.chain)
        for tx in mempool.transactions():
            probe.add(tx)
        newcomer = _transfer(probe, NEWCOMER, fee)
        probe.add(newcomer)
        selected = probe.select(params.max_block_transactions, params.max_block_bytes)
        assert (newcomer in selected) is chosen, fee


def test_fee_for_size_rounds_up_and_never_goes_below_the_minimum() -> None:
    assert fee_for_size(1_000, 7_050, 142) == 1_002  # 7.05 x 142 = 1,001.1
    assert fee_for_size(1_000, 7_000, 142) == 1_000  # 994: the minimum
    assert fee_for_size(1_000, 0, 4_000) == 1_000
    assert typical_transfer_size("pacata-devnet-1", 1_000) < typical_transfer_size(
        "pacata-devnet-1", 2**40
    )
