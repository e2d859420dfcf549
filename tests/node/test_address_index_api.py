"""The address index's routes (pacata/node/address_index_api.py) served by its plugin on a node
in this process: a real chain and a real index, each in LevelDB (plyvel), through the real HTTP
app. The index catches up at start, then follows blocks imported through the service (a
reorganisation too); history is paged with pending transactions first; channels by client and
relay; every malformed parameter a 400; a node without an index answers 503."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.transactions import (
    ChannelClose,
    ChannelOpen,
    RelayOffer,
    RelayRegister,
    Transaction,
    Transfer,
)
from pacata.chain.transitions import channel_id_of
from pacata.errors import MempoolRejected
from pacata.node.config import load_config
from pacata.rpc import routes
from pacata.rpc.schemas import CHANNEL_ROLES
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.ledger import with_params
from pacata.testing.served_node import Client, ServedNode

GENESIS = with_params(shipped_genesis("devnet"), settlement_grace_blocks=1)
ALICE, BOB, RELAY, CAROL = (devnet_key(i) for i in range(1, 5))
NOBODY = PrivateKey(b"\x05" * 32).address
OFFER = RelayOffer(bytes(32), ("203.0.113.5:51820",), (100_000,), (0,))


class Story:
    """Blocks made on a chain of their own (as a peer would send them): a relay, two channels
    of ALICE's (the first closed), and transfers from ALICE to BOB."""

    def __init__(self) -> None:
        self.source = source = ChainFactory(devnet_chain(genesis=GENESIS))
        sign = source.sign
        source.next_block(
            [sign(RELAY, RelayRegister(OFFER)), sign(ALICE, Transfer(BOB.address, 1_000))]
        )
        first = sign(ALICE, ChannelOpen(RELAY.address, 100_000, 0, bytes(32), 4))
        source.next_block([first])
        source.next_block([source.transfer(ALICE, BOB.address, 2_000 + i) for i in range(2)])
        second = sign(ALICE, ChannelOpen(RELAY.address, 300_000, 0, bytes(32), 500))
        source.next_block([second])
        source.next_block()
        self.closed = channel_id_of(ALICE.public_key, first.nonce)
        self.open = channel_id_of(ALICE.public_key, second.nonce)
        source.next_block([sign(ALICE, ChannelClose(self.closed))])  # height 6: 4 + 1 + 1
        for i in range(3):
            source.next_block([source.transfer(ALICE, BOB.address, 3_000 + i)])

    def blocks(self, start: int = 1) -> Iterator[Block]:
        for height in range(start, self.source.chain.height + 1):
            yield self.source.chain.block_at(height)

    def more(self, count: int) -> list[Block]:
        """`count` more blocks of the source, each a transfer from ALICE to BOB."""
        return [
            self.source.next_block([self.source.transfer(ALICE, BOB.address, 9_000 + i)])
            for i in range(count)
        ]


class Node(ServedNode):
    """A node whose chain (LevelDB) holds the story's blocks before it starts, with the index
    plugin (its LevelDB under `tmp`, or none)."""

    def __init__(self, tmp: Path, story: Story, *, index: bool = True) -> None:
        self.story = story
        path = tmp / "indexes" / "addresses" if index else None
        super().__init__(tmp, story.source.chain, GENESIS, index_path=path)

    def pend(self, key: PrivateKey, recipient: Address, amount: int) -> Transaction:
        nonce = self.service.mempool.pending_nonce(key.address)
        tx = Transaction(
            GENESIS.chain_id, key.public_key, nonce, 1_000, Transfer(recipient, amount)
        )
        self.service.submit_transaction(tx.signed(key).encode())
        return tx.signed(key)


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


NodeMaker = Callable[..., Node]


@pytest.fixture
def make_node(tmp_path: Path, story: Story) -> Iterator[NodeMaker]:
    """Makes the test's node (in `tmp_path`; `index=False`: without an index), closing its
    chain's store at the end."""
    made: list[Node] = []

    def make(*, index: bool = True) -> Node:
        node = Node(tmp_path, story, index=index)
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()


