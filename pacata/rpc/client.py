"""A typed client of the node's HTTP API (docs/api.md): `NodeClient` on aiohttp, and
`SyncNodeClient`, its synchronous façade for the command line and the wallet shell.

    async with NodeClient("http://127.0.0.1:9740") as node:
        nonce = (await node.account(key.address)).pending_nonce
        submitted = await node.submit_transaction(make_transaction(key, chain_id, nonce, ...))
        found = await node.wait_for_transaction(submitted.txid)

Rules:
- Every call is a route of `pacata.rpc.routes`: its method, its path and the schema that loads
  its answer come from there, as the server's do, so client and server cannot disagree on a
  path or a field. Answers are loaded leniently (fields the client does not know are left out:
  a newer node may send more) but typed: hashes are bytes, addresses `Address`es, and the
  answers a wallet lives on are small frozen dataclasses (`pacata.rpc.results`).
- Errors are precise. An answer of the node that is an error raises `RpcError` carrying the
  HTTP status and the node's own reason (`{"error": ...}`), as a subclass for each status a
  caller acts on: `RpcBadRequest` (400: a malformed call, or a transaction the mempool
  refused, with the rule), `RpcUnauthorized` (401), `RpcNotFound` (404, also a `NotFound`),
  `RpcConflict` (409), `RpcUnavailable` (503). No answer at all — refused, reset, timed out —
  raises `NodeUnreachable`; an answer that is not what the API promises (not JSON, a missing
  field, over `MAX_RESPONSE_BYTES`) raises `InvalidResponse`.
- The history and channel calls (`address_transactions`, `address_channels`, `channel`) are
  served by the node's address index: a node that keeps none answers `RpcUnavailable`.
- Administrative calls send the token given to the client (the node's `.cookie`); without one
  the node answers 401. The VPN plugin's calls (`relay_offer`, `open_channel`, `disconnect`)
  are administrative: they sign with the node's own account; a node that runs no VPN side
  answers them, and `tunnels`, with `RpcNotFound`.

`SyncNodeClient` runs the one async client in an event loop of its own (`asyncio.Runner`)
rather than being a second client on urllib: the same routes, loading and error mapping serve
both, and its aiohttp session keeps its connection alive from call to call, as a shell issuing
many calls wants. It must not be used from inside a running event loop (use `NodeClient`
there), nor from several threads at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import aiohttp
from marshmallow import EXCLUDE, Schema
from marshmallow import ValidationError as SchemaError

from pacata.chain.fee_estimate import FeeEstimate
from pacata.chain.keys import Address
from pacata.chain.transactions import Transaction
from pacata.documents import decode_utf8, parse_json
from pacata.errors import DecodeError, NotFound, PacataError, RemoteProtocolError
from pacata.json_fields import describe_validation_errors
from pacata.rpc import routes, vpn
from pacata.rpc.results import (
    AccountInfo,
    ChannelInfo,
    ChannelPage,
    Disconnected,
    OpenedChannel,
    RelayInfo,
    StatusInfo,
    SubmitResult,
    SubmittedOffer,
    TransactionInfo,
    TransactionPage,
    TunnelsInfo,
    fee_estimate_from_loaded,
)
from pacata.rpc.routes import JSON, Route
from pacata.rpc.schemas import ChannelRole

DEFAULT_URL = "http://127.0.0.1:9740"
DEFAULT_TIMEOUT_S = 30.0  # a DHT lookup alone may take 10 s
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_READ_CHUNK = 64 * 1024
T = TypeVar("T")
OfferAction = Literal["register", "update", "retire"]


class RpcError(PacataError):
    """The node answered with an error: `status` is the HTTP status, `reason` the node's
    `{"error": ...}`, and `document` the whole JSON answer (a 404 for an account asked with
    `proof=True` carries the proof of its absence there)."""

    def __init__(self, status: int, reason: str, document: Mapping[str, Any] | None = None):
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason
        self.document: Mapping[str, Any] = document or {}


class RpcBadRequest(RpcError):
    """400: a malformed parameter or body, or a transaction the mempool refused."""


class RpcUnauthorized(RpcError):
    """401: an administrative call without the node's token."""


class RpcNotFound(RpcError, NotFound):
    """404: no such block, transaction, account, record or route."""


class RpcConflict(RpcError):
    """409: the node cannot do it (production asked of a node without producer keys)."""


