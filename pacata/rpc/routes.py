"""The HTTP API's route table (docs/api.md): what each route is, with no code that serves it.

Rules:
- Every route of the API is one `Route`: its method and path, its parameters, the schemas of
  its request and response bodies, the status of success and of each error, and whether it is
  administrative (it needs the cookie's token). The node's own are `ROUTES`, to each of which
  the server binds a handler (`pacata.node.api`, which checks at import that none is left
  out); a plugin's are a table of their own that the plugin serves (`ADDRESS_INDEX_ROUTES`
  here, the VPN's in `pacata.rpc.vpn`). The OpenAPI document is generated from the routes
  served (`pacata.rpc.openapi`), and the client calls them (`pacata.rpc.client`): a route
  cannot be served undocumented, nor called by a path or a schema the server does not have.
- A route's `name` is its OpenAPI `operationId`, unique in the table.
- Paths use `{name}` placeholders, which are aiohttp's and OpenAPI's alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from marshmallow import Schema

from pacata.rpc.schemas import (
    CHANNEL_ROLES,
    AccountSchema,
    AddressTransactionsSchema,
    BlockListSchema,
    BlockSchema,
    ChannelListSchema,
    ChannelSchema,
    DhtRecordSchema,
    FeesSchema,
    MempoolSchema,
    PeersSchema,
    ProducingRequestSchema,
    ProducingSchema,
    RelayListSchema,
    StatusSchema,
    StoppingSchema,
    SubmittedSchema,
    SubmitTransactionSchema,
    TransactionStatusSchema,
)

JSON = "application/json"
DEFAULT_BLOCK_LIST = 10
MAX_BLOCK_LIST = 100
DEFAULT_MEMPOOL_LIST = 100
MAX_MEMPOOL_LIST = 1_000
DEFAULT_RELAY_LIST = 100
MAX_RELAY_LIST = 1_000
DEFAULT_PAGE = 25
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: Literal["path", "query"]
    description: str
    type: Literal["string", "integer", "boolean"] = "string"
    required: bool = False

    def to_openapi(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.location,
            "description": self.description,
            "required": self.required or self.location == "path",
            "schema": {"type": self.type},
        }


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # the OpenAPI operationId
    method: Literal["GET", "POST"]
    path: str
    summary: str
    response: type[Schema] | None  # None: a body that is not JSON, or not described
    status: int = 200
    parameters: tuple[Parameter, ...] = ()
    request: type[Schema] | None = None
    errors: tuple[tuple[int, str], ...] = ()
    admin: bool = False
    media_type: str = JSON  # of the response

    def path_with(self, **values: str) -> str:
        """The path with its placeholders filled in, each value quoted as one path segment."""
        declared = {p.name for p in self.parameters if p.location == "path"}
        if set(values) != declared:
            raise ValueError(f"{self.name} takes path parameters {sorted(declared)}")
        return self.path.format_map({k: quote(v, safe="") for k, v in values.items()})


_LIMIT = "how many, newest first"
_BAD = (400, "a malformed parameter")

GET_STATUS = Route("get_status", "GET", "/api/status", "The node and its chain's tip", StatusSchema)
GET_PEERS = Route("get_peers", "GET", "/api/peers", "Connected peers and active bans", PeersSchema)
GET_DHT_RECORD = Route(
    "get_dht_record",
    "GET",
    "/api/dht/records/{node_id}",
    "A node's signed record, looked up in the DHT (held here, else an iterative lookup)",
    DhtRecordSchema,
    parameters=(Parameter("node_id", "path", "the node id (SHA-256 of its key) in hex"),),
    errors=(
        _BAD,
        (404, "no record of that node held here or found in time"),
        (503, "no DHT on this node (its UDP port is not open), or too many lookups"),
    ),
)
LIST_BLOCKS = Route(
    "list_blocks",
    "GET",
    "/api/blocks",
    "Recent blocks of the main chain, newest first",
    BlockListSchema,
    parameters=(
        Parameter("limit", "query", f"{_LIMIT} (1-{MAX_BLOCK_LIST})", "integer"),
        Parameter("before", "query", "list blocks below this height", "integer"),
    ),
    errors=(_BAD,),
)
GET_BLOCK = Route(
    "get_block",
    "GET",
    "/api/blocks/{block_id}",
    "A block by main-chain height or by hash",
    BlockSchema,
    parameters=(Parameter("block_id", "path", "a height, or a block hash in hex"),),
    errors=(_BAD, (404, "no such block")),
)
SUBMIT_TRANSACTION = Route(
    "submit_transaction",
    "POST",
    "/api/txs",
    "Submit a signed transaction to the mempool",
    SubmittedSchema,
    status=202,
    request=SubmitTransactionSchema,
    errors=((400, "malformed, or refused by the mempool (the reason says why)"),),
)
GET_TRANSACTION = Route(
    "get_transaction",
    "GET",
    "/api/txs/{txid}",
    "A transaction on the main chain, in the mempool, or recently evicted or replaced",
    TransactionStatusSchema,
    parameters=(Parameter("txid", "path", "transaction id in hex"),),
    errors=(_BAD, (404, "neither on the chain nor in the mempool")),
)
GET_ACCOUNT = Route(
    "get_account",
    "GET",
    "/api/accounts/{address}",
    "An account's balance, nonce and bond, optionally with a state proof",
    AccountSchema,
    parameters=(
        Parameter("address", "path", "a pac1 address"),
        Parameter("proof", "query", "true adds the state inclusion proof", "boolean"),
    ),
    errors=(_BAD, (404, "no such account (with ?proof=true, the proof of its absence)")),
)
LIST_RELAYS = Route(
    "list_relays",
    "GET",
    "/api/relays",
    "The registered relays and their offers, by address",
    RelayListSchema,
    parameters=(Parameter("limit", "query", f"how many (1-{MAX_RELAY_LIST})", "integer"),),
    errors=(_BAD,),
)
GET_MEMPOOL = Route(
    "get_mempool",
    "GET",
    "/api/mempool",
    "Transactions waiting for a block",
    MempoolSchema,
    parameters=(Parameter("limit", "query", f"how many (1-{MAX_MEMPOOL_LIST})", "integer"),),
    errors=(_BAD,),
)
GET_FEES = Route(
    "get_fees",
    "GET",
    "/api/fees",
    "The fee a transaction needs for the next block, from the mempool and the minimum fee",
    FeesSchema,
)
GET_OPENAPI = Route(
    "get_openapi", "GET", "/api/openapi.json", "This document", None, media_type=JSON
)
GET_METRICS = Route(
    "get_metrics",
    "GET",
    "/metrics",
    "Prometheus metrics (text exposition format 0.0.4)",
    None,
    media_type="text/plain",
)
ADMIN_PRODUCE = Route(
    "admin_produce",
    "POST",
    "/api/admin/produce",
    "Switch block production on or off",
    ProducingSchema,
    request=ProducingRequestSchema,
    errors=(_BAD, (409, "this node has no producer keys")),
    admin=True,
)
ADMIN_STOP = Route(
    "admin_stop",
    "POST",
    "/api/admin/stop",
    "Shut the node down cleanly",
    StoppingSchema,
    status=202,
    admin=True,
)

# In the order of the OpenAPI document's paths.
ROUTES: tuple[Route, ...] = (
    GET_STATUS,
    GET_PEERS,
    GET_DHT_RECORD,
    LIST_BLOCKS,
    GET_BLOCK,
    SUBMIT_TRANSACTION,
    GET_TRANSACTION,
    GET_ACCOUNT,
    LIST_RELAYS,
    GET_MEMPOOL,
    GET_FEES,
    GET_OPENAPI,
    GET_METRICS,
    ADMIN_PRODUCE,
    ADMIN_STOP,
)

# -- the address index's routes: served by its plugin (pacata/node/address_index_plugin.py) ---

_PAGE = (
    Parameter("limit", "query", f"how many (1-{MAX_PAGE}, default {DEFAULT_PAGE})", "integer"),
    Parameter("cursor", "query", "the next_cursor of the page before; none for the first page"),
)
_NO_INDEX = (503, "the node keeps no address index (--no-address-index), or it is not open yet")

LIST_ADDRESS_TRANSACTIONS = Route(
    "list_address_transactions",
    "GET",
    "/api/accounts/{address}/txs",
    "The transactions touching an address, newest first, the mempool's first; paged",
    AddressTransactionsSchema,
    parameters=(Parameter("address", "path", "a pac1 address"), *_PAGE),
    errors=((400, "a malformed address, limit or cursor"), _NO_INDEX),
)
LIST_ADDRESS_CHANNELS = Route(
    "list_address_channels",
    "GET",
    "/api/accounts/{address}/channels",
    "The payment channels of an address as client or relay, newest opening first; paged",
    ChannelListSchema,
    parameters=(
        Parameter("address", "path", "a pac1 address"),
        Parameter("role", "query", f"{', '.join(CHANNEL_ROLES)} (default any)"),
        *_PAGE,
    ),
    errors=((400, "a malformed address, role, limit or cursor"), _NO_INDEX),
)
GET_CHANNEL = Route(
    "get_channel",
    "GET",
    "/api/channels/{channel_id}",
    "A payment channel, open or closed",
    ChannelSchema,
    parameters=(Parameter("channel_id", "path", "the channel's id (64 hex digits)"),),
    errors=(
        (400, "not a channel id"),
        (404, "no channel of that id was ever opened on the main chain"),
        (503, "not open, and the node keeps no address index (which closed channels need)"),
    ),
)

# In the order of the OpenAPI document's paths, after `ROUTES`.
ADDRESS_INDEX_ROUTES: tuple[Route, ...] = (
    LIST_ADDRESS_TRANSACTIONS,
    LIST_ADDRESS_CHANNELS,
    GET_CHANNEL,
)


def is_api_path(path: str) -> bool:
    """Whether `path` is the API's: under `/api`, or the metrics. Every other path of the node
    (the explorer's pages) is a plugin's, which answers its errors in its own form."""
    return path == "/api" or path.startswith("/api/") or path == GET_METRICS.path
