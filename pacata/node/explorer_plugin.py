"""The block explorer as a node plugin: it gives the explorer (pacata/explorer) the node to read,
in-process, and mounts its pages at `/` beside the API (docs/explorer.md).

Rules:
- `ExplorerPlugin` is the explorer's `ExplorerSource`: the service's chain and mempool, its
  status as `GET /api/status` gives it, the peer network's peers, the address index once it is
  open and caught up. It reads; it never calls the service's ways into the ledger.
- Each `BlockConnected` makes the block's summary at once (the explorer caches it) and sends it
  to the live streams. Every event tells the explorer that the mempool changed (the mempool
  changes only with an admission or a block), which is part of the key of the pages that show
  pending transactions; every other cache is keyed by hashes.
- Given a `pages_path` (`pacatad`: `<datadir>/indexes/explorer`), the bodies of block pages are
  kept in a LevelDB of their own there, written without fsync (pacata/explorer/page_store.py).
  One task fills it: from the start until every main-chain block's body is in it, then after
  each new block, in bounded steps with the event loop running between them. Without one,
  bodies are rendered when asked for and kept in memory only.
- `stop` ends the live streams, so that the HTTP server's shutdown never waits for them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from aiohttp import web

from pacata.chain.address_index import AddressIndex
from pacata.chain.chain import Chain
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.mempool import Mempool
from pacata.errors import StoreError
from pacata.explorer import Explorer, PeerView
from pacata.explorer.page_store import PageStore, rendering_fingerprint
from pacata.node.address_index_plugin import AddressIndexPlugin
from pacata.node.metrics import MetricsRegistry
from pacata.node.peering import PeeringPlugin
from pacata.node.plugins import BlockConnected, NodeEvent, NodePlugin, PluginError, PluginHost
from pacata.node.service import NodeService
from pacata.rpc.results import StatusInfo

# Under the data directory.
EXPLORER_PAGES_DIRECTORY = Path("indexes") / "explorer"

log = logging.getLogger("pacata.node.explorer")


class ExplorerPlugin(NodePlugin):
    name: ClassVar[str] = "explorer"

    def __init__(
        self,
        service: NodeService,
        *,
        keepalive_s: float | None = None,
        pages_path: Path | None = None,
    ) -> None:
        self.service = service
        self.pages_path = pages_path
        self.explorer = Explorer(self, keepalive_s=keepalive_s)
        self._host: PluginHost | None = None
        self._pages_kv: LevelDBStore | None = None
        # Set when the page store may be behind the chain; its task then fills it.
        self._pages_behind = asyncio.Event()

    # -- ExplorerSource -------------------------------------------------------------------

    @property
    def chain(self) -> Chain:
        return self.service.chain

    @property
    def mempool(self) -> Mempool:
        return self.service.mempool

    def status(self) -> StatusInfo:
        return self.service.status()

    def peers(self) -> Sequence[PeerView]:
        peering = self.service.find_plugin(PeeringPlugin)
        if peering is None:
            return ()
        infos = peering.network.peer_infos(time.monotonic())  # the network's clock
        return [
            PeerView(
                node_id=info.node_id,
                address=info.address,
                inbound=info.inbound,
                tip_height=info.tip_height,
                connected_seconds=info.connected_seconds,
                score=info.score,
                bytes_received=info.bytes_received,
                bytes_sent=info.bytes_sent,
            )
            for info in infos
        ]

    def address_index(self) -> AddressIndex | None:
        plugin = self.service.find_plugin(AddressIndexPlugin)
        if plugin is None or plugin.catching_up:
            return None
        return plugin.index

    @property
    def catching_up(self) -> bool:
        """Whether the page store is behind the chain (or being emptied)."""
        return self._pages_behind.is_set()

    # -- NodePlugin -----------------------------------------------------------------------

    def register(self, host: PluginHost, metrics: MetricsRegistry) -> None:
        self._host = host

    async def start(self) -> None:
        if self.pages_path is None:
            return
        try:
            self._pages_kv = LevelDBStore(self.pages_path, sync=False)
        except StoreError as exc:
            raise PluginError(
                f"explorer page store: {exc} (it can be deleted: the node makes it again)"
            ) from None
        chain = self.service.chain
        pages = PageStore(self._pages_kv, rendering_fingerprint(chain.genesis_hash))
        self.explorer.pages = pages
        if not pages.ready:
            log.info("explorer page store: made by another version; emptying it, then filling")
        self._pages_behind.set()
        assert self._host is not None
        self._host.add_task(self._fill_pages(pages), "explorer-pages")

    async def _fill_pages(self, pages: PageStore) -> None:
        """The page store's one task: a bounded step at a time, until it holds the body of
        every main-chain block, each time a block makes it fall behind."""
        render = self.explorer.render_block_body
        while True:
            await self._pages_behind.wait()
            started, first = time.perf_counter(), pages.height
            while not pages.advance(self.service.chain, render):
                await asyncio.sleep(0)
            self._pages_behind.clear()
            if pages.height - first > 1:
                log.info(
                    "explorer page store caught up at height %d in %.1f s",
                    pages.height,
                    time.perf_counter() - started,
                )

    def on_event(self, event: NodeEvent) -> None:
        if isinstance(event, BlockConnected):
            self.explorer.block_connected(event.block)
            if self.explorer.pages is not None:
                self._pages_behind.set()
        else:  # a disconnection or an admission: the mempool changed
            self.explorer.mempool_changed()

    def mount(self, app: web.Application) -> bool:
        self.explorer.mount(app)
        return True

    async def stop(self) -> None:
        self.explorer.close()
        self.explorer.pages = None
        if self._pages_kv is not None:
            self._pages_kv.close()
            self._pages_kv = None
