"""`DhtNode`: one node of the Kademlia DHT, composing the routing table, the record store, the
pending requests and the lookups, and serving the requests of other nodes.

Rules:

- Every verified packet is a sign of life: the routing table hears of its sender (`seen`), a
  full bucket's oldest contact is pinged, and a node new to the table is handed the records
  it is nearer to than we are, when no contact we know is nearer than we are (§2.5).
- Requests are served (§2.3): PING with PONG and the address it came from, FIND_NODE with the
  k closest contacts other than the requester, FIND_VALUE with the value if we hold it (else
  as FIND_NODE), STORE with STORED and whether the record store kept the value.
- Joining (§2.3): ping the seeds, then look up our own id, then refresh every bucket farther
  than the nearest neighbour. Every `maintenance_interval`: expire records, republish the
  owner's values when due, and refresh by a lookup of a random id in its range each bucket no
  lookup went through for `refresh_interval` (at most `max_refreshes_per_round`).
- Bounded by construction: requests per source host limited by token buckets (STOREs by a
  slower one), the table of those buckets capped at `max_tracked_hosts`, at most
  `max_lookups` lookups at once. Nothing a remote host sends raises out of
  `receive_datagram`: bad packets are dropped and counted in `drops`.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable

from pacata.chain.keys import verify_signature
from pacata.errors import DecodeError, LocalProtocolError
from pacata.p2p.connection import TokenBucket
from pacata.p2p.dht.config import DhtConfig
from pacata.p2p.dht.events import BootstrapFinished, DhtEvent, LookupFinished, PutFinished
from pacata.p2p.dht.lookups import Candidate, Lookup, Purpose
from pacata.p2p.dht.requests import ContactList, PendingRequests, Reply
from pacata.p2p.dht.routing import ID_BITS, RoutingTable, bucket_index
from pacata.p2p.dht.storage import Newer, RecordStore, Validator
from pacata.p2p.dht_messages import (
    KEY_SIZE,
    MAX_VALUE_SIZE,
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


class DhtNode:
    """One node of the DHT (see the rules of this module and of the package)."""

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
        self.check_signature = check_signature
        self.random_bytes = random_bytes
        self.table = RoutingTable(
            self.node_id, self.config.bucket_size, self.config.max_replacements
        )
        self.drops: Counter[str] = Counter()
        self.sent_bytes = 0
        self.received_bytes = 0
        self.observed_address: Address | None = None
        self._records = RecordStore(
            self.node_id, self.config, validate=validate, newer=newer, drops=self.drops
        )
        self._requests = PendingRequests(
            signer,
            self.config,
            random_bytes=random_bytes,
            transmit=self._transmit,
            unanswered=self._unanswered,
            drops=self.drops,
        )
        self._lookups: dict[int, Lookup] = {}
        self._lookup_ids = itertools.count(1)
        self._outgoing: list[tuple[bytes, Address]] = []
        self._events: deque[DhtEvent] = deque()
        self._request_buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._store_buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._next_maintenance: float | None = None
        self._bootstrap_pings = 0
        self._handlers: dict[MessageKind, Callable[[DhtPacket, Contact, float], None]] = {
            MessageKind.PING: self._on_ping,
            MessageKind.FIND_NODE: self._on_find_node,
            MessageKind.FIND_VALUE: self._on_find_value,
            MessageKind.STORE: self._on_store,
        }

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
            self._requests.send(
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
        return self._start_lookup(Purpose.FIND_NODE, _check_key(target), now)

    def find_value(self, key: bytes, now: float) -> int:
        """Starts a lookup of the value under `key`; `LookupFinished` follows."""
        key = _check_key(key)
        record = self._records.live(key, now)
        if record is not None:
            lookup_id = next(self._lookup_ids)
            self._events.append(LookupFinished(lookup_id, key, (), record, 0, 0))
            return lookup_id
        return self._start_lookup(Purpose.FIND_VALUE, key, now)

    def put(self, key: bytes, value: bytes, now: float) -> int:
        """Publishes `value` under `key` at the k closest nodes, and again every
        `republish_interval` (§2.5); `PutFinished` follows."""
        key = _check_key(key)
        if len(value) > MAX_VALUE_SIZE or not self._records.valid(key, value):
            raise LocalProtocolError("the validator refuses this value, or it is too long")
        self._records.publish(key, value, now)
        return self._start_lookup(Purpose.PUT, key, now, value_to_store=value)

    def unpublish(self, key: bytes) -> None:
        """Stops republishing `key` (copies elsewhere expire after `record_ttl`)."""
        self._records.unpublish(key)

    def get_local(self, key: bytes, now: float) -> bytes | None:
        """The value this node holds under `key`, if not expired."""
        return self._records.live(key, now)

    def record_count(self) -> int:
        return len(self._records)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        outgoing = self._outgoing
        self._outgoing = []
        return outgoing

    def next_event(self) -> DhtEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        earliest = self._requests.next_deadline()
        maintenance = self._next_maintenance
        if maintenance is not None and (earliest is None or maintenance < earliest):
            return maintenance
        return earliest

    def handle_timer(self, now: float) -> None:
        """Retransmits or fails the requests that are due and runs the periodic work."""
        self._start_clock(now)
        self._requests.expire(now)
        if self._next_maintenance is not None and self._next_maintenance <= now:
            self._next_maintenance = now + self.config.maintenance_interval
            self._maintain(now)

    def _start_clock(self, now: float) -> None:
        if self._next_maintenance is None:
            self._next_maintenance = now + self.config.maintenance_interval
            self._records.schedule_republish(now)

    def _transmit(self, datagram: bytes, address: Address) -> None:
        self.sent_bytes += len(datagram)
        self._outgoing.append((datagram, address))

    def _unanswered(self, node_id: bytes) -> None:
        self.table.failed(node_id, self.config.max_failures)

    def _receive_reply(self, packet: DhtPacket, sender: Contact, now: float) -> None:
        pending = self._requests.match(packet, sender)
        if pending is None:
            return
        self._heard_from(sender, now)
        self._requests.deliver(pending, packet, sender, now)

    def _heard_from(self, contact: Contact, now: float) -> None:
        """A verified packet came from `contact`: the routing table hears of it (§2.2)."""
        self.table.eviction_answered(contact.node_id)
        added, oldest = self.table.seen(contact)
        if added and self._records:
            self._replicate_to(contact, now)
        if oldest is None:
            return
        self._requests.send(
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
        for key, value in self._records.live_items(now):
            key_int = int.from_bytes(key, "big")
            ours = own ^ key_int
            if newcomer_int ^ key_int >= ours:
                continue
            if self.table.any_closer(key, ours, newcomer.node_id):
                continue
            self._requests.send(
                Store(key, value),
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

    def _reply(self, request: DhtPacket, body: Body, address: Address) -> None:
        self._transmit(DhtPacket.signed(self.signer, request.request_id, body), address)

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
        value = self._records.live(key, now)
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
        elif not self._records.valid(key, value):
            self.drops["invalid value"] += 1
        else:
            accepted = self._records.keep(key, value, now)
        self._reply(packet, Stored(key, accepted), sender.address)

    def _start_lookup(
        self, purpose: Purpose, target: bytes, now: float, *, value_to_store: bytes | None = None
    ) -> int:
        self._start_clock(now)
        if len(self._lookups) >= self.config.max_lookups:
            raise LocalProtocolError(f"{self.config.max_lookups} lookups are already running")
        lookup = Lookup(
            next(self._lookup_ids), purpose, target, self.node_id, self.config, value_to_store
        )
        self._lookups[lookup.lookup_id] = lookup
        index = bucket_index(self.node_id, target)
        if index >= 0:
            self.table.bucket(index).touched = now
        lookup.learn(self.table.closest(target, self.config.bucket_size), hops=1)
        self._advance(lookup, now)
        return lookup.lookup_id

    def _advance(self, lookup: Lookup, now: float) -> None:
        """Sends queries up to α in flight, or finishes the lookup (§2.3)."""
        if lookup.finished:
            return
        for candidate in lookup.to_ask():
            self._query(lookup, candidate, now)
        if lookup.is_over():
            self._finish(lookup, now)

    def _query(self, lookup: Lookup, candidate: Candidate, now: float) -> None:
        lookup.ask(candidate)
        body: Body = FindValue(lookup.target) if lookup.asks_for_value else FindNode(lookup.target)

        def on_reply(reply: Reply, sender: Contact, when: float) -> None:
            lookup.answered(candidate)
            if lookup.finished:
                return
            if isinstance(reply, Value):
                if reply.key == lookup.target and self._records.valid(reply.key, reply.value):
                    lookup.found(reply.value, candidate)
                    self._finish(lookup, when)
                    return
                self.drops["invalid value"] += 1
            elif isinstance(reply, ContactList):
                lookup.learn(reply.contacts, candidate.hops + 1)
            self._advance(lookup, when)

        def on_timeout(when: float) -> None:
            lookup.failed(candidate)
            self._advance(lookup, when)

        self._requests.send(
            body,
            candidate.contact.address,
            candidate.contact.node_id,
            now,
            on_reply=on_reply,
            on_timeout=on_timeout,
        )

    def _finish(self, lookup: Lookup, now: float) -> None:
        lookup.finished = True
        del self._lookups[lookup.lookup_id]
        contacts = tuple(c.contact for c in lookup.closest_answered())
        if lookup.purpose in (Purpose.FIND_NODE, Purpose.FIND_VALUE):
            self._events.append(
                LookupFinished(
                    lookup.lookup_id,
                    lookup.target,
                    contacts,
                    lookup.value,
                    lookup.hops(),
                    lookup.queries,
                )
            )
        elif lookup.purpose == Purpose.PUT:
            self._store_at(lookup, contacts, now)
        elif lookup.purpose == Purpose.JOIN:
            self._events.append(BootstrapFinished(len(self.table)))
            # §2.3: refresh every bucket farther than the nearest neighbour, or we would know
            # only our own corner of the id space and the nodes that happen to ask us.
            self._refresh_buckets(now, stale_before=now, limit=ID_BITS)

    def _store_at(self, lookup: Lookup, contacts: tuple[Contact, ...], now: float) -> None:
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
            self._requests.send(
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

    def _bootstrap_answered(self, now: float) -> None:
        self._bootstrap_pings -= 1
        if self._bootstrap_pings == 0:
            self._start_join_lookup(now)

    def _start_join_lookup(self, now: float) -> None:
        if len(self._lookups) >= self.config.max_lookups:
            self._events.append(BootstrapFinished(len(self.table)))
            return
        self._start_lookup(Purpose.JOIN, self.node_id, now)

    def _maintain(self, now: float) -> None:
        self._records.expire(now)
        for key, value in self._records.due_for_republish(now):
            if len(self._lookups) >= self.config.max_lookups:
                break
            self._records.keep(key, value, now)
            self._start_lookup(Purpose.PUT, key, now, value_to_store=value)
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
            self._start_lookup(Purpose.REFRESH, self._random_id_in_bucket(index), now)
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
