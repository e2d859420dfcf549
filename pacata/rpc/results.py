"""What the client (`pacata.rpc.client`) returns for the answers a wallet lives on: the node's
status, an account, a transaction's status, a submission, the registered relays, an account's
history and channels and a channel (the address index), and the VPN plugin's answers (a relay
offer sent, a channel opened or left, the tunnels). Small frozen dataclasses, each built from
its response schema's loaded dict (`from_loaded`), so hashes are bytes and addresses
`Address`es. The fees are the ledger's own `FeeEstimate` (`fee_estimate_from_loaded`), not a
copy of it; the other answers (blocks, peers, the mempool, DHT records) stay the schemas'
loaded dicts.

Rules: a field the node always sends is required (a `KeyError` here, which the client reports as
`InvalidResponse`); one that only some answers carry (a plugin's status field, the block of a
confirmed transaction) defaults to what its absence means.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self, cast

from pacata.chain.fee_estimate import FeeEstimate
from pacata.chain.keys import Address
from pacata.chain.state import Namespace, state_key, tree_key, value_hash
from pacata.chain.state_tree import StateProof, verify_proof
from pacata.chain.transactions import RelayOffer, Transaction
from pacata.errors import DecodeError

TransactionStatus = Literal["confirmed", "pending", "evicted", "replaced"]
_TRANSACTION_STATUSES = ("confirmed", "pending", "evicted", "replaced")
ChannelStatus = Literal["open", "closed"]
_CHANNEL_STATUSES = ("open", "closed")


def _loaded_fields(cls: type, loaded: Mapping[str, Any], **converted: Any) -> dict[str, Any]:
    """The arguments of dataclass `cls` from a schema's loaded dict, field by field under the
    same name: required unless the field has a default (then the default when absent);
    `converted` gives the fields whose loaded value must first be turned into another type."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        name = field.name
        if name in converted:
            values[name] = converted[name]
        elif name in loaded or (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        ):
            values[name] = loaded[name]
    return values


@dataclass(frozen=True, slots=True)
class SyncProgress:
    target_height: int = 0  # the best height peers showed
    downloaded: int = 0  # blocks sync downloaded since the node started


@dataclass(frozen=True, slots=True)
class DhtCounts:
    contacts: int = 0  # nodes in the DHT's routing table
    records: int = 0  # records held, the node's own included


@dataclass(frozen=True, slots=True)
class VpnInfo:
    """The node's WireGuard interface, when its VPN side runs."""

    interface: str
    public_key: bytes
    listen_port: int
    peers: int = 0
    rx_bytes: int = 0  # over every peer, since the interface came up
    tx_bytes: int = 0


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """`GET /api/status`: the node and its tip."""

    chain_id: str
    height: int
    tip: bytes
    tip_slot: int
    tip_timestamp_ms: int
    genesis: bytes
    mempool_size: int
    mempool_bytes: int
    producing: bool
    producer: Address | None
    version: str
    time_ms: int
    peers: int = 0
    syncing: bool = False
    sync: SyncProgress = SyncProgress()
    node_id: bytes | None = None
    reflexive_address: str | None = None
    dht: DhtCounts = DhtCounts()
    vpn: VpnInfo | None = None

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        producer = loaded["producer"]
        return cls(
            chain_id=loaded["chain_id"],
            height=loaded["height"],
            tip=loaded["tip"],
            tip_slot=loaded["tip_slot"],
            tip_timestamp_ms=loaded["tip_timestamp_ms"],
            genesis=loaded["genesis"],
            mempool_size=loaded["mempool_size"],
            mempool_bytes=loaded["mempool_bytes"],
            producing=loaded["producing"],
            producer=None if producer is None else Address.from_string(producer),
            version=loaded["version"],
            time_ms=loaded["time_ms"],
            peers=loaded.get("peers", 0),
            syncing=loaded.get("syncing", False),
            sync=SyncProgress(**loaded.get("sync", {})),
            node_id=loaded.get("node_id"),
            reflexive_address=loaded.get("reflexive_address"),
            dht=DhtCounts(**loaded.get("dht", {})),
            vpn=None if loaded.get("vpn") is None else VpnInfo(**loaded["vpn"]),
        )


@dataclass(frozen=True, slots=True)
class Unbonding:
    amount: int
    release_height: int


