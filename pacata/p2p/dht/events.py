"""What a `DhtNode` tells its owner: one event per operation the owner started, none otherwise.

Events come only from `find_node`, `find_value`, `put` and `bootstrap`, so a flood of packets
from remote hosts cannot grow the event queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacata.p2p.dht_messages import Contact


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
