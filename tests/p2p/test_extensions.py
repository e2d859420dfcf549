"""Sub-protocols on the peer link (pacata/p2p/extensions.py): messages between two nodes over
real TLS and in memory, unknown sub-protocols ignored, malformed ones scored down."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from pacata.chain.genesis import shipped_genesis
from pacata.errors import DecodeError, RemoteProtocolError
from pacata.p2p.aio import ListenAddress
from pacata.p2p.extensions import ExtensionPeer, SubProtocol
from pacata.p2p.messages import Extension, decode_message
from pacata.p2p.network import PeerNetwork
from pacata.p2p.peers import OFFENCE_POINTS, DialAddress, Offence
from pacata.testing.peer_network import MemoryNetwork

from .test_transport import make_node, wait_until

GENESIS = shipped_genesis("devnet")
PING = b"ping"


def _counter(payload: bytes) -> int:
    """The test sub-protocol's codec: a 4-byte big-endian counter, nothing else."""
    if len(payload) != 4:
        raise DecodeError(f"a counter is 4 bytes, not {len(payload)}")
    return int.from_bytes(payload, "big")


@dataclass
class Counter:
    """Answers each counter with the next one until `stop_at`; remembers what it heard."""

    stop_at: int = 6
    heard: list[tuple[bytes, int]] = field(default_factory=list)

    def handle(self, peer: ExtensionPeer, value: int, now: float) -> None:
        if value == 13:
            raise RemoteProtocolError("13 is not a counter value")
        self.heard.append((peer.node_id, value))
        if value < self.stop_at:
            peer.send((value + 1).to_bytes(4, "big"))

    def install(self, network: PeerNetwork) -> None:
        network.extensions.register(SubProtocol("test/counter", _counter, self.handle, 4))


def test_the_extension_message_round_trips_and_checks_its_name() -> None:
    message = Extension("vpn/receipts", b"\x00" * 10)
    assert decode_message(message.encode_message()) == message
    with pytest.raises(ValueError, match="not a sub-protocol name"):
        Extension("VPN receipts", b"")
    bad_name = bytearray(message.encode_message())
    bad_name[2] = ord("V")  # the name's first letter, after the kind and its length
    with pytest.raises(DecodeError, match="not a sub-protocol name"):
        decode_message(bytes(bad_name))


def test_two_nodes_count_to_six_over_a_sub_protocol() -> None:
    net = MemoryNetwork(GENESIS)
    a, b = net.add_node(), net.add_node()
    counters = Counter(), Counter()
    counters[0].install(a.network)
    counters[1].install(b.network)
    net.connect(a, b)
    assert a.network.send_extension(b.network.node_id, "test/counter", (1).to_bytes(4, "big"))
    net.settle()
    assert [value for _, value in counters[1].heard] == [1, 3, 5]
    assert [value for _, value in counters[0].heard] == [2, 4, 6]
    assert {node for node, _ in counters[0].heard} == {b.network.node_id}
    # Not connected: nothing is sent.
    assert not a.network.send_extension(bytes(32), "test/counter", b"\x00" * 4)


def test_an_unknown_sub_protocol_is_ignored_and_costs_nothing() -> None:
    net = MemoryNetwork(GENESIS)
    a, b = net.add_node(), net.add_node()
    net.connect(a, b)
    a.network.send_extension(b.network.node_id, "vpn/rendezvous", b"anything")
    net.settle()
    assert b.network.extensions_ignored == 1
    assert b.network.peers.score(a.network.node_id, net.now) == 0
    assert b.network.peer_count == 1


def test_malformed_messages_score_the_sender_down_until_it_is_banned() -> None:
    net = MemoryNetwork(GENESIS)
    a, b = net.add_node(), net.add_node()
    Counter().install(b.network)
    net.connect(a, b)
    points = OFFENCE_POINTS[Offence.MALFORMED_EXTENSION]
    offender = a.network.node_id

    a.network.send_extension(b.network.node_id, "test/counter", b"\x01\x02\x03")
    net.settle()
    assert b.network.peers.score(offender, net.now) == pytest.approx(points)
    assert b.network.peer_count == 1  # scored down, not yet banned

    # A well-formed message that breaks the sub-protocol's rule costs the same.
    a.network.send_extension(b.network.node_id, "test/counter", (13).to_bytes(4, "big"))
    net.settle()
    assert b.network.peers.score(offender, net.now) == pytest.approx(2 * points)

    # Over its bound (the payload is larger than the codec's 4 bytes): the same again.
    for _ in range(2):
        a.network.send_extension(b.network.node_id, "test/counter", b"\x00" * 5)
        net.settle()
    assert b.network.peers.is_banned_node(offender, net.now)
    assert b.network.peer_count == 0


def test_a_sub_protocol_between_two_nodes_over_tls() -> None:
    async def scenario() -> tuple[list[tuple[bytes, int]], list[tuple[bytes, int]], float]:
        seed, _ = make_node("extension seed")
        dialer, _ = make_node("extension dialer")
        counters = Counter(), Counter()
        counters[0].install(seed.network)
        counters[1].install(dialer.network)
        try:
            await seed.start(ListenAddress("127.0.0.1", 0))
            dialer.network.add_bootnode(DialAddress("127.0.0.1", seed.listen_port or 0))
            await dialer.start(None)
            await wait_until("the handshake", lambda: seed.network.peer_count == 1)
            await wait_until("the handshake", lambda: dialer.network.peer_count == 1)
            dialer.network.send_extension(
                seed.network.node_id, "test/counter", (1).to_bytes(4, "big")
            )
            dialer.flush()
            await wait_until("the count to six", lambda: len(counters[1].heard) == 3)
            # And a malformed one from the dialer costs it at the seed.
            dialer.network.send_extension(seed.network.node_id, "test/counter", b"\xff")
            dialer.flush()
            loop = asyncio.get_running_loop()
            node_id = dialer.network.node_id
            await wait_until(
                "the seed to score the dialer",
                lambda: seed.network.peers.score(node_id, loop.time()) > 0,
            )
            score = seed.network.peers.score(node_id, loop.time())
            return counters[0].heard, counters[1].heard, score
        finally:
            await dialer.stop()
            await seed.stop()

    at_seed, at_dialer, score = asyncio.run(scenario())
    assert [value for _, value in at_seed] == [1, 3, 5]
    assert [value for _, value in at_dialer] == [2, 4, 6]
    assert score > 0
