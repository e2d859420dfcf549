"""Real signed chains for tests and benchmarks, built from the devnet genesis and its keys.

`ChainFactory` produces blocks on a chain of its own (by the devnet producer, with deterministic
slots and timestamps) from transactions it signs with the devnet accounts or with keys it
generates, so a test states only what it means: "a block of these transfers".
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.devnet import DEVNET_ACCOUNTS, devnet_key, devnet_vrf_seed
from pacata.chain.genesis import Genesis, shipped_genesis
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.kvstore import KeyValueStore, MemoryStore
from pacata.chain.merkle import merkle_root
from pacata.chain.transactions import Payload, Transaction, Transfer, make_transaction
from pacata.chain.vrf import VrfKey

PRODUCER_INDEX = 0


def devnet_chain(kv: KeyValueStore | None = None, genesis: Genesis | None = None) -> Chain:
    return Chain(kv if kv is not None else MemoryStore(), genesis or shipped_genesis("devnet"))


class ChainFactory:
    """Builds valid blocks on its own chain; hand them to any other node to import."""

    def __init__(self, chain: Chain | None = None, seed: int = 0) -> None:
        self.chain = chain if chain is not None else devnet_chain()
        self.genesis = self.chain.genesis
        self.producer = devnet_key(PRODUCER_INDEX)
        self.producer_vrf = VrfKey(devnet_vrf_seed(PRODUCER_INDEX))
        self.funded = [devnet_key(i) for i in range(1, DEVNET_ACCOUNTS)]
        self.random = random.Random(seed)
        self._nonces: dict[Address, int] = {}

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    def next_nonce(self, key: PrivateKey) -> int:
        """The next nonce of `key`, counting transactions signed here but not yet in a block."""
        address = key.address
        nonce = max(self._nonces.get(address, 0), self.chain.account(address).nonce)
        self._nonces[address] = nonce + 1
        return nonce

    def sign(self, key: PrivateKey, payload: Payload, fee: int | None = None) -> Transaction:
        fee = self.genesis.params.min_fee if fee is None else fee
        return make_transaction(key, self.chain_id, self.next_nonce(key), fee, payload)

    def transfer(self, sender: PrivateKey, recipient: Address, amount: int) -> Transaction:
        return self.sign(sender, Transfer(recipient, amount))

    def new_key(self) -> PrivateKey:
        """A key drawn from the factory's seeded generator: the same seed, the same keys."""
        return PrivateKey(self.random.randbytes(32))

    def random_transfers(self, count: int, recipients: Sequence[Address] = ()) -> list[Transaction]:
        """`count` valid transfers from funded devnet accounts to `recipients` (or new keys)."""
        targets = list(recipients) or [self.new_key().address for _ in range(count)]
        return [
            self.transfer(
                self.random.choice(self.funded),
                self.random.choice(targets),
                self.random.randint(1, 10_000),
            )
            for _ in range(count)
        ]

    def next_block(
        self,
        transactions: Iterable[Transaction] = (),
        *,
        slot_gap: int = 1,
        producer: tuple[PrivateKey, VrfKey] | None = None,
        connect: bool = True,
    ) -> Block:
        """A valid block with exactly `transactions` on the factory chain's tip.

        With `connect` the block is also imported into the factory's chain (the usual case).
        """
        txs = list(transactions)
        tip = self.chain.tip
        slot = tip.slot + slot_gap
        timestamp = self.genesis.timestamp_ms + slot * self.genesis.params.slot_ms
        key, vrf_key = producer or (self.producer, self.producer_vrf)
        leader = self.chain.leader_proof(vrf_key, key.address, slot)
        if leader is None:
            raise ValueError(f"{key.address} does not win slot {slot}")
        block, rejected = self.chain.build_block(key, leader, txs, slot, timestamp)
        if rejected:
            raise ValueError(f"{len(rejected)} transactions do not apply: {rejected[0][1]}")
        if connect:
            self.chain.add_block(block)
        return block

    def blocks(self, count: int, transfers_per_block: int = 0) -> list[Block]:
        return [self.next_block(self.random_transfers(transfers_per_block)) for _ in range(count)]

    def fork(self, height: int, seed: int) -> ChainFactory:
        """A factory on a chain of its own that holds this one's blocks up to `height`, to
        build a rival branch from there."""
        rival = ChainFactory(devnet_chain(genesis=self.genesis), seed=seed)
        for h in range(1, height + 1):
            rival.chain.add_block(self.chain.block_at(h))
        return rival

    def forget_pending_nonces(self) -> None:
        """Start counting nonces from the chain again (after building a block not connected)."""
        self._nonces.clear()


def with_params(genesis: Genesis, **changes: Any) -> Genesis:
    """`genesis` with some consensus parameters changed (a test chain of its own)."""
    return replace(genesis, params=replace(genesis.params, **changes))


def with_bad_signature(block: Block, index: int) -> Block:
    """`block` with transaction `index` signed wrongly: the same effects and state root, and a
    header re-signed by the devnet producer over the new transaction root, so that the bad
    signature is the block's only fault."""
    txs = list(block.transactions)
    txs[index] = replace(txs[index], signature=bytes(64), _encoding=None)
    header = replace(block.header, tx_root=merkle_root([tx.txid for tx in txs]))
    return Block(header.signed(devnet_key(PRODUCER_INDEX)), tuple(txs))
