"""Gossip: the engine alone, then transactions and blocks across real nodes in memory."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.chain.genesis import shipped_genesis
from pacata.chain.hashing import sha256
from pacata.p2p.gossip import BoundedSet, Gossip, GossipLimits
from pacata.p2p.messages import (
    BlockAnnouncement,
    GetBlocks,
    GetTransactions,
    InvBlocks,
    InvTransactions,
    ItemKind,
)
from pacata.testing.ledger import ChainFactory
from pacata.testing.peer_network import MemoryNetwork
from pacata.testing.timer_rule import TimerRuleDriver, clock_events

TX = ItemKind.TRANSACTION
H = [sha256(bytes([i])) for i in range(8)]


def engine(**limits: float) -> Gossip:
    return Gossip(lambda kind, item: False, GossipLimits(**limits))  # type: ignore[arg-type]


def test_publish_announces_once_to_peers_that_lack_it() -> None:
    gossip = engine()
    for peer in (1, 2, 3):
        gossip.add_peer(peer)
    gossip.on_inventory(3, TX, [H[0]], 0.0)  # peer 3 has it
    gossip.take_messages()
    gossip.on_item_received(3, TX, H[0])
    gossip.publish(TX, H[0])
    gossip.publish(TX, H[0])
    gossip.publish(ItemKind.BLOCK, H[1], height=9)
    out = gossip.take_messages()
    assert sorted((p, type(m).__name__) for p, m in out) == [
        (1, "InvBlocks"),
        (1, "InvTransactions"),
        (2, "InvBlocks"),
        (2, "InvTransactions"),
        (3, "InvBlocks"),
    ]
    assert (1, InvBlocks((BlockAnnouncement(H[1], 9),))) in out
    assert (1, InvTransactions((H[0],))) in out
    assert gossip.take_messages() == []


def test_one_request_per_item_and_alternates_on_failure() -> None:
    gossip = engine(request_timeout=2.0)
    for peer in (1, 2, 3):
        gossip.add_peer(peer)
    gossip.on_inventory(1, TX, [H[0], H[1]], 0.0)
    gossip.on_inventory(2, TX, [H[0]], 0.0)
    gossip.on_inventory(3, TX, [H[0]], 0.0)
    assert gossip.take_messages() == [(1, GetTransactions((H[0], H[1])))]
    gossip.on_not_found(1, TX, [H[0]], 0.5)
    assert gossip.take_messages() == [(2, GetTransactions((H[0],)))]
    assert gossip.get_timer() == 2.0  # H[1] from peer 1
    gossip.handle_timer(2.0)
    assert gossip.timed_out == [1]
    gossip.handle_timer(2.5)  # H[0] from peer 2 expires: peer 3 next
    assert gossip.take_messages() == [(3, GetTransactions((H[0],)))]
    gossip.remove_peer(3, 3.0)  # the last announcer leaves: given up
    assert gossip.take_messages() == []
    assert not gossip.is_requested(3, TX, H[0])
    # The item was never received, so a new announcement fetches it again.
    gossip.on_inventory(1, TX, [H[0]], 4.0)
    assert gossip.take_messages() == [(1, GetTransactions((H[0],)))]
    assert gossip.on_item_received(1, TX, H[0])
    assert not gossip.on_item_received(1, TX, H[0])  # unsolicited now
    gossip.on_inventory(2, TX, [H[0]], 5.0)
    assert gossip.take_messages() == []  # seen


def test_bounds_hold_whatever_a_peer_announces() -> None:
    gossip = engine(max_in_flight_per_peer=3, known_per_peer=5, max_pending_announcements=2)
    gossip.add_peer(1)
    gossip.add_peer(2)
    many = [sha256(i.to_bytes(4, "big")) for i in range(1000)]
    gossip.on_inventory(1, ItemKind.BLOCK, many, 0.0)
    [(peer, request)] = gossip.take_messages()
    assert peer == 1 and isinstance(request, GetBlocks) and len(request.hashes) == 3
    assert gossip.in_flight(1) == 3
    for item in many[:10]:
        gossip.publish(TX, item)
    [(_, inv)] = [m for m in gossip.take_messages() if m[0] == 2]
    assert isinstance(inv, InvTransactions) and inv.txids == tuple(many[8:10])
    known = BoundedSet[int](2)
    for i in range(5):
        known.add(i)
    assert 4 in known and 2 not in known and len(known) == 2


def test_transactions_reach_every_node_of_a_line() -> None:
    factory = ChainFactory()
    net = MemoryNetwork(shipped_genesis("devnet"))
    nodes = [net.add_node() for _ in range(4)]
    for left, right in itertools.pairwise(nodes):
        net.connect(left, right)
    txs = factory.random_transfers(5)
    for tx in txs:
        nodes[0].mempool.add(tx)
        nodes[0].network.announce_transaction(tx.txid, net.now)
    net.settle()
    for node in nodes:
        assert {tx.txid for tx in node.mempool.transactions()} == {tx.txid for tx in txs}
    block = factory.next_block(txs)
    nodes[0].ledger.import_block(block, block.encode())
    nodes[0].network.chain_changed(net.now)
    net.settle()
    for node in nodes:
        assert node.chain.tip.hash == block.hash
        assert len(node.mempool) == 0


def test_bad_signature_transaction_bans_its_sender() -> None:
    factory = ChainFactory()
    net = MemoryNetwork(shipped_genesis("devnet"))
    a, b = net.add_node(), net.add_node()
    net.connect(a, b)
    tx = factory.random_transfers(1)[0]
    forged = type(tx).decode(tx.encode()[:-64] + bytes(64))
    # a misbehaves: it serves a transaction its own mempool would refuse.
    a.ledger.transaction_encoding = lambda txid: forged.encode()  # type: ignore[method-assign]
    a.network.announce_transaction(forged.txid, net.now)
    net.settle()
    assert b.network.peers.is_banned_node(a.network.node_id, net.now)
    assert b.network.peer_count == 0


# -- timers that sleep -------------------------------------------------------------------------
#
# The rule of `pacata.testing.timer_rule` for the gossip engine: a deadline left in the past makes
# the node's event loop fire the timer back to back. Hypothesis drives one engine through peers
# coming and going, announcements, direct requests, items, NotFound answers and publications while
# the clock moves by small and large steps, and fires the timer at its deadline and late, as a busy
# event loop would.

peer_ids = st.integers(1, 4)
item_indices = st.lists(st.integers(0, len(H) - 1), min_size=1, max_size=4)
item_kinds = st.sampled_from([TX, ItemKind.BLOCK])
seconds = st.one_of(st.floats(0.0, 10.0), st.floats(10.0, 100_000.0))
gossip_events = st.one_of(
    clock_events(seconds),
    st.tuples(st.just("add peer"), peer_ids),
    st.tuples(st.just("remove peer"), peer_ids),
    st.tuples(st.just("inventory"), peer_ids, item_kinds, item_indices),
    st.tuples(st.just("request"), peer_ids, item_kinds, item_indices),
    st.tuples(st.just("item"), peer_ids, item_kinds, item_indices),
    st.tuples(st.just("not found"), peer_ids, item_kinds, item_indices),
    st.tuples(st.just("publish"), item_kinds, item_indices),
)


class _GossipDriver(TimerRuleDriver):
    def __init__(self, request_timeout: float) -> None:
        self.held: set[tuple[ItemKind, bytes]] = set()
        self.gossip = Gossip(
            lambda kind, item: (kind, item) in self.held,
            GossipLimits(
                max_in_flight_per_peer=2, max_alternates=2, request_timeout=request_timeout
            ),
        )

    def deadline(self, core: int) -> float | None:
        return self.gossip.get_timer()

    def run_timer(self, core: int) -> None:
        """Runs the timer and takes its requests, answering none."""
        self.gossip.handle_timer(self.now)
        self.gossip.take_messages()

    def core_name(self, core: int) -> str:
        return "the gossip engine"

    def run(self, event: tuple[object, ...]) -> None:
        gossip = self.gossip
        if not self.run_clock_event(event):
            match event:
                case ("add peer", int(peer)):
                    gossip.add_peer(peer)
                case ("remove peer", int(peer)):
                    gossip.remove_peer(peer, self.now)
                case ("inventory", int(peer), ItemKind() as kind, list(items)):
                    gossip.on_inventory(peer, kind, [H[i] for i in items], self.now)
                case ("request", int(peer), ItemKind() as kind, list(items)):
                    for i in items:
                        gossip.request(peer, kind, H[i], self.now)
                case ("item", int(peer), ItemKind() as kind, list(items)):
                    for i in items:
                        if gossip.on_item_received(peer, kind, H[i]):
                            self.held.add((kind, H[i]))
                case ("not found", int(peer), ItemKind() as kind, list(items)):
                    gossip.on_not_found(peer, kind, [H[i] for i in items], self.now)
                case ("publish", ItemKind() as kind, list(items)):
                    for i in items:
                        self.held.add((kind, H[i]))
                        gossip.publish(kind, H[i])
        gossip.take_messages()


@settings(max_examples=200, deadline=None)
@given(st.floats(0.01, 30.0), st.lists(gossip_events, min_size=5, max_size=40))
def test_the_gossip_timer_sleeps_once_it_ran(
    request_timeout: float, script: list[tuple[object, ...]]
) -> None:
    driver = _GossipDriver(request_timeout)
    for event in script:
        driver.run(event)
    # Then silence: every outstanding request expires and moves on or is given up, each in a
    # bounded number of wake-ups (one per alternate).
    for _ in range(3 * len(H)):
        driver.run(("timer at deadline",))
    assert driver.gossip.get_timer() is None
