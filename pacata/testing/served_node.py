"""A node served in-process for tests of its HTTP app: a `NodeService` whose LevelDB chain
already holds the blocks of a source chain before it starts, with the address index plugin
and, if asked, the block explorer, answering through aiohttp's test client.

Rules: `run` starts the service, waits (without a clock) until the index has caught up, serves
the app (API and pages, as `pacatad` composes them) to one scenario, and stops the service
whatever happens; `close` closes the chain's store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from aiohttp.test_utils import TestClient, TestServer

from pacata.chain.chain import Chain
from pacata.chain.genesis import Genesis
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.mempool import Mempool
from pacata.node.address_index_plugin import AddressIndexPlugin
from pacata.node.api import create_app
from pacata.node.explorer_plugin import ExplorerPlugin
from pacata.node.service import NodeService
from pacata.testing.clock import ManualClock
from pacata.testing.ledger import devnet_chain

ADMIN_TOKEN = "0123456789abcdef" * 4
# The node's clock starts this long after the source's tip: its blocks are all in the past.
CLOCK_AHEAD_MS = 3_600_000

T = TypeVar("T")
Client = TestClient[Any, Any]


class ServedNode:
    def __init__(
        self,
        directory: Path,
        source: Chain,
        genesis: Genesis,
        *,
        index_path: Path | None,
        explorer: bool = False,
        keepalive_s: float | None = None,
    ) -> None:
        self.chain = devnet_chain(LevelDBStore(directory / "chain"), genesis)
        for height in range(1, source.height + 1):
            self.chain.add_block(source.block_at(height))
        clock = ManualClock(wall_ms=source.tip.timestamp_ms + CLOCK_AHEAD_MS)
        self.service = NodeService(self.chain, Mempool(self.chain), clock)
        self.index = AddressIndexPlugin(self.service, index_path)
        self.service.add_plugin(self.index)
        self.explorer: ExplorerPlugin | None = None
        if explorer:
            self.explorer = ExplorerPlugin(self.service, keepalive_s=keepalive_s)
            self.service.add_plugin(self.explorer)

    def run(self, scenario: Callable[[Client], Awaitable[T]]) -> T:
        async def main() -> T:
            await self.service.start()
            try:
                while self.index.catching_up:
                    await asyncio.sleep(0)
                async with TestClient(TestServer(create_app(self.service, ADMIN_TOKEN))) as client:
                    return await scenario(client)
            finally:
                await self.service.stop()

        return asyncio.run(main())

    def close(self) -> None:
        self.chain.kv.close()
