"""The node as a plugin host (pacata/node/plugins.py): events in chain order, start in order and
stop in reverse, a failing plugin stops the node, and what plugins add to the status, the
metrics and the API."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pacata.chain.devnet import devnet_key
from pacata.chain.mempool import Mempool
from pacata.node.api import create_app
from pacata.node.endpoints import Endpoint
from pacata.node.metrics import Gauge, MetricsRegistry
from pacata.node.plugins import (
    BlockConnected,
    BlockDisconnected,
    NodeEvent,
    NodePlugin,
    PluginError,
    PluginHost,
    TransactionAdmitted,
)
from pacata.node.service import NodeService
from pacata.rpc.routes import Route
from pacata.rpc.schemas import StoppingSchema
from pacata.testing import ChainFactory
from pacata.testing.clock import ManualClock

ALICE, BOB = devnet_key(1), devnet_key(2)
TOKEN = "0123456789abcdef" * 4


class Recorder(NodePlugin):
    name = "recorder"

    def __init__(self, log: list[str], *, fail_start: bool = False) -> None:
        self.log = log
        self.fail_start = fail_start
        self.events: list[NodeEvent] = []

    def register(self, host: PluginHost, metrics: MetricsRegistry) -> None:
        metrics.add(Gauge(f"test_{id(self)}_events", "Events heard.", lambda: len(self.events)))
        self.log.append(f"register {id(self)}")

    async def start(self) -> None:
        self.log.append(f"start {id(self)}")
        if self.fail_start:
            raise PluginError("no port for the recorder")

    async def stop(self) -> None:
        self.log.append(f"stop {id(self)}")

    def on_event(self, event: NodeEvent) -> None:
        self.events.append(event)

    def status_fields(self) -> Mapping[str, object]:
        return {"peers": 7}

    def endpoints(self) -> tuple[Endpoint, ...]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return web.json_response({"stopping": len(self.events) > 0})

        route = Route(
            "get_recorder", "GET", "/api/recorder", "What the recorder heard", StoppingSchema
        )
        return (Endpoint(route, handler),)


def _service(factory: ChainFactory) -> NodeService:
    clock = ManualClock(
        wall_ms=factory.chain.tip.timestamp_ms + 3_600_000
    )  # no block is from the future
    return NodeService(factory.chain, Mempool(factory.chain), clock)


def test_events_come_in_chain_order_with_where_they_came_from() -> None:
    main = ChainFactory(seed=31)
    main.next_block()
    rival = main.fork(1, seed=32)
    node = ChainFactory(seed=33)
    node.chain.add_block(main.chain.block_at(1))
    service = _service(node)
    recorder = Recorder([])
    service.add_plugin(recorder)

    local = main.transfer(ALICE, BOB.address, 1)
    service.submit_transaction(local.encode())
    relayed = main.transfer(BOB, ALICE.address, 2)
    service.accept_relayed_transaction(relayed)
    ours = main.next_block([local])
    service.import_block(ours)
    rival_blocks = [rival.next_block(slot_gap=2) for _ in range(2)]
    for block in rival_blocks:
        service.import_block(block)

    kinds = [
        (type(e).__name__, getattr(e, "local", None), getattr(e, "block", None))
        for e in recorder.events
    ]
    assert kinds == [
        ("TransactionAdmitted", True, None),
        ("TransactionAdmitted", False, None),
        ("BlockConnected", None, ours),
        ("BlockDisconnected", None, ours),  # every disconnection before the connections
        ("BlockConnected", None, rival_blocks[0]),
        ("BlockConnected", None, rival_blocks[1]),
    ]
    first = recorder.events[2]
    assert isinstance(first, BlockConnected) and not first.produced
    assert first.changed_keys is not None and len(first.changed_keys) > 0
    assert isinstance(recorder.events[3], BlockDisconnected)
    admitted = recorder.events[0]
    assert isinstance(admitted, TransactionAdmitted) and admitted.tx == local


def test_plugins_start_in_order_and_stop_in_reverse_even_when_one_fails() -> None:
    log: list[str] = []
    service = _service(ChainFactory())
    first, failing, never = Recorder(log), Recorder(log, fail_start=True), Recorder(log)
    for plugin in (first, failing, never):
        service.add_plugin(plugin)

    async def scenario() -> None:
        with pytest.raises(PluginError, match="no port for the recorder"):
            await service.start()
        await service.stop()

    asyncio.run(scenario())
    a, b, c = id(first), id(failing), id(never)
    assert log == [
        f"register {a}",
        f"register {b}",
        f"register {c}",
        f"start {a}",
        f"start {b}",
        f"stop {b}",  # started (and failed): stopped; the one after it never started
        f"stop {a}",
    ]


def test_a_plugin_that_raises_on_an_event_stops_the_node() -> None:
    service = _service(ChainFactory())

    class Broken(NodePlugin):
        name = "broken"

        def on_event(self, event: NodeEvent) -> None:
            raise RuntimeError("plugin bug")

    service.add_plugin(Broken())
    service.submit_transaction(ChainFactory().transfer(ALICE, BOB.address, 1).encode())
    assert isinstance(service.failure, RuntimeError)
    assert service.shutdown_requested.is_set()
    assert len(service.mempool) == 1  # the ledger is not undone: the plugin failed, not it


def test_plugins_add_status_fields_metrics_and_routes() -> None:
    service = _service(ChainFactory())
    recorder = Recorder([])
    service.add_plugin(recorder)

    async def scenario() -> tuple[Any, Any, Any, str]:
        async with TestClient(TestServer(create_app(service, TOKEN))) as client:
            status = await (await client.get("/api/status")).json()
            route = await (await client.get("/api/recorder")).json()
            document = await (await client.get("/api/openapi.json")).json()
            metrics = await (await client.get("/metrics")).text()
            return status, route, document, metrics

    status, route, document, metrics = asyncio.run(scenario())
    assert status["peers"] == 7
    assert route == {"stopping": False}
    assert document["paths"]["/api/recorder"]["get"]["operationId"] == "get_recorder"
    assert f"test_{id(recorder)}_events 0" in metrics
