"""The Kademlia core: ids and buckets, eviction, lookups, records, limits, robustness."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.errors import LocalProtocolError
from pacata.p2p.dht import (
    BootstrapFinished,
    DhtConfig,
    DhtNode,
    LookupFinished,
    PutFinished,
    RoutingTable,
    bucket_index,
    distance,
    node_id_of,
)
from pacata.p2p.dht_messages import (
    MAX_DATAGRAM_SIZE,
    Contact,
    DhtPacket,
    FindNode,
    FindValue,
    Nodes,
    Ping,
    Pong,
    Store,
    Stored,
    Value,
)
from pacata.p2p.records import (
    Endpoint,
    NodeRecord,
    Transport,
    newer_record_value,
    validate_record_value,
)
from pacata.testing.simulations.dht import (
    NetworkConditions,
    SimulatedNetwork,
    SimulatedSigner,
    check_simulated_signature,
    newer_simulated_record,
    simulated_record,
    validate_simulated_record,
)
from pacata.testing.timer_rule import TimerRuleDriver, clock_events

FAST = NetworkConditions(min_latency=0.01, max_latency=0.02, loss=0.0)


def _signer(index: int) -> SimulatedSigner:
    return SimulatedSigner(index.to_bytes(8, "big"))


def _node(index: int, config: DhtConfig | None = None, seed: int = 0) -> DhtNode:
    return DhtNode(
        _signer(index),
        validate=validate_simulated_record,
        newer=newer_simulated_record,
        config=config,
        check_signature=check_simulated_signature,
        random_bytes=random.Random(seed * 1000 + index).randbytes,
    )


def _address(index: int) -> tuple[str, int]:
    return (f"10.0.{index >> 8}.{index & 0xFF}", 4000)


def _network(count: int, config: DhtConfig | None = None) -> tuple[SimulatedNetwork, list[DhtNode]]:
    """`count` nodes joined one after the other through node 0."""
    network = SimulatedNetwork(FAST, seed=3)
    nodes = []
    for index in range(count):
        node = _node(index, config)
        network.add(node, _address(index))
        node.bootstrap([_address(0)] if index else [], network.now)
        network.settle(_address(index))
        network.run_until(network.now + 2.0)
        nodes.append(node)
    return network, nodes


def _events(network: SimulatedNetwork) -> list[tuple[tuple[str, int], object]]:
    seen: list[tuple[tuple[str, int], object]] = []
    network.on_event = lambda address, event, now: seen.append((address, event))
    return seen


# -- ids, distance, buckets --------------------------------------------------------------------


def test_node_id_is_sha256_of_the_public_key() -> None:
    key = PrivateKey(bytes(31) + b"\x07")
    assert node_id_of(key.public_key) == hashlib.sha256(key.public_key).digest()


def test_distance_and_buckets() -> None:
    zero = bytes(32)
    assert distance(zero, zero) == 0
    assert bucket_index(zero, zero) == -1
    assert bucket_index(zero, bytes(31) + b"\x01") == 0
    assert bucket_index(zero, b"\x80" + bytes(31)) == 255
    a, b = bytes(range(32)), bytes(range(1, 33))
    assert distance(a, b) == distance(b, a)


def _contact(node_id: bytes, index: int = 1) -> Contact:
    return Contact(node_id, (f"10.1.0.{index}", 4000))


def test_buckets_keep_the_least_recently_seen_first() -> None:
    table = RoutingTable(bytes(32), bucket_size=2, max_replacements=2)
    first = _contact(b"\x80" + bytes(31), 1)
    second = _contact(b"\x81" + bytes(31), 2)
    third = _contact(b"\x82" + bytes(31), 3)
    assert table.seen(first) == (True, None)
    assert table.seen(second) == (True, None)
    # Full: the newcomer waits, and the oldest is named for a ping.
    assert table.seen(third) == (False, first)
    # Seeing the oldest again moves it to the tail: then it is `second` that is oldest.
    table.eviction_answered(first.node_id)
    assert table.seen(first) == (False, None)
    assert [c.node_id for c in table.contacts()] == [second.node_id, first.node_id]
    # Removing promotes the newest replacement.
    table.remove(second.node_id)
    assert {c.node_id for c in table.contacts()} == {first.node_id, third.node_id}
    assert table.closest(b"\x82" + bytes(31), 1) == [third]


def test_repeated_failures_drop_a_contact() -> None:
    table = RoutingTable(bytes(32), bucket_size=4, max_replacements=2)
    contact = _contact(b"\x40" + bytes(31))
    table.seen(contact)
    assert not table.failed(contact.node_id, max_failures=2)
    assert table.failed(contact.node_id, max_failures=2)
    assert contact.node_id not in table


def _same_bucket_signers(own: DhtNode, count: int) -> list[int]:
    """Indices of signers whose ids fall in `own`'s farthest bucket (half of all ids)."""
    found = []
    for index in itertools.count(100):
        if bucket_index(own.node_id, node_id_of(_signer(index).public_key)) == 255:
            found.append(index)
            if len(found) == count:
                return found
    raise AssertionError  # pragma: no cover


