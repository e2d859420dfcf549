"""Fuzzing the node's HTTP API with real requests on a real socket (docs/BENCHMARKS.md §Fuzzing).

    facts = ApiFacts(...)                      # what the node holds: hashes, heights, addresses
    result = asyncio.run(fuzz_api(base_url, facts, requests=10_000, seed=1))

Rules:

- Two kinds of request, from one seeded generator. Well-formed HTTP, built from the route table
  (`pacata.node.api.ENDPOINTS`): any method; a route with valid, mutated or absurd path
  parameters, or a path of no route; query strings of known and unknown keys; headers
  (credentials, content types and encodings, long and odd values); bodies of every kind: JSON
  of any shape and depth, the request documents a route expects with values of every type,
  signed transactions valid and mutated (so the decoder and the mempool see them through the
  API), bytes that are not UTF-8, gzip, bodies over the size limit. These go on keep-alive
  connections, `concurrency` at a time. And raw bytes: valid requests mutated by the
  `Mutator` of `pacata.testing.fuzzing` (broken request lines, headers, chunked bodies), each
  on a connection of its own, which waits `raw_timeout` for the head of an answer (a request
  cut short leaves the server waiting for the rest: no answer, counted as such).
- A failure is any answer with a status of 500 or more; each is kept with its request. A
  request that gets no answer (the server refused to parse it and closed) is counted apart.
- The administrative token goes only with POST /api/admin/produce: fuzzing must not stop the
  node under test (POST /api/admin/stop is sent, with every credential but that one).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
import random
import string
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from yarl import URL

from pacata.node.api import ENDPOINTS, MAX_REQUEST_BYTES
from pacata.testing.fuzzing import FuzzTarget, Mutator, target_random

MAX_FAILURES_KEPT = 50
_PRODUCE_PATH = "/api/admin/produce"
_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
_ODD_METHODS = ("get", "TRACE", "CONNECT", "PROPFIND", "M-SEARCH", "X" * 40, "G_E_T")
_CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/octet-stream",
    "",
    "ü/ü",
    ";;;",
)
_ODD_TEXT = (
    "",
    " ",
    "0",
    "-1",
    "+1",
    "1.5",
    "1e3",
    "0x10",
    "9" * 19,
    "9" * 20,
    "18446744073709551616",
    "9223372036854775808",
    "00000000000000000001",
    "１２",
    "٣",
    "true",
    "null",
    "%00",
    "%ff",
    "%2F",
    "..",
    "../..",
    "\u202e",
    "😀",
    "a" * 300,
    "pac1",
    "PAC1QQQQ",
)


def _printable(text: str) -> str:
    return "".join(c if c >= " " and c != "\x7f" else "?" for c in text)


class TransactionSource(Protocol):
    """Valid transactions of one account, one nonce after the other."""

    def next_transaction(self) -> bytes:
        """The encoding of a valid transaction at the account's next nonce."""

    def taken(self) -> None:
        """The node took the last one: the next has the nonce after it."""


@dataclass(frozen=True, slots=True)
class ApiFacts:
    """What the node under test holds, so that requests can name real things."""

    admin_token: str
    block_hashes: Sequence[str]
    heights: Sequence[int]
    txids: Sequence[str]
    addresses: Sequence[str]
    node_ids: Sequence[str]
    transactions: Sequence[bytes]  # canonical encodings, valid or nearly
    # Valid new transactions, so that some submissions are admitted (and the mempool's and
    # the chain's listings hold what the fuzzer sent).
    new_transactions: TransactionSource | None = None
    # A mutated transaction signed again (None: sent as it is), so that the mempool's rules
    # rather than the signature check decide about it.
    resign: Callable[[bytes], bytes] | None = None


@dataclass(frozen=True, slots=True)
class ApiRequest:
    method: str
    target: str  # path and query, percent-encoded
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    raw: bytes | None = None  # a whole request of raw bytes instead of the fields above
    # A submission of the next valid transaction, made when it is sent: which nonce is next
    # depends on what the node took of the earlier ones.
    new_transaction: bool = False

    def describe(self, limit: int = 600) -> str:
        if self.raw is not None:
            return f"raw {self.raw[:limit]!r}{' ...' if len(self.raw) > limit else ''}"
        body = f" body {self.body[:limit]!r}{' ...' if len(self.body) > limit else ''}"
        headers = "".join(f"\n    {name}: {value[:200]}" for name, value in self.headers)
        return f"{self.method} {self.target[:limit]}{headers}\n   {body}"


@dataclass(frozen=True, slots=True)
class ApiFailure:
    request: ApiRequest
    status: int
    answer: str


