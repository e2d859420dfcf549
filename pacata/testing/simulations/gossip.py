"""A deterministic simulation of transaction gossip over hundreds of nodes with churn.

Every node runs the real sans-I/O `Gossip` engine and exchanges the real encoded messages
(`InvTransactions`, `GetTransactions`, `Transactions`, `NotFound`; bytes counted with their
frame header). The network is an event queue: each link has a seeded latency, time is a float
of seconds, nothing reads a clock. Churn: at every `churn_interval` a share of the online nodes
leaves (its links drop, its peers' engines forget it) and as many offline nodes come back with
fresh links to random online nodes and an empty seen-cache, as a restarted node would.

Reach of an item is measured over the nodes that stayed online from its publication to the
end of the run (a node that was away when an item spread has no way to hear of it by gossip;
the mempool sync of a reconnecting node is another matter), and a node that publishes stays
online for `origin_grace` seconds: one that leaves at the instant it publishes takes its item
with it, which is no fault of gossip. The same seed gives the same run.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from pacata.p2p.framing import HEADER_BYTES
from pacata.p2p.gossip import Gossip, GossipLimits
from pacata.p2p.messages import (
    GetTransactions,
    InvTransactions,
    ItemKind,
    Message,
    NotFound,
    Transactions,
)

TX = ItemKind.TRANSACTION


@dataclass(frozen=True, slots=True)
class SimulationParams:
    nodes: int = 500
    degree: int = 8  # links each node opens when it (re)joins
    items: int = 20
    item_interval: float = 0.5
    item_bytes: int = 180  # a transfer's size
    latency_min: float = 0.02
    latency_max: float = 0.12
    churn_interval: float = 1.0
    churn_fraction: float = 0.02
    settle_time: float = 10.0  # after the last item
    origin_grace: float = 1.0  # a node stays online this long after publishing
    seed: int = 1


@dataclass
class _Node:
    index: int
    gossip: Gossip
    items: dict[bytes, bytes] = field(default_factory=dict)
    online: bool = True
    peers: set[int] = field(default_factory=set)
    bytes_sent: int = 0
    timer: float | None = None


@dataclass(frozen=True, slots=True)
class ItemReport:
    reach: float  # share of the nodes online throughout that received it
    hops: tuple[int, ...]  # hop count of each receiving node
    delays: tuple[float, ...]  # seconds from publication to each receiving node


@dataclass(frozen=True, slots=True)
class SimulationReport:
    params: SimulationParams
    items: tuple[ItemReport, ...]
    bytes_per_node: float
    messages: int
    churn_events: int

    @property
    def min_reach(self) -> float:
        return min(item.reach for item in self.items)

    @property
    def mean_reach(self) -> float:
        return sum(item.reach for item in self.items) / len(self.items)

    def percentile(self, what: str, fraction: float) -> float:
        values = sorted(v for item in self.items for v in getattr(item, what))
        if not values:
            return 0.0
        return float(values[min(len(values) - 1, int(fraction * len(values)))])


class GossipSimulation:
    def __init__(self, params: SimulationParams) -> None:
        self.params = params
        self.random = random.Random(params.seed)
        self.now = 0.0
        self._queue: list[tuple[float, int, str, int, int, Message | None]] = []
        self._serial = 0
        self.nodes = [self._new_node(i) for i in range(params.nodes)]
        self._latency: dict[tuple[int, int], float] = {}
        self.messages = 0
        self.churn_events = 0
        self._received: dict[bytes, dict[int, tuple[int, float]]] = {}
        self._published: dict[bytes, float] = {}
        self._online_since: dict[int, float] = dict.fromkeys(range(params.nodes), 0.0)
        self._hops: dict[tuple[int, bytes], int] = {}
        self._origin_until: dict[int, float] = {}
        for node in self.nodes:
            self._join(node)

    def _new_node(self, index: int) -> _Node:
        holder: dict[bytes, bytes] = {}
        gossip = Gossip(lambda kind, item: item in holder, GossipLimits(request_timeout=1.0))
        return _Node(index, gossip, holder)

    # -- topology ---------------------------------------------------------------------------

    def _link(self, a: _Node, b: _Node) -> None:
        if b.index in a.peers or a is b:
            return
        a.peers.add(b.index)
        b.peers.add(a.index)
        a.gossip.add_peer(b.index)
        b.gossip.add_peer(a.index)
        key = (min(a.index, b.index), max(a.index, b.index))
        self._latency[key] = self.random.uniform(self.params.latency_min, self.params.latency_max)

    def _join(self, node: _Node) -> None:
        online = [n for n in self.nodes if n.online and n is not node]
        for peer in self.random.sample(online, min(self.params.degree, len(online))):
            self._link(node, peer)

    def _leave(self, node: _Node) -> None:
        node.online = False
        for index in list(node.peers):
            peer = self.nodes[index]
            peer.peers.discard(node.index)
            peer.gossip.remove_peer(node.index, self.now)
            self._after(peer)
        node.peers.clear()

    def _come_back(self, node: _Node) -> None:
        fresh = self._new_node(node.index)
        fresh.items.update(node.items)
        fresh.bytes_sent = node.bytes_sent
        self.nodes[node.index] = fresh
        self._online_since[node.index] = self.now
        self._join(fresh)

    def _churn(self) -> None:
        online = [
            n for n in self.nodes if n.online and self._origin_until.get(n.index, 0.0) < self.now
        ]
        offline = [n for n in self.nodes if not n.online]
        count = max(1, int(len(online) * self.params.churn_fraction))
        for node in self.random.sample(offline, min(count, len(offline))):
            self._come_back(node)
            self.churn_events += 1
        for node in self.random.sample(online, count):
            if self.nodes[node.index] is node:
                self._leave(node)
                self.churn_events += 1

    # -- events -----------------------------------------------------------------------------

    def _push(
        self, when: float, kind: str, target: int, source: int, message: Message | None
    ) -> None:
        self._serial += 1
        heapq.heappush(self._queue, (when, self._serial, kind, target, source, message))

    def _after(self, node: _Node) -> None:
        """Sends what the node's engine queued and arms its timer."""
        for peer, message in node.gossip.take_messages():
            self._send(node, peer, message)
        timer = node.gossip.get_timer()
        if timer is not None and timer != node.timer:
            node.timer = timer
            self._push(timer, "timer", node.index, node.index, None)

    def _send(self, node: _Node, peer: int, message: Message) -> None:
        if peer not in node.peers:
            return
        node.bytes_sent += len(message.encode_message()) + HEADER_BYTES
        self.messages += 1
        latency = self._latency[(min(node.index, peer), max(node.index, peer))]
        self._push(self.now + latency, "deliver", peer, node.index, message)

    def _deliver(self, node: _Node, source: int, message: Message) -> None:
        if not node.online or source not in node.peers:
            return
        if isinstance(message, InvTransactions):
            node.gossip.on_inventory(source, TX, message.txids, self.now)
        elif isinstance(message, GetTransactions):
            found = [node.items[t] for t in message.txids if t in node.items]
            missing = tuple(t for t in message.txids if t not in node.items)
            if found:
                self._send(node, source, Transactions(tuple(found)))
            if missing:
                self._send(node, source, NotFound(TX, missing))
        elif isinstance(message, Transactions):
            for payload in message.transactions:
                item = payload[:32]
                if not node.gossip.on_item_received(source, TX, item) or item in node.items:
                    continue
                node.items[item] = payload
                hops = self._hops.get((source, item), 0) + 1
                self._hops[(node.index, item)] = hops
                self._received[item][node.index] = (hops, self.now - self._published[item])
                node.gossip.publish(TX, item)
        elif isinstance(message, NotFound):
            node.gossip.on_not_found(source, TX, message.hashes, self.now)
        self._after(node)

    def _publish(self, number: int) -> None:
        origin = self.random.choice([n for n in self.nodes if n.online])
        payload = self.random.randbytes(self.params.item_bytes)
        item = payload[:32]
        origin.items[item] = payload
        self._published[item] = self.now
        self._received[item] = {origin.index: (0, 0.0)}
        self._hops[(origin.index, item)] = 0
        self._origin_until[origin.index] = self.now + self.params.origin_grace
        origin.gossip.publish(TX, item)
        self._after(origin)

    def run(self) -> SimulationReport:
        p = self.params
        end = p.items * p.item_interval + p.settle_time
        for i in range(p.items):
            self._push(i * p.item_interval, "publish", i, 0, None)
        churn_at = p.churn_interval
        while churn_at < end:
            self._push(churn_at, "churn", 0, 0, None)
            churn_at += p.churn_interval
        while self._queue and self._queue[0][0] <= end:
            when, _, kind, target, source, message = heapq.heappop(self._queue)
            self.now = when
            if kind == "publish":
                self._publish(target)
            elif kind == "churn":
                self._churn()
            elif kind == "timer":
                node = self.nodes[target]
                if node.online and node.timer == when:
                    node.timer = None
                    node.gossip.handle_timer(when)
                    node.gossip.timed_out.clear()
                    self._after(node)
            elif message is not None:
                self._deliver(self.nodes[target], source, message)
        return self._report()

    def _report(self) -> SimulationReport:
        reports = []
        for item, received in self._received.items():
            published = self._published[item]
            steady = [
                n.index for n in self.nodes if n.online and self._online_since[n.index] <= published
            ]
            reached = sum(1 for index in steady if index in received)
            reports.append(
                ItemReport(
                    reach=reached / len(steady),
                    hops=tuple(h for h, _ in received.values()),
                    delays=tuple(d for _, d in received.values()),
                )
            )
        total_bytes = sum(n.bytes_sent for n in self.nodes)
        return SimulationReport(
            self.params,
            tuple(reports),
            total_bytes / len(self.nodes),
            self.messages,
            self.churn_events,
        )


