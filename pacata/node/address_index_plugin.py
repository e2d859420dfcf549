"""The address index as a node plugin (the index: pacata/chain/address_index.py; its routes:
pacata/node/address_index_api.py; docs/operations.md §The address index).

Rules:
- On by default. Run without one (`--no-address-index`, `address_index = false`), the plugin
  keeps no index and its routes answer 503 with the reason (a channel is still answered while
  it is open).
- The index is a LevelDB of its own, `<datadir>/indexes/addresses`, written without fsync:
  each write is still atomic, so a kill or a power cut loses at most the last blocks' entries,
  never the index's consistency, and the catch-up at the next start redoes them. It changes
  nothing of the chain's database.
- At start, and whenever an event does not fit its tip, a task catches the index up with the
  chain in bounded steps (`AddressIndex.advance`: at most 1,000 blocks or 2,000 transactions
  each), yielding to the event loop between them; events that come meanwhile are left to it,
  since it reads the chain as it is at each step. Once caught up the plugin follows the events
  block by block, a reorganisation's disconnections first, each one batch.
- Its failures stop the node, as any plugin's: a store that fails under it fails the chain's
  machine too.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import ClassVar

from pacata.chain.address_index import AddressIndex, IndexOutOfStep
from pacata.chain.kvstore import LevelDBStore
from pacata.errors import StoreError
from pacata.node.address_index_api import AddressIndexApi, IndexUnavailable
from pacata.node.endpoints import Endpoint
from pacata.node.metrics import Gauge, MetricsRegistry
from pacata.node.plugins import (
    BlockConnected,
    BlockDisconnected,
    NodeEvent,
    NodePlugin,
    PluginError,
    PluginHost,
)
from pacata.node.service import NodeService

# Under the data directory.
ADDRESS_INDEX_DIRECTORY = Path("indexes") / "addresses"

log = logging.getLogger("pacata.node.index")


class AddressIndexPlugin(NodePlugin):
    """The index kept in the LevelDB at `path`; None: the node keeps none."""

    name: ClassVar[str] = "address-index"

    def __init__(self, service: NodeService, path: Path | None) -> None:
        self.service = service
        self.path = path
        self.index: AddressIndex | None = None
        self._store: LevelDBStore | None = None
        self._host: PluginHost | None = None
        self._catching_up = False
        self._api = AddressIndexApi(service, self._open_index)

    def register(self, host: PluginHost, metrics: MetricsRegistry) -> None:
        self._host = host
        metrics.add(
            Gauge(
                "pacata_address_index_height",
                "Height of the last block in the address index (-1: none, or no index).",
                self._height,
            )
        )

    def _height(self) -> float:
        return -1 if self.index is None else self.index.height

    @property
    def catching_up(self) -> bool:
        return self._catching_up

    async def start(self) -> None:
        if self.path is None:
            log.info("no address index (--no-address-index): history and channel lists are off")
            return
        try:
            self._store = LevelDBStore(self.path, sync=False)
        except StoreError as exc:
            raise PluginError(
                f"address index: {exc} (a corrupt index can be deleted: the node rebuilds it)"
            ) from None
        keep = self.service.chain.params.finality_depth + 1
        self.index = AddressIndex(self._store, keep_undo=keep)
        self._catch_up()

    async def stop(self) -> None:
        self.index = None
        if self._store is not None:
            self._store.close()
            self._store = None

    def on_event(self, event: NodeEvent) -> None:
        index = self.index
        if index is None or self._catching_up:
            return
        try:
            if isinstance(event, BlockConnected):
                index.connect(event.block)
            elif isinstance(event, BlockDisconnected):
                index.disconnect(event.block.hash)
        except IndexOutOfStep as exc:
            log.warning("address index: %s; catching up with the chain", exc)
            self._catch_up()

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self._api.endpoints()

    def _open_index(self) -> AddressIndex:
        if self.index is not None:
            return self.index
        if self.path is None:
            raise IndexUnavailable(
                "this node keeps no address index (it runs with --no-address-index or "
                "address_index = false)"
            )
        raise IndexUnavailable("the address index is not open yet")

    def _catch_up(self) -> None:
        assert self._host is not None
        self._catching_up = True
        self._host.add_task(self._run_catch_up(), "address-index-catch-up")

    async def _run_catch_up(self) -> None:
        index, chain = self.index, self.service.chain
        assert index is not None
        started, first = time.perf_counter(), index.height
        if chain.height - first > 1:
            log.info("address index at height %d: catching up to %d", first, chain.height)
        rebuilding = False
        while not index.advance(chain):
            if index.tip is None and first >= 0 and not rebuilding:
                rebuilding = True
                log.warning("address index: its tip is not on this chain; rebuilding it")
            await asyncio.sleep(0)
        self._catching_up = False
        log.info(
            "address index caught up at height %d in %.1f s",
            index.height,
            time.perf_counter() - started,
        )
