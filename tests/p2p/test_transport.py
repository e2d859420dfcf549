"""The asyncio TLS transport over loopback with real chains: sync, wrong chain, a bad peer.

Every wait is for a condition with a deadline; every transport is stopped in `finally`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

import pytest

from pacata.chain.chain import Chain
from pacata.chain.genesis import shipped_genesis
from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.chain.kvstore import MemoryStore
from pacata.chain.mempool import Mempool
from pacata.p2p.aio import ListenAddress, PeerTransport
from pacata.p2p.chain_ledger import ChainLedger
from pacata.p2p.connection import ConnectionClosed, HandshakeCompleted, PeerConnection
from pacata.p2p.framing import encode_frame
from pacata.p2p.messages import PROTOCOL_VERSION, DisconnectReason, Hello, Role, TlsBinding
from pacata.p2p.network import NetworkConfig, PeerNetwork
from pacata.p2p.peers import DialAddress
from pacata.p2p.records import NodeRecord
from pacata.p2p.tls import TlsIdentity, certificate_hash
from pacata.testing.ledger import ChainFactory, with_params
from pacata.testing.peer_network import FAR_FUTURE_MS

GENESIS = shipped_genesis("devnet")
DEADLINE_S = 10.0


def make_node(name: str, genesis=GENESIS) -> tuple[PeerTransport, ChainLedger]:  # type: ignore[no-untyped-def]
    key = PrivateKey(sha256(name.encode()))
    chain = Chain(MemoryStore(), genesis)
    ledger = ChainLedger(chain, Mempool(chain), lambda: FAR_FUTURE_MS)
    network = PeerNetwork(ledger, NetworkConfig(key, NodeRecord.create(key, 1, (), bytes(32))))
    return PeerTransport(network), ledger


async def wait_until(what: str, condition: Callable[[], bool]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"no {what} within {DEADLINE_S} s")
        await asyncio.sleep(0.01)


def test_a_fresh_node_syncs_over_tls() -> None:
    blocks = ChainFactory().blocks(60, transfers_per_block=2)

    async def scenario() -> None:
        seed, seed_ledger = make_node("seed")
        fresh, fresh_ledger = make_node("fresh")
        for block in blocks:
            seed_ledger.import_block(block, block.encode())
        try:
            await seed.start(ListenAddress("127.0.0.1", 0))
            assert seed.listen_port
            fresh.network.add_bootnode(DialAddress("127.0.0.1", seed.listen_port))
            await fresh.start(None)
            await wait_until("sync", lambda: fresh_ledger.chain.height == 60)
            assert fresh.network.peer_count == 1 and seed.network.peer_count == 1
        finally:
            await fresh.stop()
            await seed.stop()

    asyncio.run(scenario())


def test_a_node_of_another_chain_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    other = with_params(GENESIS, chain_id="pacata-other-1")

    async def scenario() -> None:
        seed, _ = make_node("seed")
        stranger, _ = make_node("stranger", other)
        try:
            await seed.start(ListenAddress("127.0.0.1", 0))
            assert seed.listen_port
            stranger.network.add_bootnode(DialAddress("127.0.0.1", seed.listen_port))
            await stranger.start(None)
            await wait_until(
                "refusal",
                lambda: "of another chain" in caplog.text and seed.network.peer_count == 0,
            )
            assert stranger.network.peer_count == 0
        finally:
            await stranger.stop()
            await seed.stop()

    with caplog.at_level("WARNING", logger="pacata.p2p"):
        asyncio.run(scenario())
    assert "pacata-other-1" in caplog.text


async def raw_client(
    port: int, source: str, key: PrivateKey
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, PeerConnection]:
    """A test client speaking the real protocol through the real connection code."""
    identity = TlsIdentity.generate()
    reader, writer = await asyncio.open_connection(
        "127.0.0.1",
        port,
        ssl=identity.client_context(),
        server_hostname="",
        local_addr=(source, 0),
    )
    ssl_object = writer.get_extra_info("ssl_object")
    binding = TlsBinding(identity.certificate_hash, certificate_hash(ssl_object.getpeercert(True)))
    chain = Chain(MemoryStore(), GENESIS)
    hello = Hello(
        PROTOCOL_VERSION,
        GENESIS.chain_id,
        chain.genesis_hash,
        0,
        chain.genesis_hash,
        NodeRecord.create(key, 1, (), bytes(32)),
    )
    connection = PeerConnection(key=key, hello=hello, role=Role.INITIATOR, binding=binding, now=0.0)
    writer.write(connection.data_to_send())
    while not connection.is_established:
        data = await asyncio.wait_for(reader.read(65536), DEADLINE_S)
        assert data, "closed during the handshake"
        connection.receive_data(data, 0.0)
    assert isinstance(connection.next_event(), HandshakeCompleted)
    return reader, writer, connection


def test_a_garbage_sender_is_banned_and_cannot_come_back() -> None:
    async def scenario() -> None:
        seed, _ = make_node("seed")
        key = PrivateKey(sha256(b"garbage sender"))
        try:
            await seed.start(ListenAddress("127.0.0.1", 0))
            assert seed.listen_port
            reader, writer, connection = await raw_client(seed.listen_port, "127.0.0.9", key)
            await wait_until("the peer", lambda: seed.network.peer_count == 1)
            writer.write(encode_frame(b"\xee garbage"))
            closed: ConnectionClosed | None = None
            while closed is None:
                data = await asyncio.wait_for(reader.read(65536), DEADLINE_S)
                if not data:
                    break
                connection.receive_data(data, 0.0)
                while (event := connection.next_event()) is not None:
                    if isinstance(event, ConnectionClosed):
                        closed = event
            assert closed is not None and closed.reason == DisconnectReason.PROTOCOL_VIOLATION
            writer.close()
            assert seed.network.peers.is_banned_node(
                sha256(key.public_key), seed.network.peers.limits.ban_seconds
            )
            bans = seed.network.peers.bans(seed.now())
            assert {b.subject for b in bans} == {
                f"node {sha256(key.public_key).hex()}",
                "host 127.0.0.9",
            }
            with pytest.raises(
                (ConnectionError, ssl.SSLError, AssertionError, asyncio.IncompleteReadError)
            ):
                await raw_client(seed.listen_port, "127.0.0.9", key)
        finally:
            await seed.stop()

    asyncio.run(scenario())
