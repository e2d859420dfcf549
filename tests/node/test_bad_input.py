"""Input that users control, refused with one clear error that changes nothing stored and writes
at most a few log lines (docs/api.md §Errors, docs/operations.md §Bad input): request bodies of
any shape, size, encoding and depth, oversized request lines and headers, config and key files
of any size and encoding, and the API's address."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pacata.chain.mempool import Mempool
from pacata.documents import MAX_DOCUMENT_BYTES
from pacata.node.api import create_app
from pacata.node.config import ConfigError, load_config
from pacata.node.hostport import HostPort
from pacata.node.http_log import HTTP_LOG, HTTP_LOG_FILTER, SERVER_SETTINGS
from pacata.node.logs import LogRateLimiter
from pacata.node.producer_keys import load_producer_keys
from pacata.node.service import NodeService
from pacata.testing import ChainFactory
from pacata.testing.clock import ManualClock

TOKEN = "0123456789abcdef" * 4
BURST = 5
T = TypeVar("T")
Client = TestClient[Any, Any]


class Node:
    """A devnet chain of one block behind the API, in this process."""

    def __init__(self) -> None:
        self.factory = ChainFactory()
        self.factory.next_block()
        chain = self.factory.chain
        self.service = NodeService(
            chain, Mempool(chain), ManualClock(wall_ms=chain.tip.timestamp_ms)
        )

    def stored(self) -> dict[bytes, bytes]:
        return dict(self.factory.chain.kv.iterate(b""))

    def call(self, scenario: Callable[[Client], Awaitable[T]]) -> T:
        async def main() -> T:
            server = TestServer(create_app(self.service, TOKEN))
            # The daemon's server settings (its log); a started server is started once only.
            await server.start_server(**SERVER_SETTINGS)
            async with TestClient(server) as client:
                return await scenario(client)

        return asyncio.run(main())


@pytest.fixture
def node() -> Node:
    return Node()


@pytest.fixture
def http_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API server's log records, with rate limits of this test's own."""
    monkeypatch.setattr(HTTP_LOG_FILTER, "limiter", LogRateLimiter(burst=BURST))
    caplog.set_level(logging.INFO, logger=HTTP_LOG.name)
    yield lambda: [r for r in caplog.records if r.name == HTTP_LOG.name]


