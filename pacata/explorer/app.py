"""The block explorer: its pages, their caches, and how it is mounted in the node's HTTP app
(docs/explorer.md).

Rules:
- Pages are server-rendered and whole without JavaScript; scripts only add live updates,
  charts and the theme toggle.
- Every handler reads the source without awaiting in between, so a page describes one tip.
- Bad input is a 400 page, something unknown a 404 page, an unexpected error a 500 page with
  its traceback in the log; nothing a request carries is written back unescaped.
- What cannot change is cached: a block's summary and the HTML of its page body by hash (the
  bodies also in the page store, on disk: page_store.py), a confirmed history row by (txid,
  block hash), an epoch's summary by the hashes of its blocks, the latest lists and the relay
  market per tip. What changes (confirmations, the tip, the mempool, balances) is read per
  request, or keys what is cached: an account page by the tip and the mempool, the home page
  by the node's status.
- A block page is its body put in a `PageFrame` (the rest of the page, rendered once with
  marks for the height and the confirmations): a request for it renders nothing (docs/
  explorer.md §Performance).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from pacata.chain.address_index import AddressIndex, entry_transaction, touched_addresses
from pacata.chain.address_index_schema import ChainPosition, Role
from pacata.chain.blocks import Block
from pacata.chain.consensus import epoch_of
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.state import (
    Account,
    Namespace,
    StateOverlay,
    state_key,
    tree_key,
    value_hash,
)
from pacata.chain.state_tree import verify_proof
from pacata.chain.transactions import Transaction
from pacata.errors import DecodeError, NotFound, PacataError
from pacata.explorer.cache import LruCache
from pacata.explorer.decoding import counterparty, moved_amount, offer_rows, payload_rows
from pacata.explorer.epochs import EpochHistory
from pacata.explorer.formatting import address_text, data_size, pac, pac_number, parse_address, utc
from pacata.explorer.live import LiveEvents
from pacata.explorer.market import RELAY_SORTS, ChannelRow, Market, channel_row
from pacata.explorer.page_store import PageStore
from pacata.explorer.rendering import (
    PageFrame,
    Renderer,
    html_response,
    mark,
    with_security_headers,
)
from pacata.explorer.search import search
from pacata.explorer.source import ExplorerSource
from pacata.explorer.summaries import BlockSummaries, BlockSummary
from pacata.rpc.results import StatusInfo
from pacata.rpc.routes import is_api_path

log = logging.getLogger("pacata.explorer")

STATIC_DIRECTORY = Path(__file__).parent / "static"
LATEST = 10
BLOCKS_PAGE = 25
HISTORY_PAGE = 25
CHANNELS_PAGE = 50
EPOCHS_PAGE = 20
CHART_BLOCKS = 100
BLOCK_PAGE_CACHE = 2_048
# Bodies of blocks of 10 transactions are ~8.5 KB; one of 2,000 transactions is ~1.7 MB.
BLOCK_BODY_BYTES = 32 << 20
HISTORY_ROW_CACHE = 16_384
ACTIVITY_CACHE = 1_024
ACCOUNT_PAGE_CACHE = 1_024
_DECIMAL = re.compile(r"[0-9]{1,19}")
_HASH = re.compile(r"[0-9a-fA-F]{64}")
_POSITION = re.compile(r"([0-9]{1,19})-([0-9]{1,9})")


class BadPageRequest(PacataError):
    """A malformed part of a page's address; the message says which (a 400 page)."""


class PageNotFound(NotFound):
    """Nothing of that name (a 404 page); the message says what."""


@dataclass(frozen=True, slots=True)
class HistoryRow:
    txid: bytes
    height: int | None
    kind: str
    sender: Address
    counterparty: Address | None
    amount: int | None
    fee: int


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """The account's state proof, checked here against the tip header's state root."""

    block_hash: bytes
    height: int
    state_root: bytes
    tree_key: bytes
    value_hash: bytes | None
    siblings: int
    verified: bool


def _history_row(tx: Transaction, height: int | None) -> HistoryRow:
    return HistoryRow(
        txid=tx.txid,
        height=height,
        kind=tx.kind.name,
        sender=tx.sender_address,
        counterparty=counterparty(tx),
        amount=moved_amount(tx),
        fee=tx.fee,
    )