@dataclass(slots=True)
class ApiResult:
    requests: int = 0
    raw_requests: int = 0
    unanswered: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[ApiFailure] = field(default_factory=list)
    failure_count: int = 0

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def count(self, request: ApiRequest, status: int | None, answer: bytes) -> None:
        self.requests += 1
        if request.raw is not None:
            self.raw_requests += 1
        if status is None:
            self.unanswered += 1
            return
        self.statuses[status] += 1
        if status >= 500:
            self.failure_count += 1
            if len(self.failures) < MAX_FAILURES_KEPT:
                text = answer[:1000].decode("utf-8", "replace")
                self.failures.append(ApiFailure(request, status, text))


class RequestGenerator:
    """Requests as the module rules describe, from one `random.Random`."""

    def __init__(self, facts: ApiFacts, rng: random.Random) -> None:
        self.facts = facts
        self.rng = rng
        self._routes = [(endpoint.method, endpoint.path) for endpoint in ENDPOINTS]
        self._transactions = Mutator(
            FuzzTarget("api transactions", list(facts.transactions), lambda data: True), rng
        )
        self._raw = Mutator(
            FuzzTarget("api raw", self._raw_corpus(), lambda data: True, max_size=16_384), rng
        )

    # -- the pieces -----------------------------------------------------------------------

    def _odd(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            return rng.choice(_ODD_TEXT)
        if roll < 0.8:
            return "".join(rng.choice(string.printable) for _ in range(rng.randrange(1, 40)))
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(1, 20)))

    def _hex(self, size: int) -> str:
        rng = self.rng
        text = rng.randbytes(size).hex()
        roll = rng.random()
        if roll < 0.2:
            return text.upper()
        if roll < 0.3:
            return text[:-1]
        if roll < 0.4:
            return text + "0"
        if roll < 0.5:
            return text[:10] + "g" + text[11:]
        return text

    def _parameter(self, name: str) -> str:
        rng, facts = self.rng, self.facts
        if rng.random() < 0.25:
            return self._odd()
        if name == "block_id":
            choices: list[Callable[[], str]] = [
                lambda: str(rng.choice(facts.heights)),
                lambda: rng.choice(facts.block_hashes),
                lambda: str(rng.choice(facts.heights) + rng.randrange(1, 10**6)),
                lambda: self._hex(32),
            ]
        elif name == "txid":
            choices = [lambda: rng.choice(facts.txids), lambda: self._hex(32)]
        elif name == "address":
            choices = [lambda: rng.choice(facts.addresses), self._mutated_address]
        else:  # node_id
            choices = [lambda: rng.choice(facts.node_ids), lambda: self._hex(32)]
        return rng.choice(choices)()

    def _mutated_address(self) -> str:
        rng = self.rng
        text = list(rng.choice(self.facts.addresses))
        for _ in range(rng.randrange(1, 3)):
            position = rng.randrange(len(text))
            text[position] = rng.choice("qpzry9x8gf2tvdw0s3jn54khce6mua7lQPZ1bio")
        joined = "".join(text)
        return rng.choice((joined, joined.upper(), joined[:-1], joined + "q", "bc1" + joined[4:]))

    def _path(self) -> tuple[str, str]:
        """A method and a path (percent-encoded)."""
        rng = self.rng
        method: str
        method, template = rng.choice(self._routes)
        roll = rng.random()
        if roll < 0.1:
            method = rng.choice(_METHODS)
        elif roll < 0.13:
            method = rng.choice(_ODD_METHODS)
        segments = [
            quote(self._parameter(part[1:-1]), safe="") if part.startswith("{") else part
            for part in template.split("/")
        ]
        path = "/".join(segments)
        roll = rng.random()
        if roll < 0.05:
            path += "/"
        elif roll < 0.08:
            path = path.replace("/", "//", 1)
        elif roll < 0.11:
            path = path.upper()
        elif roll < 0.14:
            path += "/" + quote(self._odd(), safe="")
        elif roll < 0.17:
            path = "/" + "/".join(quote(self._odd(), safe="") for _ in range(rng.randrange(1, 4)))
        elif roll < 0.19:
            path = "/api/" + "a" * rng.choice((100, 5_000, 20_000))
        elif roll < 0.21:
            path = path.replace("a", "%61")
        return method, path

    def _query(self, method: str, path: str) -> str:
        rng = self.rng
        if rng.random() < 0.4:
            return ""
        pairs = []
        for _ in range(rng.randrange(1, 4)):
            key = rng.choice(("limit", "before", "proof", "limit", "x", self._odd()))
            roll = rng.random()
            if roll < 0.3:
                value = str(rng.choice((0, 1, 10, 100, 101, 1000, 1001, 2**63, 2**64, -5)))
            elif roll < 0.5:
                value = rng.choice(("true", "false", "1", "0", "yes", "no", "TRUE", "on"))
            else:
                value = self._odd()
            pairs.append(f"{quote(key, safe='')}={quote(value, safe='')}")
        if rng.random() < 0.1:
            pairs.append(rng.choice(("limit", "&", "=", "==", "limit=1=2")))
        return "?" + "&".join(pairs)

    def _random_json(self, depth: int = 0) -> Any:
        rng = self.rng
        roll = rng.random()
        if depth > 6 or roll < 0.5:
            return rng.choice(
                (
                    None,
                    True,
                    False,
                    0,
                    -1,
                    2**64,
                    -(2**70),
                    1.5,
                    1e308,
                    self._odd(),
                    "",
                    self._hex(rng.randrange(0, 40)),
                )
            )
        if roll < 0.75:
            return [self._random_json(depth + 1) for _ in range(rng.randrange(0, 5))]
        keys = ("tx", "producing", "x", "", "proof", self._odd())
        return {rng.choice(keys): self._random_json(depth + 1) for _ in range(rng.randrange(0, 5))}

    def _transaction_hex(self) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            data = rng.choice(self.facts.transactions)
        else:
            data = self._transactions.next_input()
            if self.facts.resign is not None and rng.random() < 0.5:
                data = self.facts.resign(data)
        text = data.hex()
        return text.upper() if rng.random() < 0.1 else text

    def _document(self, path: str) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return self._random_json()
        if path.startswith("/api/txs"):
            value: Any = self._transaction_hex() if rng.random() < 0.7 else self._random_json()
            document: dict[str, Any] = {"tx": value}
        else:
            value = rng.choice((True, False)) if rng.random() < 0.7 else self._random_json()
            document = {"producing": value}
        if rng.random() < 0.1:
            document[self._odd()] = self._random_json()
        return document

    def _body(self, method: str, path: str) -> tuple[bytes, list[tuple[str, str]]]:
        rng = self.rng
        headers: list[tuple[str, str]] = []
        if method not in ("POST", "PUT", "PATCH") and rng.random() < 0.9:
            return b"", headers
        roll = rng.random()
        if roll < 0.7:
            body = json.dumps(self._document(path)).encode()
        elif roll < 0.75:
            depth = rng.choice((100, 990, 1_000, 10_000, 30_000))
            body = (b"[" * depth + b"]" * depth) if rng.random() < 0.5 else b'{"a":' * depth
        elif roll < 0.8:
            body = b'{"tx": "' + b"ab" * rng.choice((2_000, 32_767, 40_000)) + b'"}'
        elif roll < 0.85:
            body = rng.choice((b"NaN", b"1e999999", b"9" * 5_000, b'"\\ud800"', b"\xef\xbb\xbf{}"))
        elif roll < 0.9:
            body = rng.randbytes(rng.randrange(0, 200))
        elif roll < 0.95:
            body = b'{"tx": "\xff\xfe"}'
        else:
            body = bytes(MAX_REQUEST_BYTES + rng.choice((1, 1000)))
        if rng.random() < 0.1:
            encoding = rng.choice(("gzip", "deflate", "br", "identity", "x-unknown", "gzip, gzip"))
            if encoding == "gzip" and rng.random() < 0.7:
                body = gzip.compress(body)
            elif encoding == "deflate" and rng.random() < 0.7:
                body = zlib.compress(body)
            headers.append(("Content-Encoding", encoding))
        if rng.random() < 0.9:
            content_type = "application/json" if rng.random() < 0.6 else rng.choice(_CONTENT_TYPES)
            headers.append(("Content-Type", content_type))
        return body, headers

    def _headers(self, method: str, path: str) -> list[tuple[str, str]]:
        rng = self.rng
        headers: list[tuple[str, str]] = []
        roll = rng.random()
        if method == "POST" and path == _PRODUCE_PATH and roll < 0.6:
            headers.append(("Authorization", f"Bearer {self.facts.admin_token}"))
        elif roll < 0.6:
            token = self.facts.admin_token
            headers.append(
                (
                    "Authorization",
                    rng.choice(
                        (
                            f"Bearer {token[:-1]}",
                            f"Bearer {token}x",
                            f"Basic {token}",
                            "Bearer",
                            "Bearer ",
                            f"bearer {self._odd()}",
                            self._odd(),
                        )
                    ),
                )
            )
        if rng.random() < 0.2:
            name = rng.choice(("Accept", "Accept-Encoding", "X-Forwarded-For", "Cookie", "Range"))
            headers.append((name, self._odd()))
        # Control characters: the client refuses to send them (raw requests carry them).
        return [(name, _printable(value)) for name, value in headers]

    def _long_headers(self) -> list[tuple[str, str]]:
        rng = self.rng
        headers: list[tuple[str, str]] = []
        if rng.random() < 0.02:
            headers.append(("X-Long", "a" * rng.choice((4_000, 9_000))))
        if rng.random() < 0.02:
            headers.extend((f"X-{index}", "1") for index in range(rng.choice((50, 150))))
        return headers

    # -- requests -------------------------------------------------------------------------

    def structured(self) -> ApiRequest:
        method, path = self._path()
        target = path + self._query(method, path)
        body, body_headers = self._body(method, path)
        headers = self._headers(method, path) + self._long_headers() + body_headers
        return ApiRequest(method, target, tuple(headers), body)

    def raw(self) -> ApiRequest:
        data = self._raw.next_input()
        return ApiRequest("RAW", "", raw=data)

    def next_request(self, raw_share: float) -> ApiRequest:
        roll = self.rng.random()
        if roll < raw_share:
            return self.raw()
        if roll < raw_share + 0.02 and self.facts.new_transactions is not None:
            headers = (("Content-Type", "application/json"),)
            return ApiRequest("POST", "/api/txs", headers, new_transaction=True)
        return self.structured()

    def _raw_corpus(self) -> list[bytes]:
        facts = self.facts
        tx = facts.transactions[0].hex() if facts.transactions else "00"
        submit = json.dumps({"tx": tx}).encode()
        produce = b'{"producing": true}'
        lines = [
            (b"GET /api/status HTTP/1.1", b""),
            (b"GET /api/blocks?limit=5&before=3 HTTP/1.1", b""),
            (f"GET /api/blocks/{facts.block_hashes[0]} HTTP/1.1".encode(), b""),
            (f"GET /api/accounts/{facts.addresses[0]}?proof=true HTTP/1.1".encode(), b""),
            (f"GET /api/txs/{facts.txids[0]} HTTP/1.1".encode(), b""),
            (f"GET /api/dht/records/{facts.node_ids[0]} HTTP/1.1".encode(), b""),
            (b"GET /api/mempool?limit=3 HTTP/1.0", b""),
            (b"POST /api/txs HTTP/1.1", submit),
            (b"POST /api/admin/produce HTTP/1.1", produce),
        ]
        corpus = []
        for line, body in lines:
            head = line + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            if body:
                head += b"Content-Type: application/json\r\n"
                corpus.append(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
                corpus.append(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked)
            else:
                corpus.append(head + b"\r\n")
        return corpus


async def _send_raw(host: str, port: int, data: bytes, timeout: float) -> tuple[int | None, bytes]:
    """Sends `data` on a connection of its own and reads the head of the answer.

    The connection is not half-closed (aiohttp takes that for the client going away, and does
    not answer), so a request the server is still waiting the rest of gets `timeout` seconds.
    """
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    except (ConnectionError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return None, b""
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    if len(status_line) < 2 or not status_line[1].isdigit():
        return None, head
    return int(status_line[1]), head


async def _send(
    session: aiohttp.ClientSession,
    base: URL,
    request: ApiRequest,
    timeout: float,
    raw_timeout: float,
) -> tuple[int | None, bytes]:
    if request.raw is not None:
        host, port = base.host or "127.0.0.1", base.port or 80
        return await _send_raw(host, port, request.raw, raw_timeout)
    url = URL(str(base) + request.target, encoded=True)
    try:
        async with session.request(
            request.method,
            url,
            headers=list(request.headers),
            data=request.body or None,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=timeout),
            skip_auto_headers=("Content-Type",),
        ) as response:
            return response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError, ValueError):
        # ValueError: a header or method that the client itself refuses to send.
        return None, b""


async def fuzz_api(
    base_url: str,
    facts: ApiFacts,
    *,
    requests: int,
    seed: int,
    concurrency: int = 16,
    raw_share: float = 0.2,
    timeout: float = 30.0,
    raw_timeout: float = 0.5,
) -> ApiResult:
    """Sends `requests` requests to the API at `base_url`; see the module rules."""
    generator = RequestGenerator(facts, target_random(seed, "api"))
    result = ApiResult()
    base = URL(base_url)
    # Generated in order, sent `concurrency` at a time: the same requests for the same seed.
    planned = (generator.next_request(raw_share) for _ in range(requests))
    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=max(1, concurrency // 2))
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            source = facts.new_transactions
            for planned_request in planned:
                request = planned_request
                if request.new_transaction and source is not None:
                    body = json.dumps({"tx": source.next_transaction().hex()}).encode()
                    request = dataclasses.replace(request, body=body)
                status, answer = await _send(session, base, request, timeout, raw_timeout)
                if request.new_transaction and status == 202 and source is not None:
                    source.taken()
                result.count(request, status, answer)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result
