"""The requests a DHT node sends and the replies it waits for (docs/p2p-udp.md §DHT messages).

    requests.send(body, address, expected_id, now, on_reply=..., on_timeout=..., retries=0)
    requests.match(packet, sender) -> the pending request it answers, or None
    requests.deliver(pending, packet, sender, now)   # calls on_reply once the answer is whole
    requests.next_deadline();  requests.expire(now)  # retransmits, or fails and calls on_timeout

Rules:

- Every request goes signed under a fresh random 64-bit request id, which its replies echo.
- Requests run on `now`, given by the caller: a request unanswered after `request_timeout` is
  sent again, with the same request id, `retries` times (the node asks for this for PING and
  STORE; lookup queries are not retransmitted, the lookup moves on), then fails: the routing
  table hears that the node missed it (`unanswered`), then the requester (`on_timeout`).
- A reply counts only from the address the request went to, when the id is known from that
  node id, and only of a kind that answers the request; anything else is dropped and counted.
- A NODES answer split into parts (`split_contacts`) is delivered once, as one `ContactList`,
  when all its parts have come; if only some came by the deadline, the node is alive and those
  are delivered. Parts that disagree on their number are dropped.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pacata.errors import LocalProtocolError
from pacata.p2p.dht.config import DhtConfig
from pacata.p2p.dht_messages import (
    REQUEST_ID_SIZE,
    Body,
    Contact,
    DhtPacket,
    MessageKind,
    Nodes,
    PacketSigner,
)
from pacata.p2p.records import NODE_ID_SIZE
from pacata.p2p.udp_address import Address


@dataclass(frozen=True, slots=True)
class ContactList:
    """The contacts of every part of a NODES answer, joined."""

    contacts: tuple[Contact, ...]


Reply = Body | ContactList
ReplyHandler = Callable[[Reply, Contact, float], None]
TimeoutHandler = Callable[[float], None]


@dataclass(slots=True)
class PendingRequest:
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


_REPLY_KINDS: dict[MessageKind, frozenset[MessageKind]] = {
    MessageKind.PING: frozenset({MessageKind.PONG}),
    MessageKind.FIND_NODE: frozenset({MessageKind.NODES}),
    MessageKind.FIND_VALUE: frozenset({MessageKind.VALUE, MessageKind.NODES}),
    MessageKind.STORE: frozenset({MessageKind.STORED}),
}


class PendingRequests:
    """The requests in flight, by request id, with their deadlines (see the module rules).
    Datagrams go out through `transmit`; a node that missed a request is reported to
    `unanswered`; dropped replies are counted in `drops`."""

    def __init__(
        self,
        signer: PacketSigner,
        config: DhtConfig,
        *,
        random_bytes: Callable[[int], bytes],
        transmit: Callable[[bytes, Address], None],
        unanswered: Callable[[bytes], None],
        drops: Counter[str],
    ) -> None:
        self.signer = signer
        self.config = config
        self.random_bytes = random_bytes
        self.transmit = transmit
        self.unanswered = unanswered
        self.drops = drops
        self._pending: dict[bytes, PendingRequest] = {}
        self._deadlines: list[tuple[float, bytes]] = []

    def send(
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
        self._pending[request_id] = PendingRequest(
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
        self.transmit(datagram, address)

    def next_deadline(self) -> float | None:
        deadlines = self._deadlines
        while deadlines:
            deadline, request_id = deadlines[0]
            pending = self._pending.get(request_id)
            if pending is not None and pending.deadline == deadline:
                break
            heapq.heappop(deadlines)
        return deadlines[0][0] if deadlines else None

    def expire(self, now: float) -> None:
        """Retransmits or fails the requests that are due."""
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
                self.transmit(pending.datagram, pending.address)
                continue
            del self._pending[request_id]
            if pending.parts:
                # Some parts of a split NODES answer came: the node is alive, use them.
                self._deliver_nodes(pending, now)
                continue
            if pending.expected_id is not None:
                self.unanswered(pending.expected_id)
            pending.on_timeout(now)

    def match(self, packet: DhtPacket, sender: Contact) -> PendingRequest | None:
        """The request `packet` is a reply to, if it came from where that request went."""
        pending = self._pending.get(packet.request_id)
        if (
            pending is None
            or pending.address != sender.address
            or (pending.expected_id is not None and pending.expected_id != sender.node_id)
            or packet.kind not in _REPLY_KINDS[pending.kind]
        ):
            self.drops["unmatched reply"] += 1
            return None
        return pending

    def deliver(
        self, pending: PendingRequest, packet: DhtPacket, sender: Contact, now: float
    ) -> None:
        """Hands the reply `packet` (which `match` paired with `pending`) to the requester,
        or keeps it until the other parts of a split NODES answer come."""
        body = packet.body
        if isinstance(body, Nodes):
            if pending.parts and next(iter(pending.parts.values())).parts != body.parts:
                self.drops["inconsistent parts"] += 1
                return
            pending.parts[body.part] = body
            if len(pending.parts) < body.parts:
                return
            del self._pending[pending.request_id]
            self._deliver_nodes(pending, now, sender)
            return
        del self._pending[pending.request_id]
        pending.on_reply(body, sender, now)

    def _deliver_nodes(
        self, pending: PendingRequest, now: float, sender: Contact | None = None
    ) -> None:
        contacts = tuple(c for part in sorted(pending.parts) for c in pending.parts[part].contacts)
        if sender is None:
            sender = Contact(pending.expected_id or bytes(NODE_ID_SIZE), pending.address)
        pending.on_reply(ContactList(contacts), sender, now)