@dataclass(frozen=True, slots=True)
class AccountProof:
    """That the account's record is `record` (absent when None) in the state committed to by
    `state_root`, the state root of block `block_hash` (docs/state-tree.md)."""

    block_hash: bytes
    block_height: int
    state_root: bytes
    tree_key: bytes
    record: bytes | None
    value_hash: bytes | None
    proof: bytes

    def verify(self, address: Address) -> bool:
        """Whether this proves `address`'s record under `state_root`. It proves nothing about
        the root itself: check that against a header you trust (block `block_hash`)."""
        if self.tree_key != tree_key(state_key(Namespace.ACCOUNT, address.raw)):
            return False
        expected = None if self.record is None else value_hash(self.record)
        if self.value_hash != expected:
            return False
        try:
            proof = StateProof.decode(self.proof)
        except DecodeError:
            return False
        return verify_proof(self.state_root, self.tree_key, self.value_hash, proof)

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        return cls(
            block_hash=loaded["block_hash"],
            block_height=loaded["block_height"],
            state_root=loaded["state_root"],
            tree_key=loaded["tree_key"],
            record=loaded["record"],
            value_hash=loaded["value_hash"],
            proof=loaded["proof"],
        )


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """`GET /api/accounts/{address}`: `nonce` is the next one the chain expects,
    `pending_nonce` the next one counting the sender's transactions in the mempool (the one to
    sign with). `pending_balance` is `balance` less what the account's own pending transactions
    spend (fees and amounts), what pending transactions would credit it not counted; from a
    node that does not send it, `balance` (the mempool not counted)."""

    address: Address
    balance: int
    pending_balance: int
    nonce: int
    pending_nonce: int
    bond: int
    vrf_public_key: bytes | None
    unbonding: tuple[Unbonding, ...]
    unbonding_total: int
    proof: AccountProof | None = None

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        proof = loaded.get("proof")
        return cls(
            address=loaded["address"],
            balance=loaded["balance"],
            pending_balance=loaded.get("pending_balance", loaded["balance"]),
            nonce=loaded["nonce"],
            pending_nonce=loaded["pending_nonce"],
            bond=loaded["bond"],
            vrf_public_key=loaded["vrf_public_key"],
            unbonding=tuple(Unbonding(**entry) for entry in loaded["unbonding"]),
            unbonding_total=loaded["unbonding_total"],
            proof=None if proof is None else AccountProof.from_loaded(proof),
        )


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    """`GET /api/txs/{txid}`. Confirmed: with its block, `index` and `confirmations`; pending:
    in the mempool; evicted or replaced: gone from the mempool unmined, `reason` says why. `tx`
    is the transaction as `TransactionSchema` loads it (confirmed and pending only)."""

    txid: bytes
    status: TransactionStatus
    block_hash: bytes | None = None
    block_height: int | None = None
    index: int | None = None
    confirmations: int = 0
    reason: str | None = None
    tx: Mapping[str, Any] | None = None

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @classmethod
    def from_loaded(cls, txid: bytes, loaded: Mapping[str, Any]) -> Self:
        status = loaded["status"]
        if status not in _TRANSACTION_STATUSES:
            raise ValueError(f"unknown transaction status {status!r}")
        return cls(
            txid=txid,
            status=cast(TransactionStatus, status),
            block_hash=loaded.get("block_hash"),
            block_height=loaded.get("block_height"),
            index=loaded.get("index"),
            confirmations=loaded.get("confirmations", 0),
            reason=loaded.get("reason"),
            tx=loaded.get("tx"),
        )


@dataclass(frozen=True, slots=True)
class AddressTransaction:
    """A transaction of an account's history: `pending` (in the mempool) or `confirmed`, then
    with its block (`height`, `block_hash`, its `index` in it, the block's `timestamp_ms`) and
    `confirmations`. `transaction` is decoded from its canonical encoding, checked against
    `txid`."""

    txid: bytes
    status: Literal["pending", "confirmed"]
    transaction: Transaction
    height: int | None = None
    block_hash: bytes | None = None
    index: int | None = None
    timestamp_ms: int | None = None
    confirmations: int = 0

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        status = loaded["status"]
        if status not in ("pending", "confirmed"):
            raise ValueError(f"unknown history status {status!r}")
        transaction = Transaction.decode(loaded["encoded"])
        if transaction.txid != loaded["txid"]:
            raise ValueError(f"the encoding of {loaded['txid'].hex()} is another transaction")
        return cls(**_loaded_fields(cls, loaded, transaction=transaction))


@dataclass(frozen=True, slots=True)
class TransactionPage:
    """`GET /api/accounts/{address}/txs`: a page of the transactions touching `address`,
    newest first (on the first page the mempool's first); `next_cursor` asks for the next page
    (None: this is the last). `indexed_height` is the last block the node's index holds, below
    the tip while it catches up."""

    address: Address
    transactions: tuple[AddressTransaction, ...]
    next_cursor: str | None
    pending_count: int = 0
    confirmed_count: int = 0
    indexed_height: int = 0

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        items = tuple(AddressTransaction.from_loaded(item) for item in loaded["transactions"])
        return cls(**_loaded_fields(cls, loaded, transactions=items))


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A payment channel (`GET /api/channels/{channel_id}`, or an item of an account's
    channels). What changes while it is open (`deposit`, `paid`, `settled_bytes`) is there
    while it is open; its closing (`close_height`, `close_txid`) once it is closed.
    `closable_height` is the first height whose block may hold the client's close (the expiry
    height and the chain's settlement grace passed); None from a node that does not send it."""

    channel_id: bytes
    client: Address
    relay: Address
    tier: int
    status: ChannelStatus
    open_height: int
    open_txid: bytes
    expiry_height: int
    deposit: int | None = None
    paid: int | None = None
    settled_bytes: int | None = None
    close_height: int | None = None
    close_txid: bytes | None = None
    closable_height: int | None = None

    @property
    def open(self) -> bool:
        return self.status == "open"

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        status = loaded["status"]
        if status not in _CHANNEL_STATUSES:
            raise ValueError(f"unknown channel status {status!r}")
        return cls(**_loaded_fields(cls, loaded))