def _chart_json(data: dict[str, Any]) -> Markup:
    """Chart data for a `<script type="application/json">` element: `<` escaped, so no text in
    it can close the element."""
    text = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    return Markup(text)  # JSON with every "<" escaped


class Explorer:
    """The explorer over `source`; `mount` adds it to the node's app."""

    def __init__(
        self,
        source: ExplorerSource,
        *,
        keepalive_s: float | None = None,
        pages: PageStore | None = None,
    ) -> None:
        self.source = source
        self.pages = pages
        chain = source.chain
        self.renderer = Renderer(chain.params.chain_id)
        self.summaries = BlockSummaries(chain)
        self.epochs = EpochHistory(chain, self.summaries)
        self.market = Market(chain)
        self.live = LiveEvents() if keepalive_s is None else LiveEvents(keepalive_s)
        self._block_bodies: LruCache[bytes, bytes] = LruCache(
            BLOCK_PAGE_CACHE, weigh=len, max_weight=BLOCK_BODY_BYTES
        )
        # The block page's frame: (on the main chain, one confirmation) → frame.
        self._block_frames: dict[tuple[bool, bool], PageFrame] = {}
        self._tip: tuple[BlockHeader, bytes] | None = None
        self._history_rows: LruCache[tuple[bytes, bytes], HistoryRow] = LruCache(HISTORY_ROW_CACHE)
        self._home_body: tuple[bytes, Markup, float | None, int] | None = None
        self._home_page: tuple[StatusInfo, bytes] | None = None
        # Counts the mempool's changes (each admission, each block): part of a page's key.
        self._mempool_generation = 0
        self._account_pages: LruCache[
            tuple[Address, ChainPosition | None, bytes, int, int], bytes
        ] = LruCache(ACCOUNT_PAGE_CACHE)
        self._activity: LruCache[tuple[Address, ChainPosition | None, bytes, int], Markup] = (
            LruCache(ACTIVITY_CACHE)
        )

    # -- the node's events ----------------------------------------------------------------

    def mempool_changed(self) -> None:
        """A transaction entered the mempool (or a block changed it): pages that show pending
        transactions are made again."""
        self._mempool_generation += 1

    def block_connected(self, block: Block) -> None:
        """A block joined the main chain: its summary is made now, and sent live."""
        self.mempool_changed()
        summary = self.summaries.of_block(block)
        if self.live.subscribers:
            self.live.publish("block", self._event(summary), summary.height)

    def _event(self, summary: BlockSummary) -> dict[str, Any]:
        event = summary.as_event()
        event.update(
            time=utc(summary.timestamp_ms),
            fees_text=pac(summary.fees),
            size_text=data_size(summary.size),
            mempool_size=len(self.source.mempool),
        )
        return event

    def _tip_hash(self) -> bytes:
        """The tip's hash, computed once per tip (a header's hash is not kept by the header)."""
        tip = self.source.chain.tip
        known = self._tip
        if known is None or known[0] is not tip:
            known = self._tip = (tip, tip.hash)
        return known[1]

    def close(self) -> None:
        """Ends the live streams (the node is stopping)."""
        self.live.close()

    # -- mounting -------------------------------------------------------------------------

    def mount(self, app: web.Application) -> None:
        """Adds the pages, `/static/` and `/events` to `app`, with the middleware that answers
        their errors as pages and the security headers (the API keeps its own)."""
        router = app.router
        for path, handler in (
            ("/", self.home),
            ("/blocks", self.blocks),
            ("/block/{block_id}", self.block),
            ("/tx/{txid}", self.transaction),
            ("/address/{address}", self.address),
            ("/channel/{channel_id}", self.channel),
            ("/channels", self.channels),
            ("/relays", self.relays),
            ("/epochs", self.epochs_page),
            ("/network", self.network),
            ("/search", self.search),
            ("/events", self.live.stream),
        ):
            router.add_get(path, handler)
        router.add_static("/static/", STATIC_DIRECTORY, append_version=False)
        app.middlewares.append(self._page_errors)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_shutdown(self, app: web.Application) -> None:
        self.close()

    @web.middleware
    async def _page_errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if is_api_path(request.path):
            response: web.StreamResponse = await handler(request)
            return response
        render = self.renderer.error
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                with_security_headers(request, exc)
                raise
            answer = render(exc.status, exc.reason, _http_message(exc.status))
            if "Allow" in exc.headers:
                answer.headers["Allow"] = exc.headers["Allow"]
            return answer
        except BadPageRequest as exc:
            return render(400, "Bad request", str(exc))
        except (NotFound, DecodeError) as exc:
            return render(404, "Not found", str(exc))
        except Exception:
            log.exception("explorer: %s %s failed", request.method, request.path)
            return render(500, "Internal error", "Something broke; the node's log has it.")
        if not response.prepared:  # a stream sent its headers itself
            with_security_headers(request, response)
        return response

    # -- parameters ------------------------------------------------------------------------

    @staticmethod
    def _decimal(request: web.Request, name: str) -> int | None:
        text = request.query.get(name)
        if text is None:
            return None
        if not _DECIMAL.fullmatch(text):
            raise BadPageRequest(f"{name} must be a whole number (at most 19 digits)")
        return int(text)

    @staticmethod
    def _hash(text: str, what: str) -> bytes:
        if not _HASH.fullmatch(text):
            raise BadPageRequest(f"That is not {what} (64 hexadecimal digits).")
        return bytes.fromhex(text)

    # -- home -----------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.StreamResponse:
        # The page is a function of the node's status and the tip's lists; it does not show
        # the status's clock, which changes at every request.
        status = replace(self.source.status(), time_ms=0)
        page = self._home_page
        if page is None or page[0] != status:
            tip = self._tip_hash()
            if self._home_body is None or self._home_body[0] != tip:
                self._home_body = (tip, *self._make_home_body())
            _, body, average, interval_blocks = self._home_body
            text = self.renderer.text(
                "home.html",
                title="Pacata explorer",
                nav="home",
                status=status,
                average_interval_ms=average,
                interval_blocks=interval_blocks,
                body=body,
            )
            page = self._home_page = (status, text.encode("utf-8"))
        return html_response(page[1])

    def _make_home_body(self) -> tuple[Markup, float | None, int]:
        """The tip's lists and charts, the average interval of the last blocks and how many
        intervals it is of."""
        chain = self.source.chain
        recent = self.summaries.below(chain.height, CHART_BLOCKS)
        intervals = [s.interval_ms for s in recent if s.interval_ms is not None]
        average = sum(intervals) / len(intervals) if intervals else None
        chart = {
            "height": [s.height for s in reversed(recent)],
            "interval_s": [
                None if s.interval_ms is None else s.interval_ms / 1000 for s in reversed(recent)
            ],
            "transactions": [s.tx_count for s in reversed(recent)],
            "fees_pac": [pac_number(s.fees) for s in reversed(recent)],
        }
        body = Markup(  # rendered by an autoescaping template
            self.renderer.text(
                "home_body.html",
                latest=recent[:LATEST],
                transactions=self.summaries.latest_transactions(LATEST),
                recent=recent,
                chart=_chart_json(chart),
            )
        )
        return body, average, len(intervals)

    # -- blocks ---------------------------------------------------------------------------

    async def blocks(self, request: web.Request) -> web.StreamResponse:
        chain = self.source.chain
        before = self._decimal(request, "before")
        if before is not None and not 1 <= before <= chain.height + 1:
            raise PageNotFound(
                f"There are no blocks below that height (the tip is {chain.height})."
            )
        top = chain.height if before is None else before - 1
        shown = self.summaries.below(top, BLOCKS_PAGE)
        older = shown[-1].height if shown and shown[-1].height > 0 else None
        return self.renderer.page(
            "blocks.html",
            title="Blocks" if before is None else f"Blocks below {before}",
            nav="blocks",
            blocks=shown,
            older=older,
            newest=before is not None,
        )

    async def block(self, request: web.Request) -> web.StreamResponse:
        chain = self.source.chain
        store = chain.store
        block_id = request.match_info["block_id"]
        if _DECIMAL.fullmatch(block_id):
            height = int(block_id)
            found = store.main_hash_at(height)
            if found is None:
                raise PageNotFound(f"No block at height {height} (the tip is {chain.height}).")
            block_hash, main = found, True
        else:
            block_hash = self._hash(block_id, "a height or a block hash")
            info = store.block_info(block_hash)
            if info is None:
                raise PageNotFound(f"No block {block_hash.hex()}.")
            height = info.height
            main = store.main_hash_at(height) == block_hash
        body = self._block_bodies.get(block_hash)
        if body is None:
            body = self._stored_block_body(block_hash)
            self._block_bodies.put(block_hash, body)
        confirmations = chain.height - height + 1 if main else 0
        frame = self._block_frame(main, confirmations == 1)
        values = {
            "height": str(height).encode(),
            "confirmations": str(confirmations).encode(),
            "body": body,
        }
        return html_response(frame.fill(values))

    def _block_frame(self, main: bool, one_confirmation: bool) -> PageFrame:
        """The block page around its body, for a block on the main chain or not, with one
        confirmation or another number (the page says "1 confirmation", "2 confirmations")."""
        key = (main, main and one_confirmation)
        frame = self._block_frames.get(key)
        if frame is None:
            height = mark("height")
            frame = self.renderer.frame(
                "block.html",
                title=f"Block {height}",
                nav="blocks",
                height=height,
                main_chain=main,
                confirmations=1 if key[1] else mark("confirmations"),
                body=mark("body"),
            )
            self._block_frames[key] = frame
        return frame

    def _stored_block_body(self, block_hash: bytes) -> bytes:
        """The body of a block page from the page store, else rendered now (and stored)."""
        pages = self.pages
        body = None if pages is None else pages.body(block_hash)
        if body is None:
            body = self.render_block_body(block_hash)
            if pages is not None:
                pages.put(block_hash, body)
        return body

    def render_block_body(self, block_hash: bytes) -> bytes:
        """The body of the page of a stored block (its header and transactions: what the block
        alone decides), as UTF-8 HTML."""
        chain = self.source.chain
        block = chain.block(block_hash)
        summary = self.summaries.of_block(block)
        return self.renderer.text(
            "block_body.html",
            block=block,
            header=block.header,
            summary=summary,
            epoch=epoch_of(block.header.slot, chain.params),
            rows=[_history_row(tx, None) for tx in block.transactions],
        ).encode("utf-8")

    # -- transactions ---------------------------------------------------------------------

    async def transaction(self, request: web.Request) -> web.StreamResponse:
        source = self.source
        chain = source.chain
        txid = self._hash(request.match_info["txid"], "a transaction id")
        found = chain.store.transaction(txid)
        context: dict[str, Any] = {"block_hash": None, "height": None, "index": None}
        if found is not None:
            tx, block_hash, index = found
            info = chain.store.block_info(block_hash)
            assert info is not None
            context.update(
                status="confirmed",
                block_hash=block_hash,
                height=info.height,
                index=index,
                confirmations=chain.height - info.height + 1,
            )
        else:
            pending = source.mempool.get(txid)
            if pending is None:
                gone = source.mempool.why_gone(txid)
                reason = f" It left the mempool: {gone}." if gone else ""
                raise PageNotFound(
                    f"No transaction {txid.hex()} on the chain or in the mempool.{reason}"
                )
            tx = pending
            context.update(status="pending", confirmations=0)
        return self.renderer.page(
            "transaction.html",
            title=f"Transaction {txid.hex()[:16]}…",
            nav="",
            tx=tx,
            rows=payload_rows(tx),
            **context,
        )

    # -- accounts -------------------------------------------------------------------------

    def _address(self, text: str) -> Address:
        try:
            return parse_address(text)
        except DecodeError as exc:
            raise BadPageRequest(f"That is not a pac1 address ({exc}).") from None

    def prove(self, address: Address, record: bytes | None) -> ProofCheck:
        """The account's proof from the chain, verified against the tip's state root."""
        chain = self.source.chain
        key = tree_key(state_key(Namespace.ACCOUNT, address.raw))
        proof = chain.account_proof(address)
        expected = None if record is None else value_hash(record)
        tip = chain.tip
        return ProofCheck(
            block_hash=tip.hash,
            height=tip.height,
            state_root=tip.state_root,
            tree_key=key,
            value_hash=expected,
            siblings=len(proof.siblings),
            verified=verify_proof(tip.state_root, key, expected, proof),
        )

    async def address(self, request: web.Request) -> web.StreamResponse:
        address = self._address(request.match_info["address"])
        before = self._position(request.query.get("before"))
        index = self.source.address_index()
        # The page is a function of the tip, the mempool and the index: cached under them.
        key = (
            address,
            before,
            self._tip_hash(),
            self._mempool_generation,
            -2 if index is None else index.height,
        )
        body = self._account_pages.get(key)
        if body is None:
            body = self._account_page(address, before, index, key[2:])
            self._account_pages.put(key, body)
        return html_response(body)

    def _account_page(
        self,
        address: Address,
        before: ChainPosition | None,
        index: AddressIndex | None,
        tip_key: tuple[bytes, int, int],
    ) -> bytes:
        source = self.source
        chain = source.chain
        record = chain.state.get_state(state_key(Namespace.ACCOUNT, address.raw))
        known = record is not None or (index is not None and index.transaction_count(address))
        if not known:
            raise PageNotFound(f"No account {address_text(address)}: it has never been paid.")
        account = Account() if record is None else Account.decode(record)
        relay = StateOverlay(chain.state).relay(address)
        pending = [] if index is None or before is not None else self._pending(index, address)
        # History and channels change only with the tip (and the index following it).
        activity = self._activity.get_or_make(
            (address, before, tip_key[0], tip_key[2]),
            lambda: self._make_activity(index, address, before),
        )
        return self.renderer.text(
            "address.html",
            title=f"Address {address_text(address)}",
            nav="",
            address=address,
            account=account,
            pending_nonce=source.mempool.pending_nonce(address),
            relay=relay,
            offer=None if relay is None else offer_rows(relay.offer),
            proof=self.prove(address, record),
            indexed=index is not None,
            pending=pending,
            activity=activity,
        ).encode("utf-8")

    def _make_activity(
        self, index: AddressIndex | None, address: Address, before: ChainPosition | None
    ) -> Markup:
        history, next_before = self._history(index, address, before)
        return Markup(  # rendered by an autoescaping template
            self.renderer.text(
                "address_activity.html",
                address=address,
                indexed=index is not None,
                history=history,
                next_before=next_before,
                first_page=before is None,
                client_channels=self._party_channels(index, address, Role.CLIENT),
                relay_channels=self._party_channels(index, address, Role.RELAY),
            )
        )

    @staticmethod
    def _position(text: str | None) -> ChainPosition | None:
        if text is None:
            return None
        matched = _POSITION.fullmatch(text)
        if matched is None:
            raise BadPageRequest("before must be HEIGHT-INDEX, as the older link gives it")
        return ChainPosition(int(matched[1]), int(matched[2]))

    def _pending(self, index: AddressIndex, address: Address) -> list[HistoryRow]:
        """The mempool's transactions touching `address`, newest admission first."""
        return [
            _history_row(tx, None)
            for tx in self.source.mempool.transactions()
            if address in touched_addresses(tx, index.channel_parties)
        ][::-1]

    def _history(
        self, index: AddressIndex | None, address: Address, before: ChainPosition | None
    ) -> tuple[list[HistoryRow], str | None]:
        """A page of confirmed history and the `before` of the next page."""
        if index is None:
            return [], None
        store = self.source.chain.store
        entries = index.transactions(address, before, HISTORY_PAGE + 1)
        rows = []
        for entry in entries[:HISTORY_PAGE]:
            block_hash = store.main_hash_at(entry.height)
            if block_hash is None:
                continue
            row = self._history_rows.get((entry.txid, block_hash))
            if row is None:
                encoding = store.block_encoding(block_hash)
                tx = None if encoding is None else entry_transaction(entry, encoding)
                if tx is None:
                    continue  # the index lags a reorganisation
                row = _history_row(tx, entry.height)
                self._history_rows.put((entry.txid, block_hash), row)
            rows.append(row)
        next_before = None
        if len(entries) > HISTORY_PAGE:
            last = entries[HISTORY_PAGE - 1]
            next_before = f"{last.height}-{last.index}"
        return rows, next_before

    def _party_channels(
        self, index: AddressIndex | None, address: Address, role: Role
    ) -> list[dict[str, Any]]:
        if index is None:
            return []
        return [
            self._channel_view(entry.channel_id, index)
            for entry in index.channels(address, (role,), None, CHANNELS_PAGE)
        ]

    def _channel_view(self, channel_id: bytes, index: AddressIndex | None) -> dict[str, Any]:
        """An open channel from the state, else a closed one as the index knows it."""
        chain = self.source.chain
        live = StateOverlay(chain.state).channel(channel_id)
        if live is not None:
            return {"open": True, "row": channel_row(channel_id, live, chain), "entry": None}
        entry = None if index is None else index.channel(channel_id)
        if entry is None:
            raise PageNotFound(f"No channel {channel_id.hex()}.")
        return {"open": False, "row": None, "entry": entry, "closed_id": channel_id}

    async def channel(self, request: web.Request) -> web.StreamResponse:
        channel_id = self._hash(request.match_info["channel_id"], "a channel id")
        view = self._channel_view(channel_id, self.source.address_index())
        return self.renderer.page(
            "channel.html",
            title=f"Channel {channel_id.hex()[:16]}…",
            nav="channels",
            channel_id=channel_id,
            **view,
        )

    async def channels(self, request: web.Request) -> web.StreamResponse:
        after_text = request.query.get("after")
        after = None if after_text is None else self._hash(after_text, "a channel id")
        rows: list[ChannelRow] = []
        more = False
        for row in self.market.open_channels():
            if after is not None and row.channel_id <= after:
                continue
            if len(rows) == CHANNELS_PAGE:
                more = True
                break
            rows.append(row)
        return self.renderer.page(
            "channels.html",
            title="Open channels",
            nav="channels",
            rows=rows,
            next_after=rows[-1].channel_id.hex() if more else None,
            paged=after is not None,
        )

    # -- the market -----------------------------------------------------------------------

    async def relays(self, request: web.Request) -> web.StreamResponse:
        sort = request.query.get("sort", "price")
        if sort not in RELAY_SORTS:
            raise BadPageRequest(f"sort must be one of {', '.join(RELAY_SORTS)}")
        default_descending = RELAY_SORTS[sort][1]
        order = request.query.get("order", "desc" if default_descending else "asc")
        if order not in ("asc", "desc"):
            raise BadPageRequest("order must be asc or desc")
        descending = order == "desc"
        columns = {}
        for key, (_, key_descending) in RELAY_SORTS.items():
            if key == sort:
                next_order = "asc" if descending else "desc"
            else:
                next_order = "desc" if key_descending else "asc"
            columns[key] = f"/relays?sort={key}&order={next_order}"
        return self.renderer.page(
            "relays.html",
            title="Relays",
            nav="relays",
            rows=self.market.sorted_relays(sort, descending),
            sort=sort,
            order="descending" if descending else "ascending",
            links=columns,
        )

    async def epochs_page(self, request: web.Request) -> web.StreamResponse:
        before = self._decimal(request, "before")
        chain = self.source.chain
        tip_epoch = epoch_of(chain.tip.slot, chain.params)
        if before is not None and before > tip_epoch + 1:
            raise PageNotFound(f"There are no epochs below that one (the tip is in {tip_epoch}).")
        shown = self.epochs.latest(EPOCHS_PAGE, before)
        older = shown[-1].epoch if shown and shown[-1].first_height > 0 else None
        chart = {
            "epoch": [e.epoch for e in reversed(shown)],
            "settled_pac": [pac_number(e.settled) for e in reversed(shown)],
            "paid_pac": [
                pac_number(0 if e.payout is None else e.payout.paid) for e in reversed(shown)
            ],
        }
        return self.renderer.page(
            "epochs.html",
            title="Epochs",
            nav="epochs",
            epochs=shown,
            older=older,
            newest=before is not None,
            weights=self.epochs.lottery_weights(),
            pool_now=self.epochs.pool_now(),
            tip_epoch=tip_epoch,
            params=chain.params,
            chart=_chart_json(chart),
        )

    async def network(self, request: web.Request) -> web.StreamResponse:
        return self.renderer.page(
            "network.html",
            title="Network",
            nav="network",
            status=self.source.status(),
            peers=self.source.peers(),
            genesis=self.source.chain.genesis_hash,
        )

    # -- search ---------------------------------------------------------------------------

    async def search(self, request: web.Request) -> web.StreamResponse:
        query = request.query.get("q", "")
        outcome = search(self.source, query)
        if outcome.location is not None:
            return web.Response(status=303, headers={"Location": outcome.location})
        return self.renderer.page(
            "search.html",
            200 if outcome.matches else 404,
            title="Search",
            nav="",
            query=query[:200],
            outcome=outcome,
        )


def _http_message(status: int) -> str:
    if status == 404:
        return "There is no page at this address."
    if status == 405:
        return "The explorer's pages are only read (GET)."
    return "The request could not be served."
