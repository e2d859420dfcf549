"""The client's history, channel and fee calls (pacata/rpc/client.py) against the node's real
app with its address index (a real chain, the index in LevelDB), over a real socket: typed
pages followed to the end, a channel, the fees, the node's refusals as exceptions, the
synchronous façade; then an answer no node should give; and `pacatad --devnet` itself, which
keeps the index by default and answers 503 without it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, get_args

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import pacata.rpc
from pacata.chain import fee_estimate
from pacata.chain.devnet import devnet_key
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.mempool import Mempool
from pacata.chain.transactions import (
    ChannelOpen,
    RelayOffer,
    RelayRegister,
    Transaction,
    Transfer,
    TxKind,
    make_transaction,
)
from pacata.chain.transitions import channel_id_of
from pacata.node.address_index_plugin import AddressIndexPlugin
from pacata.node.api import create_app
from pacata.node.service import NodeService
from pacata.rpc import (
    AddressTransaction,
    ChannelInfo,
    FeeEstimate,
    InvalidResponse,
    NodeClient,
    RpcBadRequest,
    RpcNotFound,
    RpcUnavailable,
    SyncNodeClient,
    TransactionPage,
    results,
    routes,
    schemas,
)
from pacata.rpc import client as rpc_client
from pacata.testing import ChainFactory
from pacata.testing.clock import ManualClock
from pacata.testing.node_process import NodeProcess

ALICE, BOB, RELAY = devnet_key(1), devnet_key(2), devnet_key(3)
NOBODY = PrivateKey(b"\x06" * 32).address
OFFER = RelayOffer(bytes(32), ("203.0.113.5:51820",), (100_000,), (0,))
TOKEN = "0123456789abcdef" * 4
CHAIN_ID = "pacata-devnet-1"
T = TypeVar("T")


class Node:
    """A devnet chain of a relay, a channel and seven transfers to BOB, with the index plugin
    (its LevelDB under `tmp`; none with `index=False`), served as pacatad serves it."""

    def __init__(self, tmp: Path, *, index: bool = True) -> None:
        self.factory = factory = ChainFactory()
        factory.next_block([factory.sign(RELAY, RelayRegister(OFFER))])
        opening = factory.sign(ALICE, ChannelOpen(RELAY.address, 50_000, 0, bytes(32), 900))
        factory.next_block([opening])
        self.channel_id = channel_id_of(ALICE.public_key, opening.nonce)
        for i in range(7):
            factory.next_block([factory.transfer(ALICE, BOB.address, 100 + i)])
        self.chain = factory.chain
        clock = ManualClock(wall_ms=self.chain.tip.timestamp_ms + 500)
        self.service = NodeService(self.chain, Mempool(self.chain), clock)
        self.plugin = AddressIndexPlugin(self.service, tmp / "index" if index else None)
        self.service.add_plugin(self.plugin)

    async def _started(self) -> None:
        await self.service.start()
        while self.plugin.catching_up:
            await asyncio.sleep(0)

    def call(self, scenario: Callable[[NodeClient], Awaitable[T]]) -> T:
        async def main() -> T:
            await self._started()
            try:
                app = create_app(self.service, TOKEN)
                async with (
                    TestServer(app) as server,
                    NodeClient(str(server.make_url(""))) as client,
                ):
                    return await scenario(client)
            finally:
                await self.service.stop()

        return asyncio.run(main())

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serves the API from a thread of its own (its own event loop) while the caller
        uses the synchronous client; yields the base URL."""
        ready = threading.Event()
        done: asyncio.Event | None = None
        url: list[str] = []
        loop: list[asyncio.AbstractEventLoop] = []

        async def serve() -> None:
            nonlocal done
            done = asyncio.Event()
            loop.append(asyncio.get_running_loop())
            await self._started()
            try:
                async with TestServer(create_app(self.service, TOKEN)) as server:
                    url.append(str(server.make_url("")))
                    ready.set()
                    await done.wait()
            finally:
                await self.service.stop()

        thread = threading.Thread(target=asyncio.run, args=(serve(),))
        thread.start()
        try:
            assert ready.wait(10)
            yield url[0]
        finally:
            assert done is not None
            loop[0].call_soon_threadsafe(done.set)
            thread.join(10)


def transfers_to_bob(node: Node) -> list[bytes]:
    chain = node.chain
    return [
        tx.txid
        for height in range(chain.height, 0, -1)
        for tx in chain.block_at(height).transactions
        if isinstance(tx.payload, Transfer) and tx.payload.recipient == BOB.address
    ]