@dataclass(frozen=True, slots=True)
class ChannelPage:
    """`GET /api/accounts/{address}/channels`: a page of the channels of `address` in `role`
    ("client", "relay" or "any"), newest opening first; `next_cursor` as in
    `TransactionPage`."""

    address: Address
    role: str
    channels: tuple[ChannelInfo, ...]
    next_cursor: str | None
    indexed_height: int = 0

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        channels = tuple(ChannelInfo.from_loaded(item) for item in loaded["channels"])
        return cls(**_loaded_fields(cls, loaded, channels=channels))


def fee_estimate_from_loaded(loaded: Mapping[str, Any]) -> FeeEstimate:
    """`GET /api/fees` as the node computed it: the ledger's own `FeeEstimate` (with
    `fee_for(size)`), built from the answer's fields (docs/api.md §Fees)."""
    return FeeEstimate(**_loaded_fields(FeeEstimate, loaded))


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """`POST /api/txs`: the mempool took the transaction (`status` "pending")."""

    txid: bytes
    status: str

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        return cls(**_loaded_fields(cls, loaded))


@dataclass(frozen=True, slots=True)
class RelayInfo:
    """`GET /api/relays`: a relay registered on the chain and its offer."""

    address: Address
    owner_public_key: bytes
    registered_height: int
    offer: RelayOffer

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        offer = loaded["offer"]
        return cls(
            address=loaded["address"],
            owner_public_key=loaded["owner_public_key"],
            registered_height=loaded["registered_height"],
            offer=RelayOffer(
                offer["wireguard_key"],
                tuple(offer["endpoints"]),
                tuple(offer["prices_per_gib"]),
                tuple(offer["rate_limits"]),
            ),
        )


@dataclass(frozen=True, slots=True)
class SubmittedOffer:
    """`POST /api/vpn/relay`: the node signed and submitted its relay's `action` (register,
    update, retire); `endpoints` are the offer's (none for a retirement)."""

    txid: bytes
    action: str
    relay: Address
    endpoints: tuple[str, ...]
    status: str

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        return cls(**_loaded_fields(cls, loaded, endpoints=tuple(loaded["endpoints"])))


@dataclass(frozen=True, slots=True)
class OpenedChannel:
    """`POST /api/vpn/channels`: the node submitted a `CHANNEL_OPEN` (`status` "pending")."""

    txid: bytes
    channel_id: bytes
    expiry_height: int
    status: str

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        return cls(**_loaded_fields(cls, loaded))


@dataclass(frozen=True, slots=True)
class Disconnected:
    """`POST /api/vpn/channels/{channel_id}/disconnect`: the tunnel is gone; from
    `close_height` the node closes the channel and claims its refund."""

    channel_id: bytes
    status: str
    close_height: int

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        return cls(**_loaded_fields(cls, loaded))


@dataclass(frozen=True, slots=True)
class TunnelInfo:
    """One channel of the node's account and its tunnel (`GET /api/vpn/tunnels`). `role` is
    the node's side ("relay" or "client"); `state` is "confirming", "connecting", "up" or
    "ended" (kept as text: a newer node may know more states). Amounts in base units; the
    meter's figures are None on a node that keeps none for the channel."""

    channel_id: bytes
    role: str
    relay: Address
    client: Address
    tier: int
    deposit: int
    paid: int
    open_height: int
    expiry_height: int
    confirmations: int
    state: str
    receipted: int | None = None
    acknowledged: int | None = None
    counted_bytes: int | None = None
    peer: bytes | None = None
    peer_address: str | None = None
    endpoint: str | None = None

    @property
    def deposit_left(self) -> int:
        """What the channel can still pay: the deposit less what is settled on chain or
        already signed for in a receipt, whichever is more (a receipt can be settled)."""
        spent = max(self.paid, self.receipted or 0)
        return max(0, self.deposit - spent)

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        return cls(**_loaded_fields(cls, loaded))


@dataclass(frozen=True, slots=True)
class TunnelsInfo:
    """`GET /api/vpn/tunnels`: the node's account, its WireGuard interface and overlay address,
    the depth a channel needs (`confirmations`), and every channel of the account."""

    account: Address
    interface: str
    overlay_address: str
    confirmations: int
    tunnels: tuple[TunnelInfo, ...]

    def tunnel(self, channel_id: bytes) -> TunnelInfo | None:
        return next((t for t in self.tunnels if t.channel_id == channel_id), None)

    @classmethod
    def from_loaded(cls, loaded: Mapping[str, Any]) -> Self:
        tunnels = tuple(TunnelInfo.from_loaded(entry) for entry in loaded["tunnels"])
        return cls(**_loaded_fields(cls, loaded, tunnels=tunnels))
