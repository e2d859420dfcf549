"""A deterministic simulation of block producers running the real consensus code.

Every node holds a real `Chain` on a `MemoryStore`. Time is a slot counter; the network is a
queue of deliveries, each delayed by a seeded random number of slots. In each slot, messages due
are delivered, then every producer asks its own chain whether it won the slot and, if so, builds,
imports and broadcasts its block. A node that sees two headers signed by one producer for one
slot turns them into an `EVIDENCE` transaction for its next block. An equivocating producer, when
it wins a slot, makes two different blocks and sends one to each half of the network. A node
that receives a block whose parent it lacks fetches the parent from the network.

Nothing reads a clock or a socket: the same seed gives the same run.
"""

from __future__ import annotations

import heapq
import random
from collections import defaultdict
from dataclasses import dataclass, field

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.genesis import Genesis
from pacata.chain.keys import Address
from pacata.chain.kvstore import MemoryStore
from pacata.chain.production import ProducerKeys
from pacata.chain.transactions import Evidence, Transaction, make_transaction
from pacata.errors import BlockNotFound, ConsensusError, InvalidBlock


@dataclass
class SimulatedNode:
    index: int
    keys: ProducerKeys
    chain: Chain
    equivocates: bool = False
    orphans: dict[bytes, list[Block]] = field(default_factory=lambda: defaultdict(list))
    seen_headers: dict[tuple[bytes, int], bytes] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    reported: set[bytes] = field(default_factory=set)

    @property
    def address(self) -> Address:
        return self.keys.account.address


@dataclass
class SimulationReport:
    slots: int
    blocks_made: dict[Address, int]
    orphaned_blocks: int
    evidence_included: int

    @property
    def total_made(self) -> int:
        return sum(self.blocks_made.values())

    @property
    def fork_rate(self) -> float:
        """Share of produced blocks that did not end on the common chain."""
        return self.orphaned_blocks / self.total_made if self.total_made else 0.0