@pytest.mark.parametrize("oldest_answers", [True, False])
def test_full_bucket_pings_the_oldest_and_evicts_it_only_if_silent(oldest_answers: bool) -> None:
    config = DhtConfig(bucket_size=2, request_timeout=1.0, request_retries=1)
    network = SimulatedNetwork(FAST, seed=1)
    own = _node(0, config)
    network.add(own, _address(0))
    indices = _same_bucket_signers(own, 3)
    others = [_node(i, config) for i in indices]
    for number, other in enumerate(others, start=1):
        network.add(other, _address(number))
    for number, other in enumerate(others, start=1):
        other.bootstrap([_address(0)], network.now)  # a PING to `own`
        network.settle(_address(number))
        network.run_until(network.now + 0.5)
        if number == 1 and not oldest_answers:
            network.remove(_address(1))  # the oldest goes silent
    oldest, kept, newcomer = (o.node_id for o in others)
    network.run_until(network.now + 5.0)
    ids = {c.node_id for c in own.table.contacts()}
    if oldest_answers:
        assert ids == {oldest, kept}
        assert newcomer in own.table.buckets[255].replacements
    else:
        assert ids == {kept, newcomer}


# -- lookups and records -----------------------------------------------------------------------


def test_bootstrap_fills_the_tables() -> None:
    network = SimulatedNetwork(FAST, seed=1)
    events = _events(network)
    _, nodes = (network, [])
    for index in range(12):
        node = _node(index)
        network.add(node, _address(index))
        node.bootstrap([_address(0)] if index else [], network.now)
        network.settle(_address(index))
        network.run_until(network.now + 2.0)
        nodes.append(node)
    finished = [e for _, e in events if isinstance(e, BootstrapFinished)]
    assert len(finished) == 12
    assert all(len(node.table) >= 8 for node in nodes)


def test_find_node_reaches_the_target_in_a_small_network() -> None:
    network, nodes = _network(40)
    events = _events(network)
    asker, target = nodes[5], nodes[33]
    lookup_id = asker.find_node(target.node_id, network.now)
    network.settle(_address(5))
    network.run_until(network.now + 10.0)
    [(_, event)] = events
    assert isinstance(event, LookupFinished)
    assert event.lookup_id == lookup_id
    assert event.contacts[0].node_id == target.node_id
    assert event.contacts[0].address == _address(33)
    distances = [distance(c.node_id, target.node_id) for c in event.contacts]
    assert distances == sorted(distances)
    assert 1 <= event.hops <= 4
    assert len(event.contacts) == 16


