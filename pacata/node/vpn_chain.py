"""What the VPN plugin reads of the chain and writes to it, on the node's account.

- `channel_records(chain)`: every open channel, from the state's `CHANNEL` namespace in key
  order (a scan: at start and after a reorganisation; block by block, only the changed keys).
- `changed_channel_ids(keys)`: the channel ids among a block's changed state keys.
- `AccountTransactions`: signs a payload with the node's account key (nonce after the
  account's pending transactions, the chain's minimum fee) and submits it like any API
  submission; `MempoolRejected` says why one is refused.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from pacata.chain.chain import Chain
from pacata.chain.hashing import HASH_SIZE
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.state import Channel, Namespace, RelayRecord, StateOverlay, state_key
from pacata.chain.transactions import Payload, Transaction
from pacata.node.service import NodeService

_CHANNEL_PREFIX = state_key(Namespace.CHANNEL, b"")


def channel_records(chain: Chain) -> Iterator[tuple[bytes, Channel]]:
    return chain.records(Namespace.CHANNEL, Channel.decode)


def changed_channel_ids(keys: Collection[bytes]) -> list[bytes]:
    return [
        key[len(_CHANNEL_PREFIX) :]
        for key in keys
        if key.startswith(_CHANNEL_PREFIX) and len(key) == len(_CHANNEL_PREFIX) + HASH_SIZE
    ]


def channel_of(chain: Chain, channel_id: bytes) -> Channel | None:
    return StateOverlay(chain.state).channel(channel_id)


def relay_of(chain: Chain, relay: Address) -> RelayRecord | None:
    return StateOverlay(chain.state).relay(relay)


class AccountTransactions:
    """Transactions of the node's account, signed here and submitted to the node's mempool."""

    def __init__(self, service: NodeService, key: PrivateKey) -> None:
        self.service = service
        self.key = key
        self.address = key.address

    def build(self, payload: Payload) -> Transaction:
        chain = self.service.chain
        return Transaction(
            chain_id=chain.params.chain_id,
            sender=self.key.public_key,
            nonce=self.service.mempool.pending_nonce(self.address),
            fee=chain.params.min_fee,
            payload=payload,
        ).signed(self.key)

    def submit(self, payload: Payload) -> Transaction:
        tx = self.build(payload)
        self.service.submit_transaction(tx.encode())
        return tx
