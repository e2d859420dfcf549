"""The node's HTTP API on aiohttp (docs/api.md): JSON under `/api`, OpenAPI, metrics.

Rules:
- Every route is described in `pacata.rpc.routes` (its schemas in `pacata.rpc.schemas`); here
  `HANDLERS` binds a handler to each, checked complete at import (`ENDPOINTS`), and plugins add
  their own `Endpoint`s. The router and the OpenAPI document are both built from the one list.
- Reads and signed transaction submissions need no credentials. Administrative calls need
  `Authorization: Bearer <token>` with the token of the data directory's cookie file; a missing
  or wrong token is 401 and changes nothing.
- Every error is JSON `{"error": "<reason>"}`: a malformed parameter or body, or a transaction
  that is malformed or refused, is 400; something unknown is 404; a request this node cannot
  honour is 409; a service this node does not run, or cannot take more of now (the DHT), is
  503. An unexpected exception is logged with its traceback (rate limited, `http_log.py`) and
  answered 500; it never stops the node, and bad input never changes what is stored. A body is
  UTF-8 JSON of any shape, size and depth up to `MAX_REQUEST_BYTES`: anything else is a 400.
- Paths outside `/api` and `/metrics` belong to a plugin that mounts pages there (the
  explorer, `NodePlugin.mount`), which answers their errors itself; without one, they are
  JSON 404s like any unknown path.
- A handler reads the chain without awaiting in between, so one response describes one tip
  (the DHT lookup awaits, but reads no chain).
"""

from __future__ import annotations

