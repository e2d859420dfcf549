"""The HTTP API (docs/api.md) against a real chain on a MemoryStore, through aiohttp's test
client: every endpoint, its errors, the OpenAPI document, the metrics and the admin token."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pacata.chain.devnet import devnet_key
from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.chain.mempool import Mempool
from pacata.chain.state import Account
from pacata.chain.state_tree import StateProof, verify_proof
from pacata.chain.transactions import Transaction, Transfer, make_transaction
from pacata.node.api import MAX_REQUEST_BYTES, create_app
from pacata.node.config import load_config
from pacata.node.discovery_plugin import DiscoveryPlugin
from pacata.node.peering import PeeringPlugin
from pacata.node.producer_keys import devnet_producer_keys
from pacata.node.service import NodeService
from pacata.p2p.records import NodeRecord
from pacata.rpc.routes import ROUTES
from pacata.testing import ChainFactory
from pacata.testing.clock import ManualClock

ALICE, BOB, CAROL = devnet_key(1), devnet_key(2), devnet_key(3)
TOKEN = "0123456789abcdef" * 4
CHAIN_ID = "pacata-devnet-1"
T = TypeVar("T")

Scenario = Callable[[TestClient[Any, Any]], Awaitable[T]]


@dataclass
class Node:
    factory: ChainFactory
    service: NodeService
    clock: ManualClock

    @property
    def chain(self) -> Any:
        return self.factory.chain

    def stored(self) -> dict[bytes, bytes]:
        return dict(self.factory.chain.kv.iterate(b""))

    def call(self, scenario: Scenario[T]) -> T:
        async def main() -> T:
            app = create_app(self.service, TOKEN)
            async with TestClient(TestServer(app)) as client:
                return await scenario(client)

        return asyncio.run(main())


def make_node(*, with_keys: bool = True) -> Node:
    """A node whose chain holds genesis and three blocks: two transfers, then an empty one."""
    factory = ChainFactory()
    factory.next_block([factory.transfer(ALICE, BOB.address, 5_000)])
    factory.next_block([factory.transfer(ALICE, CAROL.address, 7_000)])
    factory.next_block()
    clock = ManualClock(wall_ms=factory.chain.tip.timestamp_ms + 500)
    service = NodeService(
        factory.chain,
        Mempool(factory.chain),
        clock,
        producer_keys=devnet_producer_keys() if with_keys else None,
    )
    return Node(factory, service, clock)


@pytest.fixture
def node() -> Node:
    return make_node()


def transfer(key: PrivateKey, nonce: int, amount: int = 1_000, fee: int = 1_000) -> Transaction:
    return make_transaction(key, CHAIN_ID, nonce, fee, Transfer(CAROL.address, amount))


async def get_json(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


async def post_json(
    client: TestClient[Any, Any],
    path: str,
    body: Any,
    status: int,
    headers: dict[str, str] | None = None,
) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    return await response.json()


# -- status, blocks ---------------------------------------------------------------------------


def test_status(node: Node) -> None:
    status = node.call(lambda client: get_json(client, "/api/status"))
    chain = node.chain
    assert status["chain_id"] == CHAIN_ID
    assert status["height"] == 3
    assert status["tip"] == chain.tip.hash.hex()
    assert status["genesis"] == chain.block_at(0).hash.hex()
    assert status["peers"] == 0
    assert status["syncing"] is False
    assert status["mempool_size"] == 0
    assert status["producing"] is False
    assert status["producer"] == str(devnet_key(0).address)
    assert status["version"] == "0.1.0"
    assert status["time_ms"] == node.clock.now_ms()
    # Without peer-to-peer (pacatad attaches it): no node id, no DHT, no reflexive address.
    assert status["node_id"] is None
    assert status["reflexive_address"] is None
    assert status["dht"] == {"contacts": 0, "records": 0}


def test_block_by_height_and_by_hash(node: Node) -> None:
    block = node.chain.block_at(1)

    async def scenario(client: TestClient[Any, Any]) -> tuple[Any, Any]:
        return (
            await get_json(client, "/api/blocks/1"),
            await get_json(client, f"/api/blocks/{block.hash.hex()}"),
        )

    by_height, by_hash = node.call(scenario)
    assert by_height == by_hash
    assert by_height["hash"] == block.hash.hex()
    assert by_height["height"] == 1
    assert by_height["main_chain"] is True
    assert by_height["confirmations"] == 3
    assert by_height["size"] == len(block.encode())
    assert by_height["tx_count"] == 1
    header = by_height["header"]
    assert header["prev_hash"] == block.header.prev_hash.hex()
    assert header["state_root"] == block.header.state_root.hex()
    assert header["producer_address"] == str(devnet_key(0).address)
    tx = by_height["transactions"][0]
    assert tx["txid"] == block.transactions[0].txid.hex()
    assert tx["kind"] == "TRANSFER"
    assert tx["sender_address"] == str(ALICE.address)
    assert tx["payload"] == {"recipient": str(BOB.address), "amount": 5_000}
    assert tx["fee"] == 1_000 and tx["nonce"] == 0


def test_block_list(node: Node) -> None:
    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        return [
            await get_json(client, "/api/blocks"),
            await get_json(client, "/api/blocks?limit=2"),
            await get_json(client, "/api/blocks?limit=5&before=2"),
            await get_json(client, "/api/blocks?before=0"),
        ]

    every, newest, below_two, none = node.call(scenario)
    assert [b["height"] for b in every["blocks"]] == [3, 2, 1, 0]
    assert [b["height"] for b in newest["blocks"]] == [3, 2]
    assert [b["height"] for b in below_two["blocks"]] == [1, 0]
    assert none["blocks"] == []
    assert newest["blocks"][1]["tx_count"] == 1
    assert newest["blocks"][0]["hash"] == node.chain.tip.hash.hex()


@pytest.mark.parametrize(
    ("path", "status", "reason"),
    [
        ("/api/blocks/99", 404, "no block at height 99"),
        ("/api/blocks/" + "ab" * 32, 404, "no block"),
        ("/api/blocks/tip", 400, "block_id: not a height or a block hash"),
        ("/api/blocks/-1", 400, "block_id"),
        ("/api/blocks/1%0A", 400, "block_id"),
        ("/api/blocks/" + "ab" * 31, 400, "block_id"),
        ("/api/blocks?limit=0", 400, "limit: must be an integer within 1-100"),
        ("/api/blocks?limit=101", 400, "limit"),
        ("/api/blocks?limit=ten", 400, "limit"),
        ("/api/blocks?before=-3", 400, "before"),
        ("/api/txs/xyz", 400, "txid: not a hash"),
        ("/api/txs/" + "00" * 32 + "%0A", 400, "txid: not a hash"),
        ("/api/txs/" + "00" * 32, 404, "no transaction"),
        ("/api/accounts/pac1nope", 400, "address: not a pac1 address"),
        ("/api/accounts/" + str(ALICE.address) + "?proof=maybe", 400, "proof: must be true"),
        ("/api/mempool?limit=0", 400, "limit"),
        ("/api/dht/records/xyz", 400, "node_id: not a hash"),
        ("/api/dht/records/" + "00" * 32, 503, "this node runs no DHT"),
        ("/api/nothing-here", 404, "Not Found"),
    ],
)
def test_errors_are_json(node: Node, path: str, status: int, reason: str) -> None:
    before = node.stored()
    body = node.call(lambda client: get_json(client, path, status))
    assert reason in body["error"]
    assert node.stored() == before


def test_wrong_method_is_json_405(node: Node) -> None:
    async def scenario(client: TestClient[Any, Any]) -> tuple[int, str, Any]:
        response = await client.delete("/api/status")
        return response.status, response.headers.get("Allow", ""), await response.json()

    status, allow, body = node.call(scenario)
    assert status == 405
    assert "GET" in allow
    assert body["error"] == "Method Not Allowed"


def test_a_handler_that_fails_answers_500_and_the_node_goes_on(
    node: Node, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("disk on fire")

    async def scenario(client: TestClient[Any, Any]) -> tuple[Any, Any]:
        with monkeypatch.context() as patch:
            patch.setattr(node.service, "status", broken)
            failed = await get_json(client, "/api/status", 500)
        return failed, await get_json(client, "/api/status")

    failed, status = node.call(scenario)
    assert failed == {"error": "internal error; the node's log has the details"}
    assert status["height"] == 3
    assert "disk on fire" in caplog.text


# -- transactions -----------------------------------------------------------------------------


def test_confirmed_and_pending_transactions(node: Node) -> None:
    confirmed = node.chain.block_at(2).transactions[0]
    pending = transfer(ALICE, 2)
    node.service.mempool.add(pending)

    async def scenario(client: TestClient[Any, Any]) -> tuple[Any, Any]:
        return (
            await get_json(client, f"/api/txs/{confirmed.txid.hex()}"),
            await get_json(client, f"/api/txs/{pending.txid.hex()}"),
        )

    on_chain, in_pool = node.call(scenario)
    assert on_chain["status"] == "confirmed"
    assert on_chain["block_hash"] == node.chain.block_at(2).hash.hex()
    assert on_chain["block_height"] == 2
    assert on_chain["index"] == 0
    assert on_chain["confirmations"] == 2
    assert on_chain["tx"]["payload"] == {"recipient": str(CAROL.address), "amount": 7_000}
    assert in_pool["status"] == "pending"
    assert "block_hash" not in in_pool
    assert in_pool["tx"]["txid"] == pending.txid.hex()
    assert in_pool["tx"]["nonce"] == 2


def test_submit_and_mempool(node: Node) -> None:
    first, second = transfer(ALICE, 2), transfer(BOB, 0, fee=5_000)

    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        return [
            await post_json(client, "/api/txs", {"tx": first.encode().hex()}, 202),
            await post_json(client, "/api/txs", {"tx": second.encode().hex().upper()}, 202),
            await get_json(client, "/api/mempool"),
            await get_json(client, "/api/mempool?limit=1"),
            await get_json(client, f"/api/txs/{first.txid.hex()}"),
            await get_json(client, "/api/status"),
        ]

    accepted, accepted_too, mempool, one, looked_up, status = node.call(scenario)
    assert accepted == {"txid": first.txid.hex(), "status": "pending"}
    assert accepted_too["txid"] == second.txid.hex()
    assert mempool["count"] == 2
    assert mempool["bytes"] == first.size + second.size
    assert {tx["txid"] for tx in mempool["transactions"]} == {
        first.txid.hex(),
        second.txid.hex(),
    }
    assert one["count"] == 2 and len(one["transactions"]) == 1
    assert looked_up["status"] == "pending"
    assert status["mempool_size"] == 2
    assert status["mempool_bytes"] == first.size + second.size


def _tampered_signature(tx: Transaction) -> bytes:
    encoded = bytearray(tx.encode())
    encoded[-1] ^= 0x01
    return bytes(encoded)


def tx_body(encoded: bytes) -> str:
    return json.dumps({"tx": encoded.hex()})


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "the body is not JSON"),
        (b"[1, 2]", "Invalid input type"),
        (b"{}", "tx: Missing data for required field."),
        (b'{"tx": 5}', "tx: Not a valid string."),
        (b'{"tx": ""}', "tx: Shorter than minimum length 1."),
        (b'{"tx": "00", "extra": 1}', "extra: Unknown field."),
        (b'{"tx": "xyz"}', "tx: not hexadecimal"),
        (b'{"tx": "0202"}', "unknown transaction version 2"),
        (tx_body(transfer(ALICE, 2).encode() + b"\x00"), "1 trailing bytes"),
        (tx_body(_tampered_signature(transfer(ALICE, 2))), "invalid signature"),
        (tx_body(transfer(ALICE, 0).encode()), "nonce 0 already used (next is 2)"),
        (tx_body(transfer(ALICE, 2, fee=10).encode()), "below the minimum"),
        (
            tx_body(
                make_transaction(
                    ALICE, "pacata-other-1", 2, 1_000, Transfer(BOB.address, 1)
                ).encode()
            ),
            "is for chain 'pacata-other-1'",
        ),
        (tx_body(transfer(devnet_key(42), 0).encode()), "insufficient balance"),
    ],
)
def test_bad_submissions_are_400_with_the_reason_and_change_nothing(
    node: Node, body: bytes | str, reason: str
) -> None:
    before = node.stored()

    async def scenario(client: TestClient[Any, Any]) -> tuple[int, Any]:
        response = await client.post("/api/txs", data=body)
        return response.status, await response.json()

    status, answer = node.call(scenario)
    assert status == 400
    assert reason in answer["error"]
    assert len(node.service.mempool) == 0
    assert node.stored() == before
    assert node.service.transactions_submitted.value(result="accepted") == 0


def test_submitting_twice_is_refused(node: Node) -> None:
    tx = transfer(ALICE, 2)

    async def scenario(client: TestClient[Any, Any]) -> Any:
        await post_json(client, "/api/txs", {"tx": tx.encode().hex()}, 202)
        return await post_json(client, "/api/txs", {"tx": tx.encode().hex()}, 400)

    assert node.call(scenario) == {"error": "transaction already in the mempool"}
    assert node.service.transactions_submitted.value(result="rejected") == 1


def test_oversized_body_is_413(node: Node) -> None:
    async def scenario(client: TestClient[Any, Any]) -> tuple[int, Any]:
        response = await client.post("/api/txs", data=b"x" * (MAX_REQUEST_BYTES + 1))
        return response.status, await response.json()

    status, body = node.call(scenario)
    assert status == 413
    assert "error" in body


# -- accounts ---------------------------------------------------------------------------------


def test_account(node: Node) -> None:
    node.service.mempool.add(transfer(ALICE, 2))
    body = node.call(lambda client: get_json(client, f"/api/accounts/{ALICE.address}"))
    account = node.chain.account(ALICE.address)
    assert body["address"] == str(ALICE.address)
    assert body["balance"] == account.balance == 1_000_000 * 10**8 - 5_000 - 7_000 - 2 * 1_000
    assert body["nonce"] == 2
    assert body["pending_nonce"] == 3
    assert body["bond"] == 0
    assert body["vrf_public_key"] is None
    assert body["unbonding"] == []
    assert "proof" not in body


def test_pending_balance_counts_what_the_accounts_own_pending_transactions_spend(
    node: Node,
) -> None:
    """ALICE's two pending transfers spend their fees and amounts; CAROL's pending transfer
    to ALICE counts for CAROL only (for ALICE it is an incoming pending transfer)."""
    mempool = node.service.mempool
    mempool.add(transfer(ALICE, 2, amount=3_000, fee=1_000))
    mempool.add(transfer(ALICE, 3, amount=4_000, fee=1_500))
    mempool.add(make_transaction(CAROL, CHAIN_ID, 0, 1_200, Transfer(ALICE.address, 9_000)))

    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        return [
            await get_json(client, f"/api/accounts/{ALICE.address}"),
            await get_json(client, f"/api/accounts/{CAROL.address}"),
            await get_json(client, f"/api/accounts/{BOB.address}"),
        ]

    alice, carol, bob = node.call(scenario)
    assert alice["balance"] == node.chain.account(ALICE.address).balance
    assert alice["pending_balance"] == alice["balance"] - (1_000 + 3_000) - (1_500 + 4_000)
    # The transfers to CAROL are pending: not counted for her; her own one is.
    assert carol["pending_balance"] == carol["balance"] - (1_200 + 9_000)
    assert bob["pending_balance"] == bob["balance"]


def test_producer_account_shows_its_bond(node: Node) -> None:
    producer = devnet_key(0).address
    body = node.call(lambda client: get_json(client, f"/api/accounts/{producer}"))
    account = node.chain.account(producer)
    assert body["bond"] == account.bond > 0
    assert body["vrf_public_key"] == account.vrf_public_key.hex()


def test_account_proof_verifies(node: Node) -> None:
    path = f"/api/accounts/{BOB.address}?proof=true"
    body = node.call(lambda client: get_json(client, path))
    proof = body["proof"]
    record = bytes.fromhex(proof["record"])
    value_hash = bytes.fromhex(proof["value_hash"])
    state_root = bytes.fromhex(proof["state_root"])
    # What a light client does: the record hashes to the proven value, the proof leads to the
    # root, the root is the one in the header of the block named, and the record says what the
    # JSON says.
    assert sha256(record) == value_hash
    assert verify_proof(
        state_root,
        bytes.fromhex(proof["tree_key"]),
        value_hash,
        StateProof.decode(bytes.fromhex(proof["proof"])),
    )
    assert node.chain.block(bytes.fromhex(proof["block_hash"])).header.state_root == state_root
    assert proof["block_height"] == 3
    assert Account.decode(record).balance == body["balance"]
    # The same proof does not prove another value.
    assert not verify_proof(
        state_root,
        bytes.fromhex(proof["tree_key"]),
        sha256(record + b"x"),
        StateProof.decode(bytes.fromhex(proof["proof"])),
    )


def test_unknown_account_is_404_with_a_proof_of_absence(node: Node) -> None:
    nobody = PrivateKey(bytes(31) + b"\x07").address

    async def scenario(client: TestClient[Any, Any]) -> tuple[Any, Any]:
        return (
            await get_json(client, f"/api/accounts/{nobody}", 404),
            await get_json(client, f"/api/accounts/{nobody}?proof=1", 404),
        )

    plain, proven = node.call(scenario)
    assert plain == {"error": f"no account {nobody} (it has never been paid)"}
    proof = proven["proof"]
    assert proof["record"] is None and proof["value_hash"] is None
    assert verify_proof(
        bytes.fromhex(proof["state_root"]),
        bytes.fromhex(proof["tree_key"]),
        None,
        StateProof.decode(bytes.fromhex(proof["proof"])),
    )


# -- OpenAPI, metrics -------------------------------------------------------------------------


def _refs(document: Any) -> list[str]:
    if isinstance(document, dict):
        found = [document["$ref"]] if isinstance(document.get("$ref"), str) else []
        return found + [ref for value in document.values() for ref in _refs(value)]
    if isinstance(document, list):
        return [ref for value in document for ref in _refs(value)]
    return []


def _properties(document: Any, name: str) -> set[str]:
    return set(document["components"]["schemas"][name]["properties"])


def test_dht_record_lookup(node: Node, tmp_path: Path) -> None:
    # The node's own plugins, started by the service: the peer network on a free port, and
    # discovery on the UDP port of that number, publishing the peering plugin's record.
    config = load_config(["--devnet", "--datadir", str(tmp_path), "--listen", "127.0.0.1:0"])
    peering = PeeringPlugin(node.service, config, node.chain.genesis, tmp_path)
    discovery = DiscoveryPlugin(peering)
    node.service.add_plugin(peering)
    node.service.add_plugin(discovery)

    async def scenario(client: TestClient[Any, Any]) -> tuple[Any, Any, Any, Any]:
        await node.service.start()
        try:
            return (
                await get_json(client, f"/api/dht/records/{peering.record.node_id.hex()}"),
                await get_json(client, "/api/dht/records/" + "ab" * 32, 404),
                await get_json(client, "/api/status"),
                await get_json(client, "/api/openapi.json"),
            )
        finally:
            await node.service.stop()

    found, missing, status, document = node.call(scenario)
    record = peering.record  # signed again once the port was known
    assert found == {
        "node_id": record.node_id.hex(),
        "public_key": peering.key.public_key.hex(),
        "seq": record.seq,
        "endpoints": [
            {"transport": e.transport.name.lower(), "host": e.host, "port": e.port}
            for e in record.endpoints
        ],
        "wireguard_key": record.wireguard_key.hex(),
        "relay": False,
        "signature": record.signature.hex(),
        "verified": True,
        "encoded": record.encode().hex(),
        "source": "local",
        "hops": 0,
    }
    assert NodeRecord.decode(bytes.fromhex(found["encoded"])) == record
    assert missing == {"error": f"no node record of {'ab' * 32} in the DHT"}
    # Alone, the node holds its own record: the plugin's fields are in the status.
    assert status["dht"] == {"contacts": 0, "records": 1}
    assert status["node_id"] == record.node_id.hex() and status["peers"] == 0
    assert set(found) == _properties(document, "DhtRecord")
    assert set(found["endpoints"][0]) == _properties(document, "Endpoint")
    assert set(status["dht"]) == _properties(document, "Dht")
    operation = document["paths"]["/api/dht/records/{node_id}"]["get"]
    assert {"200", "400", "404", "503"} <= set(operation["responses"])


def test_openapi_document(node: Node) -> None:
    async def scenario(client: TestClient[Any, Any]) -> tuple[Any, Any, Any, Any]:
        return (
            await get_json(client, "/api/openapi.json"),
            await get_json(client, "/api/status"),
            await get_json(client, "/api/blocks/1"),
            await get_json(client, f"/api/accounts/{ALICE.address}?proof=true"),
        )

    document, status, block, account = node.call(scenario)
    assert document["openapi"] == "3.0.3"
    assert document["info"]["title"] == "Pacata node API"
    for route in ROUTES:
        operation = document["paths"][route.path][route.method.lower()]
        assert operation["operationId"] == route.name
        assert str(route.status) in operation["responses"]
        assert ("security" in operation) == route.admin
    for path, operations in document["paths"].items():
        for operation in operations.values():
            placeholders = set(re.findall(r"{(\w+)}", path))
            declared = {p["name"] for p in operation["parameters"] if p["in"] == "path"}
            assert placeholders == declared, path
    schemas = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    payload = schemas["Transaction"]["properties"]["payload"]
    assert {"$ref": "#/components/schemas/TransferPayload"} in payload["oneOf"]
    assert schemas["Transaction"]["properties"]["fee"]["type"] == "integer"
    assert schemas["Header"]["properties"]["state_root"]["type"] == "string"
    # The document describes what the API really answers.
    assert set(status) == _properties(document, "Status")
    assert set(block) == _properties(document, "Block")
    assert set(block["header"]) == _properties(document, "Header")
    assert set(block["transactions"][0]) == _properties(document, "Transaction")
    assert set(account) == _properties(document, "Account")
    assert set(account["proof"]) == _properties(document, "AccountProof")
    assert document["components"]["securitySchemes"]["cookieToken"]["scheme"] == "bearer"


_SAMPLE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*)\})? (?P<value>\S+)$'
)


def parse_metrics(text: str) -> tuple[dict[str, str], dict[str, float]]:
    """A strict reader of the text exposition format: every line is HELP, TYPE or a sample."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            assert len(line.split(" ", 3)) == 4, line
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped")
            assert name not in types, f"TYPE {name} twice"
            types[name] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name = match["name"]
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in types or family in types, f"{name} has no TYPE"
            key = name + (f"{{{match['labels']}}}" if match["labels"] else "")
            samples[key] = float(match["value"])
    return types, samples


