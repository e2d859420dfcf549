"""A route of the API with the handler that serves it: what the node's router takes, and what a
plugin contributes (`NodePlugin.endpoints`).

The route — method, path, schemas, errors, whether it is administrative — is described in
`pacata.rpc.routes`, where the OpenAPI document and the client read it too; this module adds
only the aiohttp handler. `bind_handlers` pairs a route table with a handler table and refuses
one that leaves a route unserved or serves a route the table does not have. Handlers, the
node's and the plugins', read bodies with `json_body`, parameters with `query_int`,
`path_hash` and `path_address`, and answer with `json_response`; a `BadRequest` they raise is a
400 naming what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from marshmallow import Schema
from marshmallow import ValidationError as SchemaError

from pacata.chain.keys import Address
from pacata.documents import decode_utf8, parse_json
from pacata.errors import DecodeError, DocumentError, PacataError
from pacata.json_fields import describe_validation_errors
from pacata.node.http_log import one_line_reason
from pacata.rpc.routes import Route

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# A height, a limit: a decimal number of at most 19 digits (it fits a u64).
DECIMAL = re.compile(r"[0-9]{1,19}")
HASH_HEX = re.compile(r"[0-9a-fA-F]{64}")


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


class BadRequest(PacataError):
    """A request's parameter or body is malformed; the message names it."""


def json_response(schema: type[Schema], data: Any, status: int = 200) -> web.Response:
    return web.json_response(schema().dump(data), status=status)


async def json_body(request: web.Request, schema: type[Schema]) -> dict[str, Any]:
    """The request's JSON body loaded by `schema`; `BadRequest` naming every bad field."""
    try:
        raw = await request.read()
    except web.RequestPayloadError as exc:  # a broken gzip or deflate body
        raise BadRequest(f"the body cannot be read: {one_line_reason(exc)}") from None
    except ConnectionResetError:  # the client went away mid-body: its fault, not ours
        raise BadRequest("the client closed the connection before the body ended") from None
    try:
        document = parse_json(decode_utf8(raw))
    except DocumentError as exc:
        raise BadRequest(f"the body is {exc}") from None
    try:
        loaded: dict[str, Any] = schema().load(document)
    except SchemaError as exc:
        raise BadRequest("; ".join(describe_validation_errors(exc.messages))) from None
    return loaded


def query_int(request: web.Request, name: str, default: int, lowest: int, highest: int) -> int:
    """Query parameter `name`, a decimal within `lowest`-`highest` (`default` if absent)."""
    text = request.query.get(name)
    if text is None:
        return default
    if not DECIMAL.fullmatch(text) or not lowest <= int(text) <= highest:
        raise BadRequest(f"{name}: must be an integer within {lowest}-{highest}")
    return int(text)


def path_hash(request: web.Request, name: str, what: str = "a hash") -> bytes:
    """Path parameter `name`, 64 hex digits, as bytes."""
    text = request.match_info[name]
    if not HASH_HEX.fullmatch(text):
        raise BadRequest(f"{name}: not {what} (64 hex digits)")
    return bytes.fromhex(text)


def path_address(request: web.Request, name: str) -> Address:
    """Path parameter `name`, a `pac1…` address."""
    try:
        return Address.from_string(request.match_info[name])
    except DecodeError as exc:
        raise BadRequest(f"{name}: not a pac1 address ({exc})") from None