class RpcUnavailable(RpcError):
    """503: the node runs no such service, or cannot take more of it now (the DHT)."""


class NodeUnreachable(PacataError):
    """No answer from the node: connection refused or reset, or no answer in time."""


class InvalidResponse(RemoteProtocolError):
    """The node answered something the API does not promise."""


_ERRORS: dict[int, type[RpcError]] = {
    400: RpcBadRequest,
    401: RpcUnauthorized,
    404: RpcNotFound,
    409: RpcConflict,
    503: RpcUnavailable,
}


@functools.cache
def _loader(schema: type[Schema]) -> Schema:
    return schema(unknown=EXCLUDE)


def _typed(what: str, build: Callable[[], T]) -> T:
    """`build()`, its complaints about the answer's shape made `InvalidResponse`."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, DecodeError) as exc:
        raise InvalidResponse(f"{what}: unexpected answer ({type(exc).__name__}: {exc})") from None


def check_base_url(url: str) -> str:
    """`url` without a trailing slash if it can be the address of a node's API: http:// or
    https://, a host, maybe a port (1-65535) and a path; `ValueError` otherwise."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError out of range
    except ValueError:
        parts, port = None, None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == 0
        or parts.query
        or parts.fragment
        or any(character.isspace() for character in url)
    ):
        raise ValueError(f"not an http:// or https:// URL of a host: {url!r}")
    return url.rstrip("/")


