"""STUN Binding (RFC 5389) as a sans-I/O agent: every node answers, every node asks its peers.

    agent = StunAgent()
    agent.receive_datagram(data, source, now) -> bool        # False: not STUN, left alone
    agent.request_binding(server, now) -> transaction id     # learn our reflexive address
    agent.datagrams_to_send() -> [(datagram, address), ...]
    agent.get_timer() -> deadline or None;  agent.handle_timer(now)
    agent.next_event() -> BindingSucceeded | BindingFailed | None

Rules (section numbers are RFC 5389's):

- Server: requests are answered by `binding.answer_request`. Indications and responses that
  match no transaction of ours are dropped (§7.3.2, §7.3.3).
- Client (§7.2.1): requests carry a random transaction id and FINGERPRINT and are retransmitted
  after RTO, 2·RTO, 4·RTO, ... (RTO = 500 ms) until `Rc` = 7 have been sent; the transaction
  fails `Rm` = 16 RTOs after the last one. A response is accepted only from the address the
  request went to, with the transaction id of a pending request and, when it carries one, a
  valid FINGERPRINT; a response with an unknown comprehension-required attribute fails the
  transaction (§7.3.3). At most 10 transactions are outstanding per server (§7.2).
- Nothing a remote host sends raises out of `receive_datagram`: what fails a check is dropped
  and counted in `drops`. No clock and no global randomness: `now` comes from the caller and
  random bytes from the injected `random_bytes`.
"""

from __future__ import annotations

import os
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from pacata.errors import DecodeError, LocalProtocolError
from pacata.p2p.stun.binding import (
    answer_request,
    binding_request,
    describe_error,
    mapped_address_of,
)
from pacata.p2p.stun.messages import TRANSACTION_ID_SIZE, MessageClass, Method, StunMessage, is_stun
from pacata.p2p.udp_address import Address


@dataclass(frozen=True, slots=True)
class RetransmissionPolicy:
    """§7.2.1: initial RTO, requests sent in all (Rc), the last wait in RTOs (Rm)."""

    rto: float = 0.5
    max_requests: int = 7
    last_wait_rtos: int = 16
    max_outstanding_per_server: int = 10  # §7.2

    def __post_init__(self) -> None:
        if self.rto <= 0 or self.max_requests < 1 or self.last_wait_rtos < 1:
            raise ValueError("RTO, Rc and Rm must be positive")

    def send_offsets(self) -> tuple[float, ...]:
        """When each (re)transmission goes, from the first: 0, RTO, 3·RTO, 7·RTO, ..."""
        offsets = [0.0]
        interval = self.rto
        for _ in range(self.max_requests - 1):
            offsets.append(offsets[-1] + interval)
            interval *= 2
        return tuple(offsets)

    def timeout_offset(self) -> float:
        """When the transaction fails, from the first transmission (39.5 s by default)."""
        return self.send_offsets()[-1] + self.last_wait_rtos * self.rto


DEFAULT_RETRANSMISSION = RetransmissionPolicy()


@dataclass(frozen=True, slots=True)
class BindingSucceeded:
    """`server` saw our requests come from `mapped_address` (our server-reflexive address)."""

    server: Address
    transaction_id: bytes
    mapped_address: Address


@dataclass(frozen=True, slots=True)
class BindingFailed:
    """The transaction with `server` failed: `reason` is "timeout", "error NNN ..." or the
    refusal of a malformed answer."""

    server: Address
    transaction_id: bytes
    reason: str


StunEvent = BindingSucceeded | BindingFailed


@dataclass(slots=True)
class _Transaction:
    server: Address
    request: bytes
    first_sent: float
    sent: int = 1
    deadline: float = 0.0


