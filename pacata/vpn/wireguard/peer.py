"""One peer: its handshake, session keypairs, queued packets and timers (whitepaper §6).

A `Peer` belongs to a `Device` (its `PeerHost`), which owns the sockets' side of things: the
index table, the outgoing datagram queue, the event queue and the random sources. The peer
implements the per-peer rules, in the Linux module's terms (`send.c`, `receive.c`, `timers.c`):

Sending (§6.2 transport message limits, §6.3 key rotation):
- Outgoing packets are staged (at most `max_staged_packets`, the oldest dropped) and sent with
  the `current` keypair while it is valid: younger than REJECT_AFTER_TIME and below
  REJECT_AFTER_MESSAGES. Otherwise they stay staged and a handshake initiation is sent.
- After sending, a new handshake is started if the keypair has sent more than
  REKEY_AFTER_MESSAGES, or if we were its initiator and it is older than REKEY_AFTER_TIME.
- An initiation is sent at most once per REKEY_TIMEOUT ("rate limited").

Receiving (§5.4.6, §6.2, §6.3, and §2.1 for roaming):
- Transport data is accepted under any of the three keypairs while it is younger than
  REJECT_AFTER_TIME and its counter is below REJECT_AFTER_MESSAGES, then checked against the
  replay window. Data under `next` confirms it (it becomes `current`) and sends staged packets.
- If we initiated the current keypair and it is older than REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT
  - REKEY_TIMEOUT when data arrives, one last-minute handshake is started.
- The peer's endpoint becomes the source of the latest authenticated packet (roaming).

Timers (§6.4 retransmission, §6.5 passive keepalive), each a deadline on the caller's clock:
- retransmit handshake: REKEY_TIMEOUT + jitter after an initiation; resends it, and gives up
  (dropping staged packets) when more than REKEY_ATTEMPT_TIME / REKEY_TIMEOUT retries went
  unanswered: 20 initiations over about 100 s with the defaults, as in the Linux module;
- send keepalive: KEEPALIVE_TIMEOUT after data is received, if we sent nothing meanwhile;
- new handshake: KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter after data is sent, if nothing
  authenticated came back meanwhile;
- zero key material: 3 × REJECT_AFTER_TIME after the last session was derived, or after giving up;
- persistent keepalive: the configured interval after any authenticated packet in either
  direction.
"""

from __future__ import annotations

import struct
from collections import deque
from typing import Protocol

from pacata.vpn.wireguard.cookie import PeerCookie
from pacata.vpn.wireguard.events import (
    Address,
    DropReason,
    EndpointChanged,
    Event,
    HandshakeAbandoned,
    HandshakeCompleted,
    PacketReceived,
)
from pacata.vpn.wireguard.handshake import Handshake, SessionKeys, StaticIdentity
from pacata.vpn.wireguard.messages import MAC1_OFFSET, HandshakeResponse, MessageType
from pacata.vpn.wireguard.parameters import ProtocolParameters
from pacata.vpn.wireguard.primitives import KEY_SIZE
from pacata.vpn.wireguard.session import Keypair, Keypairs

_INITIATION_MAC1 = MAC1_OFFSET[MessageType.HANDSHAKE_INITIATION]
_RESPONSE_MAC1 = MAC1_OFFSET[MessageType.HANDSHAKE_RESPONSE]
_COUNTER = struct.Struct("<Q")
_IPV4_HEADER_SIZE = 20
_IPV6_HEADER_SIZE = 40


class PeerHost(Protocol):
    """What a peer needs from the device that holds it."""

    parameters: ProtocolParameters
    identity: StaticIdentity
    mtu: int | None

    def random_bytes(self, size: int) -> bytes: ...

    def rekey_jitter(self) -> float: ...

    def bind_handshake_index(self, peer: Peer) -> int: ...

    def bind_keypair(self, peer: Peer, keypair: Keypair) -> None: ...

    def release_index(self, index: int) -> None: ...

    def transmit(self, datagram: bytes, endpoint: Address) -> None: ...

    def emit(self, event: Event) -> None: ...

    def count_drop(self, reason: DropReason, count: int = 1) -> None: ...

    def reschedule(self, peer: Peer) -> None: ...


