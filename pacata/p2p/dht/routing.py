"""The routing table: k-buckets of contacts by XOR distance (Maymounkov & Mazières 2002, §2.1-§2.2).

Rules:

- Ids are 256 bits: a node's is `node_id_of(public_key)`, SHA-256 of its compressed secp256k1
  key; distance is XOR (§2.1). A contact enters the table only from a packet whose signature
  proves the sender's key (`dht_messages.py`), at the address the packet came from: the node
  calls `seen` for verified packets only.
- One k-bucket per distance bit length (§2.2), k = `DhtConfig.bucket_size`, least-recently
  seen first. A new contact for a full bucket waits in the bucket's bounded replacement cache
  while the oldest contact is pinged (`seen` names it; the node sends the ping): an answer
  keeps the old one (it moves to the tail), no answer after the retries evicts it (`remove`)
  and promotes the newest replacement (§2.2, §4.1). A contact that misses `max_failures`
  requests in a row is dropped the same way (`failed`).
- Bounded by construction: k contacts and `max_replacements` replacements a bucket.
"""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from pacata.p2p.dht_messages import Contact
from pacata.p2p.records import NODE_ID_SIZE

ID_BITS = NODE_ID_SIZE * 8


def distance(a: bytes, b: bytes) -> int:
    """The XOR distance of two ids, as an integer (§2.1)."""
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")


def bucket_index(own_id: bytes, node_id: bytes) -> int:
    """The k-bucket of `node_id` in `own_id`'s table: the bit length of their distance, less
    one (0 for the nearest ids, 255 for the half of the space across); -1 for `own_id`."""
    return distance(own_id, node_id).bit_length() - 1


@dataclass(slots=True)
class Bucket:
    """One k-bucket: its contacts, the replacements waiting for room, the requests each contact
    missed in a row, and when a lookup last went through its range (`touched`)."""

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
        self.buckets: dict[int, Bucket] = {}

    def __len__(self) -> int:
        return sum(len(bucket.contacts) for bucket in self.buckets.values())

    def __contains__(self, node_id: object) -> bool:
        if not isinstance(node_id, bytes) or node_id == self.own_id:
            return False
        bucket = self.buckets.get(bucket_index(self.own_id, node_id))
        return bucket is not None and node_id in bucket.contacts

    def bucket(self, index: int) -> Bucket:
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = Bucket()
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
