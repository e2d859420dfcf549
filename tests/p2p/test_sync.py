"""Headers-first sync, parallel download, forks and orphans between real chains in memory."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.genesis import shipped_genesis
from pacata.chain.kvstore import MemoryStore
from pacata.errors import PacataError
from pacata.p2p.messages import GetBlocks, GetHeaders
from pacata.p2p.records import node_id_of
from pacata.p2p.sync import BlockSync, Orphan, OrphanPool, SyncLimits
from pacata.testing.ledger import ChainFactory, with_bad_signature
from pacata.testing.peer_network import MemoryNetwork, MemoryNode
from pacata.testing.timer_rule import TimerRuleDriver, clock_events

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


# -- timers that sleep -------------------------------------------------------------------------
#
# The rule of `pacata.testing.timer_rule` for block sync: a deadline left in the past makes the
# node's event loop fire the timer back to back. Hypothesis drives one engine, pumped as the node
# pumps it, against peers on the main chain or a fork: tips announced, rounds asked for, headers and
# blocks answered (or not, or `NotFound`, or headers that do not link), peers leaving, while the
# clock moves by small and large steps and the timer fires at its deadline and late, as a busy event
# loop would.


def _timer_chains() -> dict[str, list[Block]]:
    factory = ChainFactory(seed=5)
    main = factory.blocks(10)
    fork = factory.fork(4, seed=6).blocks(4)
    return {"main": main, "fork": main[:4] + fork}


TIMER_CHAINS = _timer_chains()
TIMER_BLOCKS = {block.hash: block for chain in TIMER_CHAINS.values() for block in chain}

sync_peers = st.integers(1, 3)
sync_tips = st.tuples(
    st.just("tip"), sync_peers, st.sampled_from(["main", "fork"]), st.integers(0, 10)
)
seconds = st.one_of(st.floats(0.0, 20.0), st.floats(20.0, 100_000.0))
sync_events = st.one_of(
    clock_events(seconds),
    sync_tips,
    st.tuples(st.just("answer all")),
    st.tuples(st.just("request round"), sync_peers),
    st.tuples(st.just("answer headers"), sync_peers),
    st.tuples(st.just("answer blocks"), sync_peers, st.integers(1, 4)),
    st.tuples(st.just("unlinked headers"), sync_peers),
    st.tuples(st.just("remove peer"), sync_peers),
)


class _SyncDriver(TimerRuleDriver):
    """One `BlockSync` on a real chain, and peers that answer what it asks when told to."""

    def __init__(self, request_timeout: float) -> None:
        self.ledger = _Ledger()
        self.sync = BlockSync(
            self.ledger,
            SyncLimits(
                headers_per_request=3,
                blocks_per_request=2,
                max_in_flight_per_peer=2,
                window=4,
                request_timeout=request_timeout,
            ),
        )
        self.chains: dict[int, list[Block]] = {}
        self.header_requests: dict[int, list[GetHeaders]] = {}
        self.block_requests: dict[int, list[bytes]] = {}

    def pump(self) -> None:
        """What the node does after each input: imports what is ready, starts a round if one
        is due, and takes the requests."""
        self.import_ready()
        self.sync.maybe_start(self.now)
        for peer, message in self.sync.take_messages(self.now):
            if isinstance(message, GetHeaders):
                self.header_requests.setdefault(peer, []).append(message)
            elif isinstance(message, GetBlocks):
                self.block_requests.setdefault(peer, []).extend(message.hashes)

    def deadline(self, core: int) -> float | None:
        return self.sync.get_timer()

    def run_timer(self, core: int) -> None:
        """Runs the timer and pumps, taking its requests and answering none."""
        self.sync.handle_timer(self.now)
        self.pump()

    def core_name(self, core: int) -> str:
        return "block sync"

    def remove_peer(self, peer: int) -> None:
        self.sync.remove_peer(peer, self.now)
        self.chains.pop(peer, None)
        self.header_requests.pop(peer, None)
        self.block_requests.pop(peer, None)

    def answer_headers(self, peer: int) -> None:
        requests = self.header_requests.get(peer)
        if not requests or peer not in self.chains:
            return
        request = requests.pop(0)
        chain = self.chains[peer]
        hashes = [block.hash for block in chain]
        start = next((hashes.index(h) + 1 for h in request.locator if h in hashes), 0)
        headers = tuple(block.header for block in chain[start : start + request.max_count])
        if not self.sync.on_headers(peer, headers, self.now):
            self.remove_peer(peer)  # what the node does to a peer that breaks the rules

    def answer_blocks(self, peer: int, count: int) -> None:
        requested = self.block_requests.get(peer, [])
        answered, self.block_requests[peer] = requested[:count], requested[count:]
        held = {block.hash for block in self.chains.get(peer, [])}
        for block_hash in answered:
            if block_hash in held:
                self.sync.on_block(peer, block_hash, TIMER_BLOCKS[block_hash].encode())
            else:
                self.sync.on_not_found(peer, (block_hash,))

    def import_ready(self) -> None:
        for _, block_hash, _ in self.sync.take_ready():
            try:
                self.ledger.chain.add_block(TIMER_BLOCKS[block_hash])
            except PacataError:
                self.sync.abort()
                return
            self.sync.block_imported()
        self.sync.import_done()

    def run(self, event: tuple[object, ...]) -> None:
        sync = self.sync
        if not self.run_clock_event(event):
            match event:
                case ("tip", int(peer), str(name), int(height)):
                    chain = self.chains[peer] = TIMER_CHAINS[name][:height]
                    tip = chain[-1].hash if chain else self.ledger.chain.genesis_hash
                    sync.set_tip(peer, height, tip)
                case ("request round", int(peer)):
                    sync.request_round(peer)
                case ("answer headers", int(peer)):
                    self.answer_headers(peer)
                case ("answer blocks", int(peer), int(count)):
                    self.answer_blocks(peer, count)
                case ("answer all",):
                    for peer in list(self.chains):
                        self.answer_headers(peer)
                        self.answer_blocks(peer, len(self.block_requests.get(peer, [])))
                case ("unlinked headers", int(peer)):
                    main = TIMER_CHAINS["main"]
                    if not sync.on_headers(peer, (main[6].header, main[7].header), self.now):
                        self.remove_peer(peer)
                case ("remove peer", int(peer)):
                    self.remove_peer(peer)
        self.pump()


@settings(max_examples=150, deadline=None)
@given(
    st.floats(0.01, 60.0),
    st.lists(sync_tips, min_size=1, max_size=3),
    st.lists(sync_events, max_size=40),
)
def test_the_sync_timer_sleeps_once_it_ran(
    request_timeout: float, tips: list[tuple[object, ...]], script: list[tuple[object, ...]]
) -> None:
    driver = _SyncDriver(request_timeout)
    for event in tips + script:
        driver.run(event)
    # Then silence: every request expires and goes to another peer until none is left who
    # could answer, in a bounded number of wake-ups.
    for _ in range(40):
        driver.run(("timer at deadline",))
    assert driver.sync.get_timer() is None