def test_metrics(node: Node) -> None:
    async def scenario(client: TestClient[Any, Any]) -> tuple[str, str]:
        await post_json(client, "/api/txs", {"tx": transfer(ALICE, 2).encode().hex()}, 202)
        await post_json(client, "/api/txs", {"tx": "0202"}, 400)
        response = await client.get("/metrics")
        assert response.status == 200
        return response.headers["Content-Type"], await response.text()

    content_type, text = node.call(scenario)
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    types, samples = parse_metrics(text)
    assert types["pacata_chain_height"] == "gauge"
    assert types["pacata_block_import_seconds"] == "histogram"
    assert types["pacata_blocks_produced_total"] == "counter"
    assert samples["pacata_chain_height"] == 3
    assert samples["pacata_mempool_transactions"] == 1
    assert samples["pacata_mempool_bytes"] == transfer(ALICE, 2).size
    # The peer and DHT gauges are the plugins' (tests/node/test_plugins.py): none here.
    assert not any(name.startswith(("pacata_peers", "pacata_dht")) for name in samples)
    assert samples["pacata_producing"] == 0
    assert samples["pacata_blocks_produced_total"] == 0
    assert samples['pacata_transactions_submitted_total{result="accepted"}'] == 1
    assert samples['pacata_transactions_submitted_total{result="rejected"}'] == 1
    assert samples['pacata_api_requests_total{status="2xx"}'] == 1
    assert samples['pacata_api_requests_total{status="4xx"}'] == 1
    buckets = [v for k, v in samples.items() if k.startswith("pacata_block_import_seconds_bucket")]
    assert buckets == sorted(buckets)
    assert (
        samples['pacata_block_import_seconds_bucket{le="+Inf"}']
        == samples["pacata_block_import_seconds_count"]
    )