def run_simulation(params: SimulationParams | None = None) -> SimulationReport:
    return GossipSimulation(params or SimulationParams()).run()


def format_report(report: SimulationReport) -> str:
    p = report.params
    lines = [
        f"{p.nodes} nodes, degree {p.degree}, {p.items} transactions, latency "
        f"{p.latency_min * 1000:.0f}-{p.latency_max * 1000:.0f} ms, churn "
        f"{p.churn_fraction:.0%} of nodes every {p.churn_interval:g} s "
        f"({report.churn_events} leaves and joins), seed {p.seed}",
        "",
        "| measure | p50 | p90 | p99 | max |",
        "|---|---|---|---|---|",
    ]
    for what, label, scale, unit in (("hops", "hops", 1.0, ""), ("delays", "time", 1000.0, " ms")):
        values = [report.percentile(what, f) * scale for f in (0.5, 0.9, 0.99, 1.0)]
        lines.append(f"| {label} | " + " | ".join(f"{v:.0f}{unit}" for v in values) + " |")
    lines += [
        "",
        f"reach: mean {report.mean_reach:.2%}, worst item {report.min_reach:.2%} "
        "(of the nodes online throughout)",
        f"bytes sent per node: {report.bytes_per_node:,.0f} "
        f"({report.bytes_per_node / p.items:,.0f} per transaction of {p.item_bytes} B); "
        f"{report.messages:,} messages",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_report(run_simulation()))
