"""The state of an iterative lookup (Maymounkov & Mazières 2002, §2.3), apart from the sending.

    lookup.learn(contacts, hops)          # candidates from our table (hops 1) or from answers
    for candidate in lookup.to_ask(): lookup.ask(candidate); <send it FIND_NODE or FIND_VALUE>
    lookup.answered(candidate) / lookup.failed(candidate) / lookup.found(value, candidate)
    lookup.is_over() -> bool;  lookup.closest_answered() -> the result;  lookup.hops()

Rules:

- Up to α = `parallelism` queries in flight to the closest candidates not yet asked; the lookup
  is over when the k closest candidates that did not fail have all answered, or when none is
  left to ask and none is in flight. A FIND_VALUE lookup also ends when a candidate returns a
  value the validator accepts (the node checks it and calls `found`). A query unanswered after
  `request_timeout` counts as failed (the node calls `failed`).
- A bucket refresh (`Purpose.REFRESH`) is there to meet nodes of one bucket, not to converge:
  it asks at most `refresh_queries` nodes.
- `hops` is the length of the chain of answers that led to the result: a contact from our own
  table is one hop away, one learnt from its answer two, and so on.
- Bounded by construction: at most 4k candidates are kept, the asked ones and the nearest
  others. The lookup sends nothing and reads no clock: `DhtNode` sends the queries and feeds
  the answers back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from pacata.p2p.dht.config import DhtConfig
from pacata.p2p.dht_messages import Contact


class CandidateState(Enum):
    WAITING = 1
    ASKED = 2
    ANSWERED = 3
    FAILED = 4


@dataclass(slots=True)
class Candidate:
    contact: Contact
    distance: int
    hops: int  # answers on the way to it; 1 for a contact of our own table
    state: CandidateState = CandidateState.WAITING


class Purpose(Enum):
    """What the owner of a lookup does with its result."""

    FIND_NODE = 1
    FIND_VALUE = 2
    PUT = 3
    JOIN = 4
    REFRESH = 5


@dataclass(slots=True)
class Lookup:
    """One lookup of `target` (see the module rules). The `stores_pending`, `stored` and
    `contacted` counts are a PUT's second phase, the STOREs at the nodes the lookup found."""

    lookup_id: int
    purpose: Purpose
    target: bytes
    own_id: bytes
    config: DhtConfig
    value_to_store: bytes | None = None
    candidates: dict[bytes, Candidate] = field(default_factory=dict)
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
        return self.purpose == Purpose.FIND_VALUE

    def learn(self, contacts: Iterable[Contact], hops: int) -> None:
        """Adds the `contacts` not yet known as candidates `hops` answers away."""
        target_int = int.from_bytes(self.target, "big")
        candidates = self.candidates
        for contact in contacts:
            if contact.node_id == self.own_id or contact.node_id in candidates:
                continue
            distance_to = int.from_bytes(contact.node_id, "big") ^ target_int
            candidates[contact.node_id] = Candidate(contact, distance_to, hops)
        limit = 4 * self.config.bucket_size
        if len(candidates) > limit:  # bounded: keep the asked ones and the nearest others
            ranked = sorted(candidates.values(), key=lambda c: c.distance)
            keep = {c.contact.node_id for c in ranked[:limit]}
            for node_id in [
                n
                for n, c in candidates.items()
                if n not in keep and c.state == CandidateState.WAITING
            ]:
                del candidates[node_id]

    def to_ask(self) -> list[Candidate]:
        """The candidates to query now, nearest first: those of the k closest live ones not
        yet asked, as many as α (and a refresh's budget) leave room for."""
        room = self.config.parallelism - self.in_flight
        if self.purpose == Purpose.REFRESH:
            room = min(room, self.config.refresh_queries - self.queries)
        if room <= 0:
            return []
        waiting = [c for c in self._closest_live() if c.state == CandidateState.WAITING]
        return waiting[:room]

    def ask(self, candidate: Candidate) -> None:
        candidate.state = CandidateState.ASKED
        self.in_flight += 1
        self.queries += 1

    def answered(self, candidate: Candidate) -> None:
        self.in_flight -= 1
        candidate.state = CandidateState.ANSWERED

    def failed(self, candidate: Candidate) -> None:
        self.in_flight -= 1
        candidate.state = CandidateState.FAILED

    def found(self, value: bytes, candidate: Candidate) -> None:
        """`candidate` returned `value`, which the validator accepts."""
        self.value = value
        self.value_hops = candidate.hops

    def is_over(self) -> bool:
        if (
            self.purpose == Purpose.REFRESH
            and self.queries >= self.config.refresh_queries
            and self.in_flight == 0
        ):
            return True  # it was there to meet nodes of one bucket: it did
        live = self._closest_live()
        return all(c.state == CandidateState.ANSWERED for c in live) or (
            self.in_flight == 0 and not any(c.state == CandidateState.WAITING for c in live)
        )

    def closest_answered(self) -> list[Candidate]:
        """The k candidates nearest to the target that answered, nearest first."""
        answered = [c for c in self.candidates.values() if c.state == CandidateState.ANSWERED]
        answered.sort(key=lambda c: c.distance)
        return answered[: self.config.bucket_size]

    def hops(self) -> int:
        """The hops of the result: of the value found, else of the nearest node that answered."""
        if self.value is not None:
            return self.value_hops
        answered = self.closest_answered()
        return answered[0].hops if answered else 0

    def _closest_live(self) -> list[Candidate]:
        """The k candidates nearest to the target that did not fail, nearest first."""
        return sorted(
            (c for c in self.candidates.values() if c.state != CandidateState.FAILED),
            key=lambda c: c.distance,
        )[: self.config.bucket_size]
