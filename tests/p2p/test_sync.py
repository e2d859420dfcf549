"""Headers-first sync, parallel download, forks and orphans between real chains in memory."""

from __future__ import annotations

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.genesis import shipped_genesis
from pacata.chain.kvstore import MemoryStore
from pacata.p2p.records import node_id_of
from pacata.p2p.sync import BlockSync, Orphan, OrphanPool, SyncLimits
from pacata.testing.ledger import ChainFactory, with_bad_signature
from pacata.testing.peer_network import MemoryNetwork, MemoryNode

GENESIS = shipped_genesis("devnet")


def feed(node: MemoryNode, blocks: list[Block]) -> None:
    for block in blocks:
        node.ledger.import_block(block, block.encode())


def test_fresh_node_syncs_a_long_chain_headers_first() -> None:
    blocks = ChainFactory().blocks(300, transfers_per_block=1)
    net = MemoryNetwork(GENESIS)
    seed = net.add_node()
    feed(seed, blocks)
    fresh = net.add_node({"sync": SyncLimits(headers_per_request=50, window=64)})
    net.connect(fresh, seed)
    assert fresh.chain.tip.hash == seed.chain.tip.hash == blocks[-1].hash
    progress = fresh.network.sync_progress()
    assert not progress.syncing and progress.downloaded == 300 and progress.target_height == 300


def test_a_synced_block_that_fails_ends_the_round_and_costs_its_sender() -> None:
    # Blocks of a round are imported as one run (the next one's signatures checked while the
    # current one is written); a failing block is still pinned on the peer that sent it.
    factory = ChainFactory(seed=4)
    blocks = factory.blocks(6, transfers_per_block=2)
    bad = with_bad_signature(blocks[-1], 1)
    net = MemoryNetwork(GENESIS)
    seed = net.add_node()
    feed(seed, blocks[:-1])
    # The seed claims the bad block as its tip, with its header and its encoding.
    ledger = seed.ledger
    honest_headers, honest_encoding = ledger.headers_after, ledger.block_encoding
    ledger.tip = lambda: (bad.height, bad.hash)  # type: ignore[method-assign]
    ledger.headers_after = lambda locator, count: [  # type: ignore[method-assign]
        *honest_headers(locator, count),
        bad.header,
    ]
    ledger.block_encoding = lambda block_hash: (  # type: ignore[method-assign]
        bad.encode() if block_hash == bad.hash else honest_encoding(block_hash)
    )
    fresh = net.add_node()
    net.connect(fresh, seed)
    assert fresh.chain.height == 5
    assert fresh.chain.tip.hash == blocks[-2].hash
    assert fresh.network.peers.is_banned_node(node_id_of(seed.key.public_key), net.now)
    assert not fresh.network.sync_progress().syncing


def test_a_fresh_node_syncs_from_the_first_seed_it_meets() -> None:
    blocks = ChainFactory().blocks(200)
    net = MemoryNetwork(GENESIS)
    seeds = [net.add_node() for _ in range(3)]
    for seed in seeds:
        feed(seed, blocks)
    fresh = net.add_node({"sync": SyncLimits(blocks_per_request=4, max_in_flight_per_peer=8)})
    for seed in seeds:
        net.connect(fresh, seed)
    assert fresh.chain.height == 200
    assert fresh.network.sync_progress().downloaded == 200


def test_sync_uses_all_peers_when_they_are_connected_before_it_starts() -> None:
    blocks = ChainFactory().blocks(120)
    net = MemoryNetwork(GENESIS)
    seeds = [net.add_node() for _ in range(3)]
    fresh = net.add_node({"sync": SyncLimits(blocks_per_request=4, max_in_flight_per_peer=8)})
    for seed in seeds:
        net.connect(fresh, seed)  # all at height 0: nothing to sync yet
    for seed in seeds:
        feed(seed, blocks)
    seeds[0].network.chain_changed(net.now)  # announces height 120: far ahead, so sync
    for seed in seeds[1:]:
        seed.network.chain_changed(net.now)
    net.settle()
    assert fresh.chain.height == 120
    served = [seed.network.peer_infos(net.now)[0].bytes_sent for seed in seeds]
    assert all(sent > 5_000 for sent in served), served


