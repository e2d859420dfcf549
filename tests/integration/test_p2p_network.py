"""Real `pacatad` processes on loopback: five nodes from one bootnode gossip a transaction
and its block; a node started after 1,000 blocks catches up; misbehaving peers are banned
while honest nodes carry on.

Every wait polls a condition with a deadline; every process is killed and reaped in `finally`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import load_genesis
from pacata.chain.hashing import sha256
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import PrivateKey
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.transactions import Transfer, make_transaction
from pacata.p2p.connection import ConnectionClosed
from pacata.p2p.framing import encode_frame
from pacata.p2p.messages import BlockAnnouncement, BlockData, DisconnectReason, GetBlocks, InvBlocks
from pacata.testing.ledger import ChainFactory
from pacata.testing.node_process import (
    NodeProcess,
    free_port,
    write_producer_key,
    write_test_genesis,
)
from pacata.testing.protocol_client import PeerRefused, ProtocolClient

pytestmark = pytest.mark.slow

CHAIN_ID = "pacata-p2p-test-1"


@contextmanager
def nodes() -> Iterator[list[NodeProcess]]:
    started: list[NodeProcess] = []
    try:
        yield started
    finally:
        for node in started:
            node.close()


def genesis_file(tmp_path: Path, age_ms: int = 5_000) -> Path:
    now_ms = time.time_ns() // 1_000_000
    return write_test_genesis(
        tmp_path / "genesis.json", chain_id=CHAIN_ID, timestamp_ms=now_ms - age_ms
    )


def start(
    started: list[NodeProcess], tmp_path: Path, genesis: Path, name: str, **kwargs: object
) -> tuple[NodeProcess, int]:
    port = free_port()
    node = NodeProcess(
        name,
        genesis=genesis,
        datadir=tmp_path / name,
        listen=f"127.0.0.1:{port}",
        log_dir=tmp_path,
        **kwargs,  # type: ignore[arg-type]
    )
    started.append(node)
    return node, port


def test_five_nodes_from_one_bootnode_gossip_a_transaction_into_a_block(tmp_path: Path) -> None:
    genesis = genesis_file(tmp_path)
    write_producer_key(tmp_path / "boot", 0)
    with nodes() as started:
        boot, boot_port = start(started, tmp_path, genesis, "boot", produce=True)
        boot.wait_ready()
        others = [
            start(started, tmp_path, genesis, f"node{i}", bootnodes=[f"127.0.0.1:{boot_port}"])[0]
            for i in range(1, 5)
        ]
        everyone = [boot, *others]
        boot.wait_for("a few blocks", lambda: boot.status()["height"] >= 2)
        for node in others:
            node.wait_for(
                "a peer and the chain",
                lambda n=node: n.status()["peers"] >= 1 and n.status()["height"] >= 2,
            )
        # Peer exchange: the nodes find each other, not just the bootnode.
        for node in others:
            node.wait_for("a second peer", lambda n=node: n.status()["peers"] >= 2)
        assert boot.get("/api/peers")["count"] == 4

        # Production paused, so the transaction can be seen waiting in every mempool.
        assert boot.admin("/api/admin/produce", {"producing": False}) == {"producing": False}
        sender = devnet_key(3)
        recipient = PrivateKey(sha256(b"p2p recipient")).address
        nonce = int(others[2].get(f"/api/accounts/{sender.address}")["pending_nonce"])
        tx = make_transaction(sender, CHAIN_ID, nonce, 1_000, Transfer(recipient, 5_000))
        submitted = others[2].request("POST", "/api/txs", {"tx": tx.encode().hex()})
        assert submitted["txid"] == tx.txid.hex()
        for node in everyone:
            node.wait_for(
                "the transaction in the mempool",
                lambda n=node: any(
                    t["txid"] == tx.txid.hex() for t in n.get("/api/mempool")["transactions"]
                ),
            )
        boot.admin("/api/admin/produce", {"producing": True})
        for node in everyone:
            found = node.wait_for(
                "the transaction in a block",
                lambda n=node: (
                    (r := n.get(f"/api/txs/{tx.txid.hex()}")).get("status") == "confirmed" and r
                ),
            )
            assert found["block_height"] >= 1
            node.wait_for("an empty mempool", lambda n=node: n.get("/api/mempool")["count"] == 0)
        assert {n.get(f"/api/blocks/{found['block_height']}")["hash"] for n in everyone} == {
            found["block_hash"]
        }


def build_chain_datadir(datadir: Path, genesis: Path, blocks: int) -> tuple[int, str]:
    """A data directory holding `blocks` blocks made fast by ChainFactory (no slot waits)."""
    store = LevelDBStore(datadir / "chain")
    try:
        chain = Chain(store, load_genesis(genesis))
        factory = ChainFactory(chain)
        for i in range(blocks):
            factory.next_block(factory.random_transfers(1 if i % 4 == 0 else 0))
        return chain.height, chain.tip.hash.hex()
    finally:
        store.close()


def test_a_node_started_after_1000_blocks_catches_up(tmp_path: Path) -> None:
    # The genesis is old enough for 1,000 one-second slots to have passed.
    genesis = genesis_file(tmp_path, age_ms=3_600_000)
    datadir = tmp_path / "seed"
    datadir.mkdir(mode=0o700)
    height, tip = build_chain_datadir(datadir, genesis, 1_000)
    assert height == 1_000
    with nodes() as started:
        seed, seed_port = start(started, tmp_path, genesis, "seed")
        seed.wait_ready()
        assert seed.status()["height"] == 1_000
        late, _ = start(started, tmp_path, genesis, "late", bootnodes=[f"127.0.0.1:{seed_port}"])
        late.wait_for("catching up", lambda: late.status()["tip"] == tip, deadline_s=60.0)
        status = late.status()
        assert status["height"] == 1_000 and status["peers"] == 1
        assert status["sync"]["target_height"] == 1_000
        assert status["sync"]["downloaded"] == 1_000
        assert not status["syncing"]
        assert "sync: " in late.log_text()


def bad_block_on(tip: dict[str, object], genesis_timestamp_ms: int) -> Block:
    """A block on the node's tip, well formed and signed, by a key that is not a producer."""
    impostor = PrivateKey(sha256(b"impostor producer"))
    slot = int(tip["tip_slot"]) + 1  # type: ignore[call-overload]
    header = BlockHeader(
        height=int(tip["height"]) + 1,  # type: ignore[call-overload]
        prev_hash=bytes.fromhex(str(tip["tip"])),
        slot=slot,
        timestamp_ms=genesis_timestamp_ms + slot * 1_000,
        producer=impostor.public_key,
        tx_root=bytes(32),
        state_root=bytes(32),
    ).signed(impostor)
    return Block(header, ())


