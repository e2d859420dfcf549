"""Cryptokey routing: which peer owns an inner IP address (WireGuard whitepaper §2).

`AllowedIPs` maps IPv4 and IPv6 networks to peers (by their 32-byte public key) and answers
by longest-prefix match. The userspace tunnel asks it twice per packet:

- sending: the peer to encrypt a packet to is the owner of its *destination* address; no owner
  means the packet is dropped;
- receiving: a decrypted packet is accepted only if its *source* address is owned by the peer
  whose session authenticated it; anything else is dropped (a peer may not spoof addresses it
  was not given).

Rules, as in the Linux module's `allowedips.c`:

- A network is stored in canonical form (host bits cleared): `10.0.0.1/24` is `10.0.0.0/24`.
- A network belongs to one peer at a time: inserting it for another peer moves it.
- Lookups take an address as packed bytes (4 or 16), as they appear in the packet header.

Lookups are a dict probe per distinct prefix length in use, longest first; answers are cached
per address until the next change, since a tunnel sees the same few addresses over and over.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_BITS = {4: 32, 16: 128}
_CACHE_LIMIT = 4096


def parse_network(text: str) -> IPNetwork:
    """`10.0.0.1/24` → 10.0.0.0/24; a bare address is a host route. Raises ValueError."""
    return ipaddress.ip_network(text.strip(), strict=False)


class AllowedIPs:
    """Networks → peer public keys, with longest-prefix-match lookups."""

    __slots__ = ("_cache", "_lengths", "_owners", "_tables")

    def __init__(self) -> None:
        # Per address size (4 or 16 bytes): prefix length → (address >> host bits) → peer.
        self._tables: dict[int, dict[int, dict[int, bytes]]] = {4: {}, 16: {}}
        self._lengths: dict[int, list[int]] = {4: [], 16: []}
        self._owners: dict[IPNetwork, bytes] = {}
        self._cache: dict[bytes, bytes | None] = {}

    def __len__(self) -> int:
        return len(self._owners)

    def __iter__(self) -> Iterator[tuple[IPNetwork, bytes]]:
        return iter(list(self._owners.items()))

    def insert(self, network: IPNetwork, peer: bytes) -> None:
        """Routes `network` to `peer`, taking it from whichever peer had it."""
        size = len(network.network_address.packed)
        length = network.prefixlen
        key = int(network.network_address) >> (_BITS[size] - length)
        table = self._tables[size].get(length)
        if table is None:
            table = self._tables[size][length] = {}
            self._lengths[size] = sorted(self._tables[size], reverse=True)
        table[key] = peer
        self._owners[network] = peer
        self._cache.clear()

    def remove(self, network: IPNetwork) -> None:
        """Forgets `network` (no error if it is not there)."""
        if self._owners.pop(network, None) is None:
            return
        size = len(network.network_address.packed)
        length = network.prefixlen
        table = self._tables[size][length]
        del table[int(network.network_address) >> (_BITS[size] - length)]
        if not table:
            del self._tables[size][length]
            self._lengths[size] = sorted(self._tables[size], reverse=True)
        self._cache.clear()

    def remove_peer(self, peer: bytes) -> None:
        """Forgets every network of `peer`."""
        for network in self.networks_of(peer):
            self.remove(network)

    def networks_of(self, peer: bytes) -> list[IPNetwork]:
        """The networks routed to `peer`, in the order they were inserted."""
        return [network for network, owner in self._owners.items() if owner == peer]

    def lookup(self, address: bytes) -> bytes | None:
        """The peer owning the longest prefix that contains `address` (4 or 16 packed bytes)."""
        cache = self._cache
        try:
            return cache[address]
        except KeyError:
            pass
        size = len(address)
        owner: bytes | None = None
        bits = _BITS.get(size)
        if bits is not None:
            value = int.from_bytes(address, "big")
            tables = self._tables[size]
            for length in self._lengths[size]:
                owner = tables[length].get(value >> (bits - length))
                if owner is not None:
                    break
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[bytes(address)] = owner
        return owner
