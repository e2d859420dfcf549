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
- `stop` ends the live streams, so that the HTTP server's shutdown never waits for them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import ClassVar

from aiohttp import web

from pacata.chain.address_index import AddressIndex
from pacata.chain.chain import Chain
from pacata.chain.mempool import Mempool
from pacata.explorer import Explorer, PeerView
from pacata.node.address_index_plugin import AddressIndexPlugin
from pacata.node.peering import PeeringPlugin
from pacata.node.plugins import BlockConnected, NodeEvent, NodePlugin
from pacata.node.service import NodeService
from pacata.rpc.results import StatusInfo


class ExplorerPlugin(NodePlugin):
    name: ClassVar[str] = "explorer"

    def __init__(self, service: NodeService, *, keepalive_s: float | None = None) -> None:
        self.service = service
        self.explorer = Explorer(self, keepalive_s=keepalive_s)

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

    # -- NodePlugin -----------------------------------------------------------------------

    def on_event(self, event: NodeEvent) -> None:
        if isinstance(event, BlockConnected):
            self.explorer.block_connected(event.block)
        else:  # a disconnection or an admission: the mempool changed
            self.explorer.mempool_changed()

    def mount(self, app: web.Application) -> bool:
        self.explorer.mount(app)
        return True

    async def stop(self) -> None:
        self.explorer.close()
