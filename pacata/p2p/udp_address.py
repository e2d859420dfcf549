"""UDP addresses as the node's datagram protocols (STUN, the DHT, WireGuard) pass them around.

Rules:

- An address is `(host, port)`: the host an IP address literal in its canonical text form
  (`ipaddress` compressed form), the port 0-65535. The same shape as WireGuard's `Address`
  (`pacata/vpn/wireguard/events.py`), so one socket's sources serve every protocol.
- An IPv4 peer seen through a dual-stack socket (`::ffff:192.0.2.1`) is the IPv4 address
  `192.0.2.1`: a peer has one name whichever socket saw it (`normalize_address`).
- Parsing is cached (bounded), since every datagram's source and every contact goes through it.
- On the wire an IP address is a family code (RFC 5389 §15.1: 1 = IPv4, 2 = IPv6) and its 4 or
  16 bytes in network order (`pack_host` / `unpack_host`); anything else is a `DecodeError`.
"""

from __future__ import annotations

import functools
import ipaddress

from pacata.errors import DecodeError

Address = tuple[str, int]
"""A UDP endpoint as (host, port); the host is an IP address literal."""

FAMILY_IPV4 = 0x01
FAMILY_IPV6 = 0x02
ADDRESS_SIZES = {FAMILY_IPV4: 4, FAMILY_IPV6: 16}


def _parse_host(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    parsed = ipaddress.ip_address(host.split("%", 1)[0])  # a scope id names a link, not a host
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed


@functools.lru_cache(maxsize=8192)
def normalize_address(host: str, port: int) -> Address:
    """The canonical form of a socket address; raises ValueError for a host that is no IP."""
    if not 0 <= port <= 0xFFFF:
        raise ValueError(f"port {port} out of range")
    return (str(_parse_host(host)), port)


@functools.lru_cache(maxsize=8192)
def pack_host(host: str) -> tuple[int, bytes]:
    """The address family code and the packed bytes of an IP literal (ValueError otherwise)."""
    parsed = _parse_host(host)
    family = FAMILY_IPV4 if parsed.version == 4 else FAMILY_IPV6
    return family, parsed.packed


@functools.lru_cache(maxsize=8192)
def unpack_host(family: int, packed: bytes) -> str:
    """The canonical text of a packed address of `family`; `DecodeError` if they disagree."""
    size = ADDRESS_SIZES.get(family)
    if size is None:
        raise DecodeError(f"unknown address family {family}")
    if len(packed) != size:
        raise DecodeError(f"an address of family {family} is {size} bytes, got {len(packed)}")
    return str(ipaddress.ip_address(packed))
