"""The OpenAPI 3 document of the HTTP API (`GET /api/openapi.json`), generated from the route
table (`pacata.rpc.routes`) and its marshmallow schemas (`pacata.rpc.schemas`).

Rules: apispec turns the schemas into JSON Schema; each route is one operation whose
`operationId` is the route's name; every error status a route declares, and 401 for an
administrative one, answers the `Error` schema. The server builds the document once, when its
app is made, from its routes and its plugins'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from pacata.rpc.routes import JSON, Route
from pacata.rpc.schemas import PAYLOAD_SCHEMAS, ErrorSchema, schema_name

ADMIN_SECURITY_SCHEME = "cookieToken"


def _ref(schema: type[Schema]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{schema_name(schema)}"}


def _register(spec: APISpec, schemas: Iterable[type[Schema]]) -> None:
    for schema in schemas:
        # A nested schema is registered by apispec when its parent is; register it only once.
        if schema_name(schema) not in spec.components.schemas:
            spec.components.schema(schema_name(schema), schema=schema)


def _operation(route: Route) -> dict[str, Any]:
    if route.response is None:
        content = {route.media_type: {"schema": {"type": "string"}}}
    else:
        content = {route.media_type: {"schema": _ref(route.response)}}
    responses: dict[str, Any] = {
        str(route.status): {"description": route.summary, "content": content}
    }
    errors = list(route.errors)
    if route.admin:
        errors.append((401, "no token, or not the cookie's token"))
    for status, description in errors:
        responses[str(status)] = {
            "description": description,
            "content": {JSON: {"schema": _ref(ErrorSchema)}},
        }
    operation: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.name,
        "parameters": [parameter.to_openapi() for parameter in route.parameters],
        "responses": responses,
    }
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": _ref(route.request)}},
        }
    if route.admin:
        operation["security"] = [{ADMIN_SECURITY_SCHEME: []}]
    return operation


def build_openapi(routes: Sequence[Route], version: str) -> dict[str, Any]:
    """The document of `routes` for the node of version `version`."""
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
    for route in routes:
        _register(spec, [s for s in (route.response, route.request) if s is not None])
    by_path: dict[str, dict[str, Any]] = {}
    for route in routes:
        by_path.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    for path, operations in by_path.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