import hmac
import itertools
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from pacata import __version__
from pacata.chain.blocks import Block
from pacata.chain.fee_estimate import estimate_fees
from pacata.chain.keys import Address
from pacata.chain.mempool import Mempool
from pacata.chain.state import Account, Namespace, RelayRecord, state_key, tree_key, value_hash
from pacata.chain.transactions import Transaction
from pacata.chain.transitions import spend_of
from pacata.errors import (
    DecodeError,
    NotFound,
    RecordNotFound,
    TransactionNotFound,
    ValidationError,
)
from pacata.node.discovery import DhtUnavailable
from pacata.node.discovery_plugin import DiscoveryPlugin
from pacata.node.endpoints import (
    DECIMAL,
    HASH_HEX,
    BadRequest,
    Endpoint,
    Handler,
    bind_handlers,
    check_unique,
    json_body,
    json_response,
    path_address,
    path_hash,
    query_int,
)
from pacata.node.http_log import HTTP_LOG
from pacata.node.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from pacata.node.peering import PeeringPlugin
from pacata.node.service import NodeService, ProducerUnavailable
from pacata.rpc import routes
from pacata.rpc.openapi import build_openapi
from pacata.rpc.routes import (
    DEFAULT_BLOCK_LIST,
    DEFAULT_MEMPOOL_LIST,
    MAX_BLOCK_LIST,
    MAX_MEMPOOL_LIST,
    Route,
)
from pacata.rpc.schemas import (
    AccountNotFoundSchema,
    AccountSchema,
    BlockListSchema,
    BlockSchema,
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

log = logging.getLogger("pacata.node.api")

SERVICE = web.AppKey("service", NodeService)
ADMIN_TOKEN = web.AppKey("admin_token", str)
OPENAPI_DOCUMENT = web.AppKey("openapi_document", dict)
# True when a plugin serves pages outside the API's paths (the explorer): their errors are its.
SERVES_PAGES = web.AppKey("serves_pages", bool)

MAX_REQUEST_BYTES = 64 * 1024  # a transaction is at most 4 KiB, 8 KiB in hex
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _error(status: int, reason: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


def _service(request: web.Request) -> NodeService:
    return request.app[SERVICE]


# -- parameters -----------------------------------------------------------------------------


def _query_bool(request: web.Request, name: str) -> bool:
    text = request.query.get(name, "false").lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadRequest(f"{name}: must be true or false")


# -- the node -------------------------------------------------------------------------------


async def get_status(request: web.Request) -> web.StreamResponse:
    return json_response(StatusSchema, _service(request).status())


async def get_peers(request: web.Request) -> web.StreamResponse:
    peering = _service(request).find_plugin(PeeringPlugin)
    if peering is None:
        return json_response(PeersSchema, {"count": 0, "peers": [], "bans": [], "bans_total": 0})
    network = peering.network
    now = time.monotonic()  # the peer network's clock (asyncio's loop.time())
    bans = [
        {"subject": b.subject, "expires_in_seconds": b.until - now, "reason": b.reason}
        for b in network.peers.bans(now)
    ]
    view = {
        "count": network.peer_count,
        "peers": network.peer_infos(now),
        "bans": bans,
        "bans_total": network.peers.bans_total,
    }
    return json_response(PeersSchema, view)


async def get_dht_record(request: web.Request) -> web.StreamResponse:
    node_id = path_hash(request, "node_id")
    discovery = _service(request).find_plugin(DiscoveryPlugin)
    if discovery is None:
        raise DhtUnavailable("this node runs no DHT (its UDP port is not open)")
    found = await discovery.find_record(node_id)
    if found is None:
        raise RecordNotFound(f"no node record of {node_id.hex()} in the DHT")
    record = found.record
    view = {
        "node_id": record.node_id,
        "public_key": record.public_key,
        "seq": record.seq,
        "endpoints": [
            {"transport": e.transport.name.lower(), "host": e.host, "port": e.port}
            for e in record.endpoints
        ],
        "wireguard_key": record.wireguard_key,
        "relay": record.relay,
        "signature": record.signature,
        "verified": record.verify(),
        "encoded": record.encode(),
        "source": "local" if found.local else "network",
        "hops": found.hops,
    }
    return json_response(DhtRecordSchema, view)


async def get_openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[OPENAPI_DOCUMENT])


async def get_metrics(request: web.Request) -> web.StreamResponse:
    body = _service(request).metrics.render()
    return web.Response(body=body.encode("utf-8"), headers={"Content-Type": METRICS_CONTENT_TYPE})


# -- blocks ---------------------------------------------------------------------------------


def _block_summary(block: Block) -> dict[str, Any]:
    return {
        "hash": block.hash,
        "height": block.height,
        "slot": block.header.slot,
        "timestamp_ms": block.header.timestamp_ms,
        "producer_address": Address.from_public_key(block.header.producer),
        "tx_count": len(block.transactions),
        "size": len(block.encode()),
    }


async def list_blocks(request: web.Request) -> web.StreamResponse:
    chain = _service(request).chain
    limit = query_int(request, "limit", DEFAULT_BLOCK_LIST, 1, MAX_BLOCK_LIST)
    before = query_int(request, "before", chain.height + 1, 0, 2**63 - 1)
    top = min(before - 1, chain.height)
    heights = range(top, max(top - limit, -1), -1)
    return json_response(
        BlockListSchema, {"blocks": [_block_summary(chain.block_at(h)) for h in heights]}
    )


async def get_block(request: web.Request) -> web.StreamResponse:
    chain = _service(request).chain
    block_id = request.match_info["block_id"]
    if DECIMAL.fullmatch(block_id):
        block = chain.block_at(int(block_id))
    elif HASH_HEX.fullmatch(block_id):
        block = chain.block(bytes.fromhex(block_id))
    else:
        raise BadRequest("block_id: not a height or a block hash (64 hex digits)")
    main_chain = chain.is_on_main_chain(block.hash)
    view = {
        **_block_summary(block),
        "main_chain": main_chain,
        "confirmations": chain.height - block.height + 1 if main_chain else 0,
        "header": block.header,
        "transactions": block.transactions,
    }
    return json_response(BlockSchema, view)


# -- transactions ---------------------------------------------------------------------------


async def get_transaction(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    txid = path_hash(request, "txid")
    found = service.chain.store.transaction(txid)
    if found is not None:
        tx, block_hash, index = found
        info = service.chain.store.block_info(block_hash)
        assert info is not None  # the transaction index points only at stored blocks
        height = info.height
        view: dict[str, Any] = {
            "status": "confirmed",
            "block_hash": block_hash,
            "block_height": height,
            "index": index,
            "confirmations": service.chain.height - height + 1,
            "tx": tx,
        }
        return json_response(TransactionStatusSchema, view)
    pending = service.mempool.get(txid)
    if pending is not None:
        return json_response(TransactionStatusSchema, {"status": "pending", "tx": pending})
    gone = service.mempool.why_gone(txid)
    if gone is not None:
        status = "replaced" if gone.startswith("replaced") else "evicted"
        return json_response(TransactionStatusSchema, {"status": status, "reason": gone})
    raise TransactionNotFound(f"no transaction {txid.hex()} on the chain or in the mempool")


async def submit_transaction(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, SubmitTransactionSchema)
    try:
        encoded = bytes.fromhex(body["tx"])
    except ValueError:
        raise BadRequest("tx: not hexadecimal") from None
    txid = _service(request).submit_transaction(encoded)
    return json_response(SubmittedSchema, {"txid": txid, "status": "pending"}, status=202)


async def get_mempool(request: web.Request) -> web.StreamResponse:
    mempool = _service(request).mempool
    limit = query_int(request, "limit", DEFAULT_MEMPOOL_LIST, 1, MAX_MEMPOOL_LIST)
    transactions: list[Transaction] = []
    for tx in mempool.transactions():
        if len(transactions) == limit:
            break
        transactions.append(tx)
    view = {"count": len(mempool), "bytes": mempool.size_bytes, "transactions": transactions}
    return json_response(MempoolSchema, view)


async def get_fees(request: web.Request) -> web.StreamResponse:
    return json_response(FeesSchema, estimate_fees(_service(request).mempool))


# -- relays ---------------------------------------------------------------------------------


async def list_relays(request: web.Request) -> web.StreamResponse:
    chain = _service(request).chain
    limit = query_int(request, "limit", routes.DEFAULT_RELAY_LIST, 1, routes.MAX_RELAY_LIST)
    records = chain.records(Namespace.RELAY, RelayRecord.decode)
    relays = [
        {
            "address": Address(raw),
            "owner_public_key": record.owner_public_key,
            "registered_height": record.registered_height,
            "offer": record.offer,
        }
        for raw, record in itertools.islice(records, limit)
    ]
    return json_response(RelayListSchema, {"count": len(relays), "relays": relays})


# -- accounts -------------------------------------------------------------------------------


def _pending_balance(mempool: Mempool, address: Address, balance: int) -> int:
    """`balance` less the fees and the spending of `address`'s own pending transactions; what
    pending transactions would credit it is not counted (AccountSchema's `pending_balance`).
    Not below 0: a sender's pending transactions may spend what an earlier one of them gets
    back (a channel's refund), which this does not count."""
    spent = sum(
        tx.fee + spend_of(tx.payload)
        for tx in mempool.transactions()
        if tx.sender_address == address
    )
    return max(0, balance - spent)


async def get_account(request: web.Request) -> web.StreamResponse:
    service = _service(request)
    chain = service.chain
    address = path_address(request, "address")
    with_proof = _query_bool(request, "proof")
    key = state_key(Namespace.ACCOUNT, address.raw)
    record = chain.state.get_state(key)
    proof: dict[str, Any] | None = None
    if with_proof:
        proof = {
            "block_hash": chain.tip.hash,
            "block_height": chain.height,
            "state_root": chain.state_root,
            "tree_key": tree_key(key),
            "record": record,
            "value_hash": None if record is None else value_hash(record),
            "proof": chain.account_proof(address).encode(),
        }
    if record is None:
        body: dict[str, Any] = {"error": f"no account {address} (it has never been paid)"}
        if proof is not None:
            body["proof"] = proof
        return json_response(AccountNotFoundSchema, body, status=404)
    account = Account.decode(record)
    view: dict[str, Any] = {
        "address": address,
        "balance": account.balance,
        "pending_balance": _pending_balance(service.mempool, address, account.balance),
        "nonce": account.nonce,
        "pending_nonce": service.mempool.pending_nonce(address),
        "bond": account.bond,
        "vrf_public_key": account.vrf_public_key or None,
        "unbonding": account.unbonding,
        "unbonding_total": account.unbonding_total,
    }
    if proof is not None:
        view["proof"] = proof
    return json_response(AccountSchema, view)


# -- administration -------------------------------------------------------------------------


async def admin_produce(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, ProducingRequestSchema)
    service = _service(request)
    service.set_producing(body["producing"])
    return json_response(ProducingSchema, {"producing": service.producing})


async def admin_stop(request: web.Request) -> web.StreamResponse:
    log.info("shutdown asked for over the API")
    _service(request).request_shutdown()
    return json_response(StoppingSchema, {"stopping": True}, status=202)


# -- the table ------------------------------------------------------------------------------

HANDLERS: dict[Route, Handler] = {
    routes.GET_STATUS: get_status,
    routes.GET_PEERS: get_peers,
    routes.GET_DHT_RECORD: get_dht_record,
    routes.LIST_BLOCKS: list_blocks,
    routes.GET_BLOCK: get_block,
    routes.SUBMIT_TRANSACTION: submit_transaction,
    routes.GET_TRANSACTION: get_transaction,
    routes.GET_ACCOUNT: get_account,
    routes.LIST_RELAYS: list_relays,
    routes.GET_MEMPOOL: get_mempool,
    routes.GET_FEES: get_fees,
    routes.GET_OPENAPI: get_openapi,
    routes.GET_METRICS: get_metrics,
    routes.ADMIN_PRODUCE: admin_produce,
    routes.ADMIN_STOP: admin_stop,
}
# Every route of the table served, checked at import.
ENDPOINTS: tuple[Endpoint, ...] = bind_handlers(routes.ROUTES, HANDLERS)


# -- the app --------------------------------------------------------------------------------


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _admin_only(handler: Handler) -> Handler:
    async def checked(request: web.Request) -> web.StreamResponse:
        presented = _bearer_token(request)
        expected = request.app[ADMIN_TOKEN]
        if presented is None or not hmac.compare_digest(
            presented.encode("utf-8"), expected.encode("utf-8")
        ):
            return _error(
                401,
                "administrative call: send Authorization: Bearer <the token in the data "
                "directory's .cookie file>",
                {"WWW-Authenticate": 'Bearer realm="pacatad"'},
            )
        return await handler(request)

    return checked


_ERROR_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (BadRequest, 400),
    (DecodeError, 400),
    (ValidationError, 400),  # MempoolRejected, InvalidTransaction, InvalidBlock...
    (NotFound, 404),
    (ProducerUnavailable, 409),
    (DhtUnavailable, 503),
)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.app[SERVES_PAGES] and not routes.is_api_path(request.path):
        return await handler(request)  # a plugin's page: its middleware answers its errors
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # aiohttp's own answers (no such route, wrong method, body too large) in our JSON form.
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        response = _error(exc.status, exc.reason, headers)
    except Exception as exc:
        status = next((code for kind, code in _ERROR_STATUS if isinstance(exc, kind)), 500)
        if status == 500:
            # Rate limited there: a client that found a bug must not fill the log with it.
            HTTP_LOG.exception("%s %s failed", request.method, request.path)
            response = _error(500, "internal error; the node's log has the details")
        else:
            response = _error(status, str(exc))
    _service(request).api_requests.inc(status=f"{response.status // 100}xx")
    return response


def create_app(service: NodeService, admin_token: str) -> web.Application:
    """The API of `service` (with its plugins' routes); administrative calls need
    `admin_token`."""
    if len(admin_token) < 32:
        raise ValueError("an admin token has at least 32 characters")
    app = web.Application(middlewares=[_json_errors], client_max_size=MAX_REQUEST_BYTES)
    app[SERVICE] = service
    app[ADMIN_TOKEN] = admin_token
    endpoints = ENDPOINTS + tuple(e for plugin in service.plugins for e in plugin.endpoints())
    check_unique(endpoints)
    app[OPENAPI_DOCUMENT] = build_openapi([e.route for e in endpoints], __version__)
    for endpoint in endpoints:
        handler = _admin_only(endpoint.handler) if endpoint.route.admin else endpoint.handler
        app.router.add_route(endpoint.method, endpoint.path, handler)
    # After the API's routes, so that no page can shadow one of them.
    mounted = [plugin.mount(app) for plugin in service.plugins]
    app[SERVES_PAGES] = any(mounted)
    return app
