"""What a WireGuard interface is told (changes) and what it reports (status), backend-neutral.

Both tunnel backends (the kernel module through netlink, our userspace engine) take the same
`InterfaceChange` and report the same `InterfaceStatus`; the configuration protocol of the
userspace engine (`pacata/vpn/uapi.py`) parses into the first and prints the second, so `wg`
and the node's own code configure either backend the same way.

Rules, those of the `wg` tool and the cross-platform configuration protocol:

- A change is incremental: fields left as `None` (or `False`) keep their current value.
  `replace_peers` removes every peer first, then applies the peers of the change
  (wireguard-go and Linux agree).
- A peer change with `remove` deletes the peer; with `update_only` it is ignored if the peer
  does not exist yet; `replace_allowed_ips` clears the peer's networks before adding
  `allowed_ips`.
- A private key of 32 zero bytes removes the interface's private key.
- `persistent_keepalive` 0 turns it off; the preshared key of 32 zero bytes means none.
- Keys are 32 raw bytes here; hex and base64 are the protocols' business.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacata.vpn.allowed_ips import IPNetwork
from pacata.vpn.wireguard.events import Address

KEY_SIZE = 32
NO_KEY = bytes(KEY_SIZE)


@dataclass(frozen=True, slots=True)
class PeerChange:
    """One peer's part of a configuration change."""

    public_key: bytes
    remove: bool = False
    update_only: bool = False
    preshared_key: bytes | None = None
    endpoint: Address | None = None
    persistent_keepalive: int | None = None
    replace_allowed_ips: bool = False
    allowed_ips: tuple[IPNetwork, ...] = ()


@dataclass(frozen=True, slots=True)
class InterfaceChange:
    """A configuration change for an interface: `wg set`, `wg setconf`, a node's own update."""

    private_key: bytes | None = None
    listen_port: int | None = None
    fwmark: int | None = None
    replace_peers: bool = False
    peers: tuple[PeerChange, ...] = ()


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """A peer as the interface sees it now, with its counters (for metering and `wg show`)."""

    public_key: bytes
    preshared_key: bytes = NO_KEY
    endpoint: Address | None = None
    persistent_keepalive: int = 0
    allowed_ips: tuple[IPNetwork, ...] = ()
    last_handshake_time: float | None = None
    rx_bytes: int = 0
    tx_bytes: int = 0


@dataclass(frozen=True, slots=True)
class InterfaceStatus:
    """An interface as it is now."""

    private_key: bytes | None = None
    public_key: bytes | None = None
    listen_port: int = 0
    fwmark: int = 0
    peers: tuple[PeerStatus, ...] = field(default_factory=tuple)

    def peer(self, public_key: bytes) -> PeerStatus | None:
        for peer in self.peers:
            if peer.public_key == public_key:
                return peer
        return None
