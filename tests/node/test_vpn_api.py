"""The VPN plugin's API (pacata/node/vpn_api.py) on an in-memory chain, without an interface:
relay offers and channel openings signed with the node's account, every bad request a 400 that
names what is wrong and leaves the mempool as it was, and the tunnels listed in both roles."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from pacata.chain.devnet import devnet_key
from pacata.chain.mempool import Mempool
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.transactions import ChannelOpen, RelayRegister, RelayRetire
from pacata.chain.transitions import channel_id_of
from pacata.node.api import create_app
from pacata.node.endpoints import Endpoint
from pacata.node.plugins import NodePlugin
from pacata.node.service import NodeService
from pacata.node.vpn_api import VpnApi
from pacata.node.vpn_chain import AccountTransactions, channel_of
from pacata.p2p.records import Endpoint as RecordEndpoint
from pacata.p2p.records import NodeRecord, Transport
from pacata.testing import ChainFactory
from pacata.testing.clock import ManualClock
from pacata.vpn.channel_peers import ChannelPeers

TOKEN = "0123456789abcdef" * 4
RELAY, CLIENT = devnet_key(1), devnet_key(2)
WIREGUARD_KEY = bytes(range(32))


class ApiOnly(NodePlugin):
    name = "vpn-api"

    def __init__(self, api: VpnApi) -> None:
        self.api = api

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self.api.endpoints()


def node(account: Any, host: str = "192.0.2.1") -> tuple[ChainFactory, NodeService, VpnApi]:
    factory = ChainFactory()
    clock = ManualClock(wall_ms=factory.chain.tip.timestamp_ms + 3_600_000)
    service = NodeService(factory.chain, Mempool(factory.chain), clock)
    record = NodeRecord.create(
        account, 1, (RecordEndpoint(Transport.UDP, host, 9741),), WIREGUARD_KEY
    )
    api = VpnApi(
        service,
        AccountTransactions(service, account),
        ChannelPeers(account.address, account.public_key, 1),
        interface="pacata0",
        wireguard_key=WIREGUARD_KEY,
        record=lambda: record,
    )
    service.add_plugin(ApiOnly(api))
    return factory, service, api


def call(service: NodeService, steps: Callable[[TestClient[Any, Any]], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with TestClient(TestServer(create_app(service, TOKEN))) as client:
            return await steps(client)

    return asyncio.run(main())


async def post(client: TestClient[Any, Any], path: str, body: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = await client.post(path, json=body, headers=headers)
    return response.status, await response.json()


def test_a_relay_registers_updates_and_retires_its_offer() -> None:
    factory, service, _ = node(RELAY)

    async def steps(client: TestClient[Any, Any]) -> Any:
        body = {"action": "register", "prices_per_gib": [100, 300], "rate_limits": [0, 9_000]}
        return await post(client, "/api/vpn/relay", body)

    status, answer = call(service, steps)
    assert status == 202, answer
    assert answer["endpoints"] == ["192.0.2.1:9741"] and answer["relay"] == str(RELAY.address)
    [tx] = service.mempool.transactions()
    assert isinstance(tx.payload, RelayRegister)
    offer = tx.payload.offer
    assert (offer.wireguard_key, offer.prices_per_gib, offer.rate_limits) == (
        WIREGUARD_KEY,
        (100, 300),
        (0, 9_000),
    )
    assert tx.txid.hex() == answer["txid"] and tx.sender == RELAY.public_key
    service.import_block(factory.next_block([tx], connect=False))
    assert len(service.mempool) == 0

    async def listing(client: TestClient[Any, Any]) -> Any:
        answers = []
        for query in ("", "?limit=1", "?limit=0", "?limit=x"):
            response = await client.get(f"/api/relays{query}")
            answers.append((response.status, await response.json()))
        return answers

    full, one, zero, bad = call(service, listing)
    assert full[0] == 200 and full[1]["count"] == 1 and one[1]["count"] == 1
    [relay] = full[1]["relays"]
    assert relay["address"] == str(RELAY.address)
    assert relay["offer"]["prices_per_gib"] == [100, 300]
    assert relay["offer"]["rate_limits"] == [0, 9_000]
    assert relay["offer"]["endpoints"] == ["192.0.2.1:9741"]
    assert zero[0] == bad[0] == 400

    async def retire(client: TestClient[Any, Any]) -> Any:
        return await post(client, "/api/vpn/relay", {"action": "retire"})

    status, answer = call(service, retire)
    assert status == 202, answer
    assert any(isinstance(t.payload, RelayRetire) for t in service.mempool.transactions())


def test_bad_offers_are_refused_and_change_nothing() -> None:
    _, service, _ = node(RELAY, host="0.0.0.0")
    cases = [
        ({"action": "register"}, "prices_per_gib: required"),
        ({"action": "update", "prices_per_gib": [1], "rate_limits": [1, 2]}, "one per tier"),
        ({"action": "close", "prices_per_gib": [1]}, "action: Must be one of"),
        ({"action": "register", "prices_per_gib": [-1]}, "prices_per_gib.0"),
        ({"action": "register", "prices_per_gib": [1.5]}, "prices_per_gib.0"),
        ({"action": "register", "prices_per_gib": [1] * 9}, "prices_per_gib"),
        ({"action": "register", "prices_per_gib": [1]}, "knows no address clients can reach"),
        ({"action": "register", "prices_per_gib": [1], "endpoints": ["x" * 65]}, "endpoints.0"),
        ({"action": "update", "prices_per_gib": [1], "endpoints": ["192.0.2.9:1"]}, "not a"),
    ]

    async def steps(client: TestClient[Any, Any]) -> Any:
        return [await post(client, "/api/vpn/relay", body) for body, _ in cases]

    answers = call(service, steps)
    for (body, reason), (status, answer) in zip(cases, answers, strict=True):
        assert status == 400, (body, answer)
        assert reason in answer["error"], (body, answer)
    assert len(service.mempool) == 0


def test_a_client_opens_a_channel_and_lists_it() -> None:
    factory, relay_service, _ = node(RELAY)
    offer = {"action": "register", "prices_per_gib": [100]}
    call(relay_service, lambda client: post(client, "/api/vpn/relay", offer))
    relay_service.import_block(
        factory.next_block(relay_service.mempool.transactions(), connect=False)
    )
    clock = ManualClock(wall_ms=factory.chain.tip.timestamp_ms + 3_600_000)
    service = NodeService(factory.chain, Mempool(factory.chain), clock)
    tunnel_key = bytes(range(1, 33))
    peers = ChannelPeers(CLIENT.address, CLIENT.public_key, 1)
    api = VpnApi(
        service,
        AccountTransactions(service, CLIENT),
        peers,
        interface="pacata1",
        wireguard_key=tunnel_key,
        record=lambda: NodeRecord.create(CLIENT, 1, (), tunnel_key),
    )
    service.add_plugin(ApiOnly(api))
    relay = str(RELAY.address)
    cases = [
        ({"relay": "pac1nope", "deposit": 5}, "relay: not a pac1 address"),
        ({"relay": relay, "deposit": 0}, "deposit: Must be greater than or equal to 1"),
        ({"relay": relay, "deposit": 5, "tier": 1}, "no tier 1"),
        ({"relay": relay, "deposit": 10**6 * UNITS_PER_PAC}, "balance"),
        ({"relay": str(CLIENT.address), "deposit": 5}, "not a registered relay"),
        ({"relay": relay, "deposit": 5, "blocks": 0}, "blocks: Must be greater"),
    ]

    async def steps(client: TestClient[Any, Any]) -> Any:
        refused = [await post(client, "/api/vpn/channels", body) for body, _ in cases]
        body = {"relay": relay, "deposit": 5 * UNITS_PER_PAC, "blocks": 100}
        return refused, await post(client, "/api/vpn/channels", body)

    refused, (status, opened) = call(service, steps)
    for (body, reason), (code, answer) in zip(cases, refused, strict=True):
        assert code == 400 and reason in answer["error"], (body, answer)
    assert status == 202, opened
    [tx] = service.mempool.transactions()
    payload = tx.payload
    assert isinstance(payload, ChannelOpen)
    assert (payload.client_tunnel_key, payload.relay, payload.tier) == (
        tunnel_key,
        RELAY.address,
        0,
    )
    assert payload.expiry_height == opened["expiry_height"] == factory.chain.height + 100
    channel_id = channel_id_of(tx.sender, tx.nonce)
    assert opened["channel_id"] == channel_id.hex() and opened["txid"] == tx.txid.hex()

    service.import_block(factory.next_block([tx], connect=False))
    peers.observe(channel_id, channel_of(factory.chain, channel_id))
    peers.plan(factory.chain.height, lambda address: None)  # no offer lookup: not up

    async def listing(client: TestClient[Any, Any]) -> Any:
        return await (await client.get("/api/vpn/tunnels")).json()

    view = call(service, listing)
    assert view["account"] == str(CLIENT.address) and view["interface"] == "pacata1"
    [tunnel] = view["tunnels"]
    assert (tunnel["channel_id"], tunnel["role"], tunnel["relay"], tunnel["state"]) == (
        channel_id.hex(),
        "client",
        relay,
        "ended",  # its relay has no offer in this lookup, so no peer
    )
    assert tunnel["deposit"] == 5 * UNITS_PER_PAC and tunnel["confirmations"] == 1

    async def disconnecting(client: TestClient[Any, Any]) -> Any:
        return [
            await post(client, f"/api/vpn/channels/{'zz' * 32}/disconnect", {}),
            await post(client, f"/api/vpn/channels/{'00' * 32}/disconnect", {}),
            await post(client, f"/api/vpn/channels/{channel_id.hex()}/disconnect", {}),
        ]

    bad, unknown, (status, answer) = call(service, disconnecting)
    assert bad[0] == 400 and "not a channel id" in bad[1]["error"]
    assert unknown[0] == 404 and "pays no channel" in unknown[1]["error"]
    assert status == 202 and answer["status"] == "disconnected"
    grace = factory.chain.params.settlement_grace_blocks
    assert answer["close_height"] == payload.expiry_height + grace + 1
    assert channel_id in peers.stopped