def test_put_then_find_value_from_another_node() -> None:
    network, nodes = _network(30)
    events = _events(network)
    owner, asker = nodes[7], nodes[21]
    record = simulated_record(owner.node_id, 1)
    owner.put(owner.node_id, record, network.now)
    network.settle(_address(7))
    network.run_until(network.now + 10.0)
    [(_, put)] = events
    assert isinstance(put, PutFinished)
    assert put.stored == put.contacted == 16
    holders = [n for n in nodes if n.get_local(owner.node_id, network.now) == record]
    assert len(holders) >= 16
    asker_holds = asker.get_local(owner.node_id, network.now) is not None
    asker._records.clear()  # ask the network, not ourselves
    asker.find_value(owner.node_id, network.now)
    network.settle(_address(21))
    network.run_until(network.now + 10.0)
    found = events[-1][1]
    assert isinstance(found, LookupFinished)
    assert found.value == record
    assert found.hops >= 1 or asker_holds


def test_a_record_held_locally_is_returned_at_once() -> None:
    node = _node(1)
    record = simulated_record(node.node_id, 1)
    node.put(node.node_id, record, 0.0)
    node.find_value(node.node_id, 0.0)
    events = []
    while (event := node.next_event()) is not None:
        events.append(event)
    assert any(isinstance(e, LookupFinished) and e.value == record and e.hops == 0 for e in events)


def test_records_expire_unless_republished() -> None:
    config = DhtConfig(record_ttl=100.0, republish_interval=40.0, maintenance_interval=10.0)
    network, nodes = _network(20, config)
    kept, dropped = nodes[3], nodes[4]
    for node, address in ((kept, _address(3)), (dropped, _address(4))):
        node.put(node.node_id, simulated_record(node.node_id, 1), network.now)
        network.settle(address)
    network.run_until(network.now + 5.0)
    dropped.unpublish(dropped.node_id)
    dropped._records.clear()
    network.run_until(network.now + 250.0)
    now = network.now
    assert sum(n.get_local(kept.node_id, now) is not None for n in nodes) >= 16
    assert all(n.get_local(dropped.node_id, now) is None for n in nodes)


def test_stores_obey_the_validator_and_newer() -> None:
    server, client = _node(1), _node(2)
    key = client.node_id

    def store(value: bytes, request_id: bytes) -> bool:
        datagram = DhtPacket.signed(client.signer, request_id, Store(key, value))
        server.receive_datagram(datagram, _address(2), 1.0)
        [(reply, _)] = server.datagrams_to_send()
        body = DhtPacket.decode(reply).body
        assert isinstance(body, Stored)
        return body.accepted

    assert not store(b"not a record", b"r1......")
    assert not store(simulated_record(server.node_id, 5), b"r2......")  # names another key
    assert store(simulated_record(key, 2), b"r3......")
    assert not store(simulated_record(key, 1), b"r4......")  # older
    assert store(simulated_record(key, 2), b"r5......")  # the same again refreshes it
    assert store(simulated_record(key, 3), b"r6......")
    assert server.get_local(key, 1.0) == simulated_record(key, 3)


