"""Gossip of blocks and transactions as a sans-I/O engine (docs/p2p.md §Gossip).

Peers announce the hashes of what they have (`InvBlocks`, `InvTransactions`); a node fetches
what it lacks (`GetBlocks`, `GetTransactions`) from one announcer at a time and, once the item
proves valid, announces it in turn. The owner decides validity; this engine only decides who
hears of what and who is asked for what.

Rules:
- An item is announced to a peer at most once, and never to a peer known to have it (it
  announced the item to us, we announced it to it, or it sent it to us). What each peer knows
  is a bounded LRU set; so is the node's seen-cache of items it has handled, which stops a
  hash from being fetched twice.
- One request per item at a time. Other announcers are remembered (at most
  `max_alternates`) and asked in turn when the request fails: `NotFound`, a timeout or the peer
  leaving.
- Per-peer bounds: at most `max_in_flight_per_peer` items requested from it, and at most
  `max_pending_announcements` announcements queued for it (the oldest go first). A peer can
  therefore cost only bounded memory, whatever it announces.
- Announcements and requests accumulate until `take_messages`, which batches them into as
  few messages as the bounds allow: the owner calls it after each input it handles.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pacata.p2p.messages import (
    MAX_BLOCK_REQUEST,
    MAX_INVENTORY,
    MAX_TRANSACTIONS,
    BlockAnnouncement,
    GetBlocks,
    GetTransactions,
    InvBlocks,
    InvTransactions,
    ItemKind,
    Message,
)

PeerId = int
ItemKey = tuple[ItemKind, bytes]
K = TypeVar("K", bound=Hashable)


class BoundedSet(Generic[K]):
    """A set that forgets its least recently added or touched members beyond `capacity`."""

    __slots__ = ("_items", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[K, None] = OrderedDict()

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: K) -> None:
        if item in self._items:
            self._items.move_to_end(item)
            return
        self._items[item] = None
        if len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def discard(self, item: K) -> None:
        self._items.pop(item, None)


@dataclass(frozen=True, slots=True)
class GossipLimits:
    seen_capacity: int = 100_000
    known_per_peer: int = 10_000
    max_pending_announcements: int = 10_000
    max_in_flight_per_peer: int = 512
    max_alternates: int = 4
    request_timeout: float = 5.0


@dataclass(slots=True)
class _PeerState:
    known: BoundedSet[ItemKey]
    announcements: OrderedDict[ItemKey, int] = field(default_factory=OrderedDict)  # -> height
    requests: dict[ItemKind, list[bytes]] = field(default_factory=dict)
    in_flight: int = 0


@dataclass(slots=True)
class _Request:
    peer: PeerId
    deadline: float
    alternates: list[PeerId]


class Gossip:
    def __init__(
        self, is_known: Callable[[ItemKind, bytes], bool], limits: GossipLimits | None = None
    ) -> None:
        """`is_known(kind, hash)` says whether the owner already holds an item."""
        self.is_known = is_known
        self.limits = limits or GossipLimits()
        self.seen: BoundedSet[ItemKey] = BoundedSet(self.limits.seen_capacity)
        self._peers: dict[PeerId, _PeerState] = {}
        self._requests: dict[ItemKey, _Request] = {}
        self._deadlines: list[tuple[float, ItemKind, bytes]] = []
        self.timed_out: list[PeerId] = []  # peers that let a request expire; the owner scores

    @property
    def peers(self) -> Iterable[PeerId]:
        return self._peers.keys()

    def add_peer(self, peer: PeerId) -> None:
        self._peers.setdefault(peer, _PeerState(BoundedSet(self.limits.known_per_peer)))

    def remove_peer(self, peer: PeerId, now: float) -> None:
        if self._peers.pop(peer, None) is None:
            return
        for key, request in list(self._requests.items()):
            if peer in request.alternates:
                request.alternates.remove(peer)
            if request.peer == peer:
                self._retry(key, now)

    def peer_knows(self, peer: PeerId, kind: ItemKind, item: bytes) -> bool:
        state = self._peers.get(peer)
        return state is not None and (kind, item) in state.known

    def in_flight(self, peer: PeerId) -> int:
        state = self._peers.get(peer)
        return 0 if state is None else state.in_flight

    # -- announcing -----------------------------------------------------------------------

    def publish(self, kind: ItemKind, item: bytes, height: int = 0) -> None:
        """Announces an item we hold (made here or received and found valid) to every peer
        not known to have it."""
        key = (kind, item)
        self.seen.add(key)
        for state in self._peers.values():
            if key in state.known:
                continue
            state.known.add(key)
            state.announcements[key] = height
            if len(state.announcements) > self.limits.max_pending_announcements:
                state.announcements.popitem(last=False)

    def offer(self, peer: PeerId, kind: ItemKind, items: Iterable[bytes]) -> None:
        """Announces items we hold to one peer (what waits in our mempool, to a peer that just
        connected), those it is not known to have."""
        state = self._peers.get(peer)
        if state is None:
            return
        for item in items:
            key = (kind, item)
            if key in state.known:
                continue
            state.known.add(key)
            state.announcements[key] = 0
            if len(state.announcements) > self.limits.max_pending_announcements:
                state.announcements.popitem(last=False)

    # -- fetching -------------------------------------------------------------------------

    def on_inventory(
        self, peer: PeerId, kind: ItemKind, items: Iterable[bytes], now: float
    ) -> None:
        """`peer` announced `items`: remember it has them, and ask for those we lack."""
        state = self._peers.get(peer)
        if state is None:
            return
        for item in items:
            key = (kind, item)
            state.known.add(key)
            if key in self.seen or self.is_known(kind, item):
                continue
            request = self._requests.get(key)
            if request is not None:
                if (
                    request.peer != peer
                    and peer not in request.alternates
                    and len(request.alternates) < self.limits.max_alternates
                ):
                    request.alternates.append(peer)
                continue
            if state.in_flight < self.limits.max_in_flight_per_peer:
                self._ask(peer, state, key, [], now)

    def request(self, peer: PeerId, kind: ItemKind, item: bytes, now: float) -> bool:
        """Asks `peer` for one item outside any announcement (a missing parent block)."""
        state = self._peers.get(peer)
        key = (kind, item)
        if state is None or key in self._requests:
            return False
        if state.in_flight >= self.limits.max_in_flight_per_peer:
            return False
        self._ask(peer, state, key, [], now)
        return True

    def _ask(
        self, peer: PeerId, state: _PeerState, key: ItemKey, alternates: list[PeerId], now: float
    ) -> None:
        deadline = now + self.limits.request_timeout
        self._requests[key] = _Request(peer, deadline, alternates)
        heapq.heappush(self._deadlines, (deadline, key[0], key[1]))
        state.requests.setdefault(key[0], []).append(key[1])
        state.in_flight += 1

    def is_requested(self, peer: PeerId, kind: ItemKind, item: bytes) -> bool:
        request = self._requests.get((kind, item))
        return request is not None and request.peer == peer

    def on_item_received(self, peer: PeerId, kind: ItemKind, item: bytes) -> bool:
        """An item arrived from `peer`; True if we had asked that peer for it."""
        key = (kind, item)
        state = self._peers.get(peer)
        if state is not None:
            state.known.add(key)
        request = self._requests.get(key)
        if request is None or request.peer != peer:
            return False
        del self._requests[key]
        if state is not None:
            state.in_flight -= 1
        self.seen.add(key)
        return True

    def on_not_found(
        self, peer: PeerId, kind: ItemKind, items: Iterable[bytes], now: float
    ) -> None:
        for item in items:
            request = self._requests.get((kind, item))
            if request is not None and request.peer == peer:
                state = self._peers.get(peer)
                if state is not None:
                    state.in_flight -= 1
                self._retry((kind, item), now)

    def _retry(self, key: ItemKey, now: float) -> None:
        """The request for `key` failed: ask the next announcer, or give up."""
        request = self._requests.pop(key)
        while request.alternates:
            peer = request.alternates.pop(0)
            state = self._peers.get(peer)
            if state is not None and state.in_flight < self.limits.max_in_flight_per_peer:
                self._ask(peer, state, key, request.alternates, now)
                return

    # -- timers and output ----------------------------------------------------------------

    def get_timer(self) -> float | None:
        while self._deadlines:
            deadline, kind, item = self._deadlines[0]
            request = self._requests.get((kind, item))
            if request is not None and request.deadline == deadline:
                return deadline
            heapq.heappop(self._deadlines)
        return None

    def handle_timer(self, now: float) -> None:
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, kind, item = heapq.heappop(self._deadlines)
            request = self._requests.get((kind, item))
            if request is None or request.deadline != deadline:
                continue
            state = self._peers.get(request.peer)
            if state is not None:
                state.in_flight -= 1
            self.timed_out.append(request.peer)
            self._retry((kind, item), now)

    def take_messages(self) -> list[tuple[PeerId, Message]]:
        out: list[tuple[PeerId, Message]] = []
        for peer, state in self._peers.items():
            if state.announcements:
                blocks = [
                    BlockAnnouncement(item, height)
                    for (kind, item), height in state.announcements.items()
                    if kind is ItemKind.BLOCK
                ]
                txids = [item for kind, item in state.announcements if kind is ItemKind.TRANSACTION]
                state.announcements.clear()
                for i in range(0, len(blocks), MAX_INVENTORY):
                    out.append((peer, InvBlocks(tuple(blocks[i : i + MAX_INVENTORY]))))
                for i in range(0, len(txids), MAX_INVENTORY):
                    out.append((peer, InvTransactions(tuple(txids[i : i + MAX_INVENTORY]))))
            if state.requests:
                hashes = state.requests.pop(ItemKind.BLOCK, [])
                for i in range(0, len(hashes), MAX_BLOCK_REQUEST):
                    out.append((peer, GetBlocks(tuple(hashes[i : i + MAX_BLOCK_REQUEST]))))
                txids = state.requests.pop(ItemKind.TRANSACTION, [])
                for i in range(0, len(txids), MAX_TRANSACTIONS):
                    out.append((peer, GetTransactions(tuple(txids[i : i + MAX_TRANSACTIONS]))))
        return out
