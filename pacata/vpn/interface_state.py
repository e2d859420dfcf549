"""A WireGuard interface's configuration and its protocol core, sans-I/O.

`InterfaceState` is what an interface *is* — its private key, its peers with their settings,
the allowed-IPs table (cryptokey routing), the per-peer limits of the tiers, the `Device` that
runs the protocol — and how a configuration change (`wg set`, `wg setconf`, the node's own)
changes it. It owns no socket, thread or clock: the userspace engine (`io/engine.py`) holds one
under its lock, moves packets with it, and keeps to itself what belongs to the socket (the
port, the fwmark).

Rules:
- Changing the private key builds a new `Device` (the core's rule) and carries the peers over
  with their counters, endpoints and last handshakes; `NO_KEY` removes it (no device: no
  traffic). A peer with the interface's own public key is refused, as wireguard-go does.
- `apply` returns the datagrams the change queued (the first keepalive of a peer whose
  persistent keepalive was just turned on); the caller sends them and drains the events.
- `pin(owner)`: from then on a change of the key or the port is refused with EPERM (pacatad
  pins them: its node record advertises both, and its other protocols share the port).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pacata.vpn.allowed_ips import AllowedIPs
from pacata.vpn.config import NO_KEY, InterfaceChange, InterfaceStatus, PeerChange, PeerStatus
from pacata.vpn.rate_limit import PeerLimit, PeerLimits
from pacata.vpn.uapi import ConfigurationError
from pacata.vpn.wireguard import Device, ProtocolParameters, x25519_public_key
from pacata.vpn.wireguard.events import Address


@dataclass(slots=True)
class PeerSettings:
    """What was configured for a peer; the source of truth when the device is rebuilt."""

    preshared_key: bytes | None = None
    endpoint: Address | None = None
    persistent_keepalive: int = 0


class InterfaceState:
    def __init__(self, name: str, parameters: ProtocolParameters, mtu: int) -> None:
        self.name = name
        self.parameters = parameters
        self.mtu = mtu
        self.private_key: bytes | None = None
        self.device: Device | None = None
        self.peers: dict[bytes, PeerSettings] = {}
        self.routes = AllowedIPs()
        self.limits = PeerLimits()
        self.owner: str | None = None

    def pin(self, owner: str) -> None:
        self.owner = owner

    def check_pinned(self, change: InterfaceChange, port: int) -> None:
        """`ConfigurationError` (EPERM) if `change` moves a pinned key or port."""
        if self.owner is not None and (
            change.private_key not in (None, self.private_key)
            or change.listen_port not in (None, port)
        ):
            raise ConfigurationError(
                f"the private key and port of {self.name} are {self.owner}'s", errno.EPERM
            )

    def apply(
        self, change: InterfaceChange, now: float, wall: float
    ) -> list[tuple[bytes, Address]]:
        """Applies the key and peer parts of `change` (see the module rules)."""
        if change.private_key is not None:
            self._set_private_key(change.private_key)
        if change.replace_peers:
            for public_key in list(self.peers):
                self.remove_peer(public_key)
        keepalives = [p.public_key for p in change.peers if self._apply_peer(p)]
        device = self.device
        if device is None:
            return []
        for public_key in keepalives:
            if public_key in device.peers:
                device.send_keepalive(public_key, now, wall)
        return device.datagrams_to_send()

    def set_limit(self, public_key: bytes, limit: PeerLimit, now: float) -> None:
        self.limits.set(public_key, limit, now)

    def remove_peer(self, public_key: bytes) -> None:
        self.peers.pop(public_key, None)
        self.limits.remove(public_key)
        self.routes.remove_peer(public_key)
        device = self.device
        if device is not None and public_key in device.peers:
            device.remove_peer(public_key)

    def counters(self) -> dict[bytes, tuple[int, int]]:
        """Each peer's (received, sent) bytes since it was added: the meters' input."""
        device = self.device
        if device is None:
            return {}
        return {key: (peer.rx_bytes, peer.tx_bytes) for key, peer in device.peers.items()}

    def status(self, listen_port: int, fwmark: int) -> InterfaceStatus:
        device = self.device
        peers: list[PeerStatus] = []
        for public_key, settings in self.peers.items():
            core = device.peers.get(public_key) if device is not None else None
            peers.append(
                PeerStatus(
                    public_key=public_key,
                    preshared_key=settings.preshared_key or NO_KEY,
                    endpoint=core.endpoint if core is not None else settings.endpoint,
                    persistent_keepalive=settings.persistent_keepalive,
                    allowed_ips=tuple(self.routes.networks_of(public_key)),
                    last_handshake_time=core.last_handshake_wall_time if core else None,
                    rx_bytes=core.rx_bytes if core is not None else 0,
                    tx_bytes=core.tx_bytes if core is not None else 0,
                )
            )
        return InterfaceStatus(
            private_key=self.private_key,
            public_key=device.public_key if device is not None else None,
            listen_port=listen_port,
            fwmark=fwmark,
            peers=tuple(peers),
        )

    def _set_private_key(self, private_key: bytes) -> None:
        if private_key == NO_KEY:
            self.private_key = None
            self.device = None
            return
        if private_key == self.private_key:
            return
        public_key = x25519_public_key(private_key)
        # A peer with our own new public key cannot exist (wireguard-go removes it too).
        if public_key in self.peers:
            self.remove_peer(public_key)
        old = self.device
        device = Device(private_key, parameters=self.parameters, mtu=self.mtu)
        for peer_key, settings in self.peers.items():
            peer = device.add_peer(
                peer_key,
                preshared_key=settings.preshared_key,
                endpoint=settings.endpoint,
                persistent_keepalive=settings.persistent_keepalive or None,
            )
            if old is not None and peer_key in old.peers:
                previous = old.peers[peer_key]
                peer.rx_bytes, peer.tx_bytes = previous.rx_bytes, previous.tx_bytes
                peer.endpoint = previous.endpoint
                peer.last_handshake_wall_time = previous.last_handshake_wall_time
        self.private_key = private_key
        self.device = device

    def _apply_peer(self, change: PeerChange) -> bool:
        """Applies one peer's change; True if a persistent keepalive was just turned on."""
        public_key = change.public_key
        if self.private_key is not None and public_key == x25519_public_key(self.private_key):
            return False
        if change.remove:
            self.remove_peer(public_key)
            return False
        settings = self.peers.get(public_key)
        if settings is None:
            if change.update_only:
                return False
            settings = self.peers[public_key] = PeerSettings()
        keepalive_was = settings.persistent_keepalive
        if change.preshared_key is not None:
            settings.preshared_key = (
                None if change.preshared_key == NO_KEY else change.preshared_key
            )
        if change.endpoint is not None:
            settings.endpoint = change.endpoint
        if change.persistent_keepalive is not None:
            settings.persistent_keepalive = change.persistent_keepalive
        if change.replace_allowed_ips:
            self.routes.remove_peer(public_key)
        for network in change.allowed_ips:
            self.routes.insert(network, public_key)
        device = self.device
        if device is not None:
            if public_key not in device.peers:
                device.add_peer(
                    public_key,
                    preshared_key=settings.preshared_key,
                    endpoint=settings.endpoint,
                    persistent_keepalive=settings.persistent_keepalive or None,
                )
            else:
                peer = device.peer(public_key)
                if change.endpoint is not None:
                    peer.endpoint = change.endpoint
                if change.preshared_key is not None:
                    peer.handshake.preshared_key = settings.preshared_key or NO_KEY
                peer.persistent_keepalive = settings.persistent_keepalive or None
        return bool(settings.persistent_keepalive) and not keepalive_was
