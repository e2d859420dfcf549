"""The API's side of mempool admission: a transaction that cannot be mined is a 400 naming the
rule, and `GET /api/txs/{id}` says why a transaction left the mempool."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from pacata.chain.transactions import ChannelOpen, Transfer, make_transaction

from .test_api import ALICE, BOB, CAROL, CHAIN_ID, Node, get_json, make_node, post_json, transfer


def test_a_transaction_that_breaks_a_state_rule_is_refused_with_the_rule() -> None:
    node = make_node()
    not_a_relay = make_transaction(
        ALICE,
        CHAIN_ID,
        2,
        1_000,
        ChannelOpen(BOB.address, 10**8, 0, bytes(32), node.chain.height + 100),
    )
    gap = transfer(CAROL, 5)

    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        return [
            await post_json(client, "/api/txs", {"tx": not_a_relay.encode().hex()}, 400),
            await post_json(client, "/api/txs", {"tx": gap.encode().hex()}, 400),
            # Not pending, so the sender's next transaction is not blocked behind it.
            await post_json(client, "/api/txs", {"tx": transfer(ALICE, 2).encode().hex()}, 202),
        ]

    refused, gapped, accepted = node.call(scenario)
    assert refused == {"error": f"{BOB.address} is not a registered relay"}
    assert gapped == {"error": "nonce gap: got 5, next is 0"}
    assert accepted["status"] == "pending"
    assert len(node.service.mempool) == 1


def _replace_then_look_up(node: Node) -> list[Any]:
    first = transfer(ALICE, 2, fee=1_000)
    better = make_transaction(ALICE, CHAIN_ID, 2, 5_000, Transfer(CAROL.address, 1))

    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        await post_json(client, "/api/txs", {"tx": first.encode().hex()}, 202)
        await post_json(client, "/api/txs", {"tx": better.encode().hex()}, 202)
        return [
            await get_json(client, f"/api/txs/{first.txid.hex()}"),
            await get_json(client, f"/api/txs/{better.txid.hex()}"),
        ]

    return [first, better, *node.call(scenario)]


def test_a_replaced_transaction_says_by_which() -> None:
    first, better, replaced, pending = _replace_then_look_up(make_node())
    assert replaced == {"status": "replaced", "reason": f"replaced by {better.txid.hex()}"}
    assert pending["status"] == "pending"
    assert first.txid != better.txid


def test_an_evicted_transaction_says_why() -> None:
    node = make_node()
    mine = transfer(ALICE, 2, amount=5)
    node.service.submit_transaction(mine.encode())
    rival = transfer(ALICE, 2, amount=6)
    block = node.factory.next_block([rival], connect=False)
    node.service.import_block(block)

    status = node.call(lambda client: get_json(client, f"/api/txs/{mine.txid.hex()}"))
    assert status == {"status": "evicted", "reason": "evicted: nonce 2 already used (next is 3)"}
