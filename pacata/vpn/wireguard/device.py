"""A WireGuard interface as a sans-I/O state machine (whitepaper §3 send/receive flow, §5.3).

The model is aioquic's `QuicConnection`: the owner feeds what arrives and what the tunnel wants
to send, then collects what to put on the wire, the next timer deadline and the events.

    device.receive_datagram(data, source, now, wall_time) -> bool   # False: not WireGuard
    device.send_packet(peer_key, ip_packet, now, wall_time)
    device.datagrams_to_send() -> [(datagram, address), ...]
    device.get_timer() -> deadline or None;  device.handle_timer(now, wall_time)
    device.next_event() -> PacketReceived | HandshakeCompleted | ... | None

and the transport fast path, for one packet with nothing else due (None: use the calls above):

    device.seal_packet(peer_key, ip_packet, now) -> (datagram, address) | None
    device.open_packet(data, source, now) -> (peer_key, ip_packet or b"") | None

Rules:

- No sockets, no clock, no global randomness: `now` is the caller's monotonic time in seconds,
  `wall_time` its wall clock (seconds since the Unix epoch, only used for the TAI64N timestamp
  of initiations), and every random byte comes from the injected `random_bytes`
  (keys, indices, cookie nonces) and `random_fraction` (timer jitter).
- A datagram is WireGuard's when its header is that of one of the four message types and its
  size is exact (`classify_datagram`); anything else is returned as not ours, untouched, for the
  node's other UDP protocols.
- Nothing a peer sends can raise out of `receive_datagram`: a datagram that fails any check is
  dropped and counted in `drops` by `DropReason`.
- Handshake messages always need a valid mac1. While `under_load` is set by the owner (for
  instance when its handshake queue is long), they also need a valid mac2; a message with a
  valid mac1 only is answered with a cookie reply and otherwise ignored (§5.3, §5.4.7).
- Receiver indices are random 32-bit values, unique across the device; a handshake's index is
  handed over to the keypair it produces, as in the Linux module.
- Timers live in the peers; the device keeps each peer's earliest deadline in a heap with lazy
  deletion, so `get_timer` stays cheap however many peers there are. The fast path leaves a
  deadline that moved later where it was, so `get_timer` is a time at or before which there
  may be work: `handle_timer` called then with nothing due only reschedules.
- Both paths apply the same rules (`peer.py`); the fast path only takes the packets for which
  the general path would do nothing more than it does.
"""

from __future__ import annotations

import heapq
import itertools
import os
import random
import struct
from collections import Counter, deque
from collections.abc import Callable, Mapping
from types import MappingProxyType

from pacata.errors import DecodeError, HandshakeError, NotFound
from pacata.vpn.wireguard.cookie import CookieChecker, MacCheck
from pacata.vpn.wireguard.events import Address, DropReason, Event
from pacata.vpn.wireguard.handshake import HandshakeRefused, StaticIdentity, open_initiation
from pacata.vpn.wireguard.messages import (
    MAC1_OFFSET,
    TRANSPORT_DATA_HEADER,
    TRANSPORT_MIN_SIZE,
    CookieReply,
    HandshakeInitiation,
    HandshakeResponse,
    MessageType,
    classify_datagram,
)
from pacata.vpn.wireguard.parameters import DEFAULT_PARAMETERS, ProtocolParameters
from pacata.vpn.wireguard.peer import Peer
from pacata.vpn.wireguard.primitives import KEY_SIZE
from pacata.vpn.wireguard.session import Keypair

_INDEX = struct.Struct("<I")


class PeerNotFound(NotFound):
    """No peer with that public key on this device."""