def test_node_records_as_values_newest_wins_and_forgeries_are_refused() -> None:
    """The validator and comparator pacatad plugs in: real signed node records as values."""
    network = SimulatedNetwork(FAST, seed=5)
    events = _events(network)
    nodes = []
    for index in range(6):
        node = DhtNode(
            _signer(index),
            validate=validate_record_value,
            newer=newer_record_value,
            check_signature=check_simulated_signature,
            random_bytes=random.Random(index).randbytes,
        )
        network.add(node, _address(index))
        node.bootstrap([_address(0)] if index else [], network.now)
        network.settle(_address(index))
        network.run_until(network.now + 2.0)
        nodes.append(node)
    owner = PrivateKey(sha256(b"record owner"))
    key = node_id_of(owner.public_key)
    endpoints = (Endpoint(Transport.UDP, "192.0.2.7", 9741),)

    def version(seq: int) -> bytes:
        return NodeRecord.create(owner, seq, endpoints, bytes(32)).encode()

    def put(publisher: int, value: bytes) -> PutFinished:
        nodes[publisher].put(key, value, network.now)
        network.settle(_address(publisher))
        network.run_until(network.now + 5.0)
        put = events[-1][1]
        assert isinstance(put, PutFinished)
        return put

    assert put(1, version(1)).stored == 5
    assert put(2, version(2)).stored == 5  # newer: replaces version 1 everywhere
    assert put(3, version(1)).stored == 0  # a replayed older record is refused
    assert all(node.get_local(key, network.now) == version(2) for node in nodes[:3])
    forged = NodeRecord.create(owner, 3, endpoints, bytes(32)).encode()[:-1] + b"\x00"
    with pytest.raises(LocalProtocolError):
        nodes[4].put(key, forged, network.now)
    datagram = DhtPacket.signed(_signer(9), b"forged..", Store(key, forged))
    nodes[5].receive_datagram(datagram, ("10.9.9.9", 4000), network.now)
    assert nodes[5].drops["invalid value"] == 1
    wrong_key = NodeRecord.create(PrivateKey(sha256(b"someone else")), 9, (), bytes(32))
    with pytest.raises(LocalProtocolError):
        nodes[4].put(key, wrong_key.encode(), network.now)  # another node's record
    nodes[5]._records.clear()  # ask the network, not ourselves
    nodes[5].find_value(key, network.now)
    network.settle(_address(5))
    network.run_until(network.now + 5.0)
    found = events[-1][1]
    assert isinstance(found, LookupFinished)
    assert found.value == version(2)


def test_put_refuses_what_the_validator_refuses() -> None:
    node = _node(1)
    with pytest.raises(LocalProtocolError):
        node.put(node.node_id, b"garbage", 0.0)


def test_records_are_capped_and_the_farthest_gives_way() -> None:
    node = _node(1, DhtConfig(max_records=4))
    keys = [node_id_of(_signer(i).public_key) for i in range(10, 30)]
    keys.sort(key=lambda k: distance(node.node_id, k), reverse=True)  # farthest first
    for number, key in enumerate(keys):
        sender = _signer(100 + number)
        datagram = DhtPacket.signed(sender, bytes(8), Store(key, simulated_record(key, 1)))
        node.receive_datagram(datagram, (f"10.9.0.{number}", 1), 0.0)
    assert node.record_count() == 4
    assert all(node.get_local(k, 0.0) is not None for k in keys[-4:])  # the 4 closest


def test_requests_from_one_host_are_rate_limited() -> None:
    node = _node(1, DhtConfig(request_rate=1.0, request_burst=5.0))
    sender = _signer(2)
    for number in range(20):
        request_id = number.to_bytes(8, "big")
        node.receive_datagram(DhtPacket.signed(sender, request_id, Ping()), ("10.2.0.1", 9), 0.0)
    assert len(node.datagrams_to_send()) == 5
    assert node.drops["rate limited"] == 15


def test_replies_must_come_from_where_the_request_went() -> None:
    node, peer = _node(1), _node(2)
    node.bootstrap([_address(2)], 0.0)
    [(ping, _)] = node.datagrams_to_send()
    peer.receive_datagram(ping, _address(1), 0.1)
    [(pong, _)] = peer.datagrams_to_send()
    node.receive_datagram(pong, ("10.66.0.1", 4000), 0.2)  # right bytes, wrong source
    assert node.drops["unmatched reply"] == 1
    assert len(node.table) == 0
    node.receive_datagram(pong, _address(2), 0.2)
    assert peer.node_id in node.table


def test_real_secp256k1_signatures_are_checked() -> None:
    keys = [PrivateKey(bytes(31) + bytes((i,))) for i in (1, 2)]
    nodes = [
        DhtNode(k, validate=lambda key, value: True, newer=lambda old, new: True) for k in keys
    ]
    ping = DhtPacket.signed(keys[0], bytes(8), Ping())
    nodes[1].receive_datagram(ping, _address(1), 0.0)
    [(pong, _)] = nodes[1].datagrams_to_send()
    assert isinstance(DhtPacket.decode(pong).body, Pong)
    forged = ping[:-64] + bytes(64)
    nodes[1].receive_datagram(forged, _address(1), 0.0)
    assert nodes[1].drops["bad signature"] == 1
    assert nodes[1].datagrams_to_send() == []


