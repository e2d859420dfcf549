"""The one classifier of the node's UDP port (docs/p2p-udp.md §Dispatch): which protocol a
datagram belongs to, from its first bytes, before any protocol sees it.

    kind = classify(datagram)   # STUN, DHT, WIREGUARD or OTHER

Rules:
- STUN: `stun.is_stun` (two zero top bits, a length field that matches the size, the magic
  cookie or a classic Binding request). DHT: the magic prefix `dht_messages.DHT_MAGIC`.
  WireGuard: a message type 1-4 followed by three zero bytes, in at least 32 bytes (the
  smallest WireGuard message, a keepalive; the exact size is WireGuard's to check:
  `vpn/wireguard/messages.classify_datagram`). Anything else (hole-punching probes to come) is
  OTHER.
- The rules are disjoint (the module docs show why, and a property test checks it), so the
  order of the checks does not matter; sans-I/O, no state.
"""

from __future__ import annotations

from enum import Enum

from pacata.p2p.dht_messages import is_dht_datagram
from pacata.p2p.stun import is_stun

# Handshake initiation, response, cookie reply, transport data (WireGuard paper §5.4).
WIREGUARD_HEADERS = frozenset(bytes((message_type, 0, 0, 0)) for message_type in (1, 2, 3, 4))
# A transport header (16 bytes) and the tag of an empty packet (16). The bound is what keeps
# WireGuard apart from STUN: a STUN header of type 0x0100-0x0400 with a zero length field starts
# with a WireGuard header, and is 20 bytes long.
MIN_WIREGUARD_BYTES = 32


class DatagramKind(Enum):
    STUN = "stun"
    DHT = "dht"
    WIREGUARD = "wireguard"
    OTHER = "other"


def is_wireguard(datagram: bytes) -> bool:
    """Whether a datagram of the shared port carries a WireGuard header and is long enough to be
    a WireGuard message."""
    return len(datagram) >= MIN_WIREGUARD_BYTES and datagram[:4] in WIREGUARD_HEADERS


def classify(datagram: bytes) -> DatagramKind:
    """The protocol `datagram` belongs to (see the module rules)."""
    if is_stun(datagram):
        return DatagramKind.STUN
    if is_dht_datagram(datagram):
        return DatagramKind.DHT
    if is_wireguard(datagram):
        return DatagramKind.WIREGUARD
    return DatagramKind.OTHER