def test_pages_of_history_are_typed_and_followed_to_the_end(tmp_path: Path) -> None:
    node = Node(tmp_path)

    async def scenario(client: NodeClient) -> tuple[list[TransactionPage], Transaction]:
        nonce = node.service.mempool.pending_nonce(ALICE.address)
        pending = make_transaction(ALICE, CHAIN_ID, nonce, 1_000, Transfer(BOB.address, 5))
        await client.submit_transaction(pending)
        pages = [await client.address_transactions(BOB.address, limit=3)]
        while pages[-1].next_cursor is not None:
            cursor = pages[-1].next_cursor
            pages.append(await client.address_transactions(str(BOB.address), 3, cursor))
        return pages, pending

    pages, pending = node.call(scenario)
    assert len(pages) == 3
    items = [item for page in pages for item in page.transactions]
    assert [item.txid for item in items] == [pending.txid, *transfers_to_bob(node)]
    first = items[0]
    assert isinstance(first, AddressTransaction)
    assert first.pending and first.height is None and first.transaction == pending
    confirmed = items[1]
    assert confirmed.confirmed and confirmed.height == node.chain.height
    assert confirmed.block_hash == node.chain.tip.hash and confirmed.index == 0
    assert confirmed.timestamp_ms == node.chain.tip.timestamp_ms
    assert confirmed.confirmations == 1
    tx = confirmed.transaction
    assert isinstance(tx, Transaction) and tx.kind is TxKind.TRANSFER
    assert tx.sender_address == ALICE.address and tx.txid == confirmed.txid
    page = pages[0]
    assert page.address == BOB.address and isinstance(page.address, Address)
    assert (page.pending_count, page.confirmed_count) == (1, 7)
    assert page.indexed_height == node.chain.height
    assert pages[-1].next_cursor is None


def test_channels_a_channel_and_the_fees_are_typed(tmp_path: Path) -> None:
    node = Node(tmp_path)

    async def scenario(client: NodeClient) -> tuple[Any, ...]:
        return (
            await client.address_channels(ALICE.address),
            await client.address_channels(RELAY.address, role="relay", limit=1),
            await client.address_channels(RELAY.address, role="client"),
            await client.channel(node.channel_id),
            await client.fees(),
        )

    alice, relay, relay_as_client, channel, fees = node.call(scenario)
    assert alice.role == "any" and alice.channels == (channel,) and alice.next_cursor is None
    assert relay.channels == (channel,) and relay.role == "relay"
    assert relay_as_client.channels == ()
    assert isinstance(channel, ChannelInfo) and channel.open
    assert (channel.client, channel.relay) == (ALICE.address, RELAY.address)
    assert (channel.deposit, channel.paid, channel.settled_bytes) == (50_000, 0, 0)
    assert channel.open_height == 2 and channel.expiry_height == 900
    assert channel.open_txid == node.chain.block_at(2).transactions[0].txid
    assert channel.close_height is None and channel.close_txid is None
    # The ledger's own estimate, not a copy of it: the node's answer, field for field.
    assert type(fees) is FeeEstimate and FeeEstimate is fee_estimate.FeeEstimate
    assert fees == fee_estimate.estimate_fees(node.service.mempool)
    assert fees.suggested_fee == fees.min_fee == 1_000 and fees.fee_rate_per_kb == 0
    assert fees.fee_for(10_000) == 1_000
    assert not hasattr(pacata.rpc, "FeeInfo") and not hasattr(results, "FeeInfo")
    grace = node.chain.params.settlement_grace_blocks
    assert channel.closable_height == 900 + grace + 1


def test_the_channel_roles_are_spelled_once_for_the_route_the_schema_and_the_client() -> None:
    assert rpc_client.ChannelRole is schemas.ChannelRole is pacata.rpc.ChannelRole
    assert get_args(schemas.ChannelRole) == schemas.CHANNEL_ROLES == ("client", "relay", "any")
    assert routes.CHANNEL_ROLES is schemas.CHANNEL_ROLES
    assert schemas.ChannelListSchema().fields["role"].metadata["enum"] == ["client", "relay", "any"]
    (role,) = (p for p in routes.LIST_ADDRESS_CHANNELS.parameters if p.name == "role")
    assert role.description.startswith("client, relay, any")


