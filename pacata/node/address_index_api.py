"""The address index's API routes (`ADDRESS_INDEX_ROUTES` of pacata/rpc/routes.py): an account's
history, its payment channels, and one channel (docs/api.md §Account history and channels).

Rules:
- Lists are newest first and paged. A cursor is opaque to clients; here it is the kind of list
  and the chain position (height, index in the block) of the page's last item, in base64url.
  The next page holds what is strictly older than that position, so a page boundary stays put
  while blocks are added above it (and through a reorganisation that does not reach it).
- The first page of a history (no cursor) starts with the mempool's transactions touching the
  address, newest first; they count towards `limit`, and the confirmed ones fill the rest.
  Every page says how many are pending in all (`pending_count`).
- Channels are listed by their opening, newest first: an open channel with what the state
  holds of it now (deposit, paid, settled bytes), a closed one with its closing.
- A handler reads the chain, the mempool and the index without awaiting, so one answer
  describes one tip; an entry the index holds for a block no longer on the main chain (it
  lags a reorganisation for the moment) is left out, not answered wrong.
- Without an index (`--no-address-index`), or before it is open, the lists answer 503 with the
  reason; a channel is still answered while it is open (from the state, its opening found in
  the block at its open height), and 503 once it is not.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable
from typing import Any

from aiohttp import web

from pacata.chain.address_index import (
    AddressIndex,
    block_encoding,
    entry_transaction,
    touched_addresses,
)
from pacata.chain.address_index_schema import ChainPosition, ChannelEntry, Role, TxEntry
from pacata.chain.codec import MAX_U64
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.state import Channel, StateOverlay
from pacata.chain.transactions import TxKind
from pacata.chain.transitions import channel_id_of
from pacata.errors import NotFound, PacataError, StoreError
from pacata.node.endpoints import (
    BadRequest,
    Endpoint,
    bind_handlers,
    json_response,
    path_address,
    path_hash,
    query_int,
)
from pacata.node.service import NodeService
from pacata.rpc import routes
from pacata.rpc.schemas import (
    AddressTransactionsSchema,
    ChannelListSchema,
    ChannelSchema,
    ErrorSchema,
)

_CURSOR = struct.Struct(">cQI")
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{18}")
_TX_LIST, _CHANNEL_LIST = b"t", b"c"
# Above every position: "everything confirmed", for a first page that pending ones filled.
_TOP = ChainPosition(MAX_U64, 0xFFFF_FFFF)
_ROLES: dict[str, tuple[Role, ...]] = {
    "client": (Role.CLIENT,),
    "relay": (Role.RELAY,),
    "any": (Role.CLIENT, Role.RELAY),
}


class IndexUnavailable(PacataError):
    """The node keeps no address index, or it is not open yet; the message says which."""


class ChannelNotFound(NotFound):
    """No channel of that id was opened on the main chain."""


def encode_cursor(kind: bytes, position: ChainPosition) -> str:
    raw = _CURSOR.pack(kind, position.height, position.index)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(kind: bytes, text: str) -> ChainPosition:
    """The position a cursor of a `kind` list names; `BadRequest` for anything else."""
    refused = BadRequest("cursor: not a cursor of this list (pass next_cursor as it came)")
    if not _CURSOR_TEXT.fullmatch(text):
        raise refused
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except binascii.Error:
        raise refused from None
    found, height, index = _CURSOR.unpack(raw)
    if found != kind or encode_cursor(kind, ChainPosition(height, index)) != text:
        raise refused
    return ChainPosition(height, index)


class _Blocks:
    """The main chain's blocks one answer reads, each read once: hash, encoding, header."""

    def __init__(self, service: NodeService) -> None:
        self.chain = service.chain
        self._read: dict[int, tuple[bytes, bytes, BlockHeader] | None] = {}

    def at(self, height: int) -> tuple[bytes, bytes, BlockHeader] | None:
        if height not in self._read:
            found = None
            block_hash = self.chain.store.main_hash_at(height)
            if block_hash is not None:
                encoding = block_encoding(self.chain, block_hash)
                header = self.chain.store.header(block_hash)
                if encoding is not None and header is not None:
                    found = (block_hash, encoding, header)
            self._read[height] = found
        return self._read[height]


