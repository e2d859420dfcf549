"""What the API server logs about requests it cannot serve: one line each, rate limited.

aiohttp's request handler logs a request it cannot parse (a 100 KB URL, oversized or too many
headers, a body in an unknown or broken content encoding) with `logger.exception`: a full
traceback at ERROR, for every such request. Any client could fill the log with them. The node
hands aiohttp `HTTP_LOG` instead of its own `aiohttp.server` logger (`SERVER_SETTINGS`), whose
`ProtocolErrorFilter` makes each of those records one WARNING line with the client's address and
aiohttp's reason, and lets through at most a few lines a minute of each kind (the exception
class). Other records of the server (an unexpected exception: a bug) keep their traceback and
level, under the same rate limit, as do the API's own 500s, which `api.py` logs here too.

aiohttp still writes the answer to such a request itself: a plain-text 400 (or 431) with the
reason, before any route or middleware of ours runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from pacata.node.logs import LogRateLimiter, RateLimitFilter

# What a client's malformed request makes aiohttp raise, in the parser or reading the body.
PROTOCOL_ERRORS = (HttpProcessingError, web.RequestPayloadError)
MAX_REASON_CHARS = 200


class ProtocolErrorFilter(RateLimitFilter):
    def __init__(self, limiter: LogRateLimiter) -> None:
        super().__init__(limiter, _kind)

    def reshape(self, record: logging.LogRecord) -> None:
        error = _error(record)
        if isinstance(error, PROTOCOL_ERRORS):
            # "Error handling request from 1.2.3.4: Got more than 8190 bytes when reading…"
            record.msg = f"{record.getMessage()}: {one_line_reason(error)}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            if record.levelno > logging.WARNING:
                record.levelno, record.levelname = logging.WARNING, "WARNING"


def _error(record: logging.LogRecord) -> BaseException | None:
    return record.exc_info[1] if record.exc_info else None


def _kind(record: logging.LogRecord) -> str:
    error = _error(record)
    return str(record.msg) if error is None else f"{type(error).__name__}: {record.msg}"


def one_line_reason(error: BaseException) -> str:
    """aiohttp's reason for refusing a request, on one line of printable characters (it may
    quote part of the request)."""
    cause = error if isinstance(error, HttpProcessingError) else error.__cause__
    text = cause.message if isinstance(cause, HttpProcessingError) else str(error)
    text = " ".join(str(text).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 1] + "…"


HTTP_LOG = logging.getLogger("pacata.node.api.http")
HTTP_LOG_FILTER = ProtocolErrorFilter(LogRateLimiter())
HTTP_LOG.addFilter(HTTP_LOG_FILTER)
# Keyword arguments of `web.AppRunner` (and of aiohttp's `TestServer`) for the API's server.
SERVER_SETTINGS: Mapping[str, Any] = MappingProxyType({"logger": HTTP_LOG})
