"""The address index's API routes (`ADDRESS_INDEX_ROUTES` of pacata/rpc/routes.py): an account's
history, its payment channels, and one channel (docs/api.md §Account history and channels).

Rules:
- Lists are newest first and paged. A cursor is opaque to clients; here it is the kind of list
  (and part of it) and where the page's last item is, in base64url. In a channel list, and in
  the confirmed part of a history, that is the item's chain position (height, index in the
  block); the next page holds what is strictly older, so a page boundary stays put while blocks
  are added above it (and through a reorganisation that does not reach it).
- A history starts with the mempool's transactions touching the address, newest admission
  first, then the confirmed ones: the pending ones fill as many pages as they need, and the
  page where they end is filled up with the newest confirmed ones. A cursor in the pending part
  holds how many pending transactions older than the page's last one are left, and that one's
  mark (the first 4 bytes of its id): the next page holds those admitted before it, found by
  its mark while it is pending (else counted from the oldest). So a transaction admitted
  between pages (a replacement too) is newer than the boundary and waits for a new listing,
  and one that leaves the mempool never makes another skipped; one mined meanwhile shows
  among the confirmed (again, if a page showed it pending). A reorganisation re-admits the
  mempool in a new order: a listing under way may then miss or repeat pending ones. Every page
  says how many are pending in all (`pending_count`).
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
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web

from pacata.chain.address_index import AddressIndex, entry_transaction, touched_addresses
from pacata.chain.address_index_schema import ChainPosition, ChannelEntry, Role, TxEntry
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.state import Channel, StateOverlay
from pacata.chain.transactions import Transaction, TxKind
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
    CHANNEL_ROLES,
    AddressTransactionsSchema,
    ChannelListSchema,
    ChannelSchema,
    ErrorSchema,
)

_CURSOR = struct.Struct(">cQI")
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{18}")
# The kinds of cursor: a history's confirmed part, its pending part, a channel list.
_CONFIRMED, _PENDING, _CHANNELS = b"t", b"p", b"c"
_MARK_BYTES = 4
# The index's roles each listed role names.
_INDEX_ROLES: dict[str, tuple[Role, ...]] = {
    name: tuple(Role) if name == "any" else (Role[name.upper()],) for name in CHANNEL_ROLES
}
_ROLE_CHOICES = f"{', '.join(CHANNEL_ROLES[:-1])} or {CHANNEL_ROLES[-1]}"


class IndexUnavailable(PacataError):
    """The node keeps no address index, or it is not open yet; the message says which."""


class ChannelNotFound(NotFound):
    """No channel of that id was opened on the main chain."""


def encode_cursor(kind: bytes, first: int, second: int = 0) -> str:
    """A cursor of a `kind` list (part): a chain position (height, index), or in a pending
    part the number of pending transactions left and the mark of the page's last one."""
    raw = _CURSOR.pack(kind, first, second)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, kinds: Sequence[bytes]) -> tuple[bytes, int, int]:
    """The kind and the two numbers of a cursor of one of `kinds`; `BadRequest` for anything
    else."""
    refused = BadRequest("cursor: not a cursor of this list (pass next_cursor as it came)")
    if not _CURSOR_TEXT.fullmatch(text):
        raise refused
    try:
        raw = base64.urlsafe_b64decode(text + "==")
    except binascii.Error:
        raise refused from None
    kind, first, second = _CURSOR.unpack(raw)
    if kind not in kinds or encode_cursor(kind, first, second) != text:
        raise refused
    return kind, first, second


def _mark(tx: Transaction) -> int:
    return int.from_bytes(tx.txid[:_MARK_BYTES], "big")


def _pending_left(pending: Sequence[Transaction], left: int, mark: int) -> int:
    """How many of `pending` (oldest admission first) a pending cursor leaves for the pages
    after it (module rules): those admitted before the transaction of `mark`, or the `left`
    oldest if that one is no longer pending (or `mark` is -1: a first page, all of them)."""
    for number, tx in enumerate(pending):
        if _mark(tx) == mark:
            return number
    return min(left, len(pending))


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
                encoding = self.chain.store.block_encoding(block_hash)
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
        cursor = None if text is None else decode_cursor(text, (_PENDING, _CONFIRMED))
        try:
            index = self.index()
        except IndexUnavailable as exc:
            return _unavailable(exc)
        # Oldest admission first, as the mempool holds them.
        pending = [
            tx
            for tx in self.service.mempool.transactions()
            if address in touched_addresses(tx, index.channel_parties)
        ]
        kind, first, second = (_PENDING, len(pending), -1) if cursor is None else cursor
        items: list[dict[str, Any]] = []
        next_cursor = None
        before = None
        if kind == _PENDING:
            left = _pending_left(pending, first, second)
            shown = pending[max(left - limit, 0) : left][::-1]
            items = [
                {"txid": tx.txid, "status": "pending", "tx": tx, "encoded": tx.encode()}
                for tx in shown
            ]
            left -= len(shown)
            if len(items) == limit and (left or index.transaction_count(address)):
                next_cursor = encode_cursor(_PENDING, left, _mark(shown[-1]))
        else:
            before = ChainPosition(first, second)
        room = limit - len(items)
        if room:
            # One more than there is room for, to know whether a page follows.
            entries = index.transactions(address, before, room + 1)
            blocks = _Blocks(self.service)
            for entry in entries[:room]:
                view = self._confirmed(entry, blocks)
                if view is not None:
                    items.append(view)
            if len(entries) > room:
                last = entries[room - 1].position
                next_cursor = encode_cursor(_CONFIRMED, last.height, last.index)
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
        if role not in _INDEX_ROLES:
            raise BadRequest(f"role: must be {_ROLE_CHOICES}")
        limit = query_int(request, "limit", routes.DEFAULT_PAGE, 1, routes.MAX_PAGE)
        text = request.query.get("cursor")
        before = None
        if text is not None:
            _, height, position = decode_cursor(text, (_CHANNELS,))
            before = ChainPosition(height, position)
        try:
            index = self.index()
        except IndexUnavailable as exc:
            return _unavailable(exc)
        entries = index.channels(address, _INDEX_ROLES[role], before, limit + 1)
        items = []
        for entry in entries[:limit]:
            view = self._channel(entry.channel_id, index.channel(entry.channel_id))
            if view is not None:
                items.append(view)
        next_cursor = None
        if len(entries) > limit:
            last = entries[limit - 1]
            next_cursor = encode_cursor(_CHANNELS, last.height, last.index)
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
        closable = chain.params.channel_closable_height
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
                "closable_height": closable(live.expiry_height),
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
            "closable_height": closable(entry.expiry_height),
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