# -- administration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer " + "f" * 64},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
    ],
)
def test_admin_calls_need_the_cookie_token(node: Node, headers: dict[str, str]) -> None:
    async def scenario(client: TestClient[Any, Any]) -> list[tuple[int, Any, str]]:
        answers = []
        for path, body in (("/api/admin/produce", {"producing": True}), ("/api/admin/stop", {})):
            response = await client.post(path, json=body, headers=headers)
            answers.append(
                (
                    response.status,
                    await response.json(),
                    response.headers.get("WWW-Authenticate", ""),
                )
            )
        return answers

    for status, body, challenge in node.call(scenario):
        assert status == 401
        assert "Authorization: Bearer" in body["error"]
        assert challenge.startswith("Bearer")
    assert node.service.producing is False
    assert not node.service.shutdown_requested.is_set()


def test_admin_produce_with_the_token(node: Node) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def scenario(client: TestClient[Any, Any]) -> list[Any]:
        on = await post_json(client, "/api/admin/produce", {"producing": True}, 200, auth)
        status_on = await get_json(client, "/api/status")
        bad = await post_json(client, "/api/admin/produce", {"producing": "yes"}, 400, auth)
        off = await post_json(client, "/api/admin/produce", {"producing": False}, 200, auth)
        return [on, status_on, bad, off]

    on, status_on, bad, off = node.call(scenario)
    assert on == {"producing": True}
    assert status_on["producing"] is True
    assert bad == {"error": "producing: must be true or false"}
    assert off == {"producing": False}
    assert node.service.producing is False


def test_admin_produce_without_keys_is_409() -> None:
    node = make_node(with_keys=False)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = node.call(
        lambda client: post_json(client, "/api/admin/produce", {"producing": True}, 409, auth)
    )
    assert body == {"error": "this node has no producer keys"}


def test_admin_stop_with_the_token(node: Node) -> None:
    auth = {"Authorization": f"bearer {TOKEN}"}  # the scheme is case-insensitive
    body = node.call(lambda client: post_json(client, "/api/admin/stop", {}, 202, auth))
    assert body == {"stopping": True}
    assert node.service.shutdown_requested.is_set()


def test_read_calls_need_no_token(node: Node) -> None:
    async def scenario(client: TestClient[Any, Any]) -> list[int]:
        paths = ["/api/status", "/api/blocks", "/api/mempool", "/api/openapi.json", "/metrics"]
        return [(await client.get(path)).status for path in paths]

    assert node.call(scenario) == [200] * 5


def test_a_short_admin_token_is_refused(node: Node) -> None:
    with pytest.raises(ValueError, match="at least 32"):
        create_app(node.service, "short")
