"""The peer protocol's pinned vectors (tests/vectors/consensus/p2p.json, docs/wire-format.md
§Consensus vectors): node records, one message of every kind, a frame, one DHT packet of every
kind, and the WireGuard key a node derives from its node key.

Nodes of different versions must read each other's bytes, so these encodings are pinned like
the ledger's: each value is rebuilt here from the stored inputs (keys are SHA-256 of their label)
and compared with the literal, and each stored encoding is decoded, compared with what the
inputs build, and encoded again. The expected values are only read from the JSON file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.headers import BlockHeader
from pacata.chain.keys import PrivateKey, verify_signature
from pacata.p2p import dht_messages as dht
from pacata.p2p import messages as p2p
from pacata.p2p.framing import FrameDecoder, encode_frame
from pacata.p2p.records import Endpoint, NodeRecord, Transport

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "consensus" / "p2p.json").read_text(
        "utf-8"
    )
)


def key_of(label: str) -> PrivateKey:
    return PrivateKey(hashlib.sha256(label.encode()).digest())


def hx(value: str) -> bytes:
    return bytes.fromhex(value)


def record_from(fields: dict[str, Any]) -> NodeRecord:
    return NodeRecord.create(
        key_of(fields["signer"]),
        fields["seq"],
        tuple(
            Endpoint(Transport[e["transport"]], e["host"], e["port"]) for e in fields["endpoints"]
        ),
        hx(fields["wireguard_key"]),
        relay=fields["relay"],
    )


RECORDS = [record_from(fields) for fields in VECTORS["node_records"]]


def record_ref(reference: str) -> NodeRecord:
    """A record named as `node_records[i]` in the vectors."""
    return RECORDS[int(reference.removeprefix("node_records[").removesuffix("]"))]


def hello_from(f: dict[str, Any]) -> p2p.Hello:
    binding = p2p.TlsBinding(hx(f["local_certificate"]), hx(f["peer_certificate"]))
    hello = p2p.Hello(
        f["protocol_version"],
        f["chain_id"],
        hx(f["genesis_hash"]),
        f["tip_height"],
        hx(f["tip_hash"]),
        record_ref(f["record"]),
    )
    role = p2p.Role[f["role"]]
    assert hello.signing_digest(role, binding).hex() == f["signing_digest"]
    return hello.signed(key_of(f["signer"]), role, binding)


def byte_strings(values: list[str]) -> tuple[bytes, ...]:
    return tuple(hx(v) for v in values)


MESSAGES: dict[str, Callable[[dict[str, Any]], p2p.Message]] = {
    "HELLO": hello_from,
    "DISCONNECT": lambda f: p2p.Disconnect(p2p.DisconnectReason[f["reason"]], f["detail"]),
    "PING": lambda f: p2p.Ping(f["nonce"]),
    "PONG": lambda f: p2p.Pong(f["nonce"]),
    "INV_BLOCKS": lambda f: p2p.InvBlocks(
        tuple(p2p.BlockAnnouncement(hx(b["block_hash"]), b["height"]) for b in f["blocks"])
    ),
    "INV_TRANSACTIONS": lambda f: p2p.InvTransactions(byte_strings(f["txids"])),
    "GET_BLOCKS": lambda f: p2p.GetBlocks(byte_strings(f["hashes"])),
    "BLOCK_DATA": lambda f: p2p.BlockData(hx(f["block"])),
    "GET_TRANSACTIONS": lambda f: p2p.GetTransactions(byte_strings(f["txids"])),
    "TRANSACTIONS": lambda f: p2p.Transactions(byte_strings(f["transactions"])),
    "NOT_FOUND": lambda f: p2p.NotFound(p2p.ItemKind[f["item_kind"]], byte_strings(f["hashes"])),
    "GET_HEADERS": lambda f: p2p.GetHeaders(byte_strings(f["locator"]), f["max_count"]),
    "HEADERS": lambda f: p2p.Headers(tuple(BlockHeader.decode(hx(h)) for h in f["headers"])),
    "GET_PEERS": lambda f: p2p.GetPeers(),
    "PEERS": lambda f: p2p.Peers(tuple(record_ref(r) for r in f["records"])),
    "EXTENSION": lambda f: p2p.Extension(f["protocol"], hx(f["payload"])),
}


def address(value: list[Any]) -> tuple[str, int]:
    host, port = value
    return str(host), int(port)


DHT_BODIES: dict[str, Callable[[dict[str, Any]], dht.Body]] = {
    "PING": lambda f: dht.Ping(),
    "PONG": lambda f: dht.Pong(address(f["observed"])),
    "FIND_NODE": lambda f: dht.FindNode(hx(f["target"])),
    "NODES": lambda f: dht.Nodes(
        f["part"],
        f["parts"],
        tuple(dht.Contact(hx(c["node_id"]), address(c["address"])) for c in f["contacts"]),
    ),
    "FIND_VALUE": lambda f: dht.FindValue(hx(f["key"])),
    "VALUE": lambda f: dht.Value(hx(f["key"]), record_ref(f["value"]).encode()),
    "STORE": lambda f: dht.Store(hx(f["key"]), record_ref(f["value"]).encode()),
    "STORED": lambda f: dht.Stored(hx(f["key"]), f["accepted"]),
}


@pytest.mark.parametrize(
    ("fields", "built"),
    list(zip(VECTORS["node_records"], RECORDS, strict=True)),
    ids=[fields["signer"] for fields in VECTORS["node_records"]],
)
def test_node_record_vector(fields: dict[str, Any], built: NodeRecord) -> None:
    assert built.public_key.hex() == fields["public_key"]
    assert built.signing_digest().hex() == fields["signing_digest"]
    assert built.encode().hex() == fields["encoding"]
    assert built.node_id.hex() == fields["node_id"]
    decoded = NodeRecord.decode(hx(fields["encoding"]))
    assert decoded == built
    assert decoded.encode().hex() == fields["encoding"]
    assert decoded.verify()


def test_one_message_of_every_kind() -> None:
    kinds = sorted(entry["kind"] for entry in VECTORS["messages"])
    assert kinds == sorted(kind.name for kind in p2p.MessageKind)


@pytest.mark.parametrize("entry", VECTORS["messages"], ids=lambda e: e["kind"])
def test_message_vector(entry: dict[str, Any]) -> None:
    built = MESSAGES[entry["kind"]](entry["fields"])
    assert built.kind.name == entry["kind"]
    assert built.encode_message().hex() == entry["encoding"]
    decoded = p2p.decode_message(hx(entry["encoding"]))
    assert decoded == built
    assert decoded.encode_message().hex() == entry["encoding"]


def test_hello_vector_verifies_at_the_receiver() -> None:
    entry = next(e for e in VECTORS["messages"] if e["kind"] == "HELLO")
    hello = p2p.decode_message(hx(entry["encoding"]))
    assert isinstance(hello, p2p.Hello)
    fields = entry["fields"]
    # The receiver sees the sender's certificates the other way round.
    receiver_view = p2p.TlsBinding(hx(fields["peer_certificate"]), hx(fields["local_certificate"]))
    assert hello.verify(p2p.Role[fields["role"]], receiver_view)


def test_frame_vector() -> None:
    frame = VECTORS["frame"]
    assert encode_frame(hx(frame["payload"])).hex() == frame["encoding"]
    assert FrameDecoder().feed(hx(frame["encoding"])) == [hx(frame["payload"])]


def test_one_dht_packet_of_every_kind() -> None:
    kinds = sorted(entry["kind"] for entry in VECTORS["dht"]["packets"])
    assert kinds == sorted(kind.name for kind in dht.MessageKind)


@pytest.mark.parametrize("entry", VECTORS["dht"]["packets"], ids=lambda e: e["kind"])
def test_dht_packet_vector(entry: dict[str, Any]) -> None:
    signer = key_of(VECTORS["dht"]["signer"])
    request_id = hx(VECTORS["dht"]["request_id"])
    body = DHT_BODIES[entry["kind"]](entry["fields"])
    unsigned = dht.DhtPacket(request_id, signer.public_key, body)
    assert unsigned.signing_digest().hex() == entry["signing_digest"]
    assert dht.DhtPacket.signed(signer, request_id, body).hex() == entry["encoding"]

    decoded = dht.DhtPacket.decode(hx(entry["encoding"]))
    assert (decoded.request_id, decoded.sender_public_key, decoded.body) == (
        request_id,
        signer.public_key,
        body,
    )
    assert decoded.encode().hex() == entry["encoding"]
    assert dht.DhtPacket.open(hx(entry["encoding"]), verify_signature) == decoded
