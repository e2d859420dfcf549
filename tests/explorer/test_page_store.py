"""The page store (pacata/explorer/page_store.py): every main-chain block's body, filled in
bounded steps, followed through a reorganisation, emptied when another rendering made it; and
the pages it serves are the bytes the explorer renders."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from pacata.chain.chain import Chain
from pacata.chain.devnet import devnet_key
from pacata.chain.kvstore import LevelDBStore, MemoryStore, WriteBatch
from pacata.chain.mempool import Mempool
from pacata.explorer.page_store import (
    FINGERPRINT_KEY,
    PageStore,
    body_key,
    rendering_fingerprint,
)
from pacata.node.api import create_app
from pacata.node.explorer_plugin import ExplorerPlugin
from pacata.node.plugins import BlockConnected
from pacata.node.service import NodeService
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.clock import ManualClock

ALICE, BOB = devnet_key(1), devnet_key(2)
FINGERPRINT = b"\x07" * 32


def render(block_hash: bytes) -> bytes:
    return b"<p>" + block_hash.hex().encode() + b"</p>"


def chain_of(blocks: int, seed: int = 0) -> ChainFactory:
    factory = ChainFactory(devnet_chain(), seed=seed)
    for i in range(blocks):
        factory.next_block([factory.transfer(ALICE, BOB.address, 1 + i)])
    return factory


def fill(pages: PageStore, chain: Chain, **bounds: int) -> int:
    steps = 1
    while not pages.advance(chain, render, **bounds):
        steps += 1
    return steps


def stored(pages: PageStore, chain: Chain) -> bool:
    return all(
        pages.body(block_hash) == render(block_hash)
        for height in range(chain.height + 1)
        if (block_hash := chain.store.main_hash_at(height)) is not None
    )


def test_fills_every_main_chain_block_in_bounded_steps() -> None:
    chain = chain_of(10).chain
    pages = PageStore(MemoryStore(), FINGERPRINT)
    assert pages.height == -1 and pages.body(chain.tip.hash) is None
    assert fill(pages, chain, max_blocks=4) == 3  # genesis and 10 blocks, 4 at a time
    assert pages.height == chain.height and stored(pages, chain)
    assert pages.advance(chain, render)  # nothing left: done at once


def test_a_restart_goes_on_from_the_mark() -> None:
    factory = chain_of(3)
    kv = MemoryStore()
    fill(PageStore(kv, FINGERPRINT), factory.chain)
    for _ in range(5):
        factory.next_block()
    rendered: list[bytes] = []

    def counting(block_hash: bytes) -> bytes:
        rendered.append(block_hash)
        return render(block_hash)

    pages = PageStore(kv, FINGERPRINT)
    assert pages.ready and pages.height == 3
    while not pages.advance(factory.chain, counting):
        pass
    assert len(rendered) == 5 and stored(pages, factory.chain)


def test_a_reorganisation_moves_the_mark_back_to_the_fork() -> None:
    factory = chain_of(6)
    pages = PageStore(MemoryStore(), FINGERPRINT)
    fill(pages, factory.chain)
    rival = factory.fork(3, seed=9)
    for _ in range(5):
        rival.next_block([rival.transfer(BOB, ALICE.address, 5)], slot_gap=2)
    new_branch = [rival.chain.block_at(height) for height in range(4, rival.chain.height + 1)]
    # A body of the new branch asked for (and stored) before the store follows it.
    pages.put(new_branch[2].hash, render(new_branch[2].hash))
    for block in new_branch:
        factory.chain.add_block(block)
    assert factory.chain.tip.hash == rival.chain.tip.hash
    fill(pages, factory.chain)
    assert pages.height == factory.chain.height and stored(pages, factory.chain)


def test_a_store_of_another_rendering_is_emptied_first() -> None:
    chain = chain_of(4).chain
    kv = MemoryStore()
    fill(PageStore(kv, b"\x01" * 32), chain)
    stale = WriteBatch()
    stale.put(b"\x00an old key", b"x")
    kv.write(stale)
    pages = PageStore(kv, FINGERPRINT)
    assert not pages.ready and pages.height == -1
    assert pages.body(chain.tip.hash) is None  # nothing is read from it meanwhile
    pages.put(chain.tip.hash, b"ignored")  # nor written
    fill(pages, chain)
    assert pages.ready and kv.get(FINGERPRINT_KEY) == FINGERPRINT
    assert kv.get(b"\x00an old key") is None
    assert stored(pages, chain)
    assert kv.get(body_key(chain.tip.hash)) == render(chain.tip.hash)


def test_the_fingerprint_follows_the_chain() -> None:
    chain = chain_of(0).chain
    assert rendering_fingerprint(chain.genesis_hash) == rendering_fingerprint(chain.genesis_hash)
    assert rendering_fingerprint(chain.genesis_hash) != rendering_fingerprint(bytes(32))


def test_block_pages_from_the_store_are_the_rendered_ones(tmp_path: Path) -> None:
    """The same bytes for every block page, rendered (no store) and read from the store after
    the plugin filled it, and for a block asked for before the store has it."""
    factory = chain_of(13)  # the last one comes while the pages are served

    async def pages(pages_path: Path | None) -> dict[str, bytes]:
        chain = devnet_chain(LevelDBStore(tmp_path / f"chain-{pages_path is not None}"))
        for height in range(1, 13):
            chain.add_block(factory.chain.block_at(height))
        clock = ManualClock(wall_ms=chain.tip.timestamp_ms + 60_000)
        service = NodeService(chain, Mempool(chain), clock)
        plugin = ExplorerPlugin(service, pages_path=pages_path)
        service.add_plugin(plugin)
        paths = [f"/block/{h}" for h in range(chain.height + 1)]
        paths += [f"/block/{factory.chain.block_at(h).hash.hex()}" for h in (0, 5, 12)]
        found = {}
        await service.start()
        try:
            async with TestClient(TestServer(create_app(service, "t" * 64))) as client:
                while plugin.catching_up:
                    await asyncio.sleep(0)
                for path in paths:
                    response = await client.get(path)
                    assert response.status == 200
                    found[path] = await response.read()
                block = factory.chain.block_at(13)
                chain.add_block(block)  # asked for before it is stored
                path = f"/block/{chain.height}"
                found[path] = await (await client.get(path)).read()
                if pages_path is not None:  # the event has the plugin store it
                    plugin.on_event(BlockConnected(block, produced=False))
                    while plugin.catching_up:
                        await asyncio.sleep(0)
                    store = plugin.explorer.pages
                    assert store is not None and store.height == 13
                    assert store.body(block.hash) is not None
        finally:
            await service.stop()
            chain.kv.close()
        return found

    rendered = asyncio.run(pages(None))
    from_store = asyncio.run(pages(tmp_path / "pages"))
    assert from_store == rendered
    assert b"1 confirmation." in rendered["/block/13"]
    assert b"12 confirmations." in rendered["/block/1"]
