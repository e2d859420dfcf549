"""The typed API client (pacata/rpc/client.py) against the node's real aiohttp app on a real
chain (a MemoryStore), over a real socket (aiohttp's TestServer): every call, its typed answer,
and every error the node gives mapped to its exception; then answers no node should give."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pacata.chain.devnet import devnet_key
from pacata.chain.keys import PrivateKey
from pacata.chain.mempool import Mempool
from pacata.chain.state import Account, Namespace, state_key
from pacata.chain.transactions import Transaction, Transfer, TxKind, make_transaction
from pacata.errors import NotFound
from pacata.node.api import create_app
from pacata.node.producer_keys import devnet_producer_keys
from pacata.node.service import NodeService
from pacata.rpc import (
    DhtCounts,
    InvalidResponse,
    NodeClient,
    NodeUnreachable,
    RpcBadRequest,
    RpcConflict,
    RpcError,
    RpcNotFound,
    RpcUnauthorized,
    RpcUnavailable,
    SyncNodeClient,
    SyncProgress,
    VpnInfo,
)
from pacata.rpc.results import AccountInfo
from pacata.rpc.schemas import StatusSchema
from pacata.testing import ChainFactory
from pacata.testing.clock import ManualClock
from pacata.testing.node_process import free_port

ALICE, BOB, CAROL = devnet_key(1), devnet_key(2), devnet_key(3)
NOBODY = PrivateKey(bytes(31) + b"\x07").address
TOKEN = "0123456789abcdef" * 4
CHAIN_ID = "pacata-devnet-1"
T = TypeVar("T")


class Node:
    """A node whose chain holds genesis and three blocks (two transfers from ALICE, then an
    empty one), served by `create_app` as pacatad serves it."""

    def __init__(self, *, with_keys: bool = True) -> None:
        self.factory = ChainFactory()
        self.factory.next_block([self.factory.transfer(ALICE, BOB.address, 5_000)])
        self.factory.next_block([self.factory.transfer(ALICE, CAROL.address, 7_000)])
        self.factory.next_block()
        self.chain = self.factory.chain
        clock = ManualClock(wall_ms=self.chain.tip.timestamp_ms + 500)
        keys = devnet_producer_keys() if with_keys else None
        self.service = NodeService(self.chain, Mempool(self.chain), clock, producer_keys=keys)

    def call(self, scenario: Callable[[NodeClient], Awaitable[T]], token: str | None = TOKEN) -> T:
        """`scenario` run with a client of this node's API on a real port."""

        async def main() -> T:
            async with TestServer(create_app(self.service, TOKEN)) as server:
                url = str(server.make_url(""))
                async with NodeClient(url, token=token) as client:
                    return await scenario(client)

        return asyncio.run(main())


@pytest.fixture
def node() -> Node:
    return Node()


def transfer(key: PrivateKey, nonce: int, amount: int = 1_000, fee: int = 1_000) -> Transaction:
    return make_transaction(key, CHAIN_ID, nonce, fee, Transfer(CAROL.address, amount))


def raised(scenario: Callable[[NodeClient], Awaitable[Any]]) -> Callable[[NodeClient], Any]:
    """`scenario`, giving back the exception it raised (failing if it raised none)."""

    async def catching(client: NodeClient) -> BaseException:
        with pytest.raises(Exception) as caught:
            await scenario(client)
        return caught.value

    return catching


# -- answers, typed ----------------------------------------------------------------------------


def test_status_is_typed(node: Node) -> None:
    status = node.call(lambda client: client.status())
    assert status.chain_id == CHAIN_ID
    assert status.height == 3
    assert status.tip == node.chain.tip.hash
    assert status.genesis == node.chain.block_at(0).hash
    assert status.producer == devnet_key(0).address
    assert status.producing is False
    assert status.time_ms == node.service.clock.now_ms()
    # No peer-to-peer plugins: what their absence means.
    assert status.node_id is None and status.reflexive_address is None
    assert status.sync == SyncProgress(0, 0) and status.dht == DhtCounts(0, 0)