# -- wire format -------------------------------------------------------------------------------


_ids = st.binary(min_size=32, max_size=32)
_hosts = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).filter(lambda a: a.ipv4_mapped is None).map(str),
)
_contacts = st.builds(Contact, _ids, st.tuples(_hosts, st.integers(0, 65535)))
_bodies = st.one_of(
    st.just(Ping()),
    st.builds(Pong, st.tuples(_hosts, st.integers(0, 65535))),
    st.builds(FindNode, _ids),
    st.builds(FindValue, _ids),
    st.builds(Value, _ids, st.binary(max_size=1024)),
    st.builds(Store, _ids, st.binary(max_size=1024)),
    st.builds(Stored, _ids, st.booleans()),
    st.builds(lambda contacts: Nodes(0, 1, tuple(contacts)), st.lists(_contacts, max_size=21)),
)


@given(body=_bodies, request_id=st.binary(min_size=8, max_size=8))
def test_packets_round_trip_and_fit_a_datagram(body: object, request_id: bytes) -> None:
    signer = _signer(1)
    assert isinstance(body, Ping | Pong | FindNode | FindValue | Value | Store | Stored | Nodes)
    datagram = DhtPacket.signed(signer, request_id, body)
    assert len(datagram) <= MAX_DATAGRAM_SIZE
    packet = DhtPacket.open(datagram, check_simulated_signature)
    assert packet is not None
    assert packet.body == body
    assert packet.request_id == request_id
    assert packet.encode() == datagram


def test_decoding_refuses_trailing_bytes_and_unknown_kinds() -> None:
    datagram = DhtPacket.signed(_signer(1), bytes(8), Ping())
    with pytest.raises(Exception, match="trailing"):
        DhtPacket.decode(datagram + b"\x00")
    with pytest.raises(Exception, match="unknown DHT message kind"):
        DhtPacket.decode(datagram[:4] + b"\x63" + datagram[5:])
    mapped = DhtPacket.signed(_signer(1), bytes(8), Pong(("10.0.0.1", 1)))
    as_v6 = mapped.replace(
        b"\x01\x0a\x00\x00\x01", b"\x02" + bytes(10) + b"\xff\xff\x0a\x00\x00\x01"
    )
    with pytest.raises(Exception, match="non-canonical"):
        DhtPacket.decode(as_v6)


def test_big_nodes_answers_are_split_and_reassembled() -> None:
    # k = 32 with IPv6 contacts is more than one datagram holds.
    config = DhtConfig(bucket_size=32)
    server, client = _node(1, config), _node(2, config)
    for index in range(3, 60):
        contact = Contact(node_id_of(_signer(index).public_key), (f"2001:db8::{index:x}", 4000))
        server.table.seen(contact)
    client.table.seen(Contact(server.node_id, _address(1)))
    client.find_node(bytes(32), 0.0)
    [(request, _)] = client.datagrams_to_send()
    server.receive_datagram(request, _address(2), 0.1)
    replies = server.datagrams_to_send()
    assert len(replies) == 2
    assert all(len(datagram) <= MAX_DATAGRAM_SIZE for datagram, _ in replies)
    client.receive_datagram(replies[1][0], _address(1), 0.2)
    assert client.next_event() is None  # waits for the other part
    client.receive_datagram(replies[0][0], _address(1), 0.2)
    queried = {address for _, address in client.datagrams_to_send()}
    assert len(queried) == 3  # α new queries to what the 32 contacts taught it
    assert all(host.startswith("2001:db8::") for host, _ in queried)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_garbage_never_raises_out_of_receive_datagram(tail: bytes) -> None:
    node = _node(1)
    for datagram in (b"PDH\x01" + tail, tail):
        node.receive_datagram(datagram, ("10.3.0.1", 5), 0.0)
    node.handle_timer(10.0)