def test_the_node_refusals_are_exceptions(tmp_path: Path) -> None:
    node = Node(tmp_path)

    async def scenario(client: NodeClient) -> list[Exception]:
        errors: list[Exception] = []
        calls: list[Awaitable[Any]] = [
            client.address_transactions(BOB.address, cursor="not-a-cursor"),
            client.address_transactions(BOB.address, limit=500),
            client.address_channels(BOB.address, role="owner"),  # type: ignore[arg-type]
            client.channel(bytes(32)),
        ]
        for call in calls:
            with pytest.raises(Exception) as caught:
                await call
            errors.append(caught.value)
        empty = await client.address_transactions(NOBODY)
        assert empty.transactions == () and empty.next_cursor is None
        return errors

    cursor, limit, role, missing = node.call(scenario)
    assert isinstance(cursor, RpcBadRequest) and cursor.reason.startswith("cursor:")
    assert isinstance(limit, RpcBadRequest) and limit.reason.startswith("limit:")
    assert isinstance(role, RpcBadRequest) and role.reason.startswith("role:")
    assert isinstance(missing, RpcNotFound) and "no channel" in missing.reason


def test_the_synchronous_facade_and_a_node_without_an_index(tmp_path: Path) -> None:
    with_index, without = Node(tmp_path / "a"), Node(tmp_path / "b", index=False)
    with with_index.serving() as url, SyncNodeClient(url) as client:
        page = client.address_transactions(BOB.address, limit=2)
        assert [item.txid for item in page.transactions] == transfers_to_bob(with_index)[:2]
        later = client.address_transactions(BOB.address, limit=2, cursor=page.next_cursor)
        assert later.transactions[0].txid == transfers_to_bob(with_index)[2]
        assert client.address_channels(ALICE.address, "client").channels[0].open
        assert client.channel(with_index.channel_id).relay == RELAY.address
        assert client.fees().min_fee == 1_000
    with without.serving() as url, SyncNodeClient(url) as client:
        with pytest.raises(RpcUnavailable, match="keeps no address index"):
            client.address_transactions(BOB.address)
        with pytest.raises(RpcUnavailable, match="keeps no address index"):
            client.address_channels(ALICE.address)
        assert client.channel(without.channel_id).deposit == 50_000  # open: from the state
        assert client.fees().suggested_fee == 1_000


def test_an_item_whose_encoding_is_another_transaction_is_invalid() -> None:
    real = make_transaction(ALICE, CHAIN_ID, 0, 1_000, Transfer(BOB.address, 5))
    other = make_transaction(ALICE, CHAIN_ID, 1, 1_000, Transfer(BOB.address, 5))
    answer = {
        "address": str(BOB.address),
        "transactions": [
            {"txid": real.txid.hex(), "status": "pending", "encoded": other.encode().hex()}
        ],
        "next_cursor": None,
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(answer)

    async def main() -> Exception:
        app = web.Application()
        app.router.add_get("/api/accounts/{address}/txs", handler)
        async with TestServer(app) as server, NodeClient(str(server.make_url(""))) as client:
            with pytest.raises(InvalidResponse) as caught:
                await client.address_transactions(BOB.address)
            return caught.value

    error = asyncio.run(main())
    assert "is another transaction" in str(error)


@pytest.mark.slow
def test_pacatad_keeps_the_index_by_default_and_answers_503_without_it(tmp_path: Path) -> None:
    for flags, indexed in (((), True), (("--no-address-index",), False)):
        run = tmp_path / ("indexed" if indexed else "without")
        run.mkdir()
        node = NodeProcess(
            "pacatad",
            genesis=None,
            datadir=run / "datadir",
            listen="127.0.0.1:0",
            produce=True,
            log_dir=run,
            extra=flags,
        )
        try:
            node.wait_ready()
            with SyncNodeClient(node.base) as client:
                sender = devnet_key(1)
                nonce = client.account(sender.address).pending_nonce
                tx = make_transaction(sender, CHAIN_ID, nonce, 1_000, Transfer(BOB.address, 7))
                client.submit_transaction(tx)
                client.wait_for_transaction(tx.txid, timeout_s=30)
                if indexed:
                    page = client.address_transactions(sender.address)
                    assert page.transactions[0].txid == tx.txid
                    assert (node.datadir / "indexes" / "addresses").is_dir()
                else:
                    with pytest.raises(RpcUnavailable, match="--no-address-index"):
                        client.address_transactions(sender.address)
                    assert not (node.datadir / "indexes" / "addresses").exists()
        finally:
            node.close()
