"""JSON representations of the HTTP API (docs/api.md), as marshmallow schemas: the server dumps
with them (`pacata.node.api`), the client loads with them (`pacata.rpc.client`), and the OpenAPI
document is generated from them (`pacata.rpc.openapi`).

Rules:
- Amounts, heights, nonces, slots and timestamps are JSON integers; amounts are in base units
  (1 PAC = 10^8). Hashes, keys, signatures and encodings are lowercase hex, addresses `pac1…`,
  transaction kinds their names (`TRANSFER`).
- Response schemas dump from the ledger's own objects where the names match (a `BlockHeader`,
  a `Transaction`) and from plain dicts otherwise; loading one gives back typed values (bytes,
  `Address`, `TxKind`), for the client. Request schemas load strictly: unknown keys and wrong
  types are refused with the key's name.
- Each transaction kind has its payload schema in `PAYLOAD_SCHEMAS` (a dispatch table by kind);
  the OpenAPI document lists them as the `oneOf` of a transaction's `payload`.
- A schema's OpenAPI name is its class name without `Schema` (apispec's rule), so
  `schema_name` and the document agree.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from pacata.chain.keys import Address
from pacata.chain.transactions import Payload, TxKind
from pacata.errors import DecodeError
from pacata.json_fields import DerivedText, EnumName, HexBytes, ParsedText, StrictBoolean

# An address's side of the payment channels it lists (`GET /api/accounts/{address}/channels`):
# the one spelling of the roles, for the route, the server and the client.
ChannelRole = Literal["client", "relay", "any"]
CHANNEL_ROLES: tuple[ChannelRole, ...] = get_args(ChannelRole)


def _parse_address(text: str) -> Address:
    try:
        return Address.from_string(text)
    except DecodeError as exc:
        raise ValueError(f"not a pac1 address ({exc})") from None


def address_field(**kwargs: Any) -> ParsedText:
    """An `Address` as its `pac1…` string."""
    return ParsedText(Address, _parse_address, what="a pac1 address", **kwargs)


def _address_of_key(public_key: bytes) -> str:
    return str(Address.from_public_key(public_key))


def nested(schema: type[Schema], **kwargs: Any) -> fields.Nested:
    """A nested response object. Loaded leniently (`EXCLUDE`), as the client loads the outer
    one: a node newer than its client may answer with more fields."""
    return fields.Nested(schema, unknown=EXCLUDE, **kwargs)


def schema_name(schema: type[Schema]) -> str:
    """The OpenAPI component name of `schema` (apispec's default resolver)."""
    return schema.__name__.removesuffix("Schema")


class ErrorSchema(Schema):
    error = fields.String(required=True, metadata={"description": "what is wrong, for a person"})


# -- transactions -------------------------------------------------------------------------


class TransferPayloadSchema(Schema):
    recipient = address_field()
    amount = fields.Integer()


class BondPayloadSchema(Schema):
    amount = fields.Integer()
    vrf_public_key = HexBytes()


class UnbondPayloadSchema(Schema):
    amount = fields.Integer()


class RelayOfferSchema(Schema):
    wireguard_key = HexBytes()
    endpoints = fields.List(fields.String())
    prices_per_gib = fields.List(fields.Integer(), metadata={"description": "per tier"})
    rate_limits = fields.List(
        fields.Integer(),
        metadata={"description": "per tier, in bytes per second; 0 is unlimited"},
    )


class RelaySchema(Schema):
    address = address_field(metadata={"description": "the relay's account"})
    owner_public_key = HexBytes()
    registered_height = fields.Integer()
    offer = nested(RelayOfferSchema)


class RelayListSchema(Schema):
    count = fields.Integer(metadata={"description": "relays listed"})
    relays = fields.List(nested(RelaySchema))


class RelayOfferPayloadSchema(Schema):
    """The payload of RELAY_REGISTER and RELAY_UPDATE."""

    offer = nested(RelayOfferSchema)


class RelayRetirePayloadSchema(Schema):
    pass


class ChannelOpenPayloadSchema(Schema):
    relay = address_field()
    deposit = fields.Integer()
    tier = fields.Integer()
    client_tunnel_key = HexBytes()
    expiry_height = fields.Integer()


class ChannelTopupPayloadSchema(Schema):
    channel_id = HexBytes()
    amount = fields.Integer()


class ReceiptSchema(Schema):
    chain_id = fields.String()
    channel_id = HexBytes()
    cumulative_bytes = fields.Integer()
    cumulative_amount = fields.Integer()
    signature = HexBytes()


class ChannelSettlePayloadSchema(Schema):
    receipt = nested(ReceiptSchema)


class ChannelClosePayloadSchema(Schema):
    channel_id = HexBytes()


class HeaderSchema(Schema):
    hash = HexBytes()
    version = fields.Integer()
    height = fields.Integer()
    prev_hash = HexBytes()
    slot = fields.Integer()
    timestamp_ms = fields.Integer()
    producer = HexBytes(metadata={"description": "compressed secp256k1 public key"})
    producer_address = DerivedText("producer", _address_of_key)
    vrf_output = HexBytes()
    vrf_proof = HexBytes()
    tx_root = HexBytes()
    state_root = HexBytes()
    signature = HexBytes()


class EvidencePayloadSchema(Schema):
    first = nested(HeaderSchema)
    second = nested(HeaderSchema)


PAYLOAD_SCHEMAS: dict[TxKind, type[Schema]] = {
    TxKind.TRANSFER: TransferPayloadSchema,
    TxKind.BOND: BondPayloadSchema,
    TxKind.UNBOND: UnbondPayloadSchema,
    TxKind.RELAY_REGISTER: RelayOfferPayloadSchema,
    TxKind.RELAY_UPDATE: RelayOfferPayloadSchema,
    TxKind.RELAY_RETIRE: RelayRetirePayloadSchema,
    TxKind.CHANNEL_OPEN: ChannelOpenPayloadSchema,
    TxKind.CHANNEL_TOPUP: ChannelTopupPayloadSchema,
    TxKind.CHANNEL_SETTLE: ChannelSettlePayloadSchema,
    TxKind.CHANNEL_CLOSE: ChannelClosePayloadSchema,
    TxKind.EVIDENCE: EvidencePayloadSchema,
}
_PAYLOAD_SCHEMA_OBJECTS = {kind: schema() for kind, schema in PAYLOAD_SCHEMAS.items()}
_PAYLOAD_REFS = [
    {"$ref": f"#/components/schemas/{schema_name(schema)}"}
    for schema in dict.fromkeys(PAYLOAD_SCHEMAS.values())
]


class PayloadField(fields.Field[Payload]):
    """A transaction's payload, dumped by the schema of its kind; loaded, by the schema of the
    transaction's `kind`, as that schema's dict."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if value is None:
            return None
        return _PAYLOAD_SCHEMA_OBJECTS[value.KIND].dump(value)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        kind = data.get("kind") if isinstance(data, dict) else None
        if not isinstance(kind, str) or kind not in TxKind.__members__:
            raise ValidationError("no payload without a known kind")
        schema = _PAYLOAD_SCHEMA_OBJECTS[TxKind[kind]]
        loaded: dict[str, Any] = schema.load(value, unknown=EXCLUDE)
        return loaded


class TransactionSchema(Schema):
    txid = HexBytes()
    kind = EnumName(TxKind, metadata={"enum": [kind.name for kind in TxKind]})
    version = fields.Integer()
    chain_id = fields.String()
    sender = HexBytes(metadata={"description": "compressed secp256k1 public key"})
    sender_address = address_field()
    nonce = fields.Integer()
    fee = fields.Integer()
    size = fields.Integer(metadata={"description": "bytes of the encoding"})
    payload = PayloadField(
        metadata={"type": "object", "oneOf": _PAYLOAD_REFS, "description": "by kind"}
    )
    signature = HexBytes()


# -- blocks ---------------------------------------------------------------------------------


class BlockSummarySchema(Schema):
    hash = HexBytes()
    height = fields.Integer()
    slot = fields.Integer()
    timestamp_ms = fields.Integer()
    producer_address = address_field()
    tx_count = fields.Integer()
    size = fields.Integer()


class BlockListSchema(Schema):
    blocks = fields.List(nested(BlockSummarySchema))


class BlockSchema(Schema):
    hash = HexBytes()
    height = fields.Integer()
    main_chain = fields.Boolean(metadata={"description": "false for a block of a side branch"})
    confirmations = fields.Integer(metadata={"description": "0 off the main chain"})
    size = fields.Integer()
    tx_count = fields.Integer()
    header = nested(HeaderSchema)
    transactions = fields.List(nested(TransactionSchema))


# -- transactions by id, the mempool, submission ----------------------------------------------


class TransactionStatusSchema(Schema):
    status = fields.String(metadata={"enum": ["confirmed", "pending", "evicted", "replaced"]})
    reason = fields.String(
        metadata={
            "description": "evicted or replaced only: why the transaction left the mempool "
            '("evicted: <the rule it breaks>", "replaced by <txid>"); remembered for the '
            "last 10,000 transactions that left"
        }
    )
    block_hash = HexBytes(metadata={"description": "confirmed only"})
    block_height = fields.Integer(metadata={"description": "confirmed only"})
    index = fields.Integer(metadata={"description": "position in the block; confirmed only"})
    confirmations = fields.Integer(metadata={"description": "confirmed only"})
    tx = nested(TransactionSchema, metadata={"description": "confirmed and pending only"})


class MempoolSchema(Schema):
    count = fields.Integer()
    bytes = fields.Integer()
    transactions = fields.List(nested(TransactionSchema))


class SubmitTransactionSchema(Schema):
    tx = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "hex of the signed transaction's canonical encoding"},
    )


class SubmittedSchema(Schema):
    txid = HexBytes()
    status = fields.String(metadata={"enum": ["pending"]})


# -- accounts -------------------------------------------------------------------------------


class UnbondingSchema(Schema):
    amount = fields.Integer()
    release_height = fields.Integer()


class AccountProofSchema(Schema):
    block_hash = HexBytes(metadata={"description": "the block whose state_root the proof is for"})
    block_height = fields.Integer()
    state_root = HexBytes()
    tree_key = HexBytes(metadata={"description": "where the tree keeps the account's entry"})
    record = HexBytes(
        allow_none=True,
        metadata={"description": "the account record's encoding; null proves absence"},
    )
    value_hash = HexBytes(allow_none=True, metadata={"description": "SHA-256 of record"})
    proof = HexBytes(metadata={"description": "StateProof.encode(), docs/state-tree.md §4"})


class AccountSchema(Schema):
    address = address_field()
    balance = fields.Integer()
    nonce = fields.Integer()
    pending_nonce = fields.Integer(
        metadata={"description": "the next nonce, counting the mempool's transactions"}
    )
    pending_balance = fields.Integer(
        metadata={
            "description": "balance less what the account's own transactions waiting in the "
            "mempool spend (their fees, and the amounts they transfer, bond, deposit or top "
            "up); what pending transactions would credit it (incoming transfers, a channel's "
            "refund or settlement) is NOT counted. Never below 0"
        }
    )
    bond = fields.Integer()
    vrf_public_key = HexBytes(allow_none=True)
    unbonding = fields.List(nested(UnbondingSchema))
    unbonding_total = fields.Integer()
    proof = nested(AccountProofSchema, metadata={"description": "with ?proof=true"})


class AccountNotFoundSchema(Schema):
    error = fields.String(required=True)
    proof = nested(AccountProofSchema, metadata={"description": "with ?proof=true"})


# -- account history and channels (the address index), fees ----------------------------------

_CONFIRMED_ONLY = "confirmed only"


class AddressTransactionSchema(Schema):
    txid = HexBytes()
    status = fields.String(metadata={"enum": ["pending", "confirmed"]})
    height = fields.Integer(metadata={"description": "its block's; confirmed only"})
    block_hash = HexBytes(metadata={"description": _CONFIRMED_ONLY})
    index = fields.Integer(metadata={"description": "position in the block; confirmed only"})
    timestamp_ms = fields.Integer(metadata={"description": "its block's; confirmed only"})
    confirmations = fields.Integer(metadata={"description": _CONFIRMED_ONLY})
    tx = nested(TransactionSchema)
    encoded = HexBytes(metadata={"description": "the transaction's canonical encoding"})


class AddressTransactionsSchema(Schema):
    address = address_field()
    transactions = fields.List(
        nested(AddressTransactionSchema),
        metadata={
            "description": "newest first: the pending ones (newest admission first), then the "
            "confirmed"
        },
    )
    next_cursor = fields.String(
        allow_none=True,
        metadata={"description": "pass as cursor for the next page; null on the last page"},
    )
    pending_count = fields.Integer(
        metadata={"description": "the mempool's transactions touching the address, all pages"}
    )
    confirmed_count = fields.Integer(
        metadata={"description": "main-chain transactions touching the address, indexed"}
    )
    indexed_height = fields.Integer(
        metadata={
            "description": "the last block the index holds (below the tip while it catches up)"
        }
    )


class ChannelSchema(Schema):
    channel_id = HexBytes()
    client = address_field()
    relay = address_field()
    tier = fields.Integer()
    status = fields.String(metadata={"enum": ["open", "closed"]})
    open_height = fields.Integer()
    open_txid = HexBytes()
    expiry_height = fields.Integer()
    closable_height = fields.Integer(
        metadata={
            "description": "the first height whose block may hold the client's CHANNEL_CLOSE: "
            "expiry_height + the chain's settlement_grace_blocks + 1 (until then the relay "
            "may still settle)"
        }
    )
    deposit = fields.Integer(allow_none=True, metadata={"description": "open only"})
    paid = fields.Integer(
        allow_none=True, metadata={"description": "settled to the relay so far; open only"}
    )
    settled_bytes = fields.Integer(allow_none=True, metadata={"description": "open only"})
    close_height = fields.Integer(allow_none=True, metadata={"description": "closed only"})
    close_txid = HexBytes(allow_none=True, metadata={"description": "closed only"})


class ChannelListSchema(Schema):
    address = address_field()
    role = fields.String(metadata={"enum": list(CHANNEL_ROLES)})
    channels = fields.List(nested(ChannelSchema), metadata={"description": "newest opening first"})
    next_cursor = fields.String(
        allow_none=True,
        metadata={"description": "pass as cursor for the next page; null on the last page"},
    )
    indexed_height = fields.Integer(metadata={"description": "the last block the index holds"})


class FeesSchema(Schema):
    height = fields.Integer(metadata={"description": "the tip: the estimate is for the next block"})
    min_fee = fields.Integer(metadata={"description": "the chain's minimum per transaction"})
    fee_rate_per_kb = fields.Integer(
        metadata={
            "description": "base units per 1,000 bytes that beat the lowest fee per byte of "
            "the next block; 0 while the mempool holds less than a block"
        }
    )
    transfer_size = fields.Integer(metadata={"description": "bytes of a typical transfer"})
    suggested_fee = fields.Integer(
        metadata={"description": "max(min_fee, fee_rate_per_kb x transfer_size / 1000, rounded up)"}
    )
    mempool_bytes = fields.Integer()
    max_block_bytes = fields.Integer()


# -- the node -------------------------------------------------------------------------------


class SyncSchema(Schema):
    target_height = fields.Integer(metadata={"description": "best height peers showed"})
    downloaded = fields.Integer(metadata={"description": "blocks downloaded by sync"})


class PeerSchema(Schema):
    node_id = HexBytes(metadata={"description": "SHA-256 of the peer's node key"})
    address = fields.String(metadata={"description": "HOST:PORT of the connection"})
    inbound = fields.Boolean()
    tip_height = fields.Integer()
    connected_seconds = fields.Float()
    score = fields.Float(metadata={"description": "misbehaviour points (ban at 100)"})
    bytes_received = fields.Integer()
    bytes_sent = fields.Integer()


class BanSchema(Schema):
    subject = fields.String(metadata={"description": "node <id> or host <address>"})
    expires_in_seconds = fields.Float()
    reason = fields.String()


class PeersSchema(Schema):
    count = fields.Integer()
    peers = fields.List(nested(PeerSchema))
    bans = fields.List(nested(BanSchema))
    bans_total = fields.Integer(metadata={"description": "bans made since start"})


class DhtSchema(Schema):
    contacts = fields.Integer(metadata={"description": "nodes in the DHT's routing table"})
    records = fields.Integer(metadata={"description": "values held here, ours included"})


class VpnSchema(Schema):
    interface = fields.String(metadata={"description": "the TUN interface (`wg show` it)"})
    public_key = HexBytes(metadata={"description": "the interface's X25519 key, as in the record"})
    listen_port = fields.Integer(metadata={"description": "the node's UDP port, shared"})
    peers = fields.Integer()
    rx_bytes = fields.Integer(metadata={"description": "received from every peer since start"})
    tx_bytes = fields.Integer(metadata={"description": "sent to every peer since start"})


class StatusSchema(Schema):
    chain_id = fields.String()
    height = fields.Integer()
    tip = HexBytes(metadata={"description": "hash of the tip block"})
    tip_slot = fields.Integer()
    tip_timestamp_ms = fields.Integer()
    genesis = HexBytes(metadata={"description": "hash of the genesis block"})
    peers = fields.Integer()
    syncing = fields.Boolean()
    sync = nested(SyncSchema)
    mempool_size = fields.Integer()
    mempool_bytes = fields.Integer()
    producing = fields.Boolean()
    producer = fields.String(allow_none=True, metadata={"description": "pac1 address"})
    version = fields.String()
    time_ms = fields.Integer(metadata={"description": "the node's clock, Unix milliseconds"})
    node_id = HexBytes(
        allow_none=True,
        metadata={"description": "SHA-256 of the node key; null without peer-to-peer"},
    )
    reflexive_address = fields.String(
        allow_none=True,
        metadata={"description": "HOST:PORT our UDP port is seen at, learned by STUN from peers"},
    )
    dht = nested(DhtSchema)
    vpn = nested(
        VpnSchema,
        allow_none=True,
        metadata={"description": "the VPN side (`--vpn`); null when it does not run"},
    )


class EndpointSchema(Schema):
    transport = fields.String(metadata={"enum": ["tcp", "udp"]})
    host = fields.String(metadata={"description": "0.0.0.0 or :: for the address seen"})
    port = fields.Integer()


class DhtRecordSchema(Schema):
    node_id = HexBytes(metadata={"description": "SHA-256 of public_key: the DHT key"})
    public_key = HexBytes(metadata={"description": "the node key, compressed secp256k1"})
    seq = fields.Integer(metadata={"description": "sequence number: the higher wins"})
    endpoints = fields.List(nested(EndpointSchema))
    wireguard_key = HexBytes()
    relay = fields.Boolean()
    signature = HexBytes()
    verified = fields.Boolean(metadata={"description": "the signature checked (always true)"})
    encoded = HexBytes(metadata={"description": "the record as the DHT holds it (docs/p2p.md)"})
    source = fields.String(
        metadata={"enum": ["local", "network"], "description": "held here, or found by lookup"}
    )
    hops = fields.Integer(metadata={"description": "answers on the way to it; 0 when local"})


class ProducingRequestSchema(Schema):
    producing = StrictBoolean(required=True)


class ProducingSchema(Schema):
    producing = fields.Boolean()


class StoppingSchema(Schema):
    stopping = fields.Boolean()
