"""The API's route table and the OpenAPI 3 document generated from it (`GET /api/openapi.json`).

Rules: every route of the HTTP API is one `Endpoint`; the router (`pacata.node.api`) and this
document are both built from the one table, so a route cannot exist undocumented. Bodies are
described by the marshmallow schemas of `pacata.node.schemas` (apispec turns them into JSON
Schema); the document is built once, when the app is made.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from pacata.node.schemas import PAYLOAD_SCHEMAS, ErrorSchema, schema_name

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN_SECURITY_SCHEME = "cookieToken"
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: Literal["path", "query"]
    description: str
    type: Literal["string", "integer", "boolean"] = "string"
    required: bool = False

    def to_openapi(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "in": self.location,
            "description": self.description,
            "required": self.required or self.location == "path",
            "schema": {"type": self.type},
        }


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: Literal["GET", "POST"]
    path: str  # aiohttp's `{name}` placeholders are OpenAPI's too
    handler: Handler
    summary: str
    response: type[Schema] | None  # None: a text/plain body
    status: int = 200
    parameters: tuple[Parameter, ...] = ()
    request: type[Schema] | None = None
    errors: tuple[tuple[int, str], ...] = ()
    admin: bool = False
    # For a non-JSON response: its media type.
    media_type: str = JSON


def _ref(schema: type[Schema]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema_name(schema)}"}


def _register(spec: APISpec, schemas: Iterable[type[Schema]]) -> None:
    for schema in schemas:
        # A nested schema is registered by apispec when its parent is; register it only once.
        if schema_name(schema) not in spec.components.schemas:
            spec.components.schema(schema_name(schema), schema=schema)


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    if endpoint.response is None:
        content = {endpoint.media_type: {"schema": {"type": "string"}}}
    else:
        content = {endpoint.media_type: {"schema": _ref(endpoint.response)}}
    responses: dict[str, Any] = {
        str(endpoint.status): {"description": endpoint.summary, "content": content}
    }
    errors = list(endpoint.errors)
    if endpoint.admin:
        errors.append((401, "no token, or not the cookie's token"))
    for status, description in errors:
        responses[str(status)] = {
            "description": description,
            "content": {JSON: {"schema": _ref(ErrorSchema)}},
        }
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "operationId": endpoint.handler.__name__,
        "parameters": [parameter.to_openapi() for parameter in endpoint.parameters],
        "responses": responses,
    }
    if endpoint.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(endpoint.request)}},
        }
    if endpoint.admin:
        operation["security"] = [{ADMIN_SECURITY_SCHEME: []}]
    return operation


def build_openapi(endpoints: Sequence[Endpoint], version: str) -> dict[str, Any]:
    spec = APISpec(
        title="Pacata node API",
        version=version,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "The HTTP API of pacatad (docs/api.md). Amounts are integers in "
            "base units (1 PAC = 10^8); hashes, keys and encodings are hex."
        },
    )
    spec.components.security_scheme(
        ADMIN_SECURITY_SCHEME,
        {
            "type": "http",
            "scheme": "bearer",
            "description": "the token in the data directory's .cookie file",
        },
    )
    # Payload schemas first: they are referenced by name from the transaction's `oneOf`.
    _register(spec, PAYLOAD_SCHEMAS.values())
    _register(spec, [ErrorSchema])
    for endpoint in endpoints:
        _register(spec, [s for s in (endpoint.response, endpoint.request) if s is not None])
    by_path: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        by_path.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