async def raw_request(client: Client, data: bytes) -> bytes:
    """Sends `data` on a connection of its own and returns all the server answers."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    try:
        writer.write(data)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


# -- request bodies ------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        # The case: it was a 500 and a RecursionError traceback.
        ("/api/txs", nested(32_000), "the body is not JSON: nested too deeply"),
        ("/api/txs", b'{"tx": ' + nested(30_000) + b"}", "the body is not JSON: nested too deep"),
        ("/api/admin/produce", nested(32_000), "the body is not JSON: nested too deeply"),
        ("/api/txs", b'{"tx": "\xff00"}', "the body is not UTF-8 text (byte 8)"),
        ("/api/txs", b'{"tx": 1' + b"0" * 5_000 + b"}", "the body is not JSON: Exceeds the limit"),
    ],
)
def test_a_malformed_body_is_a_400_that_changes_nothing(
    node: Node, path: str, body: bytes, reason: str
) -> None:
    before = node.stored()

    async def scenario(client: Client) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        response = await client.post(path, data=body, headers=headers)
        return response.status, await response.json()

    status, answer = node.call(scenario)
    assert status == 400
    assert list(answer) == ["error"] and answer["error"].startswith(reason)
    assert node.stored() == before
    assert len(node.service.mempool) == 0


def test_a_body_in_a_broken_content_encoding_is_a_400(node: Node, http_log: Any) -> None:
    body = gzip.compress(json.dumps({"tx": "00"}).encode())[:-8] + b"garbage!"

    async def scenario(client: Client) -> tuple[int, Any]:
        response = await client.post(
            "/api/txs", data=b"not gzip" + body, headers={"Content-Encoding": "gzip"}
        )
        return response.status, await response.json()

    status, answer = node.call(scenario)
    assert status == 400
    assert answer == {"error": "the body cannot be read: Can not decode content-encoding: gzip"}
    # aiohttp drains the body after the answer and logs that it failed again: one line, no
    # traceback (it was an ERROR with three chained tracebacks).
    (record,) = http_log()
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage().endswith(": Can not decode content-encoding: gzip")


# -- request lines and headers -----------------------------------------------------------


def test_oversized_requests_repeated_1000_times_log_a_few_warning_lines(
    node: Node, http_log: Any
) -> None:
    before = node.stored()
    long_url = b"GET /api/status?" + b"a" * 9_000 + b" HTTP/1.1\r\nHost: node\r\n\r\n"

    async def scenario(client: Client) -> list[bytes]:
        return [await raw_request(client, long_url) for _ in range(1_000)]

    answers = node.call(scenario)
    assert {status_of(answer) for answer in answers} == {400}
    records = http_log()
    # It was 1000 lines at ERROR, each with aiohttp's traceback.
    assert 1 <= len(records) <= BURST
    for record in records:
        assert record.levelno == logging.WARNING
        assert record.exc_info is None
        message = record.getMessage()
        assert "\n" not in message
        assert message.startswith("Error handling request from 127.0.0.1: Got more than 8190")
    assert node.stored() == before


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/status HTTP/1.1\r\nHost: node\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /api/status HTTP/1.1\r\n" + b"X-Many: 1\r\n" * 1_000 + b"\r\n",
        b"POST /api/txs HTTP/1.1\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\nxx",
        b"GET /\x01\x02 HTTP/1.1\r\n\r\n",
    ],
    ids=["oversized header", "too many headers", "unknown encoding", "control characters"],
)
def test_requests_aiohttp_cannot_parse_are_4xx_and_one_warning_line(
    node: Node, http_log: Any, request_bytes: bytes
) -> None:
    async def scenario(client: Client) -> bytes:
        return await raw_request(client, request_bytes)

    assert 400 <= status_of(node.call(scenario)) < 500
    (record,) = http_log()
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "\n" not in record.getMessage()


def test_an_unexpected_error_keeps_its_traceback_but_is_rate_limited(
    node: Node, http_log: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(node.service, "status", broken)

    async def scenario(client: Client) -> list[tuple[int, Any]]:
        answers = []
        for _ in range(100):
            response = await client.get("/api/status")
            answers.append((response.status, await response.json()))
        return answers

    answers = node.call(scenario)
    assert {status for status, _ in answers} == {500}
    assert answers[0][1] == {"error": "internal error; the node's log has the details"}
    records = http_log()
    assert len(records) == BURST
    assert all(r.levelno == logging.ERROR and r.exc_info is not None for r in records)


# -- files ---------------------------------------------------------------------------------


def config_with(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            b'network = "devnet"\n# caf\xe9\n',
            r"config file .*config.toml: not UTF-8 text \(byte 24\)",
        ),
        (b"a = " + b"[" * 100_000 + b"]" * 100_000, r"config.toml: not TOML: nested too deeply"),
        (b"max_outbound = 1" + b"0" * 5_000, r"config.toml: not TOML"),
        (
            b"# " + b"x" * MAX_DOCUMENT_BYTES,
            rf"config.toml: larger than {MAX_DOCUMENT_BYTES} bytes",
        ),
    ],
    ids=["latin-1", "nested", "huge integer", "too large"],
)
def test_a_bad_config_file_is_one_config_error(tmp_path: Path, data: bytes, reason: str) -> None:
    path = config_with(tmp_path, data)
    with pytest.raises(ConfigError, match=reason) as error:
        load_config(["--config", str(path)])
    assert "\n" not in str(error.value)


def test_a_config_file_without_end_is_refused_after_the_limit() -> None:
    with pytest.raises(ConfigError, match="config file /dev/zero: larger than"):
        load_config(["--config", "/dev/zero"])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"account_secret": "\xff"}', "producer keys .*producer.key: not UTF-8 text"),
        (b" " * 5_000, "producer.key: larger than 4096 bytes"),
        (nested(2_000), "producer.key: not JSON: nested too deeply"),
    ],
)
def test_a_bad_producer_key_file_is_one_config_error(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    path = tmp_path / "producer.key"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=reason):
        load_producer_keys(path)


# -- the API's address ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("127.0.0.1:9740", True),
        ("127.8.9.10:9740", True),
        ("[::1]:9740", True),
        ("[::ffff:127.0.0.1]:9740", True),
        ("localhost:9740", True),
        ("node.localhost:9740", True),
        ("0.0.0.0:9740", False),
        ("[::]:9740", False),
        ("192.168.1.2:9740", False),
        ("[::ffff:10.0.0.1]:9740", False),
        ("example.org:9740", False),
        ("localhost.example.org:9740", False),
    ],
)
def test_which_api_addresses_are_loopback(text: str, loopback: bool) -> None:
    assert HostPort.parse(text).is_loopback is loopback