class AddressIndexApi:
    """The handlers; `index()` gives the index or raises `IndexUnavailable`."""

    def __init__(self, service: NodeService, index: Callable[[], AddressIndex]) -> None:
        self.service = service
        self.index = index

    def endpoints(self) -> tuple[Endpoint, ...]:
        handlers = {
            routes.LIST_ADDRESS_TRANSACTIONS: self.list_transactions,
            routes.LIST_ADDRESS_CHANNELS: self.list_channels,
            routes.GET_CHANNEL: self.get_channel,
        }
        return bind_handlers(routes.ADDRESS_INDEX_ROUTES, handlers)

    # -- an account's history ---------------------------------------------------------------

    async def list_transactions(self, request: web.Request) -> web.StreamResponse:
        address = path_address(request, "address")
        limit = query_int(request, "limit", routes.DEFAULT_PAGE, 1, routes.MAX_PAGE)
        text = request.query.get("cursor")
        before = None if text is None else decode_cursor(_TX_LIST, text)
        try:
            index = self.index()
        except IndexUnavailable as exc:
            return _unavailable(exc)
        pending = [
            tx
            for tx in reversed(list(self.service.mempool.transactions()))
            if address in touched_addresses(tx, index.channel_parties)
        ]
        items: list[dict[str, Any]] = []
        if before is None:
            items = [
                {"txid": tx.txid, "status": "pending", "tx": tx, "encoded": tx.encode()}
                for tx in pending[:limit]
            ]
        room = limit - len(items)
        # One more than there is room for, to know whether a page follows.
        entries = index.transactions(address, before, room + 1)
        blocks = _Blocks(self.service)
        for entry in entries[:room]:
            view = self._confirmed(entry, blocks)
            if view is not None:
                items.append(view)
        next_cursor = None
        if len(entries) > room:
            last = entries[room - 1].position if room else (before or _TOP)
            next_cursor = encode_cursor(_TX_LIST, last)
        page = {
            "address": address,
            "transactions": items,
            "next_cursor": next_cursor,
            "pending_count": len(pending),
            "confirmed_count": index.transaction_count(address),
            "indexed_height": index.height,
        }
        return json_response(AddressTransactionsSchema, page)

    def _confirmed(self, entry: TxEntry, blocks: _Blocks) -> dict[str, Any] | None:
        found = blocks.at(entry.height)
        tx = None if found is None else entry_transaction(entry, found[1])
        if found is None or tx is None:
            return None  # the index lags a reorganisation: that height holds another block
        block_hash, _, header = found
        return {
            "txid": entry.txid,
            "status": "confirmed",
            "height": entry.height,
            "block_hash": block_hash,
            "index": entry.index,
            "timestamp_ms": header.timestamp_ms,
            "confirmations": self.service.chain.height - entry.height + 1,
            "tx": tx,
            "encoded": tx.encode(),
        }

    # -- channels -----------------------------------------------------------------------------

    async def list_channels(self, request: web.Request) -> web.StreamResponse:
        address = path_address(request, "address")
        role = request.query.get("role", "any")
        if role not in _ROLES:
            raise BadRequest("role: must be client, relay or any")
        limit = query_int(request, "limit", routes.DEFAULT_PAGE, 1, routes.MAX_PAGE)
        text = request.query.get("cursor")
        before = None if text is None else decode_cursor(_CHANNEL_LIST, text)
        try:
            index = self.index()
        except IndexUnavailable as exc:
            return _unavailable(exc)
        entries = index.channels(address, _ROLES[role], before, limit + 1)
        items = []
        for entry in entries[:limit]:
            view = self._channel(entry.channel_id, index.channel(entry.channel_id))
            if view is not None:
                items.append(view)
        next_cursor = None
        if len(entries) > limit:
            next_cursor = encode_cursor(_CHANNEL_LIST, entries[limit - 1].position)
        page = {
            "address": address,
            "role": role,
            "channels": items,
            "next_cursor": next_cursor,
            "indexed_height": index.height,
        }
        return json_response(ChannelListSchema, page)

    async def get_channel(self, request: web.Request) -> web.StreamResponse:
        channel_id = path_hash(request, "channel_id", "a channel id")
        index: AddressIndex | None
        try:
            index = self.index()
        except IndexUnavailable as exc:
            index, without = None, exc
        entry = None if index is None else index.channel(channel_id)
        view = self._channel(channel_id, entry)
        if view is not None:
            return json_response(ChannelSchema, view)
        if index is None:
            return _unavailable(
                IndexUnavailable(f"no open channel {channel_id.hex()}, and {without}")
            )
        raise ChannelNotFound(
            f"no channel {channel_id.hex()} was opened on the main chain (indexed up to "
            f"height {index.height})"
        )

    def _channel(self, channel_id: bytes, entry: ChannelEntry | None) -> dict[str, Any] | None:
        """A channel's view: open if the state holds it, else closed as the index knows it."""
        chain = self.service.chain
        live = StateOverlay(chain.state).channel(channel_id)
        if live is not None:
            return {
                "channel_id": channel_id,
                "client": Address.from_public_key(live.client_public_key),
                "relay": live.relay,
                "tier": live.tier,
                "status": "open",
                "open_height": live.open_height,
                "open_txid": self._opening(channel_id, live) if entry is None else entry.open_txid,
                "expiry_height": live.expiry_height,
                "deposit": live.deposit,
                "paid": live.paid,
                "settled_bytes": live.settled_bytes,
                "close_height": None,
                "close_txid": None,
            }
        if entry is None:
            return None
        return {
            "channel_id": channel_id,
            "client": entry.client,
            "relay": entry.relay,
            "tier": entry.tier,
            "status": "closed",
            "open_height": entry.open_height,
            "open_txid": entry.open_txid,
            "expiry_height": entry.expiry_height,
            "deposit": None,
            "paid": None,
            "settled_bytes": None,
            # None only while the index has not reached the closing (it catches up).
            "close_height": entry.close_height,
            "close_txid": entry.close_txid,
        }

    def _opening(self, channel_id: bytes, channel: Channel) -> bytes:
        """The id of the transaction that opened an open channel, found in its block."""
        for tx in self.service.chain.block_at(channel.open_height).transactions:
            if tx.kind is TxKind.CHANNEL_OPEN and channel_id_of(tx.sender, tx.nonce) == channel_id:
                return tx.txid
        raise StoreError(f"channel {channel_id.hex()} has no opening at {channel.open_height}")


def _unavailable(error: IndexUnavailable) -> web.Response:
    return json_response(ErrorSchema, {"error": str(error)}, status=503)