class Device:
    """One WireGuard interface: a static key pair and the peers it talks to."""

    def __init__(
        self,
        private_key: bytes,
        *,
        parameters: ProtocolParameters = DEFAULT_PARAMETERS,
        random_bytes: Callable[[int], bytes] = os.urandom,
        random_fraction: Callable[[], float] = random.random,
        mtu: int | None = None,
    ) -> None:
        if len(private_key) != KEY_SIZE:
            raise ValueError(f"private key must be {KEY_SIZE} bytes")
        self.identity = StaticIdentity(private_key)
        self.parameters = parameters
        self.mtu = mtu
        self.under_load = False
        self.drops: Counter[DropReason] = Counter()
        self._random_bytes = random_bytes
        self._random_fraction = random_fraction
        self._cookie_checker = CookieChecker(
            self.identity.public_key, parameters=parameters, random_bytes=random_bytes
        )
        self._peers: dict[bytes, Peer] = {}
        self._handshake_owners: dict[int, Peer] = {}
        self._keypair_owners: dict[int, tuple[Peer, Keypair]] = {}
        self._outgoing: list[tuple[bytes, Address]] = []
        self._events: deque[Event] = deque()
        self._timers: list[tuple[float, int, Peer]] = []
        self._timer_sequence = itertools.count()
        self._handshake_receivers: dict[
            MessageType, Callable[[bytes, Address, float, float], None]
        ] = {
            MessageType.HANDSHAKE_INITIATION: self._receive_initiation,
            MessageType.HANDSHAKE_RESPONSE: self._receive_response,
            MessageType.COOKIE_REPLY: self._receive_cookie_reply,
        }

    @property
    def public_key(self) -> bytes:
        return self.identity.public_key

    # -- configuration ------------------------------------------------------------------------

    @property
    def peers(self) -> Mapping[bytes, Peer]:
        return MappingProxyType(self._peers)

    def peer(self, public_key: bytes) -> Peer:
        peer = self._peers.get(public_key)
        if peer is None:
            raise PeerNotFound(f"no peer {public_key.hex()}")
        return peer

    def add_peer(
        self,
        public_key: bytes,
        *,
        preshared_key: bytes | None = None,
        endpoint: Address | None = None,
        persistent_keepalive: float | None = None,
    ) -> Peer:
        """Adds a peer. With a persistent keepalive, the owner should also call
        `send_keepalive` once, as the Linux module does when such a peer is configured."""
        if public_key in self._peers:
            raise ValueError(f"{public_key.hex()} is already a peer")
        if public_key == self.identity.public_key:
            raise ValueError("a device cannot be its own peer")
        peer = Peer(
            self,
            public_key,
            preshared_key=preshared_key,
            endpoint=endpoint,
            persistent_keepalive=persistent_keepalive,
        )
        self._peers[public_key] = peer
        return peer

    def remove_peer(self, public_key: bytes) -> None:
        peer = self.peer(public_key)
        del self._peers[public_key]
        peer.zero_key_material()
        peer.staged.clear()
        peer.scheduled_at = None

    # -- the owner's side ---------------------------------------------------------------------

    def send_packet(self, public_key: bytes, packet: bytes, now: float, wall_time: float) -> None:
        """Encrypts an inner IP packet to a peer, or queues it behind a handshake."""
        peer = self.peer(public_key)
        peer.send(packet, now, wall_time)
        self.reschedule(peer)

    def send_packets(
        self, public_key: bytes, packets: list[bytes], now: float, wall_time: float
    ) -> None:
        """`send_packet` for a batch to one peer (what a tunnel reads in one go): the session is
        checked once for the batch, not once per packet."""
        peer = self.peer(public_key)
        peer.send_batch(packets, now, wall_time)
        self.reschedule(peer)

    def send_keepalive(self, public_key: bytes, now: float, wall_time: float) -> None:
        peer = self.peer(public_key)
        peer.send_keepalive(now, wall_time)
        self.reschedule(peer)

    def receive_datagram(self, data: bytes, source: Address, now: float, wall_time: float) -> bool:
        """Handles one UDP payload from `source`; returns False if it is not a WireGuard message
        (and was left alone), True if it was one (processed, or dropped and counted)."""
        if data[:4] == TRANSPORT_DATA_HEADER:
            if len(data) < TRANSPORT_MIN_SIZE:
                return False
            (receiver,) = _INDEX.unpack_from(data, 4)
            owner = self._keypair_owners.get(receiver)
            if owner is None:
                self.drops[DropReason.UNKNOWN_INDEX] += 1
                return True
            peer, keypair = owner
            peer.receive_transport(keypair, data, source, now, wall_time)
            self.reschedule(peer)
            return True
        kind = classify_datagram(data)
        if kind is None:
            return False
        try:
            self._handshake_receivers[kind](bytes(data), source, now, wall_time)
        except HandshakeRefused as refusal:
            self.drops[refusal.reason] += 1
        except (HandshakeError, DecodeError):
            self.drops[DropReason.INVALID_HANDSHAKE] += 1
        return True

    def seal_packet(
        self, public_key: bytes, packet: bytes, now: float
    ) -> tuple[bytes, Address] | None:
        """The datagram carrying one inner packet to a peer and where to send it, if the current
        session takes it with nothing else due; None: call `send_packets` instead."""
        peer = self._peers.get(public_key)
        return None if peer is None else peer.seal_data(packet, now)

    def open_packet(self, data: bytes, source: Address, now: float) -> tuple[bytes, bytes] | None:
        """The sending peer's key and the inner packet of a transport message under a peer's
        current keypair from its known endpoint (b"" when there is nothing to deliver: a
        keepalive, or a message dropped and counted); None: call `receive_datagram` instead."""
        if data[:4] != TRANSPORT_DATA_HEADER or len(data) < TRANSPORT_MIN_SIZE:
            return None
        owner = self._keypair_owners.get(_INDEX.unpack_from(data, 4)[0])
        if owner is None:
            return None
        peer, keypair = owner
        packet = peer.open_data(keypair, data, source, now)
        return None if packet is None else (peer.public_key, packet)

    def datagrams_to_send(self) -> list[tuple[bytes, Address]]:
        """The datagrams produced since the last call, in order, with their destinations."""
        outgoing = self._outgoing
        self._outgoing = []
        return outgoing

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        """The earliest deadline at which `handle_timer` may have work, or None."""
        timers = self._timers
        while timers:
            deadline, _, peer = timers[0]
            if peer.scheduled_at == deadline and self._peers.get(peer.public_key) is peer:
                return deadline
            heapq.heappop(timers)
        return None

    def handle_timer(self, now: float, wall_time: float) -> None:
        """Runs every peer timer due at or before `now`."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            deadline, _, peer = heapq.heappop(timers)
            if peer.scheduled_at != deadline or self._peers.get(peer.public_key) is not peer:
                continue
            peer.scheduled_at = None
            peer.handle_timers(now, wall_time)
            self.reschedule(peer)

    # -- handshake messages -------------------------------------------------------------------

    def _admit(self, kind: MessageType, data: bytes, source: Address, now: float) -> bool:
        """Checks the MACs; under load, answers a message without a valid mac2 with a cookie."""
        mac1_offset = MAC1_OFFSET[kind]
        under_load = self.under_load
        check = self._cookie_checker.check(data, mac1_offset, source, now, check_mac2=under_load)
        if check is MacCheck.INVALID_MAC1:
            self.drops[DropReason.INVALID_MAC1] += 1
            return False
        if under_load and check is MacCheck.VALID_MAC1_WITHOUT_COOKIE:
            (sender_index,) = _INDEX.unpack_from(data, 4)
            reply = self._cookie_checker.create_reply(data, mac1_offset, sender_index, source, now)
            self._outgoing.append((reply.encode(), source))
            self.drops[DropReason.COOKIE_REQUIRED] += 1
            return False
        return True

    def _receive_initiation(
        self, data: bytes, source: Address, now: float, wall_time: float
    ) -> None:
        if not self._admit(MessageType.HANDSHAKE_INITIATION, data, source, now):
            return
        message = HandshakeInitiation.decode(data)
        responder = open_initiation(self.identity, message)
        peer = self._peers.get(responder.remote_static)
        if peer is None:
            self.drops[DropReason.UNKNOWN_PEER] += 1
            return
        peer.handshake.accept_initiation(
            responder, message, now, self.parameters.initiation_interval
        )
        peer.respond_to_initiation(len(data), source, now)
        self.reschedule(peer)

    def _receive_response(self, data: bytes, source: Address, now: float, wall_time: float) -> None:
        if not self._admit(MessageType.HANDSHAKE_RESPONSE, data, source, now):
            return
        message = HandshakeResponse.decode(data)
        peer = self._handshake_owners.get(message.receiver_index)
        if peer is None:
            self.drops[DropReason.UNEXPECTED_RESPONSE] += 1
            return
        peer.receive_response(message, len(data), source, now, wall_time)
        self.reschedule(peer)

    def _receive_cookie_reply(
        self, data: bytes, source: Address, now: float, wall_time: float
    ) -> None:
        reply = CookieReply.decode(data)
        peer = self._handshake_owners.get(reply.receiver_index)
        if peer is None:
            owner = self._keypair_owners.get(reply.receiver_index)
            peer = owner[0] if owner is not None else None
        if peer is None:
            self.drops[DropReason.UNEXPECTED_RESPONSE] += 1
            return
        try:
            peer.cookie.consume_reply(reply, now)
        except HandshakeError:
            self.drops[DropReason.INVALID_COOKIE_REPLY] += 1

    # -- PeerHost: what peers call back -------------------------------------------------------

    def random_bytes(self, size: int) -> bytes:
        return self._random_bytes(size)

    def rekey_jitter(self) -> float:
        return self._random_fraction() * self.parameters.rekey_timeout_jitter

    def bind_handshake_index(self, peer: Peer) -> int:
        previous = peer.handshake.local_index
        if previous is not None:
            self.release_index(previous)
        while True:
            index: int = _INDEX.unpack(self._random_bytes(4))[0]
            if index not in self._handshake_owners and index not in self._keypair_owners:
                self._handshake_owners[index] = peer
                return index

    def bind_keypair(self, peer: Peer, keypair: Keypair) -> None:
        self._handshake_owners.pop(keypair.local_index, None)
        self._keypair_owners[keypair.local_index] = (peer, keypair)

    def release_index(self, index: int) -> None:
        self._handshake_owners.pop(index, None)
        self._keypair_owners.pop(index, None)

    def transmit(self, datagram: bytes, endpoint: Address) -> None:
        self._outgoing.append((datagram, endpoint))

    def emit(self, event: Event) -> None:
        self._events.append(event)

    def count_drop(self, reason: DropReason, count: int = 1) -> None:
        self.drops[reason] += count

    # -- timer bookkeeping --------------------------------------------------------------------

    def reschedule(self, peer: Peer) -> None:
        """Puts `peer` under its earliest deadline in the timer heap (PeerHost)."""
        deadline = peer.next_deadline()
        if deadline == peer.scheduled_at:
            return
        peer.scheduled_at = deadline
        if deadline is None:
            return
        timers = self._timers
        heapq.heappush(timers, (deadline, next(self._timer_sequence), peer))
        if len(timers) > 2 * len(self._peers) + 64:
            # Drop the stale entries that lazy deletion left behind.
            self._timers = [
                (live.scheduled_at, next(self._timer_sequence), live)
                for live in self._peers.values()
                if live.scheduled_at is not None
            ]
            heapq.heapify(self._timers)
