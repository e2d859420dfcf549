"""The node's route binding (pacata/node/endpoints.py): every route of the table is served by
exactly one handler, and no two routes, the plugins' included, share a path or a name."""

from __future__ import annotations

import pytest
from aiohttp import web

from pacata.chain.mempool import Mempool
from pacata.node.api import ENDPOINTS, HANDLERS, create_app
from pacata.node.endpoints import Endpoint, bind_handlers
from pacata.node.plugins import NodePlugin
from pacata.node.service import NodeService
from pacata.rpc import routes
from pacata.rpc.routes import ROUTES, Route
from pacata.testing import ChainFactory
from pacata.testing.clock import ManualClock

TOKEN = "0123456789abcdef" * 4


async def _handler(request: web.Request) -> web.StreamResponse:
    return web.json_response({})


def test_every_route_of_the_table_is_served_in_its_order() -> None:
    assert [endpoint.route for endpoint in ENDPOINTS] == list(ROUTES)
    assert [(e.method, e.path) for e in ENDPOINTS] == [(r.method, r.path) for r in ROUTES]
    assert ENDPOINTS[0].handler is HANDLERS[routes.GET_STATUS]


def test_a_route_without_a_handler_or_a_handler_without_a_route_is_refused() -> None:
    missing = {route: handler for route, handler in HANDLERS.items() if route != routes.ADMIN_STOP}
    with pytest.raises(ValueError, match=r"routes without a handler: \['admin_stop'\]"):
        bind_handlers(ROUTES, missing)
    stray = Route("get_stray", "GET", "/api/stray", "Nothing", None)
    with pytest.raises(ValueError, match=r"handlers of no route: \['get_stray'\]"):
        bind_handlers(ROUTES, {**HANDLERS, stray: _handler})


class _Shadowing(NodePlugin):
    """A plugin that serves a route the node serves already."""

    def __init__(self, route: Route) -> None:
        self.route = route

    def endpoints(self) -> tuple[Endpoint, ...]:
        return (Endpoint(self.route, _handler),)


@pytest.mark.parametrize(
    "route",
    [
        Route("get_other_status", "GET", "/api/status", "Same path", None),
        Route("get_status", "GET", "/api/other", "Same operationId", None),
    ],
)
def test_a_plugin_route_that_collides_is_refused(route: Route) -> None:
    factory = ChainFactory()
    clock = ManualClock(wall_ms=factory.chain.tip.timestamp_ms + 500)
    service = NodeService(factory.chain, Mempool(factory.chain), clock)
    service.add_plugin(_Shadowing(route))
    with pytest.raises(ValueError, match="two API routes are"):
        create_app(service, TOKEN)
