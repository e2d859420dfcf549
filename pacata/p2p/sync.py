"""Headers-first block sync and the orphan pool, as sans-I/O engines (docs/p2p.md §Sync).

`BlockSync` brings a node up to the best chain its peers know:

    IDLE --a peer's tip is unknown to us and not lower--> HEADERS (GetHeaders to that peer)
    HEADERS --Headers--> BLOCKS (download) --all imported, no more headers--> IDLE

Rules:
- Headers come from one peer, the one with the highest tip; we send it a locator (our main
  chain's hashes, dense near the tip, then exponentially sparser down to genesis), and it
  answers with its main chain after the first locator hash it knows. A reply must link: the
  first header's parent is a block we hold (or the last header we queued), then each header's
  parent is the one before it. A reply that does not link is the peer's fault.
- While blocks download, the next headers are requested from the same peer, so header and
  block transfers overlap; a short reply means the peer has nothing more.
- Blocks are fetched in parallel from every peer whose tip is at least that high: at most
  `max_in_flight_per_peer` blocks from each, in requests of `blocks_per_request`, and at most
  `window` blocks requested or waiting ahead of the next one to import (and at most
  `max_buffered_bytes` of them), so a fast peer cannot make us buffer a whole chain.
- Blocks are handed to the owner strictly in header order (`take_ready`); a block's import
  failure ends the round (`abort`), so nothing is imported on top of a bad block.
- A request not answered within `request_timeout` goes to another peer, and the slow one is
  reported in `stalled`. `NotFound` moves a block to another peer; when no peer is left who
  could have it, the round ends.
- A round starts by itself only for a peer more than one block ahead (one block ahead is
  gossip's job); for an equal or next height it starts when asked (`request_round`: a hello
  showing another branch, an orphan whose parents are too many to fetch one by one).
- A peer's tip is tried once per tip hash, so two peers on forks we refuse cannot make us
  sync with them in a loop.

`OrphanPool` keeps blocks whose parent is unknown until the parent arrives, bounded by count
and bytes (the oldest go first).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from pacata.chain.headers import BlockHeader
from pacata.p2p.gossip import PeerId
from pacata.p2p.messages import MAX_HEADERS, GetBlocks, GetHeaders, Message


class SyncLedger(Protocol):
    """What sync reads of the local chain."""

    def tip(self) -> tuple[int, bytes]: ...

    def has_block(self, block_hash: bytes) -> bool: ...

    def locator(self) -> tuple[bytes, ...]: ...


class SyncPhase(Enum):
    IDLE = "idle"
    HEADERS = "headers"
    BLOCKS = "blocks"


@dataclass(frozen=True, slots=True)
class SyncLimits:
    headers_per_request: int = MAX_HEADERS
    blocks_per_request: int = 16
    max_in_flight_per_peer: int = 64
    window: int = 1_024
    max_buffered_bytes: int = 64 * 1024 * 1024
    request_timeout: float = 15.0


@dataclass(frozen=True, slots=True)
class PeerTip:
    height: int
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class SyncProgress:
    syncing: bool
    target_height: int
    downloaded: int
    peer: PeerId | None


@dataclass(slots=True)
class _InFlight:
    peer: PeerId
    deadline: float
    height: int


@dataclass(slots=True)
class _Round:
    header_peer: PeerId
    headers_deadline: float | None  # a header request is out
    headers_done: bool = False
    last_queued: bytes | None = None
    target_height: int = 0
    order: deque[tuple[bytes, int]] = field(default_factory=deque)  # import order
    pending: deque[tuple[bytes, int]] = field(default_factory=deque)  # not yet requested
    in_flight: dict[bytes, _InFlight] = field(default_factory=dict)
    arrived: dict[bytes, tuple[PeerId, bytes]] = field(default_factory=dict)
    arrived_bytes: int = 0
    lacking: dict[bytes, set[PeerId]] = field(default_factory=dict)


class BlockSync:
    def __init__(self, ledger: SyncLedger, limits: SyncLimits | None = None) -> None:
        self.ledger = ledger
        self.limits = limits or SyncLimits()
        self.tips: dict[PeerId, PeerTip] = {}
        self.downloaded = 0
        self.stalled: list[PeerId] = []  # peers that let a request expire; the owner scores
        self._round: _Round | None = None
        self._tried: set[tuple[PeerId, bytes]] = set()
        self._wanted: set[PeerId] = set()  # peers whose tip we were asked to sync to
        self._in_flight_by_peer: dict[PeerId, int] = {}
        self._outbox: list[tuple[PeerId, Message]] = []
        self._last_target = 0

    # -- state ----------------------------------------------------------------------------

    @property
    def phase(self) -> SyncPhase:
        if self._round is None:
            return SyncPhase.IDLE
        if self._round.order or self._round.in_flight:
            return SyncPhase.BLOCKS
        return SyncPhase.HEADERS

    @property
    def is_syncing(self) -> bool:
        return self._round is not None

    def progress(self) -> SyncProgress:
        current = self._round
        if current is None:
            return SyncProgress(False, self._last_target, self.downloaded, None)
        return SyncProgress(True, current.target_height, self.downloaded, current.header_peer)

    def expects_block(self, peer: PeerId, block_hash: bytes) -> bool:
        current = self._round
        if current is None:
            return False
        request = current.in_flight.get(block_hash)
        return request is not None and request.peer == peer

    # -- peers ----------------------------------------------------------------------------

    def set_tip(self, peer: PeerId, height: int, block_hash: bytes) -> None:
        """A peer's tip, from its hello or a later announcement (the highest one counts)."""
        known = self.tips.get(peer)
        if known is None or height >= known.height:
            self.tips[peer] = PeerTip(height, block_hash)

    def request_round(self, peer: PeerId) -> None:
        """Sync to `peer`'s tip even if it is not far ahead (a fork, an orphan's chain)."""
        self._wanted.add(peer)

    def remove_peer(self, peer: PeerId, now: float) -> None:
        self.tips.pop(peer, None)
        self._wanted.discard(peer)
        self._in_flight_by_peer.pop(peer, None)
        current = self._round
        if current is None:
            return
        for block_hash, request in list(current.in_flight.items()):
            if request.peer == peer:
                self._requeue(current, block_hash)
        if current.header_peer == peer:
            current.headers_done = True
            current.headers_deadline = None
        self._finish_if_done()

    def _candidate(self) -> tuple[PeerId, PeerTip] | None:
        local_height, _ = self.ledger.tip()
        best: tuple[PeerId, PeerTip] | None = None
        for peer, tip in self.tips.items():
            if tip.height < local_height or (peer, tip.block_hash) in self._tried:
                continue
            # One block ahead is gossip's to fetch, unless we were asked (forks, orphans).
            if tip.height <= local_height + 1 and peer not in self._wanted:
                continue
            if self.ledger.has_block(tip.block_hash):
                continue
            if best is None or tip.height > best[1].height:
                best = (peer, tip)
        return best

    def maybe_start(self, now: float) -> bool:
        """Starts a round if a peer has a tip we lack that is at least as high as ours."""
        if self._round is not None:
            return False
        candidate = self._candidate()
        if candidate is None:
            return False
        peer, tip = candidate
        self._wanted.discard(peer)
        self._tried.add((peer, tip.block_hash))
        if len(self._tried) > 4_096:
            self._tried.clear()
        self._round = _Round(peer, None, target_height=tip.height)
        self._request_headers(self._round, self.ledger.locator(), now)
        return True

    def _request_headers(self, current: _Round, locator: tuple[bytes, ...], now: float) -> None:
        current.headers_deadline = now + self.limits.request_timeout
        self._outbox.append(
            (current.header_peer, GetHeaders(locator, self.limits.headers_per_request))
        )

    # -- replies --------------------------------------------------------------------------

    def on_headers(self, peer: PeerId, headers: tuple[BlockHeader, ...], now: float) -> bool:
        """Takes a `Headers` reply; False if it breaks the rules (unasked for, or not linked)."""
        current = self._round
        if current is None or current.header_peer != peer or current.headers_deadline is None:
            return False
        current.headers_deadline = None
        if not headers:
            current.headers_done = True
            self._finish_if_done()
            return True
        first = headers[0]
        if first.prev_hash != current.last_queued and not self.ledger.has_block(first.prev_hash):
            return False
        previous = first
        for header in headers[1:]:
            if header.prev_hash != previous.hash or header.height != previous.height + 1:
                return False
            previous = header
        for header in headers:
            block_hash = header.hash
            if self.ledger.has_block(block_hash):
                continue
            current.order.append((block_hash, header.height))
            current.pending.append((block_hash, header.height))
        current.last_queued = previous.hash
        current.target_height = max(current.target_height, previous.height)
        self._last_target = current.target_height
        self.set_tip(peer, previous.height, previous.hash)
        if len(headers) < self.limits.headers_per_request:
            current.headers_done = True
        self._finish_if_done()
        return True

    def on_block(self, peer: PeerId, block_hash: bytes, encoded: bytes) -> bool:
        """A block we asked `peer` for; False if we did not."""
        current = self._round
        if not self.expects_block(peer, block_hash) or current is None:
            return False
        del current.in_flight[block_hash]
        self._in_flight_by_peer[peer] = self._in_flight_by_peer.get(peer, 1) - 1
        current.arrived[block_hash] = (peer, encoded)
        current.arrived_bytes += len(encoded)
        return True

    def on_not_found(self, peer: PeerId, hashes: tuple[bytes, ...]) -> None:
        current = self._round
        if current is None:
            return
        for block_hash in hashes:
            request = current.in_flight.get(block_hash)
            if request is not None and request.peer == peer:
                current.lacking.setdefault(block_hash, set()).add(peer)
                self._requeue(current, block_hash)

    def _requeue(self, current: _Round, block_hash: bytes) -> None:
        request = current.in_flight.pop(block_hash)
        self._in_flight_by_peer[request.peer] = self._in_flight_by_peer.get(request.peer, 1) - 1
        current.pending.appendleft((block_hash, request.height))

    # -- import ---------------------------------------------------------------------------

    def take_ready(self) -> list[tuple[PeerId, bytes, bytes]]:
        """(peer, block hash, encoded block) to import now, in order."""
        current = self._round
        if current is None:
            return []
        ready: list[tuple[PeerId, bytes, bytes]] = []
        while current.order and current.order[0][0] in current.arrived:
            block_hash, _ = current.order.popleft()
            peer, encoded = current.arrived.pop(block_hash)
            current.arrived_bytes -= len(encoded)
            ready.append((peer, block_hash, encoded))
        return ready

    def block_imported(self) -> None:
        self.downloaded += 1

    def import_done(self) -> None:
        """The owner imported what `take_ready` gave; the round may be over."""
        self._finish_if_done()

    def abort(self) -> None:
        """Ends the round (a block failed to import, or the owner gave up)."""
        current = self._round
        if current is None:
            return
        for request in current.in_flight.values():
            count = self._in_flight_by_peer.get(request.peer, 1) - 1
            self._in_flight_by_peer[request.peer] = count
        self._round = None

    def _finish_if_done(self) -> None:
        current = self._round
        if current is None:
            return
        if current.headers_done and not current.order and not current.in_flight:
            self._round = None

    # -- scheduling -----------------------------------------------------------------------

    def _schedule(self, current: _Round, now: float) -> None:
        if (
            not current.headers_done
            and current.headers_deadline is None
            and len(current.order) < self.limits.window
            and current.last_queued is not None
        ):
            self._request_headers(current, (current.last_queued, *self.ledger.locator()), now)
        batches: dict[PeerId, list[bytes]] = {}
        skipped: list[tuple[bytes, int]] = []
        ahead = len(current.in_flight) + len(current.arrived)
        while current.pending and ahead < self.limits.window:
            if current.arrived_bytes > self.limits.max_buffered_bytes:
                break
            block_hash, height = current.pending.popleft()
            peer = self._pick_peer(height, current.lacking.get(block_hash, set()))
            if peer is None:
                if not self._anyone_could_have(height, current.lacking.get(block_hash, set())):
                    self.abort()
                    return
                skipped.append((block_hash, height))
                break
            current.in_flight[block_hash] = _InFlight(
                peer, now + self.limits.request_timeout, height
            )
            self._in_flight_by_peer[peer] = self._in_flight_by_peer.get(peer, 0) + 1
            batches.setdefault(peer, []).append(block_hash)
            ahead += 1
        current.pending.extendleft(reversed(skipped))
        size = self.limits.blocks_per_request
        for peer, hashes in batches.items():
            for i in range(0, len(hashes), size):
                self._outbox.append((peer, GetBlocks(tuple(hashes[i : i + size]))))

    def _eligible(self, height: int, lacking: set[PeerId]) -> list[PeerId]:
        return [p for p, tip in self.tips.items() if tip.height >= height and p not in lacking]

    def _anyone_could_have(self, height: int, lacking: set[PeerId]) -> bool:
        return bool(self._eligible(height, lacking))

    def _pick_peer(self, height: int, lacking: set[PeerId]) -> PeerId | None:
        best: PeerId | None = None
        best_load = self.limits.max_in_flight_per_peer
        for peer in self._eligible(height, lacking):
            load = self._in_flight_by_peer.get(peer, 0)
            if load < best_load:
                best, best_load = peer, load
        return best

    def take_messages(self, now: float) -> list[tuple[PeerId, Message]]:
        current = self._round
        if current is not None:
            self._schedule(current, now)
        out, self._outbox = self._outbox, []
        return out

    # -- timers ---------------------------------------------------------------------------

    def get_timer(self) -> float | None:
        current = self._round
        if current is None:
            return None
        deadlines = [r.deadline for r in current.in_flight.values()]
        if current.headers_deadline is not None:
            deadlines.append(current.headers_deadline)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        current = self._round
        if current is None:
            return
        if current.headers_deadline is not None and now >= current.headers_deadline:
            self.stalled.append(current.header_peer)
            current.headers_deadline = None
            current.headers_done = True
        stalled: set[PeerId] = set()
        for block_hash, request in list(current.in_flight.items()):
            if now >= request.deadline:
                if request.peer not in stalled:
                    stalled.add(request.peer)
                    self.stalled.append(request.peer)
                current.lacking.setdefault(block_hash, set()).add(request.peer)
                self._requeue(current, block_hash)
        self._finish_if_done()