class ProducerSimulation:
    def __init__(
        self,
        genesis: Genesis,
        producers: list[ProducerKeys],
        *,
        max_delay_slots: int = 1,
        equivocator: int | None = None,
        seed: int = 0,
    ) -> None:
        self.genesis = genesis
        self.random = random.Random(seed)
        self.max_delay_slots = max_delay_slots
        self.nodes = [
            SimulatedNode(i, keys, Chain(MemoryStore(), genesis), equivocates=i == equivocator)
            for i, keys in enumerate(producers)
        ]
        self._queue: list[tuple[int, int, int, Block]] = []  # (slot, order, node, block)
        self._order = 0
        self.slot = 0
        self.made: dict[Address, int] = defaultdict(int)
        self.made_hashes: set[bytes] = set()
        self.published: dict[bytes, Block] = {}  # every block sent, by hash: what peers can fetch

    # -- network ----------------------------------------------------------------------------

    def _send(self, block: Block, recipients: list[SimulatedNode]) -> None:
        self.published[block.hash] = block
        for node in recipients:
            delay = self.random.randint(0, self.max_delay_slots)
            self._order += 1
            heapq.heappush(self._queue, (self.slot + delay, self._order, node.index, block))

    def _deliver_due(self) -> None:
        while self._queue and self._queue[0][0] <= self.slot:
            _, _, index, block = heapq.heappop(self._queue)
            self._receive(self.nodes[index], block)

    # -- node behaviour ---------------------------------------------------------------------

    def _now_ms(self) -> int:
        return self.genesis.timestamp_ms + (self.slot + 1) * self.genesis.params.slot_ms - 1

    def _receive(self, node: SimulatedNode, block: Block) -> None:
        self._watch_for_equivocation(node, block)
        try:
            node.chain.add_block(block, now_ms=self._now_ms())
        except BlockNotFound:
            # Like a gossip peer, ask the network for the missing parent (headers-first sync
            # does the same in the real node).
            node.orphans[block.header.prev_hash].append(block)
            parent = self.published.get(block.header.prev_hash)
            if parent is not None:
                self._send(parent, [node])
            return
        except (InvalidBlock, ConsensusError):
            return
        for child in node.orphans.pop(block.hash, []):
            self._receive(node, child)

    def _watch_for_equivocation(self, node: SimulatedNode, block: Block) -> None:
        header = block.header
        key = (header.producer, header.slot)
        first = node.seen_headers.setdefault(key, header.hash)
        if first != header.hash and header.producer not in node.reported:
            original = self._find_header(node, first)
            if original is not None and header.has_valid_signature():
                node.evidence.append(Evidence(original, header))
                node.reported.add(header.producer)

    def _find_header(self, node: SimulatedNode, block_hash: bytes):  # type: ignore[no-untyped-def]
        return node.chain.store.header(block_hash) or next(
            (b.header for blocks in node.orphans.values() for b in blocks if b.hash == block_hash),
            None,
        )

    def _evidence_transactions(self, node: SimulatedNode) -> list[Transaction]:
        account = node.chain.account(node.address)
        return [
            make_transaction(
                node.keys.account,
                self.genesis.chain_id,
                account.nonce + i,
                self.genesis.params.min_fee,
                evidence,
            )
            for i, evidence in enumerate(node.evidence)
        ]

    def _produce(self, node: SimulatedNode) -> None:
        chain = node.chain
        if self.slot <= chain.tip.slot:
            return
        leader = chain.leader_proof(node.keys.vrf, node.address, self.slot)
        if leader is None:
            return
        timestamp = self.genesis.timestamp_ms + self.slot * self.genesis.params.slot_ms
        block, rejected = chain.build_block(
            node.keys.account, leader, self._evidence_transactions(node), self.slot, timestamp
        )
        if rejected:
            node.evidence = []  # already included by someone else, or stale
        if block.transactions:
            node.evidence = []
        others = [n for n in self.nodes if n is not node]
        self._record(node, block)
        if node.equivocates:
            twin, _ = chain.build_block(node.keys.account, leader, (), self.slot, timestamp + 1)
            self._record(node, twin)
            half = len(others) // 2
            self._receive(node, block)
            self._send(block, others[:half])
            self._send(twin, others[half:])
            return
        self._receive(node, block)
        self._send(block, others)

    def _record(self, node: SimulatedNode, block: Block) -> None:
        self.made[node.address] += 1
        self.made_hashes.add(block.hash)

    # -- running ----------------------------------------------------------------------------

    def run(self, slots: int) -> SimulationReport:
        for _ in range(slots):
            self.slot += 1
            self._deliver_due()
            for node in self.nodes:
                self._produce(node)
        # Let every message in flight arrive.
        self.slot += self.max_delay_slots + 1
        self._deliver_due()
        return self.report(slots)

    def honest_nodes(self) -> list[SimulatedNode]:
        return [n for n in self.nodes if not n.equivocates]

    def common_height(self) -> int:
        """The greatest height up to which every honest node holds the same main chain."""
        nodes = self.honest_nodes()
        top = min(n.chain.height for n in nodes)
        height = 0
        for h in range(top + 1):
            hashes = {n.chain.block_at(h).hash for n in nodes}
            if len(hashes) != 1:
                break
            height = h
        return height

    def report(self, slots: int) -> SimulationReport:
        reference = self.honest_nodes()[0].chain
        on_chain = {reference.block_at(h).hash for h in range(1, reference.height + 1)}
        evidence = sum(
            1
            for h in range(1, reference.height + 1)
            for tx in reference.block_at(h).transactions
            if isinstance(tx.payload, Evidence)
        )
        return SimulationReport(
            slots=slots,
            blocks_made=dict(self.made),
            orphaned_blocks=len(self.made_hashes - on_chain),
            evidence_included=evidence,
        )