def test_account_and_its_proof(node: Node) -> None:
    info = node.call(lambda client: client.account(ALICE.address, proof=True))
    record = node.chain.state.get_state(state_key(Namespace.ACCOUNT, ALICE.address.raw))
    assert record is not None
    assert info.address == ALICE.address
    assert info.balance == Account.decode(record).balance
    assert info.nonce == info.pending_nonce == 2
    assert info.unbonding == () and info.proof is not None
    assert info.proof.record == record
    assert info.proof.state_root == node.chain.state_root
    assert info.proof.verify(ALICE.address)
    # A proof proves one account, of one record.
    assert not info.proof.verify(BOB.address)
    assert not replace(info.proof, record=record + b"\x00").verify(ALICE.address)
    assert not replace(info.proof, proof=b"\xff").verify(ALICE.address)
    plain = node.call(lambda client: client.account(str(ALICE.address)))
    assert plain.proof is None and plain.balance == info.balance


def test_an_accounts_pending_balance_and_its_absence_from_an_older_node(node: Node) -> None:
    node.service.mempool.add(transfer(ALICE, 2, amount=3_000, fee=1_000))
    info = node.call(lambda client: client.account(ALICE.address))
    assert info.pending_nonce == 3
    assert info.pending_balance == info.balance - 4_000
    # A node that predates the field: its answer still loads, the mempool not counted.
    fields = dataclasses.fields(info)
    loaded = {f.name: getattr(info, f.name) for f in fields if f.name != "pending_balance"}
    assert AccountInfo.from_loaded(loaded).pending_balance == info.balance


def test_blocks_and_a_block_load_to_typed_values(node: Node) -> None:
    second = node.chain.block_at(2)

    async def scenario(client: NodeClient) -> tuple[Any, Any, Any]:
        return (
            await client.blocks(limit=2),
            await client.block(2),
            await client.block(second.hash),
        )

    summaries, by_height, by_hash = node.call(scenario)
    assert [s["height"] for s in summaries] == [3, 2]
    assert summaries[0]["hash"] == node.chain.tip.hash
    assert summaries[0]["producer_address"] == devnet_key(0).address
    assert by_height == by_hash
    assert by_hash["hash"] == second.hash and by_hash["confirmations"] == 2
    assert by_hash["header"]["state_root"] == second.header.state_root
    tx = by_hash["transactions"][0]
    assert tx["txid"] == second.transactions[0].txid
    assert tx["kind"] is TxKind.TRANSFER
    assert tx["sender_address"] == ALICE.address
    assert tx["payload"] == {"recipient": CAROL.address, "amount": 7_000}


def test_submit_then_follow_to_confirmed(node: Node) -> None:
    tx = transfer(ALICE, 2, amount=4_321)

    async def scenario(client: NodeClient) -> tuple[Any, ...]:
        submitted = await client.submit_transaction(tx)
        pending = await client.transaction(tx.txid)
        mempool = await client.mempool()
        waiting = asyncio.create_task(client.wait_for_transaction(tx.txid, poll_s=0.01))
        await asyncio.sleep(0.1)
        still_waiting = not waiting.done()
        block = node.factory.next_block([tx], connect=False)
        node.service.import_block(block)
        return submitted, pending, mempool, still_waiting, await waiting, block

    submitted, pending, mempool, still_waiting, confirmed, block = node.call(scenario)
    assert submitted.txid == tx.txid and submitted.status == "pending"
    assert pending.pending and pending.block_hash is None
    assert pending.tx is not None and pending.tx["nonce"] == 2
    assert mempool["count"] == 1 and mempool["transactions"][0]["txid"] == tx.txid
    assert still_waiting
    assert confirmed.confirmed and confirmed.txid == tx.txid
    assert confirmed.block_hash == block.hash and confirmed.block_height == 4
    assert confirmed.index == 0 and confirmed.confirmations == 1


def test_submitting_an_encoding(node: Node) -> None:
    tx = transfer(ALICE, 2)
    submitted = node.call(lambda client: client.submit_transaction(tx.encode()))
    assert submitted.txid == tx.txid
    assert node.service.mempool.get(tx.txid) == tx


