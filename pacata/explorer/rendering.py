"""Templates, the headers of every page, and the HTML answer to an error.

Rules:
- jinja2 with autoescape on for every template: what a request carries (a query, a path) is
  never written into a page unescaped.
- Every response outside `/api` and `/metrics` carries a Content-Security-Policy that allows
  scripts, styles, images and connections from this origin only (no inline script: the pages'
  JavaScript is in static files; chart data rides in a `type="application/json"` element,
  which is never run), `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
  `X-Frame-Options: DENY`. Pages are made with them (`html_response`); the explorer's
  middleware adds them to every other answer before it is sent (`with_security_headers`), and
  a stream sets them itself (an `on_response_prepare` signal would cost every request more).
- A page whose request changes only a few values of it (a block page: its height and its
  confirmations) is a `PageFrame`: its template rendered once with a marker where each value
  goes, so that a request costs a join of bytes, not a render.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape
from multidict import CIMultiDict

from pacata import __version__
from pacata.chain.keys import Address
from pacata.explorer import formatting

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
_PAGE_HEADERS = CIMultiDict({"Content-Type": "text/html; charset=utf-8", **SECURITY_HEADERS})
# Marks a value's place in a frame; no template writes this character itself.
_MARK = "\x00"


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
        address_link=address_link,
        short_address_link=short_address_link,
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
        return html_response(self.text(template, **context).encode("utf-8"), status_code)

    def frame(self, template: str, **context: Any) -> PageFrame:
        """`template` rendered once, its context holding `mark(name)` for each value that
        `PageFrame.fill` puts in later (a mark may also sit inside a text, as in a title)."""
        return PageFrame(self.text(template, **context))

    def error(self, status_code: int, title: str, message: str) -> web.Response:
        return self.page("error.html", status_code, title=title, message=message, nav="")


def address_link(address: Address) -> Markup:
    """A link to `address`'s page, showing the whole address (the `address_link` filter)."""
    text = escape(formatting.address_text(address))
    return Markup(f'<a class="hash" href="/address/{text}">{text}</a>')


def short_address_link(address: Address) -> Markup:
    """A link to `address`'s page, showing its first 14 characters and the whole address as
    the link's title (the `short_address_link` filter, for tables)."""
    text = escape(formatting.address_text(address))
    return Markup(f'<a class="hash" href="/address/{text}" title="{text}">{text[:14]}…</a>')


def mark(name: str) -> Markup:
    """The place of the value `name` in a `PageFrame`'s template."""
    return Markup(f"{_MARK}{name}{_MARK}")  # no markup: a name between two marks


class PageFrame:
    """A page rendered with marks where its values go (`Renderer.frame`): its fixed parts, as
    UTF-8, between which `fill` puts the values."""

    __slots__ = ("_fixed", "_names")

    def __init__(self, text: str) -> None:
        parts = text.split(_MARK)
        if len(parts) % 2 == 0:
            raise ValueError("a mark without its end")
        self._fixed = [part.encode("utf-8") for part in parts[0::2]]
        self._names = parts[1::2]

    def fill(self, values: Mapping[str, bytes]) -> bytes:
        """The page with `values` (HTML, UTF-8: escaped by the caller) in place of the marks."""
        fixed = self._fixed
        pieces = [fixed[0]]
        for name, after in zip(self._names, fixed[1:], strict=True):
            pieces.append(values[name])
            pieces.append(after)
        return b"".join(pieces)


def html_response(body: bytes, status_code: int = 200) -> web.Response:
    """A page (UTF-8 HTML) with the headers of the module rules."""
    return web.Response(body=body, status=status_code, headers=_PAGE_HEADERS.copy())


def with_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Adds the headers of the module rules to `response` (an answer outside the API not made
    by `html_response`, before it is sent: a static file, a redirection)."""
    headers = response.headers
    if "Content-Security-Policy" in headers:
        return  # a page (`html_response`): it has them all
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)
    if request.path.startswith("/static/"):
        headers.setdefault("Cache-Control", "public, max-age=3600")