@dataclass(frozen=True, slots=True)
class Orphan:
    block_hash: bytes
    prev_hash: bytes
    height: int
    encoded: bytes
    peer: PeerId


class OrphanPool:
    """Blocks waiting for their parent; bounded by count and bytes, the oldest go first."""

    def __init__(self, max_blocks: int = 256, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.max_blocks = max_blocks
        self.max_bytes = max_bytes
        self._orphans: OrderedDict[bytes, Orphan] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._orphans)

    def __contains__(self, block_hash: object) -> bool:
        return block_hash in self._orphans

    def add(self, orphan: Orphan) -> None:
        if orphan.block_hash in self._orphans:
            return
        self._orphans[orphan.block_hash] = orphan
        self._bytes += len(orphan.encoded)
        while len(self._orphans) > self.max_blocks or self._bytes > self.max_bytes:
            _, dropped = self._orphans.popitem(last=False)
            self._bytes -= len(dropped.encoded)

    def depth(self, block_hash: bytes) -> int:
        """How many orphans chain down from `block_hash` (itself included)."""
        count = 0
        current = self._orphans.get(block_hash)
        while current is not None and count <= len(self._orphans):
            count += 1
            current = self._orphans.get(current.prev_hash)
        return count

    def root_of(self, block_hash: bytes) -> Orphan | None:
        """The oldest ancestor of `block_hash` in the pool: its parent is the one missing."""
        current = self._orphans.get(block_hash)
        steps = 0
        while current is not None and steps <= len(self._orphans):
            parent = self._orphans.get(current.prev_hash)
            if parent is None:
                return current
            current = parent
            steps += 1
        return current

    def take_children(self, parent_hash: bytes) -> list[Orphan]:
        children = [o for o in self._orphans.values() if o.prev_hash == parent_hash]
        for child in children:
            del self._orphans[child.block_hash]
            self._bytes -= len(child.encoded)
        return children

    def drop_from(self, peer: PeerId) -> None:
        for block_hash, orphan in list(self._orphans.items()):
            if orphan.peer == peer:
                del self._orphans[block_hash]
                self._bytes -= len(orphan.encoded)