def test_the_other_reads(node: Node) -> None:
    async def scenario(client: NodeClient) -> tuple[Any, Any, Any]:
        return await client.peers(), await client.openapi(), await client.metrics()

    peers, document, metrics = node.call(scenario)
    assert peers == {"count": 0, "peers": [], "bans": [], "bans_total": 0}
    assert document["paths"]["/api/status"]["get"]["operationId"] == "get_status"
    assert "pacata_chain_height 3" in metrics


def test_admin_calls_with_the_token(node: Node) -> None:
    async def scenario(client: NodeClient) -> tuple[bool, bool]:
        on = await client.set_producing(True)
        await client.stop()
        return on, node.service.producing

    assert node.call(scenario) == (True, True)
    assert node.service.shutdown_requested.is_set()


# -- errors ------------------------------------------------------------------------------------


def test_not_found_is_rpc_not_found_with_the_reason(node: Node) -> None:
    missing = bytes(range(32))
    error = node.call(raised(lambda client: client.transaction(missing)))
    assert isinstance(error, RpcNotFound) and isinstance(error, NotFound)
    assert error.status == 404
    assert error.reason == f"no transaction {missing.hex()} on the chain or in the mempool"
    error = node.call(raised(lambda client: client.block(99)))
    assert isinstance(error, RpcNotFound)
    assert error.reason == "no block at height 99 (tip is 3)"


def test_an_unknown_account_is_not_found_and_carries_the_proof_of_absence(node: Node) -> None:
    error = node.call(raised(lambda client: client.account(NOBODY, proof=True)))
    assert isinstance(error, RpcNotFound)
    assert error.reason == f"no account {NOBODY} (it has never been paid)"
    assert error.document["proof"]["record"] is None


@pytest.mark.parametrize(
    ("tx", "reason"),
    [
        (transfer(ALICE, 0), "nonce 0 already used (next is 2)"),
        (transfer(ALICE, 2, fee=10), "fee 10 is below the minimum"),
        (transfer(devnet_key(42), 0), "insufficient balance"),
    ],
)
def test_a_refused_transaction_is_bad_request_with_the_rule(
    node: Node, tx: Transaction, reason: str
) -> None:
    error = node.call(raised(lambda client: client.submit_transaction(tx)))
    assert isinstance(error, RpcBadRequest)
    assert error.status == 400
    assert reason in error.reason
    assert len(node.service.mempool) == 0


def test_malformed_calls_are_bad_requests(node: Node) -> None:
    error = node.call(raised(lambda client: client.account("pac1nothing")))
    assert isinstance(error, RpcBadRequest)
    assert error.reason.startswith("address: not a pac1 address")
    error = node.call(raised(lambda client: client.submit_transaction(b"\x02\x02")))
    assert isinstance(error, RpcBadRequest)
    assert error.reason == "unknown transaction version 2"
    error = node.call(raised(lambda client: client.blocks(limit=1_000)))
    assert isinstance(error, RpcBadRequest)
    assert error.reason == "limit: must be an integer within 1-100"


def test_admin_calls_without_the_token_are_unauthorized(node: Node) -> None:
    for token in (None, "wrong" * 8):
        error = node.call(raised(lambda client: client.set_producing(True)), token=token)
        assert isinstance(error, RpcUnauthorized) and error.status == 401
        assert "Authorization: Bearer" in error.reason
    assert node.service.producing is False


def test_production_without_keys_is_a_conflict() -> None:
    error = Node(with_keys=False).call(raised(lambda client: client.set_producing(True)))
    assert isinstance(error, RpcConflict) and error.status == 409


def test_a_node_without_a_dht_is_unavailable(node: Node) -> None:
    error = node.call(raised(lambda client: client.dht_record(bytes(32))))
    assert isinstance(error, RpcUnavailable) and error.status == 503
    assert error.reason == "this node runs no DHT (its UDP port is not open)"


def test_a_closed_port_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    async def call() -> None:
        async with NodeClient(url) as client:
            await client.status()

    with pytest.raises(NodeUnreachable, match=f"cannot reach the node at {url}"):
        asyncio.run(call())
    with SyncNodeClient(url) as client, pytest.raises(NodeUnreachable):
        client.status()


