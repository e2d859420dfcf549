"""The block explorer (pacata/explorer) served by its plugin on a node in this process: a real
chain and a real address index, each in LevelDB, through the node's real HTTP app. Every page
on a chain with transfers, a relay, channels opened, settled and closed, and a pool payout;
search; the live stream; the state proof's mark; bad input as clean 400/404 pages that never
reflect markup; the API unchanged beside it."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import PrivateKey
from pacata.chain.receipts import Receipt
from pacata.chain.transactions import (
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    RelayOffer,
    RelayRegister,
    Transaction,
    Transfer,
)
from pacata.chain.transitions import channel_id_of
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.ledger import with_params
from pacata.testing.served_node import Client, ServedNode

GENESIS = with_params(shipped_genesis("devnet"), settlement_grace_blocks=1)
ALICE, BOB, RELAY, CAROL = (devnet_key(i) for i in range(1, 5))
NOBODY = PrivateKey(b"\x05" * 32).address
OFFER = RelayOffer(bytes(32), ("203.0.113.5:51820",), (100_000, 250_000), (0, 1_000_000))
SETTLED_BYTES = 3 * 1024 * 1024
SETTLED_AMOUNT = 40_000


class Story:
    """Blocks made on a chain of their own: a relay with two tiers, transfers, a channel that
    is opened and closed, another opened and settled in one epoch, then a block of the next
    epoch that pays the bandwidth pool."""

    def __init__(self) -> None:
        self.source = source = ChainFactory(devnet_chain(genesis=GENESIS))
        sign = source.sign
        self.register = sign(RELAY, RelayRegister(OFFER))
        self.transfer = sign(ALICE, Transfer(BOB.address, 1_000))
        source.next_block([self.register, self.transfer])  # 1
        self.first_open = sign(ALICE, ChannelOpen(RELAY.address, 100_000, 0, bytes(32), 4))
        self.second_open = sign(ALICE, ChannelOpen(RELAY.address, 300_000, 1, bytes(32), 500))
        source.next_block([self.first_open, self.second_open])  # 2
        self.closed = channel_id_of(ALICE.public_key, self.first_open.nonce)
        self.open = channel_id_of(ALICE.public_key, self.second_open.nonce)
        receipt = Receipt(GENESIS.chain_id, self.open, SETTLED_BYTES, SETTLED_AMOUNT).signed(ALICE)
        self.settle = sign(RELAY, ChannelSettle(receipt))
        source.next_block([self.settle])  # 3
        source.next_block([source.transfer(ALICE, BOB.address, 2_000 + i) for i in range(2)])  # 4
        # 5: the first block of the next epoch, which pays the pool to the relay.
        source.next_block(slot_gap=GENESIS.params.epoch_slots)
        self.close = sign(ALICE, ChannelClose(self.closed))
        source.next_block([self.close])  # 6
        for i in range(4):
            source.next_block([source.transfer(CAROL, BOB.address, 3_000 + i)])  # 7-10

    def more(self) -> Any:
        return self.source.next_block([self.source.transfer(ALICE, BOB.address, 7)])


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


NodeMaker = Callable[..., ServedNode]


@pytest.fixture
def make_node(tmp_path: Path, story: Story) -> Iterator[NodeMaker]:
    made: list[ServedNode] = []

    def make(*, index: bool = True, explorer: bool = True) -> ServedNode:
        directory = tmp_path / str(len(made))
        node = ServedNode(
            directory,
            story.source.chain,
            GENESIS,
            index_path=directory / "index" if index else None,
            explorer=explorer,
            keepalive_s=0.2,
        )
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()


async def page(client: Client, path: str, status: int = 200) -> str:
    response = await client.get(path, allow_redirects=False)
    text = await response.text()
    assert response.status == status, text
    assert response.content_type == "text/html"
    assert "Content-Security-Policy" in response.headers
    return text


def test_every_page_renders_what_the_chain_holds(make_node: NodeMaker, story: Story) -> None:
    node = make_node()
    tip = story.source.chain.tip

    async def scenario(client: Client) -> dict[str, str]:
        paths = {
            "home": "/",
            "blocks": "/blocks",
            "older": "/blocks?before=5",
            "block": "/block/3",
            "block_by_hash": f"/block/{tip.hash.hex()}",
            "open": f"/tx/{story.second_open.txid.hex()}",
            "settle": f"/tx/{story.settle.txid.hex()}",
            "register": f"/tx/{story.register.txid.hex()}",
            "close": f"/tx/{story.close.txid.hex()}",
            "alice": f"/address/{ALICE.address}",
            "relay": f"/address/{RELAY.address}",
            "relays": "/relays",
            "channels": "/channels",
            "open_channel": f"/channel/{story.open.hex()}",
            "closed_channel": f"/channel/{story.closed.hex()}",
            "epochs": "/epochs",
            "network": "/network",
        }
        return {name: await page(client, path) for name, path in paths.items()}

    pages = node.run(scenario)
    for text in pages.values():
        assert '<main id="main"' in text and 'role="search"' in text and "<h1>" in text
        assert 'href="#main"' in text and 'name="q"' in text
    home = pages["home"]
    assert "<caption>Latest blocks</caption>" in home
    assert "<caption>Latest transactions</caption>" in home
    body = re.search(r'<tbody id="latest-blocks">(.*?)</tbody>', home, re.S)
    assert body is not None
    first_row = re.search(r'href="/block/(\d+)"', body.group(1))
    assert first_row is not None and int(first_row.group(1)) == tip.height
    assert f'id="tip-height"><a href="/block/{tip.height}">' in home
    assert 'id="chart-data"' in home and "uPlot.iife.min.js" in home
    assert "Older blocks" not in pages["blocks"]  # 11 blocks: one page
    assert 'href="/block/4"' in pages["older"] and 'href="/block/5"' not in pages["older"]
    assert 'href="/blocks">Newest blocks' in pages["older"]
    assert "Block 3" in pages["block"] and story.settle.txid.hex()[:12] in pages["block"]
    assert "VRF output" in pages["block"] and "State root" in pages["block"]
    opened = pages["open"]
    for text in ("CHANNEL_OPEN", "Deposit", "0.003 PAC", "Tier", "Expiry height", "Confirmed"):
        assert text in opened
    assert str(RELAY.address) in opened
    settle = pages["settle"]
    assert "Receipt bytes (cumulative)" in settle and f"{SETTLED_BYTES:,} B" in settle
    assert "Receipt amount (cumulative)" in settle and "0.0004 PAC" in settle
    assert "203.0.113.5:51820" in pages["register"] and "Tier 1" in pages["register"]
    alice = pages["alice"]
    assert "Verified against the header's state root" in alice
    assert tip.state_root.hex() in alice
    assert "<caption>Channels as client</caption>" in alice
    assert story.transfer.txid.hex()[:12] in alice
    relay = pages["relay"]
    assert "Relay offer" in relay and "<caption>Channels as relay</caption>" in relay
    relays = pages["relays"]
    assert str(RELAY.address)[:14] in relays and "0.001 PAC" in relays
    assert "3.0 MiB" in relays and 'aria-sort="ascending"' in relays
    assert story.open.hex()[:12] in pages["channels"]
    assert story.closed.hex()[:12] not in pages["channels"]
    assert "Open" in pages["open_channel"] and "Closed" in pages["closed_channel"]
    epochs = pages["epochs"]
    assert "<caption>Epochs, newest first</caption>" in epochs
    assert "0.0004 PAC" in epochs  # what the relay settled in the first epoch
    assert re.search(r"of [0-9.,]+ PAC at <a href=\"/block/5\">5</a>", epochs)
    assert "Lottery weights" in epochs
    assert "This node" in pages["network"] and "No peer is connected" in pages["network"]


def test_relays_sort_by_each_column(make_node: NodeMaker) -> None:
    node = make_node()

    async def scenario(client: Client) -> list[str]:
        return [
            await page(client, f"/relays?sort={key}&order={order}")
            for key in ("price", "channels", "settled", "bytes", "earned", "registered", "address")
            for order in ("asc", "desc")
        ]

    for text in node.run(scenario):
        assert "<caption>Relay offers, sorted by" in text


def test_search_finds_each_kind_of_key(make_node: NodeMaker, story: Story) -> None:
    node = make_node()
    tip = story.source.chain.tip

    async def scenario(client: Client) -> tuple[list[str], str]:
        locations = []
        for query in (
            "3",
            tip.hash.hex(),
            story.transfer.txid.hex().upper(),
            story.open.hex(),
            str(ALICE.address),
        ):
            response = await client.get("/search", params={"q": query}, allow_redirects=False)
            assert response.status == 303, await response.text()
            locations.append(response.headers["Location"])
        prefix = str(ALICE.address)[:8]
        return locations, await page(client, f"/search?q={prefix}")

    locations, prefix_page = node.run(scenario)
    assert locations == [
        "/block/3",
        f"/block/{tip.hash.hex()}",
        f"/tx/{story.transfer.txid.hex()}",
        f"/channel/{story.open.hex()}",
        f"/address/{ALICE.address}",
    ]
    assert f'href="/address/{ALICE.address}"' in prefix_page


HOSTILE = "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/block/not-a-block", 400),
        ("/block/99999999", 404),
        ("/block/" + "ab" * 32, 404),
        ("/block/" + "9" * 30, 400),
        ("/tx/" + "cd" * 32, 404),
        ("/tx/xyz", 400),
        ("/address/pac1notanaddress", 400),
        (f"/address/{NOBODY}", 404),
        ("/blocks?before=99999999", 404),
        ("/blocks?before=" + "9" * 40, 400),
        ("/blocks?before=-1", 400),
        ("/epochs?before=" + "9" * 19, 404),
        ("/channel/" + "ef" * 32, 404),
        ("/channels?after=zz", 400),
        ("/relays?sort=%3Cscript%3E", 400),
        ("/relays?order=sideways", 400),
        ("/address/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400),
        ("/tx/%3Cscript%3Ealert(1)%3C%2Fscript%3E", 400),
        ("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", 404),
        ("/search?q=" + "9" * 25, 404),
        ("/search?q=pac1zz", 404),
        ("/search?q=", 404),
        ("/no/such/page/%3Cscript%3E", 404),
        (f"/address/{ALICE.address}?before=%3Cb%3E", 400),
    ],
)
def test_bad_input_is_a_clean_page_without_reflected_markup(
    make_node: NodeMaker, path: str, status: int
) -> None:
    node = make_node()

    async def scenario(client: Client) -> str:
        return await page(client, path, status)

    text = node.run(scenario)
    assert "<h1>" in text
    assert HOSTILE not in text and "<script>alert" not in text and "<b>" not in text


def test_hostile_query_is_shown_escaped(make_node: NodeMaker) -> None:
    node = make_node()

    async def scenario(client: Client) -> str:
        return await page(client, "/search?q=" + HOSTILE.replace("/", "%2F"), 404)

    text = node.run(scenario)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_security_headers_on_pages_and_static_files(make_node: NodeMaker) -> None:
    node = make_node()

    async def scenario(client: Client) -> list[tuple[int, dict[str, str], str]]:
        found = []
        for path in ("/", "/static/explorer.css", "/static/vendor/uplot/uPlot.iife.min.js"):
            response = await client.get(path)
            found.append((response.status, dict(response.headers), await response.text()))
        return found

    for status, headers, _ in node.run(scenario):
        assert status == 200
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


def test_pages_have_no_inline_script(make_node: NodeMaker, story: Story) -> None:
    node = make_node()

    async def scenario(client: Client) -> list[str]:
        return [await page(client, path) for path in ("/", "/epochs", f"/address/{BOB.address}")]

    for text in node.run(scenario):
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=" in tag or 'type="application/json"' in tag, tag


def test_the_proof_mark_shows_only_when_the_proof_verifies(
    make_node: NodeMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = make_node()

    async def scenario(client: Client) -> tuple[str, str]:
        good = await page(client, f"/address/{ALICE.address}")
        wrong = node.chain.account_proof(ALICE.address)  # another account's proof
        monkeypatch.setattr(node.chain, "account_proof", lambda address: wrong)
        return good, await page(client, f"/address/{BOB.address}")

    good, broken = node.run(scenario)
    assert "Verified against the header's state root" in good
    assert "Verified against the header's state root" not in broken
    assert "Not verified" in broken


def test_without_an_index_the_account_page_says_so(make_node: NodeMaker) -> None:
    node = make_node(index=False)

    async def scenario(client: Client) -> str:
        return await page(client, f"/address/{ALICE.address}")

    text = node.run(scenario)
    assert "keeps no address index" in text
    assert "Verified against the header's state root" in text


def test_history_is_cursor_paged(make_node: NodeMaker, story: Story) -> None:
    node = make_node()
    sender = story.source.funded[6]
    blocks = [
        story.source.next_block(
            [story.source.transfer(sender, CAROL.address, 10 + i) for i in range(10)]
        )
        for _ in range(3)
    ]
    for block in blocks:
        node.chain.add_block(block)

    async def scenario(client: Client) -> tuple[str, str]:
        first = await page(client, f"/address/{sender.address}")
        found = re.search(r'href="/address/[^"?]+\?before=([0-9]+-[0-9]+)"', first)
        assert found is not None, "no older link"
        return first, await page(client, f"/address/{sender.address}?before={found.group(1)}")

    first, second = node.run(scenario)
    listed = set(re.findall(r'href="/tx/([0-9a-f]{64})"', first))
    older = set(re.findall(r'href="/tx/([0-9a-f]{64})"', second))
    assert len(listed) == 25 and len(older) == 5 and not listed & older


def test_a_pending_transaction_shows_pending(make_node: NodeMaker) -> None:
    node = make_node()

    async def scenario(client: Client) -> tuple[str, str]:
        before = await page(client, f"/address/{BOB.address}")  # cached until the mempool moves
        assert "Pending transactions" not in before
        nonce = node.service.mempool.pending_nonce(BOB.address)
        tx = Transaction(GENESIS.chain_id, BOB.public_key, nonce, 1_000, Transfer(NOBODY, 5))
        txid = node.service.submit_transaction(tx.signed(BOB).encode())
        return (
            await page(client, f"/tx/{txid.hex()}"),
            await page(client, f"/address/{BOB.address}"),
        )

    tx_page, address_page = node.run(scenario)
    assert "Pending" in tx_page
    assert "<caption>Pending transactions</caption>" in address_page


def test_the_live_stream_sends_each_new_block(make_node: NodeMaker, story: Story) -> None:
    node = make_node()
    block = story.more()

    async def scenario(client: Client) -> dict[str, Any]:
        response = await client.get("/events")
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert node.explorer is not None
        while node.explorer.explorer.live.subscribers == 0:
            await asyncio.sleep(0.01)
        node.service.import_block(block)
        event: list[str] = []
        while True:
            line = (await asyncio.wait_for(response.content.readline(), 5)).decode()
            if line.startswith("event:") or event:
                event.append(line.strip())
            if event and line == "\n":
                break
        data = next(item for item in event if item.startswith("data: "))
        assert "event: block" in event
        # The node stopping ends the stream: the read sees its end, nothing hangs.
        node.explorer.explorer.close()
        rest = await asyncio.wait_for(response.content.read(), 5)
        assert b"event:" not in rest
        parsed: dict[str, Any] = json.loads(data[len("data: ") :])
        return parsed

    event = node.run(scenario)
    assert event["height"] == block.height and event["hash"] == block.hash.hex()
    assert event["tx_count"] == 1 and event["producer"] == str(story.source.producer.address)


def test_the_stream_ends_when_the_server_shuts_down(make_node: NodeMaker) -> None:
    node = make_node()

    async def scenario(client: Client) -> None:
        response = await client.get("/events")
        assert response.status == 200
        assert node.explorer is not None
        while node.explorer.explorer.live.subscribers == 0:
            await asyncio.sleep(0.01)
        # Keep-alive comments arrive while idle.
        line = await asyncio.wait_for(response.content.readline(), 5)
        assert line.startswith((b"retry:", b":"))

    node.run(scenario)  # the client and server close with a stream open: no hang, no leak
    assert node.explorer is not None and node.explorer.explorer.live.subscribers == 0


def _api_view(status: int, body: Any) -> tuple[int, Any]:
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("time_ms",)}
    return status, body


def test_the_api_is_unchanged_beside_the_explorer(make_node: NodeMaker, story: Story) -> None:
    paths = [
        "/api/status",
        "/api/blocks?limit=3",
        "/api/blocks/2",
        "/api/blocks/zz",
        f"/api/accounts/{ALICE.address}?proof=true",
        f"/api/accounts/{ALICE.address}/txs?limit=2",
        "/api/relays",
        "/api/nope",
        "/api",
        "/api/",
    ]

    def views(node: ServedNode) -> list[Any]:
        async def scenario(client: Client) -> list[Any]:
            found = []
            for path in paths:
                response = await client.get(path)
                assert response.content_type == "application/json", path
                found.append(_api_view(response.status, await response.json()))
            response = await client.post("/api/status")
            found.append(_api_view(response.status, await response.json()))
            metrics = await client.get("/metrics")
            assert metrics.status == 200 and "pacata_chain_height" in await metrics.text()
            assert "Content-Security-Policy" not in metrics.headers
            return found

        return node.run(scenario)

    with_explorer = views(make_node())
    without = views(make_node(explorer=False))
    assert with_explorer == without


def test_without_the_explorer_unknown_paths_stay_json(make_node: NodeMaker) -> None:
    node = make_node(explorer=False)

    async def scenario(client: Client) -> tuple[int, str]:
        response = await client.get("/")
        return response.status, response.content_type

    assert node.run(scenario) == (404, "application/json")


def test_a_wrong_method_on_a_page_is_an_html_405(make_node: NodeMaker) -> None:
    node = make_node()

    async def scenario(client: Client) -> tuple[int, str, str]:
        response = await client.post("/blocks")
        return response.status, response.content_type, response.headers.get("Allow", "")

    status, content_type, allow = node.run(scenario)
    assert (status, content_type) == (405, "text/html") and "GET" in allow
