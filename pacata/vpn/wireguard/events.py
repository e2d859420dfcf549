"""What a WireGuard `Device` tells its owner, as small frozen values popped with `next_event()`.

Rules: events name the peer by its static public key (32 bytes), never by an internal object;
garbage from the network never produces an event (it is dropped and counted, see
`DropReason`), so a flood cannot grow the event queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

Address = tuple[str, int]
"""A UDP endpoint as (host, port); the host is an IP address literal."""


@dataclass(frozen=True, slots=True)
class PacketReceived:
    """An authenticated inner IP packet from `peer`, padding removed."""

    peer: bytes
    packet: bytes


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """A new session with `peer` is in use (we initiated it, or the peer confirmed it)."""

    peer: bytes
    initiator: bool


@dataclass(frozen=True, slots=True)
class HandshakeAbandoned:
    """No handshake with `peer` succeeded within REKEY_ATTEMPT_TIME; its queued packets were
    dropped. A new attempt starts when a packet is sent to it again."""

    peer: bytes


@dataclass(frozen=True, slots=True)
class EndpointChanged:
    """`peer` was last authenticated from a new address, which is where we now send to it."""

    peer: bytes
    endpoint: Address


Event = PacketReceived | HandshakeCompleted | HandshakeAbandoned | EndpointChanged


class DropReason(StrEnum):
    """Why the device dropped a datagram or a packet; `Device.drops` counts each."""

    INVALID_MAC1 = "invalid mac1"
    COOKIE_REQUIRED = "under load without a valid mac2 (cookie reply sent)"
    INVALID_HANDSHAKE = "handshake message failed to authenticate or decrypt"
    UNKNOWN_PEER = "handshake from a static key that is not a peer"
    REPLAYED_INITIATION = "initiation timestamp not newer than the last one"
    INITIATION_FLOOD = "initiation sooner than 1/INITIATIONS_PER_SECOND after the last one"
    UNEXPECTED_RESPONSE = "response or cookie reply for no handshake in progress"
    INVALID_COOKIE_REPLY = "cookie reply that does not open under our last mac1"
    UNKNOWN_INDEX = "receiver index of no session"
    EXPIRED_KEY = "transport data for a key past its time or message limit"
    INVALID_TRANSPORT = "transport data that failed to authenticate"
    REPLAYED_COUNTER = "transport counter replayed or too old"
    INVALID_INNER_PACKET = "decrypted packet is not a well-formed IP packet"
    NO_ENDPOINT = "datagram for a peer without a known endpoint"
    STAGED_OVERFLOW = "queued packet dropped: too many waiting for a handshake"
    HANDSHAKE_ABANDONED = "queued packet dropped: the handshake was abandoned"