def test_a_silent_node_is_unreachable_after_the_timeout() -> None:
    async def silent(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(10)
        return web.json_response({})

    error = _against(silent, timeout_s=0.2)
    assert isinstance(error, NodeUnreachable)
    assert "no answer within 0.2 s" in str(error)


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:9740",
        "ftp://x",
        "http://",
        "http://[::1",
        "http://a:99999",
        "http://a:0",
        "http://a b",
        "http://a?x=1",
        "http://a/#top",
    ],
)
def test_a_base_url_must_be_http_to_a_host(url: str) -> None:
    # Refused at once, not as an aiohttp error at the first call.
    with pytest.raises(ValueError, match="not an http:// or https:// URL of a host"):
        NodeClient(url)


def test_a_base_url_loses_its_trailing_slash() -> None:
    assert NodeClient("http://[::1]:9740/").base_url == "http://[::1]:9740"
    assert NodeClient("https://node.example/pacata/").base_url == "https://node.example/pacata"


# -- answers no node should give ---------------------------------------------------------------


def _against(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], timeout_s: float = 5.0
) -> BaseException:
    """The exception `status()` raises against a server answering with `handler`."""
    app = web.Application()
    app.router.add_get("/api/status", handler)

    async def main() -> BaseException:
        async with TestServer(app) as server:
            url = str(server.make_url(""))
            async with NodeClient(url, timeout_s=timeout_s) as client:
                with pytest.raises(Exception) as caught:
                    await client.status()
                return caught.value

    return asyncio.run(main())


def _answer(
    body: bytes, status: int = 200
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type="application/json")

    return handler


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "get_status: the answer is not JSON"),
        (b"[1, 2]", "Invalid input type"),
        (b'{"chain_id": "x", "height": "high"}', "height: Not a valid integer."),
        (b'{"chain_id": "x", "tip": "zz"}', "tip: not hexadecimal"),
        (b'{"chain_id": "x"}', "status: unexpected answer (KeyError"),
    ],
)
def test_an_answer_the_api_does_not_promise_is_invalid(body: bytes, message: str) -> None:
    error = _against(_answer(body))
    assert isinstance(error, InvalidResponse)
    assert message in str(error)


def test_an_error_without_the_json_form_keeps_its_text() -> None:
    error = _against(_answer(b"bad gateway\n", status=502))
    assert type(error) is RpcError
    assert (error.status, error.reason) == (502, "bad gateway")


def test_an_answer_with_more_fields_than_the_client_knows_is_taken(node: Node) -> None:
    answer = StatusSchema().dump(node.service.status())  # what the node answers today
    answer["traversal"] = {"punched": 3}  # and what a newer one may add
    answer["sync"]["eta_seconds"] = 12
    answer["vpn"] = {
        "interface": "pacata0",
        "public_key": "ab" * 32,
        "listen_port": 9741,
        "peers": 2,
        "rx_bytes": 10,
        "tx_bytes": 20,
        "handshakes": 7,
    }

    async def newer(request: web.Request) -> web.StreamResponse:
        return web.json_response(answer)

    async def main() -> Any:
        app = web.Application()
        app.router.add_get("/api/status", newer)
        async with TestServer(app) as server, NodeClient(str(server.make_url(""))) as client:
            return await client.status()

    status = asyncio.run(main())
    assert status.height == 3 and status.sync == SyncProgress(0, 0)
    assert status.vpn == VpnInfo("pacata0", bytes([0xAB]) * 32, 9741, 2, 10, 20)


def test_a_submission_acknowledged_under_another_id_is_invalid() -> None:
    tx = transfer(ALICE, 2)

    async def lying(request: web.Request) -> web.StreamResponse:
        return web.json_response({"txid": "00" * 32, "status": "pending"}, status=202)

    async def main() -> BaseException:
        app = web.Application()
        app.router.add_post("/api/txs", lying)
        async with TestServer(app) as server, NodeClient(str(server.make_url(""))) as client:
            with pytest.raises(InvalidResponse) as caught:
                await client.submit_transaction(tx)
            return caught.value

    assert tx.txid.hex() in str(asyncio.run(main()))
