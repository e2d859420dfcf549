"""WireGuard, bit-compatible with the Linux module and wireguard-go, as a sans-I/O core.

`Device` is the entry point (see `device.py` for the model); the other public names are its
events, its parameters, the wire messages and the Noise machine the handshake is built on.
docs/wireguard.md maps each module to the section of the WireGuard whitepaper it implements.
"""

from pacata.vpn.wireguard.device import Device, PeerNotFound
from pacata.vpn.wireguard.events import (
    Address,
    DropReason,
    EndpointChanged,
    Event,
    HandshakeAbandoned,
    HandshakeCompleted,
    PacketReceived,
)
from pacata.vpn.wireguard.handshake import CONSTRUCTION, IDENTIFIER
from pacata.vpn.wireguard.messages import (
    CookieReply,
    HandshakeInitiation,
    HandshakeResponse,
    MessageType,
    TransportData,
    classify_datagram,
)
from pacata.vpn.wireguard.parameters import DEFAULT_PARAMETERS, ProtocolParameters
from pacata.vpn.wireguard.peer import Peer
from pacata.vpn.wireguard.primitives import x25519_public_key

__all__ = [
    "CONSTRUCTION",
    "DEFAULT_PARAMETERS",
    "IDENTIFIER",
    "Address",
    "CookieReply",
    "Device",
    "DropReason",
    "EndpointChanged",
    "Event",
    "HandshakeAbandoned",
    "HandshakeCompleted",
    "HandshakeInitiation",
    "HandshakeResponse",
    "MessageType",
    "PacketReceived",
    "Peer",
    "PeerNotFound",
    "ProtocolParameters",
    "TransportData",
    "classify_datagram",
    "x25519_public_key",
]