@settings(max_examples=200)
@given(body=_bodies, request_id=st.binary(min_size=8, max_size=8))
def test_signed_nonsense_never_raises_either(body: object, request_id: bytes) -> None:
    node = _node(1)
    node.find_value(bytes(32), 0.0)
    assert isinstance(body, Ping | Pong | FindNode | FindValue | Value | Store | Stored | Nodes)
    node.receive_datagram(DhtPacket.signed(_signer(2), request_id, body), ("10.3.0.2", 5), 0.0)
    for datagram, _ in node.datagrams_to_send():
        assert len(datagram) <= MAX_DATAGRAM_SIZE
    node.handle_timer(100.0)


def test_pings_are_retransmitted_with_the_same_request_id_then_given_up() -> None:
    node = _node(1, DhtConfig(request_timeout=1.0, request_retries=1))
    node.bootstrap([("10.4.0.1", 4000)], 0.0)
    [(first, _)] = node.datagrams_to_send()
    assert node.get_timer() == 1.0
    node.handle_timer(1.0)
    assert node.datagrams_to_send() == [(first, ("10.4.0.1", 4000))]
    assert node.get_timer() == 2.0
    node.handle_timer(2.0)
    assert node.next_event() == BootstrapFinished(0)  # the seed never answered
    assert node.datagrams_to_send() == []


# -- timers that sleep -------------------------------------------------------------------------
#
# The rule of `pacata.testing.timer_rule` for a DHT node: a deadline left in the past makes the
# node's event loop fire the timer back to back. Hypothesis drives a few nodes on a hand-delivered
# network through joins, lookups, puts, lost, corrupted and forged datagrams and nodes leaving and
# returning, while the clock moves by small and large steps and each node's timer fires at its
# deadline and late, as a busy event loop would: retransmissions, failed queries, evictions,
# maintenance, refreshes and republishing all run.

TIMER_NODES = 5
timer_node = st.integers(0, TIMER_NODES - 1)
seconds = st.one_of(st.floats(0.0, 10.0), st.floats(10.0, 100_000.0))
dht_events = st.one_of(
    clock_events(seconds, cores=TIMER_NODES),
    st.tuples(st.just("bootstrap"), timer_node, st.lists(timer_node, max_size=2)),
    st.tuples(st.just("find node"), timer_node, st.integers(0, 9)),
    st.tuples(st.just("find value"), timer_node, timer_node),
    st.tuples(st.just("put"), timer_node, st.integers(1, 3)),
    st.tuples(st.just("deliver"), st.integers(0, 20)),
    st.tuples(st.just("deliver all")),
    st.tuples(st.just("lose"), st.integers(0, 20)),
    st.tuples(st.just("corrupt"), st.integers(0, 20), st.integers(4, 200)),
    st.tuples(st.just("forged"), timer_node, st.integers(0, 9)),
    st.tuples(st.just("leave"), timer_node),
    st.tuples(st.just("return"), timer_node),
)
dht_configs = st.builds(
    DhtConfig,
    bucket_size=st.integers(1, 3),
    parallelism=st.integers(1, 3),
    request_timeout=st.floats(0.05, 5.0),
    request_retries=st.integers(0, 2),
    max_failures=st.integers(1, 2),
    record_ttl=st.just(40.0),
    republish_interval=st.just(20.0),
    refresh_interval=st.just(10.0),
    maintenance_interval=st.floats(0.5, 10.0),
    max_lookups=st.just(4),
    refresh_queries=st.just(2),
)