def test_misbehaving_peers_are_banned_while_honest_nodes_carry_on(tmp_path: Path) -> None:
    genesis = genesis_file(tmp_path)
    genesis_timestamp = load_genesis(genesis).timestamp_ms
    write_producer_key(tmp_path / "seed", 0)
    with nodes() as started:
        seed, seed_port = start(started, tmp_path, genesis, "seed", produce=True)
        seed.wait_ready()
        honest, _ = start(
            started, tmp_path, genesis, "honest", bootnodes=[f"127.0.0.1:{seed_port}"]
        )
        honest.wait_for("the honest peer", lambda: seed.status()["peers"] == 1)
        genesis_hash = bytes.fromhex(seed.get("/api/blocks/0")["hash"])

        async def misbehave() -> None:
            liar_key = PrivateKey(sha256(b"liar"))
            liar = await ProtocolClient.connect(
                "127.0.0.1",
                seed_port,
                key=liar_key,
                chain_id=CHAIN_ID,
                genesis_hash=genesis_hash,
                source_host="127.0.0.2",
            )
            block = bad_block_on(seed.status(), genesis_timestamp)
            liar.send(InvBlocks((BlockAnnouncement(block.hash, block.height),)))
            outcome = await liar.next_message()
            while not isinstance(outcome, ConnectionClosed | GetBlocks):
                outcome = await liar.next_message()
            assert isinstance(outcome, GetBlocks) and outcome.hashes == (block.hash,)
            liar.send(BlockData(block.encode()))
            closed = await liar.next_message()
            while not isinstance(closed, ConnectionClosed):
                closed = await liar.next_message()
            assert closed.reason == DisconnectReason.BANNED, closed
            liar.close()
            with pytest.raises(PeerRefused):
                await ProtocolClient.connect(
                    "127.0.0.1",
                    seed_port,
                    key=liar_key,
                    chain_id=CHAIN_ID,
                    genesis_hash=genesis_hash,
                    source_host="127.0.0.2",
                )

            babbler = await ProtocolClient.connect(
                "127.0.0.1",
                seed_port,
                key=PrivateKey(sha256(b"babbler")),
                chain_id=CHAIN_ID,
                genesis_hash=genesis_hash,
                source_host="127.0.0.3",
            )
            babbler.send_raw(encode_frame(b"\x99 not a message"))
            closed = await babbler.next_message()
            while not isinstance(closed, ConnectionClosed):
                closed = await babbler.next_message()
            assert closed.reason == DisconnectReason.PROTOCOL_VIOLATION
            babbler.close()
            with pytest.raises(PeerRefused):
                await ProtocolClient.connect(
                    "127.0.0.1",
                    seed_port,
                    key=PrivateKey(sha256(b"babbler 2")),
                    chain_id=CHAIN_ID,
                    genesis_hash=genesis_hash,
                    source_host="127.0.0.3",
                )

        asyncio.run(misbehave())
        peers = seed.get("/api/peers")
        subjects = {ban["subject"] for ban in peers["bans"]}
        assert {"host 127.0.0.2", "host 127.0.0.3"} <= subjects
        assert f"node {sha256(PrivateKey(sha256(b'liar')).public_key).hex()}" in subjects
        assert peers["bans_total"] == 2
        assert "pacata_peers_banned 4" in seed.request_text("/metrics")
        # The honest node is still connected and still follows the chain.
        height = honest.status()["height"]
        honest.wait_for("more blocks", lambda: honest.status()["height"] >= height + 2)
        assert seed.status()["peers"] == 1
