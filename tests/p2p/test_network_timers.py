"""The peer network's timer sleeps: once `handle_timer(now)` ran (and the adapter took what it
sends and dials), the next deadline is after `now`. A deadline that stays in the past is a node
burning a core while nothing happens (it did: a node that accepted a peer learned the peer's own
address and kept "dialing" it back to back).

`MemoryNetwork.advance` asserts the rule after every timer it fires; here hypothesis drives
nodes that advertise their addresses through random connections, disconnections, blocks,
transactions, unreachable bootnodes, protocol violations and long idle stretches.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacata.chain.blocks import Block
from pacata.chain.genesis import shipped_genesis
from pacata.chain.headers import BlockHeader
from pacata.chain.transactions import Transaction
from pacata.errors import MempoolRejected
from pacata.p2p.peers import DialAddress, PeerLimits
from pacata.testing.ledger import ChainFactory
from pacata.testing.peer_network import MemoryNetwork, MemoryNode

GENESIS = shipped_genesis("devnet")
NODES = 4


def _history() -> tuple[list[Block], list[Transaction]]:
    factory = ChainFactory(seed=11)
    blocks = factory.blocks(6, transfers_per_block=1)
    return blocks, factory.random_transfers(6)


BLOCKS, TRANSACTIONS = _history()

events = st.one_of(
    st.tuples(st.just("connect"), st.integers(0, NODES - 1), st.integers(0, NODES - 1)),
    st.tuples(st.just("disconnect"), st.integers(0, 50)),
    st.tuples(st.just("block"), st.integers(0, NODES - 1)),
    st.tuples(st.just("transaction"), st.integers(0, NODES - 1), st.integers(0, 5)),
    st.tuples(st.just("bootnode"), st.integers(0, NODES - 1), st.integers(1, 3)),
    st.tuples(st.just("garbage"), st.integers(0, 50)),
    st.tuples(st.just("advance"), st.floats(0.0, 200.0)),
)


def _network() -> MemoryNetwork:
    net = MemoryNetwork(GENESIS)
    limits = PeerLimits(max_outbound=2, backoff_base=1.0, backoff_max=30.0, ban_seconds=90.0)
    for _ in range(NODES):
        net.add_node({"peers": limits}, advertise=True)
    return net


def _links(net: MemoryNetwork) -> list[tuple[int, int]]:
    return sorted(net.links)


def _connected(net: MemoryNetwork, a: MemoryNode, b: MemoryNode) -> bool:
    return any(i == a.index and j == b.index for (i, _), (j, _) in net.links.items())


def _run(net: MemoryNetwork, event: tuple[object, ...]) -> None:
    nodes = net.nodes
    match event:
        case ("connect", int(i), int(j)) if i != j and not _connected(net, nodes[i], nodes[j]):
            net.connect(nodes[i], nodes[j])
        case ("disconnect", int(k)) if net.links:
            node_index, peer = _links(net)[k % len(net.links)]
            net.disconnect(nodes[node_index - 1], peer)
        case ("garbage", int(k)) if net.links:
            node_index, peer = _links(net)[k % len(net.links)]
            nodes[node_index - 1].network.receive_data(peer, b"\xff" * 64, net.now)
            net.settle()
        case ("block", int(i)):
            node = nodes[i]
            if node.chain.height < len(BLOCKS):
                block = BLOCKS[node.chain.height]
                node.ledger.import_block(block, block.encode())
                node.network.chain_changed(net.now)
                net.settle()
        case ("transaction", int(i), int(t)):
            node, tx = nodes[i], TRANSACTIONS[t]
            try:
                node.ledger.add_transaction(tx)
            except MempoolRejected:
                return
            node.network.announce_transaction(tx.txid, net.now)
            net.settle()
        case ("bootnode", int(i), int(host)):
            nodes[i].network.add_bootnode(DialAddress(f"10.9.9.{host}", 9741))
        case ("advance", float(seconds)):
            net.advance(seconds)
    net.take_dials()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(events, max_size=25))
def test_no_deadline_stays_in_the_past_once_its_timer_ran(script: list[tuple[object, ...]]) -> None:
    net = _network()
    for event in script:
        _run(net, event)
    # Then a long quiet hour: keepalives, idle timeouts, back-offs and ban expiries all come due.
    net.advance(3_600.0)


def test_a_node_that_accepted_an_advertising_peer_sleeps() -> None:
    # The case found by hand: B dials A; A learns B's address from B's record while B is
    # connected. A must not treat that address as due for dialing on every wake-up.
    net = _network()
    a, b = net.nodes[0], net.nodes[1]
    net.connect(b, a)
    net.take_dials()
    wake_ups = _count_timer_calls(net, 600.0)
    # Keepalives every 30 s on each side of one link: a few dozen wake-ups in ten minutes,
    # not an unbounded spin.
    assert wake_ups <= 60
    assert a.network.peer_count == b.network.peer_count == 1


def _count_timer_calls(net: MemoryNetwork, seconds: float) -> int:
    calls = 0
    for node in net.nodes:
        original = node.network.handle_timer

        def counted(now: float, original: object = original) -> None:
            nonlocal calls
            calls += 1
            original(now)  # type: ignore[operator]

        node.network.handle_timer = counted  # type: ignore[method-assign]
    net.advance(seconds)
    return calls


@pytest.fixture
def hash_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    calls = [0]
    real = BlockHeader.hash

    def counting(header: BlockHeader) -> bytes:
        calls[0] += 1
        return real.fget(header)  # type: ignore[attr-defined, no-any-return]

    monkeypatch.setattr(BlockHeader, "hash", property(counting))
    yield calls


def test_the_tip_hash_is_not_recomputed_on_every_wake_up(hash_calls: list[int]) -> None:
    net = _network()
    a, b = net.nodes[0], net.nodes[1]
    net.connect(b, a)
    block = BLOCKS[0]
    a.ledger.import_block(block, block.encode())
    a.network.chain_changed(net.now)
    net.settle()
    net.advance(1.0)
    hash_calls[0] = 0
    for second in range(2, 300):
        for node in (a, b):
            node.network.handle_timer(float(second))
    net.settle()
    assert hash_calls[0] == 0
