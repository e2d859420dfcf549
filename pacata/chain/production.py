"""Block production: what a producing node does once per slot.

`produce_block` is the one entry point: given the slot, it checks that the producer may make a
block in it, takes transactions from the mempool, builds and signs the block, imports it into
the chain and updates the mempool. It returns the block, or None when this producer has no
block to make in this slot.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.keys import PrivateKey
from pacata.chain.mempool import Mempool
from pacata.chain.vrf import VrfKey


@dataclass(frozen=True, slots=True)
class ProducerKeys:
    """A producer's account key (signs headers) and its VRF key (the slot lottery)."""

    account: PrivateKey
    vrf: VrfKey


def slot_start_ms(chain: Chain, slot: int) -> int:
    return chain.genesis.timestamp_ms + slot * chain.params.slot_ms


def slot_at(chain: Chain, now_ms: int) -> int:
    """The slot that wall-clock time `now_ms` falls in (0 before genesis)."""
    return max(0, (now_ms - chain.genesis.timestamp_ms) // chain.params.slot_ms)


def produce_block(
    chain: Chain, mempool: Mempool, producer: ProducerKeys, slot: int, now_ms: int
) -> Block | None:
    """Makes, imports and returns this producer's block for `slot`, or None if it has none."""
    if slot <= chain.tip.slot:
        return None
    timestamp = max(slot_start_ms(chain, slot), min(now_ms, slot_start_ms(chain, slot + 1) - 1))
    leader = chain.leader_proof(producer.vrf, producer.account.address, slot)
    if leader is None:
        return None
    candidates = mempool.select(chain.params.max_block_transactions, chain.params.max_block_bytes)
    block, _rejected = chain.build_block(producer.account, leader, candidates, slot, timestamp)
    mempool.apply_update(chain.add_block(block, now_ms=now_ms))
    return block