class _DhtDriver(TimerRuleDriver):
    """`TIMER_NODES` nodes, the datagrams in flight between them, and a manual clock."""

    def __init__(self, config: DhtConfig) -> None:
        self.nodes = [_node(index, config) for index in range(TIMER_NODES)]
        self.present = set(range(TIMER_NODES))
        self.wire: list[tuple[bytes, tuple[str, int], tuple[str, int]]] = []

    def collect(self, index: int) -> None:
        node = self.nodes[index]
        for datagram, destination in node.datagrams_to_send():
            self.wire.append((datagram, _address(index), destination))
        while node.next_event() is not None:
            pass

    def deadline(self, core: int) -> float | None:
        """A node that left is down: it has no timer until it returns."""
        return self.nodes[core].get_timer() if core in self.present else None

    def run_timer(self, core: int) -> None:
        """Runs a present node's timer and takes what it sends, delivering nothing."""
        if core in self.present:
            self.nodes[core].handle_timer(self.now)
            self.collect(core)

    def core_name(self, core: int) -> str:
        return f"node {core}"

    def deliver(
        self, datagram: bytes, source: tuple[str, int], destination: tuple[str, int]
    ) -> None:
        index = next((i for i in self.present if _address(i) == destination), None)
        if index is not None:
            self.nodes[index].receive_datagram(datagram, source, self.now)
            self.collect(index)

    def run(self, event: tuple[object, ...]) -> None:
        nodes = self.nodes
        if not self.run_clock_event(event):
            match event:
                case ("bootstrap", int(i), list(seeds)) if i in self.present:
                    nodes[i].bootstrap([_address(seed) for seed in seeds if seed != i], self.now)
                case ("find node", int(i), int(target)) if i in self.present:
                    with contextlib.suppress(LocalProtocolError):  # too many lookups at once
                        nodes[i].find_node(sha256(bytes([target])), self.now)
                case ("find value", int(i), int(j)) if i in self.present:
                    with contextlib.suppress(LocalProtocolError):
                        nodes[i].find_value(nodes[j].node_id, self.now)
                case ("put", int(i), int(sequence)) if i in self.present:
                    node = nodes[i]
                    with contextlib.suppress(LocalProtocolError):
                        node.put(node.node_id, simulated_record(node.node_id, sequence), self.now)
                case ("deliver", int(k)) if self.wire:
                    self.deliver(*self.wire.pop(k % len(self.wire)))
                case ("deliver all",):
                    in_flight, self.wire = self.wire, []
                    for item in in_flight:
                        self.deliver(*item)
                case ("lose", int(k)) if self.wire:
                    self.wire.pop(k % len(self.wire))
                case ("corrupt", int(k), int(position)) if self.wire:
                    datagram, source, destination = self.wire.pop(k % len(self.wire))
                    position %= len(datagram)
                    flipped = datagram[:position] + bytes([datagram[position] ^ 1])
                    self.deliver(flipped + datagram[position + 1 :], source, destination)
                case ("forged", int(i), int(target)) if i in self.present:
                    # A well-signed answer to a request never made, from a stranger.
                    stray = DhtPacket.signed(_signer(99), bytes(8), Nodes(0, 1, ()))
                    nodes[i].receive_datagram(stray, ("10.9.0.9", target + 1), self.now)
                    self.collect(i)
                case ("leave", int(i)):
                    self.present.discard(i)  # silently, as a crash would
                case ("return", int(i)):
                    self.present.add(i)
        for i in self.present:
            self.collect(i)


@settings(max_examples=100, deadline=None)
@given(dht_configs, st.lists(dht_events, min_size=5, max_size=40))
def test_a_dht_node_timer_sleeps_once_it_ran(
    config: DhtConfig, script: list[tuple[object, ...]]
) -> None:
    driver = _DhtDriver(config)
    # The nodes join through node 0 first, so that lookups and maintenance have contacts.
    joins: list[tuple[object, ...]] = [("bootstrap", i, [0]) for i in range(1, TIMER_NODES)]
    for event in joins + [("deliver all",)] * 8 + script:
        driver.run(event)
    # Then a quiet stretch: every node's requests expire and its maintenance comes round.
    for _ in range(10):
        for index in range(TIMER_NODES):
            driver.run(("timer at deadline", index))