def ip_packet_length(packet: bytes) -> int | None:
    """The length an IPv4 or IPv6 packet declares, or None if `packet` cannot hold it."""
    version = packet[0] >> 4
    size = len(packet)
    if version == 4 and size >= _IPV4_HEADER_SIZE:
        length = (packet[2] << 8) | packet[3]
        if length < _IPV4_HEADER_SIZE:
            return None
    elif version == 6 and size >= _IPV6_HEADER_SIZE:
        length = _IPV6_HEADER_SIZE + ((packet[4] << 8) | packet[5])
    else:
        return None
    return length if length <= size else None


class Peer:
    """A remote WireGuard peer, known by its static public key."""

    __slots__ = (
        "_handshake_attempts",
        "_host",
        "_last_sent_handshake",
        "_need_another_keepalive",
        "_new_handshake_at",
        "_persistent_keepalive_at",
        "_retransmit_handshake_at",
        "_send_keepalive_at",
        "_sent_lastminute_handshake",
        "_zero_key_material_at",
        "cookie",
        "endpoint",
        "handshake",
        "keypairs",
        "last_handshake_wall_time",
        "persistent_keepalive",
        "public_key",
        "rx_bytes",
        "scheduled_at",
        "staged",
        "tx_bytes",
    )

    def __init__(
        self,
        host: PeerHost,
        public_key: bytes,
        *,
        preshared_key: bytes | None = None,
        endpoint: Address | None = None,
        persistent_keepalive: float | None = None,
    ) -> None:
        if len(public_key) != KEY_SIZE:
            raise ValueError(f"peer public key must be {KEY_SIZE} bytes")
        if persistent_keepalive is not None and persistent_keepalive <= 0:
            raise ValueError("persistent keepalive interval must be positive (or None)")
        self._host = host
        self.public_key = public_key
        self.handshake = Handshake(host.identity, public_key, preshared_key)
        self.cookie = PeerCookie(public_key, parameters=host.parameters)
        self.keypairs = Keypairs()
        self.endpoint = endpoint
        self.persistent_keepalive = persistent_keepalive
        self.staged: deque[bytes] = deque()
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.last_handshake_wall_time: float | None = None
        # The device's timer bookkeeping: the deadline under which this peer is scheduled.
        self.scheduled_at: float | None = None
        self._handshake_attempts = 0
        self._last_sent_handshake: float | None = None
        self._sent_lastminute_handshake = False
        self._retransmit_handshake_at: float | None = None
        self._send_keepalive_at: float | None = None
        self._need_another_keepalive = False
        self._new_handshake_at: float | None = None
        self._zero_key_material_at: float | None = None
        self._persistent_keepalive_at: float | None = None

    def __repr__(self) -> str:
        return f"Peer({self.public_key.hex()[:16]}…, endpoint={self.endpoint})"

    # -- sending ------------------------------------------------------------------------------

    def send(self, packet: bytes, now: float, wall_time: float) -> None:
        """Queues an inner IP packet and sends whatever the current session allows."""
        staged = self.staged
        staged.append(packet)
        if len(staged) > self._host.parameters.max_staged_packets:
            staged.popleft()
            self._host.count_drop(DropReason.STAGED_OVERFLOW)
        self._send_staged(now, wall_time)

    def send_batch(self, packets: list[bytes], now: float, wall_time: float) -> None:
        """`send` for many packets at once: one pass of the session checks per chunk of
        `max_staged_packets`, so that a batch larger than the staging limit is sent, not
        trimmed, when a session is up (and trimmed to the newest, as `send` would, when not)."""
        staged = self.staged
        limit = self._host.parameters.max_staged_packets
        for start in range(0, len(packets), limit):
            staged.extend(packets[start : start + limit])
            overflow = len(staged) - limit
            if overflow > 0:
                for _ in range(overflow):
                    staged.popleft()
                self._host.count_drop(DropReason.STAGED_OVERFLOW, overflow)
            self._send_staged(now, wall_time)

    def send_keepalive(self, now: float, wall_time: float) -> None:
        """Sends an empty transport message (or, with nothing to send it under, a handshake)."""
        if not self.staged:
            self.staged.append(b"")
        self._send_staged(now, wall_time)

    def _send_staged(self, now: float, wall_time: float) -> None:
        staged = self.staged
        if not staged:
            return
        host = self._host
        parameters = host.parameters
        keypair = self.keypairs.current
        if keypair is None or not keypair.sending_valid:
            self._send_queued_initiation(now, wall_time, is_retry=False)
            return
        if keypair.birth + parameters.reject_after_time <= now:
            keypair.sending_valid = False
            self._send_queued_initiation(now, wall_time, is_retry=False)
            return
        endpoint = self.endpoint
        limit = parameters.reject_after_messages
        mtu = host.mtu
        transmit = host.transmit
        data_sent = False
        sent = 0
        while staged:
            if keypair.sending_counter >= limit:
                keypair.sending_valid = False
                break
            packet = staged.popleft()
            datagram = keypair.seal(packet, mtu)
            sent += 1
            if endpoint is None:
                host.count_drop(DropReason.NO_ENDPOINT)
                continue
            self.tx_bytes += len(datagram)
            transmit(datagram, endpoint)
            if packet:
                data_sent = True
        if sent:
            self._on_authenticated_packet_traversal(now)
            self._on_authenticated_packet_sent()
            if data_sent:
                self._on_data_sent(now)
            self._keep_key_fresh_after_sending(keypair, now, wall_time)
        if staged:
            self._send_queued_initiation(now, wall_time, is_retry=False)

    def _keep_key_fresh_after_sending(self, keypair: Keypair, now: float, wall_time: float) -> None:
        if keypair is not self.keypairs.current or not keypair.sending_valid:
            return
        if self._rekey_due(keypair, keypair.sending_counter, now):
            self._send_queued_initiation(now, wall_time, is_retry=False)

    def _rekey_due(self, keypair: Keypair, sent: int, now: float) -> bool:
        """Whether a keypair that has sent `sent` messages calls for a new handshake: past
        REKEY_AFTER_MESSAGES, or past REKEY_AFTER_TIME if we initiated it."""
        parameters = self._host.parameters
        return sent > parameters.rekey_after_messages or (
            keypair.is_initiator and keypair.birth + parameters.rekey_after_time <= now
        )

    def _send_queued_initiation(self, now: float, wall_time: float, *, is_retry: bool) -> None:
        if not is_retry:
            self._handshake_attempts = 0
        host = self._host
        parameters = host.parameters
        last = self._last_sent_handshake
        if last is not None and last + parameters.rekey_timeout > now:
            return
        self._last_sent_handshake = now
        message = self.handshake.create_initiation(
            host.identity,
            local_index=host.bind_handshake_index(self),
            ephemeral_private=host.random_bytes(KEY_SIZE),
            wall_time=wall_time,
        )
        datagram = self.cookie.stamp(message.encode(), _INITIATION_MAC1, now)
        self._on_authenticated_packet_traversal(now)
        self._on_authenticated_packet_sent()
        self._transmit(datagram)
        self._retransmit_handshake_at = now + parameters.rekey_timeout + host.rekey_jitter()

    def _transmit(self, datagram: bytes) -> None:
        endpoint = self.endpoint
        if endpoint is None:
            self._host.count_drop(DropReason.NO_ENDPOINT)
            return
        self.tx_bytes += len(datagram)
        self._host.transmit(datagram, endpoint)

    # -- the transport fast path --------------------------------------------------------------
    #
    # One data packet each way with nothing else due: the common case of interactive traffic,
    # whose round trip is as long as the code it runs through while the caches are cold. Each
    # method first checks that no rule of the general path other than the ones it applies would
    # act (then it returns None and the caller takes the general path), and applies those
    # rules through the same helpers as the general path. Timer deadlines that move later or go
    # away are left scheduled: the device then wakes early, finds nothing due and reschedules
    # (`Device.get_timer` is a lower bound).

    def seal_data(self, packet: bytes, now: float) -> tuple[bytes, Address] | None:
        """The transport message for one inner packet and its destination, or None if `send`
        must take it: nothing staged, a current keypair that stays valid and needs no rekey
        after this message, a known endpoint."""
        keypair = self.keypairs.current
        endpoint = self.endpoint
        if keypair is None or not keypair.sending_valid or self.staged or not packet:
            return None
        if (
            endpoint is None
            or keypair.birth + self._host.parameters.reject_after_time <= now
            # (REKEY_AFTER_MESSAGES is below REJECT_AFTER_MESSAGES)
            or self._rekey_due(keypair, keypair.sending_counter + 1, now)
        ):
            return None
        datagram = keypair.seal(packet, self._host.mtu)
        self.tx_bytes += len(datagram)
        self._on_authenticated_packet_traversal(now)
        self._on_authenticated_packet_sent()
        self._on_data_sent(now)
        self._schedule_by(self._new_handshake_at)
        return datagram, endpoint

    def open_data(
        self, keypair: Keypair, datagram: bytes, source: Address, now: float
    ) -> bytes | None:
        """The inner packet of a transport message under the current keypair from the known
        endpoint (b"" for a keepalive or a dropped message, counted), or None if
        `receive_transport` must take it (another keypair, a new endpoint, an expired key, a
        last-minute handshake due)."""
        if (
            keypair is not self.keypairs.current
            or source != self.endpoint
            or not self._may_receive(keypair, now)
            or self._lastminute_handshake_due(now)
        ):
            return None
        plaintext = self._open_transport(keypair, datagram)
        if plaintext is None:
            return b""
        packet = self._take_transport(plaintext, len(datagram), now)
        if plaintext:
            self._schedule_by(self._send_keepalive_at)
        return b"" if packet is None else packet

    def _schedule_by(self, deadline: float | None) -> None:
        """Makes the device wake this peer no later than `deadline`."""
        scheduled = self.scheduled_at
        if deadline is not None and (scheduled is None or deadline < scheduled):
            self._host.reschedule(self)

    # -- receiving ----------------------------------------------------------------------------

    def respond_to_initiation(self, size: int, source: Address, now: float) -> None:
        """The device accepted an initiation of `size` bytes from this peer: answer it."""
        self._set_endpoint(source)
        host = self._host
        self._last_sent_handshake = now
        response = self.handshake.create_response(
            local_index=host.bind_handshake_index(self),
            ephemeral_private=host.random_bytes(KEY_SIZE),
        )
        datagram = self.cookie.stamp(response.encode(), _RESPONSE_MAC1, now)
        self._install(self.handshake.begin_session(), now)
        self._on_session_derived(now)
        self._on_authenticated_packet_traversal(now)
        self._on_authenticated_packet_sent()
        self._transmit(datagram)
        self._on_received(size, now)

    def receive_response(
        self, message: HandshakeResponse, size: int, source: Address, now: float, wall_time: float
    ) -> None:
        """Message 2 addressed to our outstanding initiation; raises `HandshakeError` if it
        does not answer it."""
        self.handshake.consume_response(message)
        self._set_endpoint(source)
        self._install(self.handshake.begin_session(), now)
        self._on_session_derived(now)
        self._on_handshake_complete(wall_time)
        self._host.emit(HandshakeCompleted(self.public_key, initiator=True))
        # Sends staged packets, or a keepalive, so that the responder can confirm the session.
        self.send_keepalive(now, wall_time)
        self._on_received(size, now)

    def receive_transport(
        self, keypair: Keypair, datagram: bytes, source: Address, now: float, wall_time: float
    ) -> None:
        """Transport data addressed to one of our keypairs (the general receive path)."""
        host = self._host
        if not self._may_receive(keypair, now):
            keypair.receiving_valid = False
            host.count_drop(DropReason.EXPIRED_KEY)
            return
        plaintext = self._open_transport(keypair, datagram)
        if plaintext is None:
            return
        if source != self.endpoint:
            self._set_endpoint(source)
        if keypair is self.keypairs.next:
            for dropped in self.keypairs.confirm(keypair):
                host.release_index(dropped.local_index)
            self._on_handshake_complete(wall_time)
            host.emit(HandshakeCompleted(self.public_key, initiator=False))
            self._send_staged(now, wall_time)
        self._keep_key_fresh_after_receiving(now, wall_time)
        packet = self._take_transport(plaintext, len(datagram), now)
        if packet:
            host.emit(PacketReceived(self.public_key, packet))

    def _open_transport(self, keypair: Keypair, datagram: bytes) -> bytes | None:
        """The padded plaintext of a transport message under `keypair` that authenticates and
        is not a replay, or None (dropped and counted). Both receive paths open this way."""
        (counter,) = _COUNTER.unpack_from(datagram, 8)
        plaintext = keypair.open(counter, datagram)
        if plaintext is None:
            self._host.count_drop(DropReason.INVALID_TRANSPORT)
            return None
        if not keypair.replay.accept(counter):
            self._host.count_drop(DropReason.REPLAYED_COUNTER)
            return None
        return plaintext

    def _take_transport(self, plaintext: bytes, size: int, now: float) -> bytes | None:
        """The timers and counters of an authenticated transport message of `size` bytes; its
        inner packet without padding (b"": a keepalive), or None if that is malformed
        (counted). Both receive paths end this way."""
        self._new_handshake_at = None  # any authenticated packet received
        self._on_authenticated_packet_traversal(now)
        self.rx_bytes += size
        if not plaintext:
            return plaintext  # a keepalive
        self._on_data_received(now)
        length = ip_packet_length(plaintext)
        if length is None:
            self._host.count_drop(DropReason.INVALID_INNER_PACKET)
            return None
        return plaintext if length == len(plaintext) else plaintext[:length]

    def _keep_key_fresh_after_receiving(self, now: float, wall_time: float) -> None:
        if self._lastminute_handshake_due(now):
            self._sent_lastminute_handshake = True
            self._send_queued_initiation(now, wall_time, is_retry=False)

    def _lastminute_handshake_due(self, now: float) -> bool:
        """Data received now calls for the one last-minute handshake: our current keypair is
        one we initiated, older than REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT."""
        keypair = self.keypairs.current
        return (
            not self._sent_lastminute_handshake
            and keypair is not None
            and keypair.sending_valid
            and keypair.is_initiator
            and keypair.birth + self._host.parameters.lastminute_rekey_after <= now
        )

    def _may_receive(self, keypair: Keypair, now: float) -> bool:
        """Whether `keypair` still accepts transport data: valid, younger than
        REJECT_AFTER_TIME, below REJECT_AFTER_MESSAGES."""
        parameters = self._host.parameters
        return (
            keypair.receiving_valid
            and keypair.birth + parameters.reject_after_time > now
            and keypair.replay.highest + 1 < parameters.reject_after_messages
        )

    def _install(self, keys: SessionKeys, now: float) -> Keypair:
        host = self._host
        keypair = Keypair(
            sending_key=keys.sending_key,
            receiving_key=keys.receiving_key,
            is_initiator=keys.is_initiator,
            local_index=keys.local_index,
            remote_index=keys.remote_index,
            birth=now,
            reject_after_messages=host.parameters.reject_after_messages,
        )
        for dropped in self.keypairs.install(keypair):
            host.release_index(dropped.local_index)
        host.bind_keypair(self, keypair)
        return keypair

    def _set_endpoint(self, source: Address) -> None:
        if source != self.endpoint:
            self.endpoint = source
            self._host.emit(EndpointChanged(self.public_key, source))

    def _on_received(self, size: int, now: float) -> None:
        self.rx_bytes += size
        self._new_handshake_at = None  # any authenticated packet received
        self._on_authenticated_packet_traversal(now)

    # -- timers -------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        earliest: float | None = None
        for deadline in (
            self._retransmit_handshake_at,
            self._send_keepalive_at,
            self._new_handshake_at,
            self._zero_key_material_at,
            self._persistent_keepalive_at,
        ):
            if deadline is not None and (earliest is None or deadline < earliest):
                earliest = deadline
        return earliest

    def handle_timers(self, now: float, wall_time: float) -> None:
        """Runs every timer of this peer whose deadline is at or before `now`."""
        parameters = self._host.parameters
        deadline = self._retransmit_handshake_at
        if deadline is not None and deadline <= now:
            self._retransmit_handshake_at = None
            self._retransmit_handshake(now, wall_time)
        deadline = self._new_handshake_at
        if deadline is not None and deadline <= now:
            # We sent data and heard nothing back for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT.
            self._new_handshake_at = None
            self._send_queued_initiation(now, wall_time, is_retry=False)
        deadline = self._send_keepalive_at
        if deadline is not None and deadline <= now:
            self._send_keepalive_at = None
            self.send_keepalive(now, wall_time)
            if self._need_another_keepalive:
                self._need_another_keepalive = False
                self._send_keepalive_at = now + parameters.keepalive_timeout
        deadline = self._persistent_keepalive_at
        if deadline is not None and deadline <= now:
            self._persistent_keepalive_at = None
            if self.persistent_keepalive is not None:
                self.send_keepalive(now, wall_time)
        deadline = self._zero_key_material_at
        if deadline is not None and deadline <= now:
            self._zero_key_material_at = None
            self.zero_key_material()

    def _retransmit_handshake(self, now: float, wall_time: float) -> None:
        parameters = self._host.parameters
        if self._handshake_attempts > parameters.max_handshake_attempts:
            self._send_keepalive_at = None
            if self.staged:
                self._host.count_drop(DropReason.HANDSHAKE_ABANDONED, len(self.staged))
                self.staged.clear()
            if self._zero_key_material_at is None:
                self._zero_key_material_at = now + parameters.zero_key_material_after
            self._host.emit(HandshakeAbandoned(self.public_key))
            return
        self._handshake_attempts += 1
        self._send_queued_initiation(now, wall_time, is_retry=True)

    def zero_key_material(self) -> None:
        """Forgets every keypair and the handshake state, releasing their indices."""
        host = self._host
        for keypair in self.keypairs.clear():
            host.release_index(keypair.local_index)
        if self.handshake.local_index is not None:
            host.release_index(self.handshake.local_index)
        self.handshake.clear()

    def _on_data_sent(self, now: float) -> None:
        if self._new_handshake_at is None:
            parameters = self._host.parameters
            self._new_handshake_at = (
                now
                + parameters.keepalive_timeout
                + parameters.rekey_timeout
                + self._host.rekey_jitter()
            )

    def _on_data_received(self, now: float) -> None:
        if self._send_keepalive_at is None:
            self._send_keepalive_at = now + self._host.parameters.keepalive_timeout
        else:
            self._need_another_keepalive = True

    def _on_authenticated_packet_sent(self) -> None:
        self._send_keepalive_at = None

    def _on_authenticated_packet_traversal(self, now: float) -> None:
        if self.persistent_keepalive is not None:
            self._persistent_keepalive_at = now + self.persistent_keepalive

    def _on_handshake_complete(self, wall_time: float) -> None:
        self._retransmit_handshake_at = None
        self._handshake_attempts = 0
        self._sent_lastminute_handshake = False
        self.last_handshake_wall_time = wall_time

    def _on_session_derived(self, now: float) -> None:
        self._zero_key_material_at = now + self._host.parameters.zero_key_material_after
