"""Templates, the headers of every page, and the HTML answer to an error.

Rules:
- jinja2 with autoescape on for every template: what a request carries (a query, a path) is
  never written into a page unescaped.
- Every response outside `/api` and `/metrics` carries a Content-Security-Policy that allows
  scripts, styles, images and connections from this origin only (no inline script: the pages'
  JavaScript is in static files; chart data rides in a `type="application/json"` element,
  which is never run), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
  `X-Frame-Options: DENY`.
"""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from pacata import __version__
from pacata.explorer import formatting
from pacata.rpc.routes import is_api_path

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
HTML = "text/html"


def make_environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pacata.explorer", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters.update(
        addr=formatting.address_text,
        pac=formatting.pac,
        count=formatting.count,
        size=formatting.data_size,
        utc=formatting.utc,
        seconds=formatting.seconds,
        short=formatting.short_hex,
        rate=formatting.rate,
        hex=lambda data: data.hex(),
    )
    environment.globals["version"] = __version__
    return environment


class Renderer:
    def __init__(self, chain_id: str) -> None:
        self.environment = make_environment()
        self.environment.globals["chain_id"] = chain_id

    def text(self, template: str, **context: Any) -> str:
        return self.environment.get_template(template).render(**context)

    def page(self, template: str, status_code: int = 200, **context: Any) -> web.Response:
        return web.Response(
            text=self.text(template, **context),
            status=status_code,
            content_type=HTML,
            charset="utf-8",
        )

    def error(self, status_code: int, title: str, message: str) -> web.Response:
        return self.page("error.html", status_code, title=title, message=message, nav="")


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the headers of the module rules, on every response but the API's."""
    if is_api_path(request.path):
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "public, max-age=3600")