def test_a_longer_fork_wins_after_connecting() -> None:
    common = ChainFactory()
    shared = common.blocks(5)
    left, right = ChainFactory(seed=1), ChainFactory(seed=2)
    for factory in (left, right):
        feed_factory = factory.chain
        for block in shared:
            feed_factory.add_block(block)
    left_blocks = [left.next_block(left.random_transfers(1)) for _ in range(3)]
    right_blocks = [right.next_block(right.random_transfers(2)) for _ in range(6)]
    net = MemoryNetwork(GENESIS)
    a, b = net.add_node(), net.add_node()
    feed(a, shared + left_blocks)
    feed(b, shared + right_blocks)
    net.connect(a, b)
    assert a.chain.tip.hash == b.chain.tip.hash == right_blocks[-1].hash


def test_orphan_parent_is_fetched_from_the_announcer() -> None:
    factory = ChainFactory()
    base = factory.blocks(3)
    net = MemoryNetwork(GENESIS)
    a, b = net.add_node(), net.add_node()
    feed(a, base)
    feed(b, base)
    net.connect(a, b)
    fork = ChainFactory(seed=7)
    for block in base:
        fork.chain.add_block(block)
    own = fork.next_block(fork.random_transfers(1))
    feed(b, [own])  # b is at height 4 on its own block
    blocks = [factory.next_block(factory.random_transfers(1)) for _ in range(3)]
    feed(a, blocks)  # a at 6; it announces 6 = too far ahead for gossip: sync
    a.network.chain_changed(net.now)
    net.settle()
    assert b.chain.tip.hash == blocks[-1].hash
    # Now the orphan path: a extends by one; b is at the same tip and gets it by gossip.
    more = factory.next_block()
    feed(a, [more])
    a.network.chain_changed(net.now)
    net.settle()
    assert b.chain.tip.hash == more.hash


def test_orphan_pool_bounds_and_links() -> None:
    pool = OrphanPool(max_blocks=3, max_bytes=100)
    chain = [bytes([i]) * 32 for i in range(6)]
    for i in range(1, 5):
        pool.add(Orphan(chain[i], chain[i - 1], i, b"x" * 10, peer=1))
    assert len(pool) == 3 and chain[1] not in pool
    assert pool.depth(chain[4]) == 3
    root = pool.root_of(chain[4])
    assert root is not None and root.block_hash == chain[2]
    assert [o.block_hash for o in pool.take_children(chain[2])] == [chain[3]]
    pool.add(Orphan(chain[5], chain[4], 5, b"y" * 95, peer=2))
    assert chain[5] in pool and len(pool) == 1  # bytes bound
    pool.drop_from(2)
    assert len(pool) == 0


class _Ledger:
    def __init__(self) -> None:
        self.chain = Chain(MemoryStore(), GENESIS)

    def tip(self) -> tuple[int, bytes]:
        return self.chain.height, self.chain.tip.hash

    def has_block(self, block_hash: bytes) -> bool:
        return self.chain.store.block_info(block_hash) is not None

    def locator(self) -> tuple[bytes, ...]:
        return (self.chain.tip.hash,)


def test_unlinked_or_unasked_headers_are_refused_and_timeouts_reported() -> None:
    factory = ChainFactory()
    blocks = factory.blocks(4)
    sync = BlockSync(_Ledger(), SyncLimits(request_timeout=5.0))
    assert not sync.on_headers(1, tuple(b.header for b in blocks), 0.0)  # unasked
    sync.set_tip(1, 4, blocks[-1].hash)
    assert sync.maybe_start(0.0)
    [(peer, _request)] = sync.take_messages(0.0)
    assert peer == 1
    assert not sync.on_headers(1, tuple(b.header for b in blocks[1:]), 0.0)  # no known parent
    sync2 = BlockSync(_Ledger(), SyncLimits(request_timeout=5.0))
    sync2.set_tip(1, 4, blocks[-1].hash)
    sync2.maybe_start(0.0)
    sync2.take_messages(0.0)
    assert sync2.on_headers(1, tuple(b.header for b in blocks), 0.0)
    requests = sync2.take_messages(0.0)
    assert requests and sync2.get_timer() == 5.0
    sync2.handle_timer(5.0)
    assert sync2.stalled == [1]
    # The only peer lacks the blocks now: the round ends.
    sync2.take_messages(5.0)
    assert not sync2.is_syncing
    # The same tip is not tried twice.
    assert not sync2.maybe_start(6.0)
