"""Peer management as a sans-I/O engine: whom to dial, whom to accept, scores and bans
(docs/p2p.md §Peers).

Rules:
- At most `max_outbound` connections we dialed and `max_inbound` we accepted. Addresses come
  from the bootnodes (genesis file and `--bootnode`), which are never forgotten, and from the
  node records peers send, at most `max_addresses` of them.
- A dial that fails, or a connection that ends before `stable_after` seconds, makes the next
  attempt at that address wait `backoff_base × 2^failures`, at most `backoff_max`; a
  connection that lasted resets the count.
- Each peer has a misbehaviour score, by node id. Offences add points (`Offence`); the score
  decays by `decay_per_second`. At `ban_threshold` the peer is banned for `ban_seconds`:
  its node id and its host. A banned node's connections are refused (a banned host's before
  TLS), and its addresses are not dialed, until the ban expires.
- Invalid blocks, transactions and messages are worth a ban at once; a block from the future
  or a slow answer only costs points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Offence(Enum):
    INVALID_BLOCK = "invalid block"
    INVALID_TRANSACTION = "invalid transaction"
    INVALID_MESSAGE = "invalid message"
    PROTOCOL_VIOLATION = "protocol violation"
    UNSOLICITED_DATA = "unsolicited data"
    STALLED_REQUEST = "stalled request"
    BLOCK_FROM_FUTURE = "block from the future"
    MALFORMED_EXTENSION = "malformed sub-protocol message"


# Misbehaviour points of each offence; `PeerLimits.ban_threshold` (100) bans.
OFFENCE_POINTS: dict[Offence, float] = {
    Offence.INVALID_BLOCK: 100.0,
    Offence.INVALID_TRANSACTION: 100.0,
    Offence.INVALID_MESSAGE: 100.0,
    Offence.PROTOCOL_VIOLATION: 100.0,
    Offence.UNSOLICITED_DATA: 10.0,
    Offence.STALLED_REQUEST: 5.0,
    Offence.BLOCK_FROM_FUTURE: 2.0,
    # A plugin's codec may be stricter than its peers' versions: a few, not one, ban.
    Offence.MALFORMED_EXTENSION: 25.0,
}


@dataclass(frozen=True, slots=True)
class PeerLimits:
    max_outbound: int = 8
    max_inbound: int = 32
    max_addresses: int = 1_024
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    stable_after: float = 30.0
    ban_threshold: float = 100.0
    ban_seconds: float = 3_600.0
    decay_per_second: float = 0.1


@dataclass(frozen=True, slots=True, order=True)
class DialAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(slots=True)
class _AddressState:
    bootnode: bool
    failures: int = 0
    next_attempt: float = 0.0
    busy: bool = False  # being dialed, or connected through this address
    node_id: bytes | None = None
    is_self: bool = False


@dataclass(slots=True)
class _Score:
    points: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True, slots=True)
class Ban:
    subject: str  # "node <hex>" or "host <address>"
    until: float
    reason: str


@dataclass(slots=True)
class PeerManager:
    limits: PeerLimits = field(default_factory=PeerLimits)
    _addresses: dict[DialAddress, _AddressState] = field(default_factory=dict)
    _scores: dict[bytes, _Score] = field(default_factory=dict)
    _bans: dict[str, Ban] = field(default_factory=dict)
    bans_total: int = 0

    # -- addresses ------------------------------------------------------------------------

    def add_bootnode(self, address: DialAddress) -> None:
        self._addresses.setdefault(address, _AddressState(bootnode=True)).bootnode = True

    def learn(self, address: DialAddress, node_id: bytes | None = None) -> None:
        """An address a peer told us of (from a node record)."""
        state = self._addresses.get(address)
        if state is None:
            if len(self._addresses) >= self.limits.max_addresses:
                return
            state = self._addresses[address] = _AddressState(bootnode=False)
        if node_id is not None:
            state.node_id = node_id

    def addresses(self) -> list[DialAddress]:
        return list(self._addresses)

    def dials_due(self, now: float, outbound: int, connected_ids: set[bytes]) -> list[DialAddress]:
        """Addresses to dial now, given `outbound` connections we hold or are opening; each
        returned address is marked busy until `dial_failed` or `disconnected`."""
        room = self.limits.max_outbound - outbound
        due: list[DialAddress] = []
        ordered = sorted(self._addresses.items(), key=lambda item: not item[1].bootnode)
        for address, state in ordered:
            if len(due) >= room:
                break
            dialable = self._dialable_at(address, state, connected_ids)
            if dialable is None or dialable > now:
                continue
            state.busy = True
            due.append(address)
        return due

    def next_dial_time(self, outbound: int, connected_ids: set[bytes]) -> float | None:
        """When `dials_due` will next have an address to give, or None while only an event can
        make one dialable (a connection ends, a dial fails, an address is learned). An address
        that is due already counts only while there is room to dial it."""
        if outbound >= self.limits.max_outbound:
            return None
        times = (
            self._dialable_at(address, state, connected_ids)
            for address, state in self._addresses.items()
        )
        return min((t for t in times if t is not None), default=None)

    def _dialable_at(
        self, address: DialAddress, state: _AddressState, connected_ids: set[bytes]
    ) -> float | None:
        """The earliest time `address` may be dialed (its back-off, and the end of any ban on
        its node or host), or None: busy, ourselves, or its node is connected already."""
        if state.busy or state.is_self:
            return None
        if state.node_id is not None and state.node_id in connected_ids:
            return None
        at = state.next_attempt
        if not self._bans:  # the common case: asked for every address at every wake-up
            return at
        if state.node_id is not None:
            ban = self._bans.get(f"node {state.node_id.hex()}")
            if ban is not None:
                at = max(at, ban.until)
        ban = self._bans.get(f"host {address.host}")
        if ban is not None:
            at = max(at, ban.until)
        return at

    def _back_off(self, state: _AddressState, now: float) -> None:
        state.failures += 1
        delay = min(self.limits.backoff_max, self.limits.backoff_base * 2 ** (state.failures - 1))
        state.next_attempt = now + delay

    def dial_failed(self, address: DialAddress, now: float) -> None:
        state = self._addresses.get(address)
        if state is not None:
            state.busy = False
            self._back_off(state, now)

    def connected(self, address: DialAddress, node_id: bytes) -> None:
        state = self._addresses.get(address)
        if state is not None:
            state.node_id = node_id

    def disconnected(self, address: DialAddress, lasted: float, now: float) -> None:
        """An outbound connection to `address` ended after `lasted` seconds."""
        state = self._addresses.get(address)
        if state is None:
            return
        state.busy = False
        if lasted >= self.limits.stable_after:
            state.failures = 0
            state.next_attempt = now + self.limits.backoff_base
        else:
            self._back_off(state, now)

    def mark_self(self, address: DialAddress) -> None:
        state = self._addresses.get(address)
        if state is not None:
            state.is_self = True
            state.busy = False

    # -- scores and bans ------------------------------------------------------------------

    def score(self, node_id: bytes, now: float) -> float:
        entry = self._scores.get(node_id)
        if entry is None:
            return 0.0
        elapsed = max(0.0, now - entry.updated)
        return max(0.0, entry.points - elapsed * self.limits.decay_per_second)

    def penalize(
        self, node_id: bytes | None, host: str, offence: Offence, now: float, reason: str
    ) -> bool:
        """Adds the offence's points; True if the peer is now banned."""
        points = OFFENCE_POINTS[offence]
        if node_id is not None:
            total = self.score(node_id, now) + points
            self._scores[node_id] = _Score(total, now)
            if len(self._scores) > 4 * self.limits.max_addresses:
                del self._scores[next(iter(self._scores))]
        else:
            total = points
        if total < self.limits.ban_threshold:
            return False
        until = now + self.limits.ban_seconds
        if node_id is not None:
            self._ban(f"node {node_id.hex()}", until, reason)
        self._ban(f"host {host}", until, reason)
        self.bans_total += 1
        return True

    def _ban(self, subject: str, until: float, reason: str) -> None:
        self._bans[subject] = Ban(subject, until, reason)

    def _active(self, subject: str, now: float) -> bool:
        ban = self._bans.get(subject)
        if ban is None:
            return False
        if ban.until <= now:
            del self._bans[subject]
            return False
        return True

    def is_banned_node(self, node_id: bytes, now: float) -> bool:
        return self._active(f"node {node_id.hex()}", now)

    def is_banned_host(self, host: str, now: float) -> bool:
        return self._active(f"host {host}", now)

    def bans(self, now: float) -> list[Ban]:
        for subject in list(self._bans):
            self._active(subject, now)
        return sorted(self._bans.values(), key=lambda ban: ban.until)

    def unban_all(self) -> None:
        self._bans.clear()
        self._scores.clear()

    def accepts_inbound(self, inbound: int) -> bool:
        return inbound < self.limits.max_inbound