class StunAgent:
    """The server and client sides of STUN Binding on one UDP port (see the module rules)."""

    def __init__(
        self,
        *,
        random_bytes: Callable[[int], bytes] = os.urandom,
        retransmission: RetransmissionPolicy = DEFAULT_RETRANSMISSION,
        require_fingerprint: bool = False,
    ) -> None:
        self.random_bytes = random_bytes
        self.retransmission = retransmission
        self.require_fingerprint = require_fingerprint
        self.drops: Counter[str] = Counter()
        self.answered = 0
        self._transactions: dict[bytes, _Transaction] = {}
        self._outgoing: list[tuple[bytes, Address]] = []
        self._events: deque[StunEvent] = deque()
        self._offsets = retransmission.send_offsets()
        self._reflexive: dict[Address, Address] = {}

    def receive_datagram(self, data: bytes, source: Address, now: float) -> bool:
        """Handles one datagram; False if it is not STUN (`is_stun`) and was left alone."""
        if not is_stun(data):
            return False
        try:
            message = StunMessage.decode(data)
        except DecodeError:
            self.drops["malformed"] += 1
            return True
        if message.message_class == MessageClass.REQUEST:
            self._answer(message, source)
        elif message.message_class == MessageClass.INDICATION:
            self.drops["indication"] += 1  # §7.3.2: nothing to do for a Binding indication
        else:
            self._receive_response(message, source)
        return True

    def request_binding(self, server: Address, now: float) -> bytes:
        """Starts a Binding transaction with `server`; returns its transaction id."""
        limit = self.retransmission.max_outstanding_per_server
        if sum(t.server == server for t in self._transactions.values()) >= limit:
            raise LocalProtocolError(f"{limit} transactions are already outstanding to {server}")
        transaction_id = self.random_bytes(TRANSACTION_ID_SIZE)
        if len(transaction_id) != TRANSACTION_ID_SIZE or transaction_id in self._transactions:
            raise LocalProtocolError("random_bytes gave an unusable transaction id")
        request = binding_request(transaction_id).encode()
        transaction = _Transaction(server, request, now)
        self._schedule(transaction, now)
        self._transactions[transaction_id] = transaction
        self._outgoing.append((request, server))
        return transaction_id

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        outgoing = self._outgoing
        self._outgoing = []
        return outgoing

    def next_event(self) -> StunEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        if not self._transactions:
            return None
        return min(t.deadline for t in self._transactions.values())

    def handle_timer(self, now: float) -> None:
        """Retransmits the requests that are due and fails the transactions that timed out."""
        for transaction_id, transaction in list(self._transactions.items()):
            if transaction.deadline > now:
                continue
            if transaction.sent >= self.retransmission.max_requests:
                del self._transactions[transaction_id]
                self._events.append(BindingFailed(transaction.server, transaction_id, "timeout"))
                continue
            transaction.sent += 1
            self._schedule(transaction, now)
            self._outgoing.append((transaction.request, transaction.server))

    def pending(self) -> int:
        """How many client transactions are outstanding."""
        return len(self._transactions)

    def reflexive_address(self) -> Address | None:
        """Our address as most servers last reported it (ties: the newest report), or None."""
        if not self._reflexive:
            return None
        votes = Counter(self._reflexive.values())
        best = max(votes.values())
        for address in reversed(self._reflexive.values()):
            if votes[address] == best:
                return address
        return None  # pragma: no cover - the loop always finds the best

    def _schedule(self, transaction: _Transaction, now: float) -> None:
        """The deadline after the transmission just made: on the schedule from the first one
        while that is still ahead; when it has passed already (the event loop was busy for
        long), as long after `now` as the schedule leaves between the two sends. Never at or
        before `now`, which would send the remaining retransmissions in a burst."""
        offset = self._next_offset(transaction)
        scheduled = transaction.first_sent + offset
        if scheduled <= now:
            scheduled = now + offset - self._offsets[transaction.sent - 1]
        transaction.deadline = scheduled

    def _next_offset(self, transaction: _Transaction) -> float:
        if transaction.sent < len(self._offsets):
            return self._offsets[transaction.sent]
        return self.retransmission.timeout_offset()

    def _answer(self, request: StunMessage, source: Address) -> None:
        try:
            response = answer_request(request, source).encode()
        except ValueError:  # a source we cannot put in an address attribute
            self.drops["unanswerable source"] += 1
            return
        self.answered += 1
        self._outgoing.append((response, source))

    def _receive_response(self, message: StunMessage, source: Address) -> None:
        transaction = self._transactions.get(message.transaction_id)
        if transaction is None or transaction.server != source:
            self.drops["unmatched response"] += 1  # §7.3.3: no transaction of ours
            return
        if message.method != Method.BINDING:
            self.drops["unmatched response"] += 1
            return
        transaction_id = message.transaction_id
        if self.require_fingerprint and not message.fingerprint:
            self._fail(transaction_id, "response without FINGERPRINT")
            return
        if message.message_class == MessageClass.ERROR_RESPONSE:
            self._fail(transaction_id, describe_error(message))
            return
        unknown = message.unknown_required_attributes()
        if unknown:
            names = ", ".join(f"{kind:#06x}" for kind in unknown)
            self._fail(transaction_id, f"unknown comprehension-required attributes {names}")
            return
        try:
            mapped = mapped_address_of(message)
        except DecodeError as error:
            self._fail(transaction_id, f"bad mapped address: {error}")
            return
        del self._transactions[transaction_id]
        self._reflexive.pop(source, None)
        if len(self._reflexive) >= 64:  # bounded: the oldest report goes
            del self._reflexive[next(iter(self._reflexive))]
        self._reflexive[source] = mapped
        self._events.append(BindingSucceeded(source, transaction_id, mapped))

    def _fail(self, transaction_id: bytes, reason: str) -> None:
        transaction = self._transactions.pop(transaction_id)
        self._events.append(BindingFailed(transaction.server, transaction_id, reason))