class NodeClient:
    """The node's API at `base_url` (its `--rpc` address, `http://HOST:PORT`).

    Use it as an async context manager, or call `close`. The aiohttp session is made at the
    first call (inside the event loop that runs it); a `session` given is used, not closed.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url)
        self.timeout_s = timeout_s
        self._token = token
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- the node ---------------------------------------------------------------------------

    async def status(self) -> StatusInfo:
        loaded = await self._call(routes.GET_STATUS)
        return _typed("status", lambda: StatusInfo.from_loaded(loaded))

    async def peers(self) -> dict[str, Any]:
        """Connected peers and active bans (`PeersSchema`, loaded)."""
        result: dict[str, Any] = await self._call(routes.GET_PEERS)
        return result

    async def dht_record(self, node_id: bytes) -> dict[str, Any]:
        """The signed record of node `node_id`, from the node's DHT (`DhtRecordSchema`,
        loaded). `RpcNotFound` if none turns up, `RpcUnavailable` if the node runs no DHT."""
        result: dict[str, Any] = await self._call(
            routes.GET_DHT_RECORD, path={"node_id": node_id.hex()}
        )
        return result

    async def openapi(self) -> dict[str, Any]:
        """The node's OpenAPI document."""
        result: dict[str, Any] = await self._call(routes.GET_OPENAPI)
        return result

    async def metrics(self) -> str:
        """The node's Prometheus metrics, in the text exposition format."""
        result: str = await self._call(routes.GET_METRICS)
        return result

    # -- blocks -----------------------------------------------------------------------------

    async def blocks(self, limit: int | None = None, before: int | None = None) -> list[Any]:
        """Main-chain block summaries, newest first (`BlockSummarySchema`, loaded)."""
        query = {"limit": limit, "before": before}
        loaded = await self._call(routes.LIST_BLOCKS, query=query)
        return _typed("blocks", lambda: list(loaded["blocks"]))

    async def block(self, block_id: int | bytes) -> dict[str, Any]:
        """A block by main-chain height or by hash (`BlockSchema`, loaded)."""
        if isinstance(block_id, int) and block_id < 0:
            raise ValueError(f"a height is not negative: {block_id}")
        text = str(block_id) if isinstance(block_id, int) else block_id.hex()
        result: dict[str, Any] = await self._call(routes.GET_BLOCK, path={"block_id": text})
        return result

    # -- transactions -----------------------------------------------------------------------

    async def transaction(self, txid: bytes) -> TransactionInfo:
        """Where transaction `txid` is: `RpcNotFound` if the node never saw it (or forgot)."""
        loaded = await self._call(routes.GET_TRANSACTION, path={"txid": txid.hex()})
        return _typed("transaction", lambda: TransactionInfo.from_loaded(txid, loaded))

    async def submit_transaction(self, tx: Transaction | bytes) -> SubmitResult:
        """Offers a signed transaction (or its encoding) to the mempool; `RpcBadRequest` with
        the mempool's or the decoder's reason if it is refused."""
        encoded = tx.encode() if isinstance(tx, Transaction) else bytes(tx)
        loaded = await self._call(routes.SUBMIT_TRANSACTION, body={"tx": encoded.hex()})
        result = _typed("submission", lambda: SubmitResult.from_loaded(loaded))
        if isinstance(tx, Transaction) and result.txid != tx.txid:
            raise InvalidResponse(f"the node took {tx.txid.hex()} under the id {result.txid.hex()}")
        return result

    async def wait_for_transaction(
        self, txid: bytes, *, timeout_s: float = 60.0, poll_s: float = 0.25
    ) -> TransactionInfo:
        """Polls transaction `txid` until it is no longer pending: confirmed, or evicted or
        replaced (look at `status`). `TimeoutError` if it is still pending after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = await self.transaction(txid)
            if not found.pending:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"transaction {txid.hex()} still pending after {timeout_s} s")
            await asyncio.sleep(poll_s)

    async def mempool(self, limit: int | None = None) -> dict[str, Any]:
        """The mempool's size and its first `limit` transactions (`MempoolSchema`, loaded)."""
        result: dict[str, Any] = await self._call(routes.GET_MEMPOOL, query={"limit": limit})
        return result

    # -- accounts ---------------------------------------------------------------------------

    async def account(self, address: Address | str, proof: bool = False) -> AccountInfo:
        """The account at `address`, with its state proof if asked. `RpcNotFound` for an
        address never paid (with `proof`, its `document["proof"]` proves the absence)."""
        query = {"proof": "true"} if proof else {}
        loaded = await self._call(routes.GET_ACCOUNT, path={"address": str(address)}, query=query)
        return _typed("account", lambda: AccountInfo.from_loaded(loaded))

    async def fees(self) -> FeeEstimate:
        """What a transaction pays now to go into the next block, as the node estimates it
        (the ledger's `FeeEstimate`): `suggested_fee` for a typical transfer, `fee_for(size)`
        for one of `size` bytes."""
        loaded = await self._call(routes.GET_FEES)
        return _typed("fees", lambda: fee_estimate_from_loaded(loaded))

    # -- history and channels (the node's address index) -------------------------------------

    async def address_transactions(
        self, address: Address | str, limit: int | None = None, cursor: str | None = None
    ) -> TransactionPage:
        """A page of the transactions touching `address`, newest first, the mempool's first
        (first page only); pass the page's `next_cursor` for the next one. `limit`: the node's
        default 25, at most `routes.MAX_PAGE`. `RpcUnavailable` if the node keeps no index."""
        loaded = await self._call(
            routes.LIST_ADDRESS_TRANSACTIONS,
            path={"address": str(address)},
            query={"limit": limit, "cursor": cursor},
        )
        return _typed("history", lambda: TransactionPage.from_loaded(loaded))

    async def address_channels(
        self,
        address: Address | str,
        role: ChannelRole = "any",
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ChannelPage:
        """A page of the channels of `address` as `role` ("client", "relay" or "any"),
        newest opening first; paged as `address_transactions`."""
        loaded = await self._call(
            routes.LIST_ADDRESS_CHANNELS,
            path={"address": str(address)},
            query={"role": role, "limit": limit, "cursor": cursor},
        )
        return _typed("channels", lambda: ChannelPage.from_loaded(loaded))

    async def channel(self, channel_id: bytes) -> ChannelInfo:
        """A payment channel, open or closed. `RpcNotFound` if none was ever opened with that
        id; `RpcUnavailable` for one that is not open on a node without an index."""
        loaded = await self._call(routes.GET_CHANNEL, path={"channel_id": channel_id.hex()})
        return _typed("channel", lambda: ChannelInfo.from_loaded(loaded))

    # -- relays -----------------------------------------------------------------------------

    async def relays(self, limit: int | None = None) -> list[RelayInfo]:
        """The relays registered on the chain and their offers, in address order (at most
        `limit`: the node's default 100, at most `routes.MAX_RELAY_LIST`)."""
        loaded = await self._call(routes.LIST_RELAYS, query={"limit": limit})
        return _typed("relays", lambda: [RelayInfo.from_loaded(r) for r in loaded["relays"]])

    # -- the VPN plugin (docs/api.md §VPN; all but `tunnels` need the token) -----------------

    async def relay_offer(
        self,
        action: OfferAction,
        prices_per_gib: Sequence[int] | None = None,
        rate_limits: Sequence[int] | None = None,
        endpoints: Sequence[str] | None = None,
    ) -> SubmittedOffer:
        """Has the node sign and submit its relay's offer: "register" or "update" with a
        price per GiB (base units) for each tier, and optionally each tier's rate limit (bytes
        per second, 0: none) and the endpoints (default: the node's own), or "retire".
        `RpcBadRequest` with the reason if the node or its mempool refuses it."""
        body: dict[str, object] = {"action": action}
        for name, values in (
            ("prices_per_gib", prices_per_gib),
            ("rate_limits", rate_limits),
            ("endpoints", endpoints),
        ):
            if values is not None:
                body[name] = list(values)
        loaded = await self._call(vpn.RELAY_OFFER, body=body)
        return _typed("relay offer", lambda: SubmittedOffer.from_loaded(loaded))

    async def open_channel(
        self, relay: Address | str, deposit: int, tier: int = 0, blocks: int | None = None
    ) -> OpenedChannel:
        """Has the node open a payment channel from its account to `relay` for `deposit`
        base units at `tier`, expiring `blocks` after the tip (None: the node's default,
        10,000). The tunnel comes up by itself once the opening is deep enough (`tunnels`)."""
        body: dict[str, object] = {"relay": str(relay), "deposit": deposit, "tier": tier}
        if blocks is not None:
            body["blocks"] = blocks
        loaded = await self._call(vpn.OPEN_CHANNEL, body=body)
        return _typed("channel", lambda: OpenedChannel.from_loaded(loaded))

    async def disconnect(self, channel_id: bytes) -> Disconnected:
        """Has the node stop using a channel it pays: its tunnel goes now, its refund is
        claimed after expiry. `RpcNotFound` if the node pays no such channel."""
        path = {"channel_id": channel_id.hex()}
        loaded = await self._call(vpn.DISCONNECT, path=path, body={})
        return _typed("disconnect", lambda: Disconnected.from_loaded(loaded))

    async def tunnels(self) -> TunnelsInfo:
        """The channels of the node's account, as relay and as client, and their tunnels."""
        loaded = await self._call(vpn.LIST_TUNNELS)
        return _typed("tunnels", lambda: TunnelsInfo.from_loaded(loaded))

    # -- administration (token) -------------------------------------------------------------

    async def set_producing(self, producing: bool) -> bool:
        """Switches block production on or off at the next slot; returns the new setting."""
        loaded = await self._call(routes.ADMIN_PRODUCE, body={"producing": producing})
        return _typed("producing", lambda: bool(loaded["producing"]))

    async def stop(self) -> None:
        """Asks the node to shut down cleanly, as on SIGTERM."""
        await self._call(routes.ADMIN_STOP)

    # -- the transport ----------------------------------------------------------------------

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.timeout_s)
            self._session = aiohttp.ClientSession(timeout=timeout)
        return self._session

    async def _call(
        self,
        route: Route,
        *,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, object] | None = None,
        body: Mapping[str, object] | None = None,
    ) -> Any:
        """The answer to `route`: its schema's loaded dict, or the JSON or text of a route
        without a schema."""
        url = self.base_url + route.path_with(**(path or {}))
        params = {name: str(value) for name, value in (query or {}).items() if value is not None}
        headers = {}
        if route.admin and self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        session = self._open_session()
        try:
            async with session.request(
                route.method, url, params=params, json=body, headers=headers
            ) as response:
                status = response.status
                raw = await _read_limited(response)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            why = str(exc) or f"no answer within {self.timeout_s} s"
            raise NodeUnreachable(f"cannot reach the node at {self.base_url}: {why}") from None
        if not 200 <= status < 300:
            raise _error(status, raw)
        if route.media_type != JSON:
            return _typed(route.name, lambda: decode_utf8(raw))
        try:
            document = parse_json(decode_utf8(raw))
        except DecodeError as exc:
            raise InvalidResponse(f"{route.name}: the answer is {exc}") from None
        if route.response is None:
            return document
        try:
            return _loader(route.response).load(document)
        except SchemaError as exc:
            lines = describe_validation_errors(exc.messages)
            raise InvalidResponse(f"{route.name}: {'; '.join(lines)}") from None


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise InvalidResponse(f"an answer larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, raw: bytes) -> RpcError:
    """The error for an answer of status `status`: the node's `{"error": ...}` reason, or, for
    an answer not in that form (aiohttp's own plain-text 400), its text."""
    document: Any = None
    with contextlib.suppress(DecodeError):
        document = parse_json(decode_utf8(raw))
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        reason: str = document["error"]
    else:
        document = None
        reason = raw.decode("utf-8", "replace").strip()[:200] or f"HTTP {status}"
    return _ERRORS.get(status, RpcError)(status, reason, document)


class SyncNodeClient:
    """`NodeClient` for synchronous code: the same calls, answers and errors (module rules).

    Use it as a context manager, or call `close`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._client = NodeClient(base_url, token=token, timeout_s=timeout_s)
        self._runner = asyncio.Runner()

    @property
    def base_url(self) -> str:
        return self._client.base_url

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._runner.run(self._client.close())
        finally:
            self._runner.close()

    def status(self) -> StatusInfo:
        return self._runner.run(self._client.status())

    def peers(self) -> dict[str, Any]:
        return self._runner.run(self._client.peers())

    def dht_record(self, node_id: bytes) -> dict[str, Any]:
        return self._runner.run(self._client.dht_record(node_id))

    def openapi(self) -> dict[str, Any]:
        return self._runner.run(self._client.openapi())

    def metrics(self) -> str:
        return self._runner.run(self._client.metrics())

    def blocks(self, limit: int | None = None, before: int | None = None) -> list[Any]:
        return self._runner.run(self._client.blocks(limit, before))

    def block(self, block_id: int | bytes) -> dict[str, Any]:
        return self._runner.run(self._client.block(block_id))

    def transaction(self, txid: bytes) -> TransactionInfo:
        return self._runner.run(self._client.transaction(txid))

    def submit_transaction(self, tx: Transaction | bytes) -> SubmitResult:
        return self._runner.run(self._client.submit_transaction(tx))

    def wait_for_transaction(
        self, txid: bytes, *, timeout_s: float = 60.0, poll_s: float = 0.25
    ) -> TransactionInfo:
        waiting = self._client.wait_for_transaction(txid, timeout_s=timeout_s, poll_s=poll_s)
        return self._runner.run(waiting)

    def mempool(self, limit: int | None = None) -> dict[str, Any]:
        return self._runner.run(self._client.mempool(limit))

    def account(self, address: Address | str, proof: bool = False) -> AccountInfo:
        return self._runner.run(self._client.account(address, proof))

    def relays(self, limit: int | None = None) -> list[RelayInfo]:
        return self._runner.run(self._client.relays(limit))

    def fees(self) -> FeeEstimate:
        return self._runner.run(self._client.fees())

    def address_transactions(
        self, address: Address | str, limit: int | None = None, cursor: str | None = None
    ) -> TransactionPage:
        return self._runner.run(self._client.address_transactions(address, limit, cursor))

    def address_channels(
        self,
        address: Address | str,
        role: ChannelRole = "any",
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ChannelPage:
        return self._runner.run(self._client.address_channels(address, role, limit, cursor))

    def channel(self, channel_id: bytes) -> ChannelInfo:
        return self._runner.run(self._client.channel(channel_id))

    def relay_offer(
        self,
        action: OfferAction,
        prices_per_gib: Sequence[int] | None = None,
        rate_limits: Sequence[int] | None = None,
        endpoints: Sequence[str] | None = None,
    ) -> SubmittedOffer:
        offering = self._client.relay_offer(action, prices_per_gib, rate_limits, endpoints)
        return self._runner.run(offering)

    def open_channel(
        self, relay: Address | str, deposit: int, tier: int = 0, blocks: int | None = None
    ) -> OpenedChannel:
        return self._runner.run(self._client.open_channel(relay, deposit, tier, blocks))

    def disconnect(self, channel_id: bytes) -> Disconnected:
        return self._runner.run(self._client.disconnect(channel_id))

    def tunnels(self) -> TunnelsInfo:
        return self._runner.run(self._client.tunnels())

    def set_producing(self, producing: bool) -> bool:
        return self._runner.run(self._client.set_producing(producing))

    def stop(self) -> None:
        self._runner.run(self._client.stop())