async def get(client: Client, path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def all_pages(client: Client, path: str, key: str) -> list[dict[str, Any]]:
    """Every page of a list, following next_cursor; asserts there are 3 pages or more."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await get(client, path + ("" if cursor is None else f"&cursor={cursor}"))
        items += page[key]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
    assert pages >= 3
    return items


def history_of(chain: Chain, address: Address) -> list[str]:
    """The txids touching `address` as transfers on `chain`'s main chain, newest first."""
    found = []
    for height in range(chain.height, 0, -1):
        for tx in reversed(chain.block_at(height).transactions):
            payload = tx.payload
            if tx.sender_address == address or (
                isinstance(payload, Transfer) and payload.recipient == address
            ):
                found.append(tx.txid.hex())
    return found


def test_history_is_paged_newest_first_with_the_pending_ones_first(
    make_node: NodeMaker, story: Story
) -> None:
    node = make_node()

    async def scenario(client: Client) -> tuple[list[dict[str, Any]], Any, Any]:
        pending = [node.pend(ALICE, BOB.address, 11), node.pend(CAROL, BOB.address, 12)]
        items = await all_pages(client, f"/api/accounts/{BOB.address}/txs?limit=2", "transactions")
        first = await get(client, f"/api/accounts/{BOB.address}/txs")
        return items, pending, first

    items, pending, first = node.run(scenario)
    txids = [item["txid"] for item in items]
    assert len(txids) == len(set(txids))  # no duplicates
    assert txids == [
        pending[1].txid.hex(),
        pending[0].txid.hex(),
        *history_of(node.chain, BOB.address),
    ]
    assert [item["status"] for item in items[:3]] == ["pending", "pending", "confirmed"]
    assert set(items[0]) == {"txid", "status", "tx", "encoded"}
    newest = items[2]
    tip = node.chain.tip
    assert newest["height"] == tip.height and newest["block_hash"] == tip.hash.hex()
    assert newest["index"] == 0 and newest["timestamp_ms"] == tip.timestamp_ms
    assert newest["confirmations"] == 1
    assert newest["tx"]["kind"] == "TRANSFER"
    assert newest["tx"]["payload"]["recipient"] == str(BOB.address)
    assert Transaction.decode(bytes.fromhex(newest["encoded"])).txid.hex() == newest["txid"]
    same_block = [item for item in items if item.get("height") == 3]
    assert [item["index"] for item in same_block] == [1, 0]
    assert first["pending_count"] == 2 and first["confirmed_count"] == len(items) - 2
    assert first["indexed_height"] == node.chain.height
    assert len(first["transactions"]) == len(items)  # the default limit, 25, holds them all
    assert first["next_cursor"] is None


def test_a_first_page_full_of_pending_ones_continues_with_the_confirmed(
    make_node: NodeMaker, story: Story
) -> None:
    node = make_node()

    async def scenario(client: Client) -> tuple[Any, Any]:
        node.pend(ALICE, BOB.address, 11)
        first = await get(client, f"/api/accounts/{BOB.address}/txs?limit=1")
        second = await get(
            client, f"/api/accounts/{BOB.address}/txs?limit=1&cursor={first['next_cursor']}"
        )
        return first, second

    first, second = node.run(scenario)
    assert [item["status"] for item in first["transactions"]] == ["pending"]
    assert second["transactions"][0]["txid"] == history_of(node.chain, BOB.address)[0]
    assert second["pending_count"] == 1


def test_pending_ones_beyond_a_page_are_paged_too_each_once_then_the_confirmed(
    make_node: NodeMaker, story: Story
) -> None:
    """Three pending, two a page: the third pending one is on the second page, followed by
    the newest confirmed one, and every transaction shows once."""
    node = make_node()

    async def scenario(client: Client) -> tuple[list[dict[str, Any]], list[Transaction]]:
        pending = [
            node.pend(ALICE, BOB.address, 11),
            node.pend(CAROL, BOB.address, 12),
            node.pend(ALICE, BOB.address, 13),
        ]
        path = f"/api/accounts/{BOB.address}/txs?limit=2"
        return await all_pages(client, path, "transactions"), pending

    items, pending = node.run(scenario)
    confirmed = history_of(node.chain, BOB.address)
    assert [item["txid"] for item in items] == [
        *(tx.txid.hex() for tx in reversed(pending)),
        *confirmed,
    ]
    assert [item["status"] for item in items[:4]] == ["pending"] * 3 + ["confirmed"]


def test_a_pending_page_boundary_stays_put_while_the_mempool_changes(
    make_node: NodeMaker, story: Story
) -> None:
    """Between two pages a transaction is admitted (newer than the boundary: not on the next
    page) and an older one replaced (it leaves; its replacement is newer): the next page goes
    on after the last one shown, with the one older than it that is still pending, none twice."""
    node = make_node()

    async def scenario(client: Client) -> tuple[list[Any], list[Transaction]]:
        kept = node.pend(CAROL, BOB.address, 10)
        replaced = node.pend(ALICE, BOB.address, 11)
        pending = [kept, replaced, node.pend(CAROL, BOB.address, 12)]
        pending.append(node.pend(CAROL, BOB.address, 13))
        path = f"/api/accounts/{BOB.address}/txs?limit=2"
        first = await get(client, path)
        node.pend(CAROL, BOB.address, 14)  # admitted meanwhile
        replacement = Transaction(
            GENESIS.chain_id, ALICE.public_key, replaced.nonce, 2_000, Transfer(BOB.address, 15)
        ).signed(ALICE)
        node.service.submit_transaction(replacement.encode())  # replace-by-fee
        second = await get(client, f"{path}&cursor={first['next_cursor']}")
        return [first, second], pending

    (first, second), pending = node.run(scenario)
    kept, _, third, fourth = (tx.txid.hex() for tx in pending)
    assert [item["txid"] for item in first["transactions"]] == [fourth, third]
    newest_confirmed = history_of(node.chain, BOB.address)[0]
    assert [item["txid"] for item in second["transactions"]] == [kept, newest_confirmed]
    assert second["pending_count"] == 5


def test_the_index_follows_blocks_and_a_reorganisation_through_the_service(
    make_node: NodeMaker, story: Story
) -> None:
    node = make_node()
    fork_height = story.source.chain.height
    rival = story.source.fork(fork_height, seed=5)
    mine = story.more(2)
    theirs = [
        rival.next_block([rival.transfer(ALICE, CAROL.address, 77 + i)], slot_gap=2)
        for i in range(3)
    ]

    async def scenario(client: Client) -> tuple[Any, Any, Any]:
        for block in mine:
            node.service.import_block(block)
        after_two = await get(client, f"/api/accounts/{BOB.address}/txs?limit=100")
        for block in theirs:
            node.service.import_block(block)  # the third makes the rival branch the best
        bob = await get(client, f"/api/accounts/{BOB.address}/txs?limit=100")
        carol = await get(client, f"/api/accounts/{CAROL.address}/txs?limit=100")
        return after_two, bob, carol

    after_two, bob, carol = node.run(scenario)
    assert node.chain.tip.hash == theirs[-1].hash
    assert [item["txid"] for item in after_two["transactions"][:2]] == [
        block.transactions[0].txid.hex() for block in reversed(mine)
    ]
    assert [item["txid"] for item in bob["transactions"]] == history_of(node.chain, BOB.address)
    assert [item["txid"] for item in carol["transactions"]] == [
        block.transactions[0].txid.hex() for block in reversed(theirs)
    ]
    assert bob["indexed_height"] == node.chain.height == fork_height + 3


def test_channels_by_client_and_relay_open_and_closed(make_node: NodeMaker, story: Story) -> None:
    node = make_node()

    async def scenario(client: Client) -> dict[str, Any]:
        alice = f"/api/accounts/{ALICE.address}/channels"
        relay = f"/api/accounts/{RELAY.address}/channels"
        return {
            "alice": await get(client, alice),
            "alice_as_relay": await get(client, alice + "?role=relay"),
            "relay_pages": await _channel_pages(client, relay + "?role=relay&limit=1"),
            "open": await get(client, f"/api/channels/{story.open.hex()}"),
            "closed": await get(client, f"/api/channels/{story.closed.hex().upper()}"),
            "unknown": await get(client, f"/api/channels/{'ab' * 32}", 404),
            "bob": await get(client, f"/api/accounts/{BOB.address}/channels"),
        }

    found = node.run(scenario)
    alice = found["alice"]
    assert [c["channel_id"] for c in alice["channels"]] == [story.open.hex(), story.closed.hex()]
    assert alice["role"] == "any" and alice["next_cursor"] is None
    assert found["alice_as_relay"]["channels"] == []
    assert [c["channel_id"] for c in found["relay_pages"]] == [
        story.open.hex(),
        story.closed.hex(),
    ]
    assert found["bob"]["channels"] == []
    opened, closed = found["open"], found["closed"]
    assert opened == alice["channels"][0]
    assert opened["status"] == "open" and opened["client"] == str(ALICE.address)
    assert opened["relay"] == str(RELAY.address)
    assert (opened["deposit"], opened["paid"], opened["settled_bytes"]) == (300_000, 0, 0)
    assert opened["expiry_height"] == 500 and opened["open_height"] == 4
    assert opened["close_height"] is None and opened["close_txid"] is None
    opening = node.chain.block_at(4).transactions[0]
    assert opened["open_txid"] == opening.txid.hex()
    assert closed["status"] == "closed" and closed["close_height"] == 6
    assert closed["close_txid"] == node.chain.block_at(6).transactions[0].txid.hex()
    assert closed["deposit"] is None and closed["paid"] is None
    assert closed["open_height"] == 2 and closed["expiry_height"] == 4
    assert "no channel" in found["unknown"]["error"]
    # From when the chain takes the client's close: after the expiry height and the settlement
    # grace (1 block here). The story closed its first channel as early as it could.
    grace = GENESIS.params.settlement_grace_blocks
    assert opened["closable_height"] == 500 + grace + 1
    assert closed["closable_height"] == closed["close_height"] == 4 + grace + 1


def test_a_close_before_the_closable_height_is_refused_naming_it(
    make_node: NodeMaker, story: Story
) -> None:
    node = make_node()

    async def scenario(client: Client) -> Any:
        return await get(client, f"/api/channels/{story.open.hex()}")

    channel = node.run(scenario)
    nonce = node.service.mempool.pending_nonce(ALICE.address)
    close = Transaction(
        GENESIS.chain_id, ALICE.public_key, nonce, 1_000, ChannelClose(story.open)
    ).signed(ALICE)
    with pytest.raises(MempoolRejected, match=f"closed from height {channel['closable_height']} "):
        node.service.submit_transaction(close.encode())


def test_every_channel_role_is_listed_and_no_other(make_node: NodeMaker, story: Story) -> None:
    node = make_node()

    async def scenario(client: Client) -> tuple[dict[str, Any], Any]:
        path = f"/api/accounts/{RELAY.address}/channels"
        pages = {role: await get(client, f"{path}?role={role}") for role in CHANNEL_ROLES}
        return pages, await get(client, f"{path}?role=owner", 400)

    pages, refused = node.run(scenario)
    assert CHANNEL_ROLES == ("client", "relay", "any")
    assert {role: page["role"] for role, page in pages.items()} == {r: r for r in CHANNEL_ROLES}
    assert pages["client"]["channels"] == []
    assert pages["relay"]["channels"] == pages["any"]["channels"] != []
    assert refused["error"] == "role: must be client, relay or any"


async def _channel_pages(client: Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await get(client, path + ("" if cursor is None else f"&cursor={cursor}"))
        items += page["channels"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def test_an_address_without_history_is_an_empty_page(make_node: NodeMaker, story: Story) -> None:
    node = make_node()

    async def scenario(client: Client) -> Any:
        return await get(client, f"/api/accounts/{NOBODY}/txs")

    page = node.run(scenario)
    assert page["transactions"] == [] and page["next_cursor"] is None
    assert page["pending_count"] == 0 and page["confirmed_count"] == 0


BAD_REQUESTS = [
    ("/api/accounts/pac1nothing/txs", "address: not a pac1 address"),
    (f"/api/accounts/{BOB.address}/txs?limit=0", "limit: must be an integer within 1-100"),
    (f"/api/accounts/{BOB.address}/txs?limit=101", "limit: must be an integer within 1-100"),
    (f"/api/accounts/{BOB.address}/txs?limit=x", "limit: must be an integer within 1-100"),
    (f"/api/accounts/{BOB.address}/txs?cursor=", "cursor: not a cursor of this list"),
    (f"/api/accounts/{BOB.address}/txs?cursor=abc", "cursor: not a cursor of this list"),
    (f"/api/accounts/{BOB.address}/txs?cursor={'A' * 18}", "cursor: not a cursor of this list"),
    (f"/api/accounts/{ALICE.address}/channels?role=owner", "role: must be client, relay or any"),
    ("/api/accounts/xyz/channels", "address: not a pac1 address"),
    ("/api/channels/1234", "channel_id: not a channel id (64 hex digits)"),
]


def test_malformed_parameters_are_400_with_the_reason(make_node: NodeMaker, story: Story) -> None:
    node = make_node()

    async def scenario(client: Client) -> list[Any]:
        answers = [await get(client, path, 400) for path, _ in BAD_REQUESTS]
        # A cursor of the channel list is not one of the history.
        channels = await get(client, f"/api/accounts/{RELAY.address}/channels?limit=1")
        cursor = channels["next_cursor"]
        answers.append(await get(client, f"/api/accounts/{RELAY.address}/txs?cursor={cursor}", 400))
        return answers

    answers = node.run(scenario)
    for (path, reason), answer in zip(BAD_REQUESTS, answers, strict=False):
        assert answer["error"].startswith(reason), (path, answer)
    assert answers[-1]["error"].startswith("cursor: not a cursor of this list")


def test_without_an_index_the_lists_are_unavailable_and_only_open_channels_answer(
    make_node: NodeMaker, story: Story, tmp_path: Path
) -> None:
    node = make_node(index=False)

    async def scenario(client: Client) -> list[Any]:
        return [
            await get(client, f"/api/accounts/{BOB.address}/txs", 503),
            await get(client, f"/api/accounts/{ALICE.address}/channels", 503),
            await get(client, f"/api/channels/{story.open.hex()}"),
            await get(client, f"/api/channels/{story.closed.hex()}", 503),
        ]

    history, channels, opened, closed = node.run(scenario)
    assert "keeps no address index" in history["error"]
    assert "--no-address-index" in channels["error"]
    assert opened["status"] == "open" and opened["deposit"] == 300_000
    assert opened["open_txid"] == node.chain.block_at(4).transactions[0].txid.hex()
    assert closed["error"].startswith(f"no open channel {story.closed.hex()}, and this node")
    assert not (tmp_path / "indexes").exists()


def test_the_openapi_document_describes_the_routes_and_their_answers(
    make_node: NodeMaker, story: Story
) -> None:
    node = make_node()

    async def scenario(client: Client) -> list[Any]:
        node.pend(ALICE, BOB.address, 11)
        return [
            await get(client, "/api/openapi.json"),
            await get(client, f"/api/accounts/{BOB.address}/txs"),
            await get(client, f"/api/accounts/{ALICE.address}/channels"),
            await get(client, "/api/fees"),
        ]

    document, history, channels, fees = node.run(scenario)
    for route in (*routes.ADDRESS_INDEX_ROUTES, routes.GET_FEES):
        operation = document["paths"][route.path]["get"]
        assert operation["operationId"] == route.name
        assert {p["name"] for p in operation["parameters"]} == {p.name for p in route.parameters}
    schemas = document["components"]["schemas"]

    def properties(name: str) -> set[str]:
        return set(schemas[name]["properties"])

    assert set(history) == properties("AddressTransactions")
    assert set(history["transactions"][-1]) == properties("AddressTransaction")
    assert set(channels) == properties("ChannelList")
    assert set(channels["channels"][0]) == properties("Channel")
    assert set(fees) == properties("Fees")
    responses = document["paths"]["/api/accounts/{address}/txs"]["get"]["responses"]
    assert {"200", "400", "503"} <= set(responses)


def test_fees_below_a_full_mempool_are_the_minimum(make_node: NodeMaker, story: Story) -> None:
    node = make_node()

    async def scenario(client: Client) -> Any:
        node.pend(ALICE, BOB.address, 11)
        return await get(client, "/api/fees")

    fees = node.run(scenario)
    params = GENESIS.params
    assert fees["min_fee"] == fees["suggested_fee"] == params.min_fee
    assert fees["fee_rate_per_kb"] == 0
    assert fees["height"] == node.chain.height
    assert 100 < fees["transfer_size"] < 200
    assert fees["max_block_bytes"] == params.max_block_bytes
    assert fees["mempool_bytes"] == node.service.mempool.size_bytes > 0


def test_the_index_survives_a_restart_and_catches_up_with_what_came_meanwhile(
    make_node: NodeMaker, story: Story, tmp_path: Path
) -> None:
    node = make_node()
    node.run(lambda client: get(client, "/api/status"))
    node.close()
    later = story.more(3)
    chain = devnet_chain(LevelDBStore(tmp_path / "chain"), GENESIS)
    for block in later:
        chain.add_block(block)
    chain.kv.close()
    node = make_node()  # the chain's store already holds every block: no new ones
    assert node.chain.height == story.source.chain.height

    async def scenario(client: Client) -> Any:
        return await get(client, f"/api/accounts/{BOB.address}/txs?limit=100")

    page = node.run(scenario)
    assert page["indexed_height"] == node.chain.height
    assert [item["txid"] for item in page["transactions"]] == history_of(node.chain, BOB.address)


def test_the_flag_and_the_config_key_turn_the_index_off(tmp_path: Path) -> None:
    assert load_config(["--devnet"]).address_index is True
    assert load_config(["--devnet", "--no-address-index"]).address_index is False
    config = tmp_path / "pacata.toml"
    config.write_text("devnet = true\naddress_index = false\n")
    assert load_config(["--config", str(config)]).address_index is False
    assert load_config(["--config", str(config), "--address-index"]).address_index is True


def test_an_event_that_does_not_fit_the_tip_makes_the_index_catch_up(
    make_node: NodeMaker, story: Story
) -> None:
    """Blocks connected behind the plugin's back (no events), then one through the service:
    its event does not follow the index's tip, so the plugin catches up from the chain."""
    node = make_node()
    unseen, seen = story.more(2), story.more(1)

    async def scenario(client: Client) -> tuple[Any, str]:
        for block in unseen:
            node.chain.add_block(block)
        node.service.import_block(seen[0])
        assert node.index.catching_up
        while node.index.catching_up:
            await asyncio.sleep(0)
        page = await get(client, f"/api/accounts/{BOB.address}/txs?limit=3")
        metrics = await (await client.get("/metrics")).text()
        return page, metrics

    page, metrics = node.run(scenario)
    assert [item["txid"] for item in page["transactions"]] == [
        block.transactions[0].txid.hex() for block in reversed(unseen + seen)
    ]
    assert page["indexed_height"] == node.chain.height
    assert f"pacata_address_index_height {node.chain.height}" in metrics
