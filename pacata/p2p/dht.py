"""A Kademlia DHT node as a sans-I/O state machine (Maymounkov & Mazières 2002; docs/p2p-udp.md).

    node = DhtNode(signer, validate=..., newer=...)
    node.bootstrap(seed_addresses, now)
    node.receive_datagram(data, source, now) -> bool        # False: not a DHT packet
    node.find_node(target, now) / node.find_value(key, now) / node.put(key, value, now) -> id
    node.datagrams_to_send() -> [(datagram, address), ...]
    node.get_timer() -> deadline or None;  node.handle_timer(now)
    node.next_event() -> LookupFinished | PutFinished | BootstrapFinished | None

Rules (§ are the paper's sections):

- Ids are 256 bits: a node's is `node_id_of(public_key)`, SHA-256 of its compressed secp256k1
  key; distance is XOR (§2.1). A contact enters the routing table only from a packet whose
  signature proves the sender's key (`dht_messages.py`), at the address the packet came from.
- The routing table has one k-bucket per distance bit length (§2.2), k = 16, least-recently
  seen first. A new contact for a full bucket waits in the bucket's bounded replacement cache
  while the oldest contact is pinged: an answer keeps the old one (it moves to the tail), no
  answer after the retries evicts it and promotes the newest replacement (§2.2, §4.1). A
  contact that misses `max_failures` requests in a row is dropped the same way.
- Lookups are iterative (§2.3): up to α = 3 queries in flight to the closest candidates not yet
  asked; the lookup ends when the k closest candidates that did not fail have all answered, or
  (FIND_VALUE) when a candidate returns a value the validator accepts. A query unanswered after
  `request_timeout` counts as failed. `hops` is the length of the chain of answers that led to
  the result (a contact from our own table is one hop away).
- Values are opaque bytes under 32-byte keys. `validate(key, value)` decides what may be stored
  or returned and `newer(old, new)` whether a value replaces the one held (node records, whose
  key is the node id, plug in here). A record expires `record_ttl` after it was last stored;
  the publisher stores its own values again every `republish_interval` at the k nodes then
  closest (§2.5), and a bucket no lookup went through for `refresh_interval` is refreshed by a
  lookup of a random id in its range (§2.3).
- Requests and retries run on `now`, given by the caller; PING and STORE are retransmitted
  `request_retries` times with the same request id, lookup queries are not (the lookup moves on).
  A reply counts only from the address the request went to and, when the id is known, from
  that node id.
- Bounded by construction: at most `max_records` records (when full, the record farthest from
  our id gives way to a closer key), requests per source host limited by token buckets (STOREs
  by a slower one), the table of those buckets capped, the routing table capped by k and the
  replacement cache, at most `max_lookups` lookups at once. Nothing a remote host sends raises
  out of `receive_datagram`: bad packets are dropped and counted in `drops`; events come only
  from operations the owner started, so a flood cannot grow the event queue.
- No clock and no global randomness: `now` is the caller's monotonic time in seconds and every
  random byte comes from the injected `random_bytes`.
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum

from pacata.chain.keys import verify_signature
from pacata.errors import DecodeError, LocalProtocolError
from pacata.p2p.connection import TokenBucket
from pacata.p2p.dht_messages import (
    KEY_SIZE,
    MAX_VALUE_SIZE,
    REQUEST_ID_SIZE,
    REQUEST_KINDS,
    Body,
    Contact,
    DhtPacket,
    FindNode,
    FindValue,
    MessageKind,
    Nodes,
    PacketSigner,
    Ping,
    Pong,
    SignatureCheck,
    Store,
    Stored,
    Value,
    is_dht_datagram,
    split_contacts,
)
from pacata.p2p.records import NODE_ID_SIZE, node_id_of
from pacata.p2p.udp_address import Address, normalize_address

__all__ = [
    "BootstrapFinished",
    "Contact",
    "DhtConfig",
    "DhtEvent",
    "DhtNode",
    "LookupFinished",
    "PutFinished",
    "RoutingTable",
    "bucket_index",
    "distance",
    "node_id_of",
]

ID_BITS = NODE_ID_SIZE * 8

Validator = Callable[[bytes, bytes], bool]
"""`validate(key, value)`: may `value` be stored and returned under `key`?"""
Newer = Callable[[bytes, bytes], bool]
"""`newer(old, new)`: does `new` replace `old` under the same key?"""


def distance(a: bytes, b: bytes) -> int:
    """The XOR distance of two ids, as an integer (§2.1)."""
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def bucket_index(own_id: bytes, node_id: bytes) -> int:
    """The k-bucket of `node_id` in `own_id`'s table: the bit length of their distance, less
    one (0 for the nearest ids, 255 for the half of the space across); -1 for `own_id`."""
    return distance(own_id, node_id).bit_length() - 1


@dataclass(frozen=True, slots=True)
class DhtConfig:
    bucket_size: int = 16  # k
    parallelism: int = 3  # α
    request_timeout: float = 1.0
    request_retries: int = 1  # retransmissions of a PING or STORE
    max_failures: int = 2
    record_ttl: float = 3600.0
    republish_interval: float = 1800.0
    refresh_interval: float = 900.0
    maintenance_interval: float = 60.0
    max_records: int = 4096
    max_replacements: int = 8
    max_lookups: int = 64
    max_refreshes_per_round: int = 4
    max_replications_per_contact: int = 32
    refresh_queries: int = 6  # a bucket refresh asks this many nodes, not a full lookup
    request_rate: float = 20.0  # requests a second from one host, sustained
    request_burst: float = 100.0
    store_rate: float = 1.0
    store_burst: float = 20.0
    max_tracked_hosts: int = 1024

    def __post_init__(self) -> None:
        if self.bucket_size < 1 or self.parallelism < 1 or self.request_timeout <= 0:
            raise ValueError("k, α and the request timeout must be positive")


@dataclass(frozen=True, slots=True)
class LookupFinished:
    """A `find_node` or `find_value` ended. `contacts` are the closest nodes that answered
    (at most k, nearest first); `value` is what `find_value` found, or None."""

    lookup_id: int
    target: bytes
    contacts: tuple[Contact, ...]
    value: bytes | None
    hops: int
    queries: int


@dataclass(frozen=True, slots=True)
class PutFinished:
    """A `put` ended: `stored` of the `contacted` closest nodes accepted the value."""

    lookup_id: int
    key: bytes
    stored: int
    contacted: int


@dataclass(frozen=True, slots=True)
class BootstrapFinished:
    """The join (pings to the seeds, then a lookup of our own id) ended with `contacts` in the
    routing table."""

    contacts: int


DhtEvent = LookupFinished | PutFinished | BootstrapFinished


# -- the routing table -------------------------------------------------------------------------


@dataclass(slots=True)
class _Bucket:
    contacts: OrderedDict[bytes, Contact] = field(default_factory=OrderedDict)
    replacements: OrderedDict[bytes, Contact] = field(default_factory=OrderedDict)
    failures: Counter[bytes] = field(default_factory=Counter)
    evicting: bytes | None = None  # the node id being pinged to make room
    touched: float = 0.0


class RoutingTable:
    """k-buckets by distance bit length (§2.2); contacts least-recently seen first."""

    def __init__(self, own_id: bytes, bucket_size: int, max_replacements: int) -> None:
        if len(own_id) != NODE_ID_SIZE:
            raise ValueError(f"a node id is {NODE_ID_SIZE} bytes")
        self.own_id = own_id
        self.bucket_size = bucket_size
        self.max_replacements = max_replacements
        self.buckets: dict[int, _Bucket] = {}

    def __len__(self) -> int:
        return sum(len(bucket.contacts) for bucket in self.buckets.values())

    def __contains__(self, node_id: object) -> bool:
        if not isinstance(node_id, bytes) or node_id == self.own_id:
            return False
        bucket = self.buckets.get(bucket_index(self.own_id, node_id))
        return bucket is not None and node_id in bucket.contacts

    def bucket(self, index: int) -> _Bucket:
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = _Bucket()
        return bucket

    def contacts(self) -> list[Contact]:
        return [c for bucket in self.buckets.values() for c in bucket.contacts.values()]

    def seen(self, contact: Contact) -> tuple[bool, Contact | None]:
        """Records that `contact` was heard from. Returns whether it is new in the table, and
        the bucket's oldest contact when the bucket is full and that one should be pinged
        before `contact` can replace it."""
        if contact.node_id == self.own_id:
            return False, None
        bucket = self.bucket(bucket_index(self.own_id, contact.node_id))
        node_id = contact.node_id
        bucket.failures.pop(node_id, None)
        if node_id in bucket.contacts:
            bucket.contacts[node_id] = contact  # the address it was last heard from
            bucket.contacts.move_to_end(node_id)
            return False, None
        if len(bucket.contacts) < self.bucket_size:
            bucket.contacts[node_id] = contact
            bucket.replacements.pop(node_id, None)
            return True, None
        bucket.replacements[node_id] = contact
        bucket.replacements.move_to_end(node_id)
        while len(bucket.replacements) > self.max_replacements:
            bucket.replacements.popitem(last=False)
        if bucket.evicting is not None:
            return False, None
        oldest = next(iter(bucket.contacts.values()))
        bucket.evicting = oldest.node_id
        return False, oldest

    def any_closer(self, target: bytes, than: int, excluding: bytes) -> bool:
        """Whether a contact other than `excluding` is nearer to `target` than `than`.

        Such a contact is within `than` of the target, so within twice that of us: only the
        buckets up to the bit length of `than` need looking at."""
        target_int = int.from_bytes(target, "big")
        for index in range(than.bit_length()):
            bucket = self.buckets.get(index)
            if bucket is None:
                continue
            for node_id in bucket.contacts:
                if node_id != excluding and int.from_bytes(node_id, "big") ^ target_int < than:
                    return True
        return False

    def failed(self, node_id: bytes, max_failures: int) -> bool:
        """Counts a request `node_id` did not answer; drops it (promoting a replacement) at
        `max_failures` in a row. True if it was dropped."""
        bucket = self.buckets.get(bucket_index(self.own_id, node_id))
        if bucket is None or node_id not in bucket.contacts:
            return False
        bucket.failures[node_id] += 1
        if bucket.failures[node_id] < max_failures:
            return False
        self.remove(node_id)
        return True

    def eviction_answered(self, node_id: bytes) -> None:
        bucket = self.buckets.get(bucket_index(self.own_id, node_id))
        if bucket is not None and bucket.evicting == node_id:
            bucket.evicting = None

    def remove(self, node_id: bytes) -> None:
        """Drops `node_id`; the newest replacement takes its place."""
        bucket = self.buckets.get(bucket_index(self.own_id, node_id))
        if bucket is None:
            return
        bucket.failures.pop(node_id, None)
        bucket.replacements.pop(node_id, None)
        if bucket.evicting == node_id:
            bucket.evicting = None
        if bucket.contacts.pop(node_id, None) is not None and bucket.replacements:
            _, replacement = bucket.replacements.popitem(last=True)
            bucket.contacts[replacement.node_id] = replacement

    def closest(self, target: bytes, count: int) -> list[Contact]:
        """The `count` contacts nearest to `target`, nearest first."""
        target_int = int.from_bytes(target, "big")
        return heapq.nsmallest(
            count,
            self.contacts(),
            key=lambda c: int.from_bytes(c.node_id, "big") ^ target_int,
        )


# -- lookups -----------------------------------------------------------------------------------


class _State(Enum):
    WAITING = 1
    ASKED = 2
    ANSWERED = 3
    FAILED = 4


@dataclass(slots=True)
class _Candidate:
    contact: Contact
    distance: int
    hops: int  # answers on the way to it; 1 for a contact of our own table
    state: _State = _State.WAITING


class _Purpose(Enum):
    FIND_NODE = 1
    FIND_VALUE = 2
    PUT = 3
    JOIN = 4
    REFRESH = 5


@dataclass(slots=True)
class _Lookup:
    lookup_id: int
    purpose: _Purpose
    target: bytes
    value_to_store: bytes | None = None
    candidates: dict[bytes, _Candidate] = field(default_factory=dict)
    in_flight: int = 0
    queries: int = 0
    value: bytes | None = None
    value_hops: int = 0
    finished: bool = False
    stores_pending: int = 0
    stored: int = 0
    contacted: int = 0

    @property
    def asks_for_value(self) -> bool:
        return self.purpose == _Purpose.FIND_VALUE


@dataclass(frozen=True, slots=True)
class _ContactList:
    """The contacts of every part of a NODES answer, joined."""

    contacts: tuple[Contact, ...]


Reply = Body | _ContactList
ReplyHandler = Callable[[Reply, Contact, float], None]
TimeoutHandler = Callable[[float], None]


@dataclass(slots=True)
class _PendingRequest:
    request_id: bytes
    kind: MessageKind
    address: Address
    expected_id: bytes | None
    datagram: bytes
    deadline: float
    retries_left: int
    on_reply: ReplyHandler
    on_timeout: TimeoutHandler
    parts: dict[int, Nodes] = field(default_factory=dict)


@dataclass(slots=True)
class _Record:
    value: bytes
    expires_at: float


_REPLY_KINDS: dict[MessageKind, frozenset[MessageKind]] = {
    MessageKind.PING: frozenset({MessageKind.PONG}),
    MessageKind.FIND_NODE: frozenset({MessageKind.NODES}),
    MessageKind.FIND_VALUE: frozenset({MessageKind.VALUE, MessageKind.NODES}),
    MessageKind.STORE: frozenset({MessageKind.STORED}),
}


class DhtNode:
    """One node of the DHT (see the module rules)."""

    def __init__(
        self,
        signer: PacketSigner,
        *,
        validate: Validator,
        newer: Newer,
        config: DhtConfig | None = None,
        check_signature: SignatureCheck = verify_signature,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.signer = signer
        self.node_id = node_id_of(signer.public_key)
        self.config = config or DhtConfig()
        self.validate = validate
        self.newer = newer
        self.check_signature = check_signature
        self.random_bytes = random_bytes
        self.table = RoutingTable(
            self.node_id, self.config.bucket_size, self.config.max_replacements
        )
        self.drops: Counter[str] = Counter()
        self.sent_bytes = 0
        self.received_bytes = 0
        self.observed_address: Address | None = None
        self._records: dict[bytes, _Record] = {}
        self._published: dict[bytes, bytes] = {}
        self._pending: dict[bytes, _PendingRequest] = {}
        self._deadlines: list[tuple[float, bytes]] = []
        self._lookups: dict[int, _Lookup] = {}
        self._lookup_ids = itertools.count(1)
        self._outgoing: list[tuple[bytes, Address]] = []
        self._events: deque[DhtEvent] = deque()
        self._request_buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._store_buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._next_maintenance: float | None = None
        self._next_republish: float | None = None
        self._bootstrap_pings = 0
        self._handlers: dict[MessageKind, Callable[[DhtPacket, Contact, float], None]] = {
            MessageKind.PING: self._on_ping,
            MessageKind.FIND_NODE: self._on_find_node,
            MessageKind.FIND_VALUE: self._on_find_value,
            MessageKind.STORE: self._on_store,
        }

    # -- the owner's calls ------------------------------------------------------------------

    def receive_datagram(self, data: bytes, source: Address, now: float) -> bool:
        """Handles one datagram; False if it is not a DHT packet (and was left alone)."""
        if not is_dht_datagram(data):
            return False
        self._start_clock(now)
        self.received_bytes += len(data)
        try:
            opened = DhtPacket.open(data, self.check_signature)
            source = normalize_address(*source)
        except (DecodeError, ValueError):
            self.drops["malformed"] += 1
            return True
        if opened is None:
            self.drops["bad signature"] += 1
            return True
        packet = opened
        sender = Contact(packet.sender_id, source)
        if sender.node_id == self.node_id:
            self.drops["from our own id"] += 1
            return True
        if packet.kind in REQUEST_KINDS:
            if not self._admit(source[0], self._request_buckets, now, rate_for_store=False):
                self.drops["rate limited"] += 1
                return True
            self._heard_from(sender, now)
            self._handlers[packet.kind](packet, sender, now)
        else:
            self._receive_reply(packet, sender, now)
        return True

    def bootstrap(self, seeds: Iterable[Address], now: float) -> None:
        """Joins through `seeds` (addresses whose node ids we need not know): pings them, then
        looks up our own id (§2.3). `BootstrapFinished` follows."""
        self._start_clock(now)
        for seed in seeds:
            address = normalize_address(*seed)
            self._bootstrap_pings += 1
            self._send_request(
                Ping(),
                address,
                None,
                now,
                on_reply=lambda reply, sender, when: self._bootstrap_answered(when),
                on_timeout=self._bootstrap_answered,
                retries=self.config.request_retries,
            )
        if not self._bootstrap_pings:
            self._start_join_lookup(now)

    def find_node(self, target: bytes, now: float) -> int:
        """Starts a lookup of the k nodes closest to `target`; `LookupFinished` follows."""
        return self._start_lookup(_Purpose.FIND_NODE, _check_key(target), now)

    def find_value(self, key: bytes, now: float) -> int:
        """Starts a lookup of the value under `key`; `LookupFinished` follows."""
        key = _check_key(key)
        record = self._live_record(key, now)
        if record is not None:
            lookup_id = next(self._lookup_ids)
            self._events.append(LookupFinished(lookup_id, key, (), record, 0, 0))
            return lookup_id
        return self._start_lookup(_Purpose.FIND_VALUE, key, now)

    def put(self, key: bytes, value: bytes, now: float) -> int:
        """Publishes `value` under `key` at the k closest nodes, and again every
        `republish_interval` (§2.5); `PutFinished` follows."""
        key = _check_key(key)
        if len(value) > MAX_VALUE_SIZE or not self._valid(key, value):
            raise LocalProtocolError("the validator refuses this value, or it is too long")
        self._published[key] = value
        self._keep(key, value, now)
        return self._start_lookup(_Purpose.PUT, key, now, value_to_store=value)

    def unpublish(self, key: bytes) -> None:
        """Stops republishing `key` (copies elsewhere expire after `record_ttl`)."""
        self._published.pop(key, None)

    def get_local(self, key: bytes, now: float) -> bytes | None:
        """The value this node holds under `key`, if not expired."""
        return self._live_record(key, now)

    def record_count(self) -> int:
        return len(self._records)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        outgoing = self._outgoing
        self._outgoing = []
        return outgoing

    def next_event(self) -> DhtEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadlines = self._deadlines
        while deadlines:
            deadline, request_id = deadlines[0]
            pending = self._pending.get(request_id)
            if pending is not None and pending.deadline == deadline:
                break
            heapq.heappop(deadlines)
        earliest = deadlines[0][0] if deadlines else None
        maintenance = self._next_maintenance
        if maintenance is not None and (earliest is None or maintenance < earliest):
            return maintenance
        return earliest

    def handle_timer(self, now: float) -> None:
        """Retransmits or fails the requests that are due and runs the periodic work."""
        self._start_clock(now)
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            deadline, request_id = heapq.heappop(deadlines)
            pending = self._pending.get(request_id)
            if pending is None or pending.deadline != deadline:
                continue
            if pending.retries_left > 0:
                pending.retries_left -= 1
                pending.deadline = now + self.config.request_timeout
                heapq.heappush(deadlines, (pending.deadline, request_id))
                self._transmit(pending.datagram, pending.address)
                continue
            del self._pending[request_id]
            if pending.parts:
                # Some parts of a split NODES answer came: the node is alive, use them.
                self._deliver_nodes(pending, now)
                continue
            if pending.expected_id is not None:
                self.table.failed(pending.expected_id, self.config.max_failures)
            pending.on_timeout(now)
        if self._next_maintenance is not None and self._next_maintenance <= now:
            self._next_maintenance = now + self.config.maintenance_interval
            self._maintain(now)

    # -- requests and replies ----------------------------------------------------------------

    def _start_clock(self, now: float) -> None:
        if self._next_maintenance is None:
            self._next_maintenance = now + self.config.maintenance_interval
            self._next_republish = now + self.config.republish_interval

    def _transmit(self, datagram: bytes, address: Address) -> None:
        self.sent_bytes += len(datagram)
        self._outgoing.append((datagram, address))

    def _send_request(
        self,
        body: Body,
        address: Address,
        expected_id: bytes | None,
        now: float,
        *,
        on_reply: ReplyHandler,
        on_timeout: TimeoutHandler,
        retries: int = 0,
    ) -> None:
        request_id = self.random_bytes(REQUEST_ID_SIZE)
        if len(request_id) != REQUEST_ID_SIZE or request_id in self._pending:
            raise LocalProtocolError("random_bytes gave an unusable request id")
        datagram = DhtPacket.signed(self.signer, request_id, body)
        deadline = now + self.config.request_timeout
        self._pending[request_id] = _PendingRequest(
            request_id,
            body.KIND,
            address,
            expected_id,
            datagram,
            deadline,
            retries,
            on_reply,
            on_timeout,
        )
        heapq.heappush(self._deadlines, (deadline, request_id))
        self._transmit(datagram, address)

    def _reply(self, request: DhtPacket, body: Body, address: Address) -> None:
        self._transmit(DhtPacket.signed(self.signer, request.request_id, body), address)

    def _receive_reply(self, packet: DhtPacket, sender: Contact, now: float) -> None:
        pending = self._pending.get(packet.request_id)
        if (
            pending is None
            or pending.address != sender.address
            or (pending.expected_id is not None and pending.expected_id != sender.node_id)
            or packet.kind not in _REPLY_KINDS[pending.kind]
        ):
            self.drops["unmatched reply"] += 1
            return
        self._heard_from(sender, now)
        body = packet.body
        if isinstance(body, Nodes):
            if pending.parts and next(iter(pending.parts.values())).parts != body.parts:
                self.drops["inconsistent parts"] += 1
                return
            pending.parts[body.part] = body
            if len(pending.parts) < body.parts:
                return
            del self._pending[packet.request_id]
            self._deliver_nodes(pending, now, sender)
            return
        del self._pending[packet.request_id]
        pending.on_reply(body, sender, now)

    def _deliver_nodes(
        self, pending: _PendingRequest, now: float, sender: Contact | None = None
    ) -> None:
        contacts = tuple(c for part in sorted(pending.parts) for c in pending.parts[part].contacts)
        if sender is None:
            sender = Contact(pending.expected_id or bytes(NODE_ID_SIZE), pending.address)
        pending.on_reply(_ContactList(contacts), sender, now)

    def _heard_from(self, contact: Contact, now: float) -> None:
        """A verified packet came from `contact`: the routing table hears of it (§2.2)."""
        self.table.eviction_answered(contact.node_id)
        added, oldest = self.table.seen(contact)
        if added and self._records:
            self._replicate_to(contact, now)
        if oldest is None:
            return
        self._send_request(
            Ping(),
            oldest.address,
            oldest.node_id,
            now,
            on_reply=lambda reply, sender, when: None,  # seen() moved it to the tail
            on_timeout=lambda when: self.table.remove(oldest.node_id),
            retries=self.config.request_retries,
        )

    def _replicate_to(self, newcomer: Contact, now: float) -> None:
        """Hands a node new to our table the records it should hold (§2.5): those it is nearer
        to than we are, when no contact we know is nearer than we are (so that of the nodes
        holding a record, mostly the nearest one sends it)."""
        own = int.from_bytes(self.node_id, "big")
        newcomer_int = int.from_bytes(newcomer.node_id, "big")
        sent = 0
        for key, record in list(self._records.items()):
            if record.expires_at <= now:
                continue
            key_int = int.from_bytes(key, "big")
            ours = own ^ key_int
            if newcomer_int ^ key_int >= ours:
                continue
            if self.table.any_closer(key, ours, newcomer.node_id):
                continue
            self._send_request(
                Store(key, record.value),
                newcomer.address,
                newcomer.node_id,
                now,
                on_reply=lambda reply, sender, when: None,
                on_timeout=lambda when: None,
            )
            sent += 1
            if sent >= self.config.max_replications_per_contact:
                break

    def _admit(
        self, host: str, buckets: OrderedDict[str, TokenBucket], now: float, *, rate_for_store: bool
    ) -> bool:
        bucket = buckets.get(host)
        if bucket is None:
            config = self.config
            if rate_for_store:
                bucket = TokenBucket(config.store_rate, config.store_burst, now)
            else:
                bucket = TokenBucket(config.request_rate, config.request_burst, now)
            buckets[host] = bucket
            while len(buckets) > config.max_tracked_hosts:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(host)
        return bucket.take(now)

    # -- serving requests (§2.3) -------------------------------------------------------------

    def _on_ping(self, packet: DhtPacket, sender: Contact, now: float) -> None:
        self._reply(packet, Pong(sender.address), sender.address)

    def _closest_for(self, target: bytes, requester: bytes) -> list[Contact]:
        closest = self.table.closest(target, self.config.bucket_size + 1)
        return [c for c in closest if c.node_id != requester][: self.config.bucket_size]

    def _send_nodes(self, packet: DhtPacket, target: bytes, sender: Contact) -> None:
        parts = split_contacts(self._closest_for(target, sender.node_id))
        for index, contacts in enumerate(parts):
            self._reply(packet, Nodes(index, len(parts), contacts), sender.address)

    def _on_find_node(self, packet: DhtPacket, sender: Contact, now: float) -> None:
        assert isinstance(packet.body, FindNode)
        self._send_nodes(packet, packet.body.target, sender)

    def _on_find_value(self, packet: DhtPacket, sender: Contact, now: float) -> None:
        assert isinstance(packet.body, FindValue)
        key = packet.body.key
        value = self._live_record(key, now)
        if value is not None:
            self._reply(packet, Value(key, value), sender.address)
        else:
            self._send_nodes(packet, key, sender)

    def _on_store(self, packet: DhtPacket, sender: Contact, now: float) -> None:
        assert isinstance(packet.body, Store)
        key, value = packet.body.key, packet.body.value
        accepted = False
        if not self._admit(sender.address[0], self._store_buckets, now, rate_for_store=True):
            self.drops["store rate limited"] += 1
        elif not self._valid(key, value):
            self.drops["invalid value"] += 1
        else:
            accepted = self._keep(key, value, now)
        self._reply(packet, Stored(key, accepted), sender.address)

    # -- records -----------------------------------------------------------------------------

    def _valid(self, key: bytes, value: bytes) -> bool:
        try:
            return bool(self.validate(key, value))
        except Exception:  # a validator that chokes on garbage refuses it
            return False

    def _replaces(self, old: bytes, new: bytes) -> bool:
        try:
            return bool(self.newer(old, new))
        except Exception:
            return False

    def _live_record(self, key: bytes, now: float) -> bytes | None:
        record = self._records.get(key)
        if record is None:
            return None
        if record.expires_at <= now:
            del self._records[key]
            return None
        return record.value

    def _keep(self, key: bytes, value: bytes, now: float) -> bool:
        """Stores `value` under `key` if it is new, the same, or newer; True if held now."""
        expires_at = now + self.config.record_ttl
        record = self._records.get(key)
        if record is not None:
            if record.value != value and not self._replaces(record.value, value):
                return False
            record.value = value
            record.expires_at = expires_at
            return True
        if len(self._records) >= self.config.max_records and not self._make_room(key, now):
            self.drops["store full"] += 1
            return False
        self._records[key] = _Record(value, expires_at)
        return True

    def _make_room(self, key: bytes, now: float) -> bool:
        self._expire_records(now)
        if len(self._records) < self.config.max_records:
            return True
        own = self.node_id
        farthest = max(self._records, key=lambda k: distance(own, k))
        if distance(own, farthest) <= distance(own, key) or farthest in self._published:
            return False
        del self._records[farthest]
        return True

    def _expire_records(self, now: float) -> None:
        for key in [k for k, r in self._records.items() if r.expires_at <= now]:
            del self._records[key]

    # -- lookups (§2.3) ----------------------------------------------------------------------

    def _start_lookup(
        self, purpose: _Purpose, target: bytes, now: float, *, value_to_store: bytes | None = None
    ) -> int:
        self._start_clock(now)
        if len(self._lookups) >= self.config.max_lookups:
            raise LocalProtocolError(f"{self.config.max_lookups} lookups are already running")
        lookup = _Lookup(next(self._lookup_ids), purpose, target, value_to_store)
        self._lookups[lookup.lookup_id] = lookup
        index = bucket_index(self.node_id, target)
        if index >= 0:
            self.table.bucket(index).touched = now
        target_int = int.from_bytes(target, "big")
        for contact in self.table.closest(target, self.config.bucket_size):
            distance_to = int.from_bytes(contact.node_id, "big") ^ target_int
            lookup.candidates[contact.node_id] = _Candidate(contact, distance_to, 1)
        self._advance(lookup, now)
        return lookup.lookup_id

    def _advance(self, lookup: _Lookup, now: float) -> None:
        """Sends queries up to α in flight, or finishes the lookup (§2.3)."""
        if lookup.finished:
            return
        if (
            lookup.purpose == _Purpose.REFRESH
            and lookup.queries >= self.config.refresh_queries
            and lookup.in_flight == 0
        ):
            self._finish(lookup, now)  # it was there to meet nodes of one bucket: it did
            return
        k = self.config.bucket_size
        live = sorted(
            (c for c in lookup.candidates.values() if c.state != _State.FAILED),
            key=lambda c: c.distance,
        )[:k]
        for candidate in live:
            if lookup.in_flight >= self.config.parallelism:
                break
            if lookup.purpose == _Purpose.REFRESH and lookup.queries >= self.config.refresh_queries:
                break
            if candidate.state == _State.WAITING:
                self._query(lookup, candidate, now)
        if all(c.state == _State.ANSWERED for c in live) or (
            lookup.in_flight == 0 and not any(c.state == _State.WAITING for c in live)
        ):
            self._finish(lookup, now)

    def _query(self, lookup: _Lookup, candidate: _Candidate, now: float) -> None:
        candidate.state = _State.ASKED
        lookup.in_flight += 1
        lookup.queries += 1
        body: Body = FindValue(lookup.target) if lookup.asks_for_value else FindNode(lookup.target)

        def on_reply(reply: Reply, sender: Contact, when: float) -> None:
            lookup.in_flight -= 1
            candidate.state = _State.ANSWERED
            if lookup.finished:
                return
            if isinstance(reply, Value):
                if reply.key == lookup.target and self._valid(reply.key, reply.value):
                    lookup.value = reply.value
                    lookup.value_hops = candidate.hops
                    self._finish(lookup, when)
                    return
                self.drops["invalid value"] += 1
            elif isinstance(reply, _ContactList):
                self._learn(lookup, reply.contacts, candidate.hops + 1)
            self._advance(lookup, when)

        def on_timeout(when: float) -> None:
            lookup.in_flight -= 1
            candidate.state = _State.FAILED
            self._advance(lookup, when)

        self._send_request(
            body,
            candidate.contact.address,
            candidate.contact.node_id,
            now,
            on_reply=on_reply,
            on_timeout=on_timeout,
        )

    def _learn(self, lookup: _Lookup, contacts: tuple[Contact, ...], hops: int) -> None:
        target_int = int.from_bytes(lookup.target, "big")
        candidates = lookup.candidates
        for contact in contacts:
            if contact.node_id == self.node_id or contact.node_id in candidates:
                continue
            distance_to = int.from_bytes(contact.node_id, "big") ^ target_int
            candidates[contact.node_id] = _Candidate(contact, distance_to, hops)
        limit = 4 * self.config.bucket_size
        if len(candidates) > limit:  # bounded: keep the asked ones and the nearest others
            ranked = sorted(candidates.values(), key=lambda c: c.distance)
            keep = {c.contact.node_id for c in ranked[:limit]}
            for node_id in [
                n for n, c in candidates.items() if n not in keep and c.state == _State.WAITING
            ]:
                del candidates[node_id]

    def _answered(self, lookup: _Lookup) -> list[_Candidate]:
        answered = [c for c in lookup.candidates.values() if c.state == _State.ANSWERED]
        answered.sort(key=lambda c: c.distance)
        return answered[: self.config.bucket_size]

    def _finish(self, lookup: _Lookup, now: float) -> None:
        lookup.finished = True
        del self._lookups[lookup.lookup_id]
        answered = self._answered(lookup)
        contacts = tuple(c.contact for c in answered)
        if lookup.purpose in (_Purpose.FIND_NODE, _Purpose.FIND_VALUE):
            if lookup.value is not None:
                hops = lookup.value_hops
            else:
                hops = answered[0].hops if answered else 0
            self._events.append(
                LookupFinished(
                    lookup.lookup_id, lookup.target, contacts, lookup.value, hops, lookup.queries
                )
            )
        elif lookup.purpose == _Purpose.PUT:
            self._store_at(lookup, contacts, now)
        elif lookup.purpose == _Purpose.JOIN:
            self._events.append(BootstrapFinished(len(self.table)))
            # §2.3: refresh every bucket farther than the nearest neighbour, or we would know
            # only our own corner of the id space and the nodes that happen to ask us.
            self._refresh_buckets(now, stale_before=now, limit=ID_BITS)

    def _store_at(self, lookup: _Lookup, contacts: tuple[Contact, ...], now: float) -> None:
        value = lookup.value_to_store
        assert value is not None
        lookup.contacted = len(contacts)
        if not contacts:
            self._events.append(PutFinished(lookup.lookup_id, lookup.target, 0, 0))
            return
        lookup.stores_pending = len(contacts)

        def done(accepted: bool) -> None:
            lookup.stores_pending -= 1
            lookup.stored += accepted
            if lookup.stores_pending == 0:
                self._events.append(
                    PutFinished(lookup.lookup_id, lookup.target, lookup.stored, lookup.contacted)
                )

        for contact in contacts:
            self._send_request(
                Store(lookup.target, value),
                contact.address,
                contact.node_id,
                now,
                on_reply=lambda reply, sender, when: done(
                    isinstance(reply, Stored) and reply.accepted
                ),
                on_timeout=lambda when: done(False),
                retries=self.config.request_retries,
            )

    # -- joining and maintenance -------------------------------------------------------------

    def _bootstrap_answered(self, now: float) -> None:
        self._bootstrap_pings -= 1
        if self._bootstrap_pings == 0:
            self._start_join_lookup(now)

    def _start_join_lookup(self, now: float) -> None:
        if len(self._lookups) >= self.config.max_lookups:
            self._events.append(BootstrapFinished(len(self.table)))
            return
        self._start_lookup(_Purpose.JOIN, self.node_id, now)

    def _maintain(self, now: float) -> None:
        self._expire_records(now)
        if self._next_republish is not None and self._next_republish <= now:
            self._next_republish = now + self.config.republish_interval
            for key, value in list(self._published.items()):
                if len(self._lookups) >= self.config.max_lookups:
                    break
                self._keep(key, value, now)
                self._start_lookup(_Purpose.PUT, key, now, value_to_store=value)
        self._refresh_buckets(
            now,
            stale_before=now - self.config.refresh_interval,
            limit=self.config.max_refreshes_per_round,
        )

    def _refresh_buckets(self, now: float, *, stale_before: float, limit: int) -> None:
        """Looks up a random id in each bucket, from the nearest neighbour's out, that no
        lookup went through since `stale_before` (§2.3); at most `limit` of them."""
        occupied = [index for index, bucket in self.table.buckets.items() if bucket.contacts]
        if not occupied:
            return
        refreshed = 0
        for index in range(min(occupied), ID_BITS):
            if refreshed >= limit or len(self._lookups) >= self.config.max_lookups:
                break
            bucket = self.table.buckets.get(index)
            if bucket is not None and (
                bucket.touched >= stale_before or len(bucket.contacts) >= self.config.bucket_size
            ):
                continue
            self._start_lookup(_Purpose.REFRESH, self._random_id_in_bucket(index), now)
            refreshed += 1

    def _random_id_in_bucket(self, index: int) -> bytes:
        """A random id at a distance from ours whose bit length is `index` + 1."""
        random_int = int.from_bytes(self.random_bytes(NODE_ID_SIZE), "big")
        offset = (1 << index) | (random_int & ((1 << index) - 1))
        own = int.from_bytes(self.node_id, "big")
        return (own ^ offset).to_bytes(NODE_ID_SIZE, "big")


def _check_key(key: bytes) -> bytes:
    if len(key) != KEY_SIZE:
        raise ValueError(f"a key is {KEY_SIZE} bytes, got {len(key)}")
    return bytes(key)
