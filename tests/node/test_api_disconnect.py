"""A client that goes away in the middle of its request body is its own problem: reading the
body raises `ConnectionResetError` (aiohttp's "Connection lost"), which the API takes for a bad
request, not for its own failure (found by benchmarks/fuzz.py as a 500 and an ERROR line)."""

from __future__ import annotations

import asyncio

import pytest

from pacata.node.endpoints import BadRequest, json_body
from pacata.rpc.schemas import SubmitTransactionSchema


class _LostRequest:
    """What aiohttp hands a handler whose client closed the connection mid-body."""

    async def read(self) -> bytes:
        raise ConnectionResetError("Connection lost")


def test_a_body_cut_short_by_the_client_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="closed the connection before the body ended"):
        asyncio.run(json_body(_LostRequest(), SubmitTransactionSchema))  # type: ignore[arg-type]
