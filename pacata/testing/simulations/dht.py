"""A deterministic simulation of many DHT nodes: the real `DhtNode` on an in-memory network.

    network = SimulatedNetwork(NetworkConditions(loss=0.01), seed=1)
    network.add(node, address); network.run_until(t); network.remove(address)
    report = run_simulation(SimulationPlan(nodes=500, churn_fraction=0.1))

Rules:

- One virtual clock for everything: the network delivers each datagram after a latency drawn
  from `NetworkConditions` (or loses it with probability `loss`), and fires each node's timer at
  the deadline the node asked for. Events are processed in time order, ties in the order they
  were scheduled, so a run is a function of its seed: the same plan gives the same report.
- Nodes sign with `SimulatedSigner`, a stand-in for secp256k1 (a keyed SHA-512, forgeable, fast)
  so that hundreds of nodes run in seconds; the node ids, packet formats, sizes and every
  protocol rule are the real ones. Real nodes use `pacata.chain.keys.PrivateKey`.
- `run_simulation` bootstraps `nodes` nodes from a few seeds, has each publish a record under
  its node id, then runs lookups of the records of live nodes from random live nodes while
  nodes leave (silently, as a crash would) and new ones join, and measures lookup success,
  hops and the bytes each node sent.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
import statistics
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pacata.p2p.dht import BootstrapFinished, DhtConfig, DhtEvent, DhtNode, LookupFinished
from pacata.p2p.dht_messages import MAX_DATAGRAM_SIZE
from pacata.p2p.records import NODE_ID_SIZE
from pacata.p2p.udp_address import Address

_SIGNATURE_TAG = b"pacata/simulated-signature"
_RECORD_PREFIX = b"sim-record"
_SEQUENCE = struct.Struct(">Q")


class SimulatedSigner:
    """A node key for simulations: 33 bytes that look like a compressed key, and a keyed hash
    as the "signature". Anyone can forge it; it exists so that a simulation of 1,000 nodes does
    not spend its time in elliptic-curve arithmetic."""

    __slots__ = ("public_key",)

    def __init__(self, seed: bytes) -> None:
        self.public_key = b"\x02" + hashlib.sha256(b"pacata/simulated-key" + seed).digest()

    def sign(self, digest: bytes) -> bytes:
        return hashlib.sha512(_SIGNATURE_TAG + self.public_key + digest).digest()


def check_simulated_signature(public_key: bytes, digest: bytes, signature: bytes) -> bool:
    """The `SignatureCheck` that goes with `SimulatedSigner`."""
    return hashlib.sha512(_SIGNATURE_TAG + public_key + digest).digest() == signature


def simulated_record(node_id: bytes, sequence: int) -> bytes:
    """A record as a node publishes it under its id: a prefix, the id and a sequence number."""
    return _RECORD_PREFIX + node_id + _SEQUENCE.pack(sequence)


def validate_simulated_record(key: bytes, value: bytes) -> bool:
    """The validator of simulated records: the record names the key it is stored under."""
    return (
        len(value) == len(_RECORD_PREFIX) + NODE_ID_SIZE + _SEQUENCE.size
        and value.startswith(_RECORD_PREFIX)
        and value[len(_RECORD_PREFIX) : len(_RECORD_PREFIX) + NODE_ID_SIZE] == key
    )


def newer_simulated_record(old: bytes, new: bytes) -> bool:
    """A record replaces another when its sequence number is higher."""
    return bool(_SEQUENCE.unpack(new[-8:])[0] > _SEQUENCE.unpack(old[-8:])[0])


@dataclass(frozen=True, slots=True)
class NetworkConditions:
    """One-way latency drawn uniformly from [min_latency, max_latency]; `loss` per datagram."""

    min_latency: float = 0.010
    max_latency: float = 0.120
    loss: float = 0.01


EventSink = Callable[[Address, DhtEvent, float], None]


class SimulatedNetwork:
    """An in-memory datagram network of `DhtNode`s driven by one virtual clock."""

    def __init__(self, conditions: NetworkConditions, *, seed: int = 1) -> None:
        self.conditions = conditions
        self.random = random.Random(seed)
        self.now = 0.0
        self.nodes: dict[Address, DhtNode] = {}
        self.delivered = 0
        self.lost = 0
        self.oversize = 0
        self.on_event: EventSink | None = None
        self._order = itertools.count()
        self._deliveries: list[tuple[float, int, Address, Address, bytes]] = []
        self._timers: list[tuple[float, int, Address]] = []
        self._armed: dict[Address, float | None] = {}

    def add(self, node: DhtNode, address: Address) -> None:
        self.nodes[address] = node
        self._armed[address] = None

    def remove(self, address: Address) -> DhtNode:
        """Takes a node off the network at once (a crash): what is sent to it is lost."""
        self._armed.pop(address, None)
        return self.nodes.pop(address)

    def settle(self, address: Address) -> None:
        """Collects what the node at `address` sends and its events, and re-arms its timer;
        call it after any direct call into a node."""
        node = self.nodes.get(address)
        if node is None:
            return
        conditions = self.conditions
        for data, destination in node.datagrams_to_send():
            if len(data) > MAX_DATAGRAM_SIZE:
                self.oversize += 1
            if self.random.random() < conditions.loss:
                self.lost += 1
                continue
            latency = self.random.uniform(conditions.min_latency, conditions.max_latency)
            heapq.heappush(
                self._deliveries,
                (self.now + latency, next(self._order), destination, address, data),
            )
        event = node.next_event()
        while event is not None:
            if self.on_event is not None:
                self.on_event(address, event, self.now)
            event = node.next_event()
        deadline = node.get_timer()
        if deadline != self._armed.get(address):
            self._armed[address] = deadline
            if deadline is not None:
                heapq.heappush(self._timers, (deadline, next(self._order), address))

    def run_until(self, end: float) -> None:
        """Delivers datagrams and fires timers in time order up to `end`."""
        deliveries, timers = self._deliveries, self._timers
        while True:
            next_delivery = deliveries[0][0] if deliveries else None
            next_timer = timers[0][0] if timers else None
            if next_delivery is not None and (next_timer is None or next_delivery <= next_timer):
                if next_delivery > end:
                    break
                at, _, destination, source, data = heapq.heappop(deliveries)
                self.now = max(self.now, at)
                node = self.nodes.get(destination)
                if node is None:
                    self.lost += 1
                    continue
                self.delivered += 1
                node.receive_datagram(data, source, self.now)
                self.settle(destination)
            elif next_timer is not None:
                if next_timer > end:
                    break
                at, _, address = heapq.heappop(timers)
                if self._armed.get(address) != at:
                    continue  # stale: the node re-armed since, or left
                self._armed[address] = None
                self.now = max(self.now, at)
                self.nodes[address].handle_timer(self.now)
                self.settle(address)
            else:
                break
        self.now = max(self.now, end)


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    """What `run_simulation` does (times in virtual seconds)."""

    nodes: int = 500
    seeds: int = 3
    join_interval: float = 0.05  # between two joins in the initial wave
    settle_time: float = 30.0
    churn_fraction: float = 0.1  # this share of the nodes leaves, and as many new ones join
    measure_time: float = 300.0
    lookups: int = 500
    conditions: NetworkConditions = field(default_factory=NetworkConditions)
    config: DhtConfig = field(
        default_factory=lambda: DhtConfig(
            record_ttl=600.0, republish_interval=120.0, refresh_interval=300.0
        )
    )
    seed: int = 1


@dataclass(frozen=True, slots=True)
class SimulationReport:
    nodes: int
    lookups: int
    succeeded: int
    success_rate: float
    mean_hops: float
    p95_hops: float
    max_hops: int
    mean_queries: float
    departed: int
    joined: int
    bytes_per_node: float
    bytes_per_node_per_second: float
    datagrams_lost: int
    oversize_datagrams: int
    simulated_seconds: float
    wall_seconds: float


def _address(index: int) -> Address:
    # Distinct, deterministic addresses from the benchmarking range (RFC 2544: 198.18.0.0/15).
    return (f"198.{18 + (index >> 16)}.{(index >> 8) & 0xFF}.{index & 0xFF}", 4100)


def _percentile(values: list[int], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


class DhtSimulation:
    """The scenario of `run_simulation`, step by step (see the module rules)."""

    # A record counts as findable once its put had time to finish (a few lookup rounds).
    PUBLISH_GRACE = 10.0

    def __init__(self, plan: SimulationPlan) -> None:
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.network = SimulatedNetwork(plan.conditions, seed=plan.seed)
        self.network.on_event = self._on_event
        self.seed_addresses: list[Address] = []
        self.ids: dict[Address, bytes] = {}
        self.published_at: dict[Address, float] = {}  # bootstrapped, record published
        self.hops: list[int] = []
        self.queries: list[int] = []
        self.lookups = 0
        self.succeeded = 0
        self.departed = 0
        self.joined = 0
        self._sent_by_departed = 0
        self._created = 0
        self._pending: dict[tuple[Address, int], bytes] = {}

    def new_node(self) -> Address:
        index = self._created
        self._created += 1
        node = DhtNode(
            SimulatedSigner(_SEQUENCE.pack(self.plan.seed) + _SEQUENCE.pack(index)),
            validate=validate_simulated_record,
            newer=newer_simulated_record,
            config=self.plan.config,
            check_signature=check_simulated_signature,
            random_bytes=self.random.randbytes,
        )
        address = _address(index)
        self.network.add(node, address)
        self.ids[address] = node.node_id
        return address

    def join(self, address: Address) -> None:
        network = self.network
        network.nodes[address].bootstrap(list(self.seed_addresses), network.now)
        network.settle(address)

    def _on_event(self, address: Address, event: DhtEvent, now: float) -> None:
        node = self.network.nodes[address]
        if isinstance(event, BootstrapFinished):
            node.put(node.node_id, simulated_record(node.node_id, 1), now)
            self.published_at[address] = now
        elif isinstance(event, LookupFinished):
            expected = self._pending.pop((address, event.lookup_id), None)
            if expected is None:
                return
            self.lookups += 1
            if event.value == expected:
                self.succeeded += 1
                self.hops.append(event.hops)
            self.queries.append(event.queries)

    def build(self) -> None:
        """The seeds, each bootstrapping from those before it, then the initial wave."""
        plan, network = self.plan, self.network
        for _ in range(plan.seeds):
            address = self.new_node()
            self.join(address)
            self.seed_addresses.append(address)
            network.run_until(network.now + 1.0)
        for _ in range(plan.nodes - plan.seeds):
            network.run_until(network.now + plan.join_interval)
            self.join(self.new_node())
        network.run_until(network.now + plan.settle_time)

    def leave(self) -> None:
        candidates = sorted(a for a in self.network.nodes if a not in self.seed_addresses)
        if candidates:
            leaving = self.random.choice(candidates)
            self._sent_by_departed += self.network.remove(leaving).sent_bytes
            self.published_at.pop(leaving, None)
            self.departed += 1

    def look_up(self) -> None:
        """A random ready node looks up the record of another."""
        network = self.network
        ready = sorted(
            a for a, at in self.published_at.items() if at + self.PUBLISH_GRACE <= network.now
        )
        if len(ready) < 2:
            return
        asker, owner = self.random.sample(ready, 2)
        key = self.ids[owner]
        lookup_id = network.nodes[asker].find_value(key, network.now)
        self._pending[(asker, lookup_id)] = simulated_record(key, 1)
        network.settle(asker)

    def measure(self) -> None:
        """Lookups, departures and joins at random times over `measure_time`."""
        plan, network = self.plan, self.network
        churn = int(plan.nodes * plan.churn_fraction)
        start = network.now
        actions: list[tuple[float, str]] = []
        for count, action in ((plan.lookups, "lookup"), (churn, "leave"), (churn, "join")):
            actions += [
                (start + self.random.uniform(0, plan.measure_time), action) for _ in range(count)
            ]
        actions.sort()
        for at, action in actions:
            network.run_until(at)
            if action == "leave":
                self.leave()
            elif action == "join":
                self.join(self.new_node())
                self.joined += 1
            else:
                self.look_up()
        # Let the last lookups end; one whose asker left first is counted neither way.
        network.run_until(network.now + 30.0)

    def report(self, wall_seconds: float) -> SimulationReport:
        network = self.network
        total_sent = self._sent_by_departed + sum(n.sent_bytes for n in network.nodes.values())
        per_node = total_sent / max(1, self._created)
        elapsed = network.now
        return SimulationReport(
            nodes=self.plan.nodes,
            lookups=self.lookups,
            succeeded=self.succeeded,
            success_rate=self.succeeded / self.lookups if self.lookups else 0.0,
            mean_hops=statistics.fmean(self.hops) if self.hops else 0.0,
            p95_hops=_percentile(self.hops, 0.95),
            max_hops=max(self.hops, default=0),
            mean_queries=statistics.fmean(self.queries) if self.queries else 0.0,
            departed=self.departed,
            joined=self.joined,
            bytes_per_node=per_node,
            bytes_per_node_per_second=per_node / elapsed if elapsed else 0.0,
            datagrams_lost=network.lost,
            oversize_datagrams=network.oversize,
            simulated_seconds=elapsed,
            wall_seconds=wall_seconds,
        )


def run_simulation(plan: SimulationPlan) -> SimulationReport:
    """Runs `plan` and measures it (see the module rules)."""
    started = time.perf_counter()
    simulation = DhtSimulation(plan)
    simulation.build()
    simulation.measure()
    return simulation.report(time.perf_counter() - started)


def quick_plan(nodes: int, *, seed: int = 1) -> SimulationPlan:
    """The shorter plan of the tests and `benchmarks/dht_simulation.py --quick`: two minutes
    of lookups and churn instead of five."""
    return replace(
        SimulationPlan(), nodes=nodes, seed=seed, lookups=300, measure_time=120.0, settle_time=20.0
    )
