"""A route of the API with the handler that serves it: what the node's router takes, and what a
plugin contributes (`NodePlugin.endpoints`).

The route — method, path, schemas, errors, whether it is administrative — is described in
`pacata.rpc.routes`, where the OpenAPI document and the client read it too; this module adds
only the aiohttp handler. `bind_handlers` pairs a route table with a handler table and refuses
one that leaves a route unserved or serves a route the table does not have.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web

from pacata.rpc.routes import Route

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    route: Route
    handler: Handler

    @property
    def method(self) -> str:
        return self.route.method

    @property
    def path(self) -> str:
        return self.route.path


def bind_handlers(
    routes: Iterable[Route], handlers: Mapping[Route, Handler]
) -> tuple[Endpoint, ...]:
    """One `Endpoint` per route, in the routes' order; `ValueError` naming any route without a
    handler, or handler without a route."""
    routes = tuple(routes)
    unserved = [route.name for route in routes if route not in handlers]
    unknown = [route.name for route in handlers if route not in routes]
    if unserved or unknown:
        raise ValueError(f"routes without a handler: {unserved}; handlers of no route: {unknown}")
    return tuple(Endpoint(route, handlers[route]) for route in routes)


def check_unique(endpoints: Iterable[Endpoint]) -> None:
    """`ValueError` if two endpoints share a method and path, or an OpenAPI operationId."""
    seen: set[tuple[str, str] | str] = set()
    for endpoint in endpoints:
        route = endpoint.route
        for key in ((route.method, route.path), route.name):
            if key in seen:
                raise ValueError(f"two API routes are {key}")
            seen.add(key)
