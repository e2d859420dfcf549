"""Overlay addresses: every WireGuard key has one IPv6 address inside the tunnels, known to all.

    overlay_address(wireguard_key)   # fd70:6163:6174:<the key's first 10 bytes>

The address is the Pacata prefix (a fixed ULA /48, RFC 4193) followed by the first 80 bits of
the X25519 public key. No coordinator hands addresses out, nothing is negotiated: a relay
knows a client's address from the tunnel key of its `CHANNEL_OPEN`, and a client knows the
relay's from the key of its offer. An X25519 public key is 32 bytes of uniformly distributed
curve points, so two keys sharing 80 bits is a 2^-40 event among a million keys; a key
pair that an attacker grinds to collide with another's address gains nothing: allowed IPs
bind each address to one key, and the relay admits one key per channel (its cryptokey
routing refuses the second).

Rules: a peer's allowed IPs on a relay are its overlay address alone (/128); a node's interface
carries its own address with the /48, so the kernel routes the whole overlay to the tunnel.
"""

from __future__ import annotations

import ipaddress

OVERLAY_PREFIX = ipaddress.IPv6Network("fd70:6163:6174::/48")
_PREFIX_BYTES = OVERLAY_PREFIX.network_address.packed[:6]
_KEY_BYTES = 10


def overlay_address(wireguard_key: bytes) -> ipaddress.IPv6Address:
    """The overlay address of the WireGuard public key `wireguard_key` (32 bytes)."""
    if len(wireguard_key) != 32:
        raise ValueError(f"a WireGuard public key is 32 bytes, not {len(wireguard_key)}")
    return ipaddress.IPv6Address(_PREFIX_BYTES + wireguard_key[:_KEY_BYTES])


def overlay_host(wireguard_key: bytes) -> ipaddress.IPv6Network:
    """The /128 network of a key's overlay address: what allowed IPs bind to the key."""
    return ipaddress.IPv6Network(overlay_address(wireguard_key))


def overlay_interface(wireguard_key: bytes) -> ipaddress.IPv6Interface:
    """A node's own address on its interface, with the overlay's prefix length."""
    return ipaddress.IPv6Interface(f"{overlay_address(wireguard_key)}/{OVERLAY_PREFIX.prefixlen}")
