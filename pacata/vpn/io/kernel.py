"""The kernel backend: a Linux WireGuard interface driven through pyroute2's netlink API.

The link is created with rtnetlink (`kind="wireguard"`); keys, port, fwmark and peers are set
and read with the WireGuard generic-netlink family (`pyroute2.WireGuard`), which wants keys in
base64 and endpoints as address/port. The counters and handshake times come from the kernel.

Rules: `kernel_wireguard_available` answers without leaving anything behind (it creates and
deletes a probe link when the module is not loaded yet, which also loads it where modules can
be loaded); where the kernel refuses (EOPNOTSUPP: no module), it says so and the caller uses the
userspace engine. pyroute2's `set` has no REPLACE_PEERS flag, so `replace_peers` removes the
current peers first, in the same request sequence.
"""

from __future__ import annotations

import base64
import dataclasses
import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute, WireGuard
from pyroute2.netlink.exceptions import NetlinkError

from pacata.vpn.allowed_ips import IPNetwork, parse_network
from pacata.vpn.backend import BackendKind
from pacata.vpn.config import (
    NO_KEY,
    InterfaceChange,
    InterfaceStatus,
    PeerChange,
    PeerStatus,
)
from pacata.vpn.io import links
from pacata.vpn.wireguard.events import Address


@dataclass(frozen=True, slots=True)
class KernelAvailability:
    available: bool
    reason: str


def kernel_wireguard_available() -> KernelAvailability:
    """Whether this network namespace can have kernel WireGuard interfaces, and why not."""
    if Path("/sys/module/wireguard").exists():
        return KernelAvailability(True, "the wireguard module is loaded")
    probe = f"pwgprobe{os.getpid() % 100000}"
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=probe, kind="wireguard")
            ipr.link("del", index=links.link_index(ipr, probe))
    except NetlinkError as error:
        if error.code == errno.EOPNOTSUPP:
            return KernelAvailability(
                False, "the kernel has no WireGuard module (creating a wireguard link: EOPNOTSUPP)"
            )
        if error.code == errno.EPERM:
            return KernelAvailability(False, "creating links needs CAP_NET_ADMIN")
        return KernelAvailability(False, f"creating a wireguard link failed: {error}")
    except OSError as error:
        return KernelAvailability(False, f"netlink unavailable: {error}")
    return KernelAvailability(True, "a wireguard link can be created")


def _base64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _key(value: Any) -> bytes:
    if isinstance(value, bytes | str):
        return base64.b64decode(value)
    raise ValueError(f"unexpected key attribute {value!r}")


def netlink_peer_request(change: PeerChange) -> dict[str, Any]:
    request: dict[str, Any] = {"public_key": _base64(change.public_key)}
    if change.remove:
        request["remove"] = True
        return request
    if change.update_only:
        request["update_only"] = True
    if change.preshared_key is not None:
        request["preshared_key"] = _base64(change.preshared_key)
    if change.endpoint is not None:
        request["endpoint_addr"], request["endpoint_port"] = change.endpoint
    if change.persistent_keepalive is not None:
        request["persistent_keepalive"] = change.persistent_keepalive
    if change.replace_allowed_ips:
        request["replace_allowed_ips"] = True
    if change.allowed_ips:
        request["allowed_ips"] = [str(network) for network in change.allowed_ips]
    return request


def _attribute(message: Any, name: str) -> Any:
    return message.get_attr(name)


def _peer_status(peer: Any) -> PeerStatus:
    endpoint: Address | None = None
    raw_endpoint = _attribute(peer, "WGPEER_A_ENDPOINT")
    if raw_endpoint is not None and raw_endpoint.get("addr"):
        endpoint = (str(raw_endpoint["addr"]), int(raw_endpoint["port"]))
    handshake = _attribute(peer, "WGPEER_A_LAST_HANDSHAKE_TIME")
    last_handshake: float | None = None
    if handshake is not None and handshake.get("tv_sec"):
        last_handshake = handshake["tv_sec"] + handshake.get("tv_nsec", 0) / 1e9
    allowed: list[IPNetwork] = []
    for entry in _attribute(peer, "WGPEER_A_ALLOWEDIPS") or ():
        text = entry.get("addr")
        if text:
            allowed.append(parse_network(text))
    preshared = _attribute(peer, "WGPEER_A_PRESHARED_KEY")
    return PeerStatus(
        public_key=_key(_attribute(peer, "WGPEER_A_PUBLIC_KEY")),
        preshared_key=_key(preshared) if preshared is not None else NO_KEY,
        endpoint=endpoint,
        persistent_keepalive=int(_attribute(peer, "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL") or 0),
        allowed_ips=tuple(allowed),
        last_handshake_time=last_handshake,
        rx_bytes=int(_attribute(peer, "WGPEER_A_RX_BYTES") or 0),
        tx_bytes=int(_attribute(peer, "WGPEER_A_TX_BYTES") or 0),
    )


class KernelTunnel:
    """A kernel WireGuard interface in the current network namespace."""

    def __init__(self, name: str) -> None:
        self._name = name

    @classmethod
    def create(cls, name: str, *, mtu: int | None = None) -> KernelTunnel:
        with IPRoute() as ipr:
            ipr.link("add", ifname=name, kind="wireguard")
        tunnel = cls(name)
        if mtu is not None:
            try:
                links.set_mtu(name, mtu)
            except BaseException:
                tunnel.close()
                raise
        return tunnel

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> BackendKind:
        return "kernel"

    def apply(self, change: InterfaceChange) -> None:
        with WireGuard() as wg:
            if change.replace_peers:
                for peer in self.status().peers:
                    wg.set(
                        self._name, peer={"public_key": _base64(peer.public_key), "remove": True}
                    )
            if (
                change.private_key is not None
                or change.listen_port is not None
                or change.fwmark is not None
            ):
                wg.set(
                    self._name,
                    private_key=(
                        _base64(change.private_key) if change.private_key is not None else None
                    ),
                    listen_port=change.listen_port,
                    fwmark=change.fwmark,
                )
            for peer_change in change.peers:
                wg.set(self._name, peer=netlink_peer_request(peer_change))

    def status(self) -> InterfaceStatus:
        with WireGuard() as wg:
            return status_from_messages(list(wg.info(self._name)))

    def close(self) -> None:
        links.delete_link(self._name)


def status_from_messages(messages: list[Any]) -> InterfaceStatus:
    """The status in the decoded WG_CMD_GET_DEVICE replies. A long dump is split across
    messages by the kernel, and a peer whose allowed IPs did not fit is repeated at the start
    of the next message with the rest of them: such repeats are merged."""
    private_key: bytes | None = None
    public_key: bytes | None = None
    listen_port = 0
    fwmark = 0
    peers: dict[bytes, PeerStatus] = {}
    for message in messages:
        raw_private = _attribute(message, "WGDEVICE_A_PRIVATE_KEY")
        if raw_private is not None:
            private_key = _key(raw_private)
            public_key = _key(_attribute(message, "WGDEVICE_A_PUBLIC_KEY"))
        listen_port = int(_attribute(message, "WGDEVICE_A_LISTEN_PORT") or listen_port)
        fwmark = int(_attribute(message, "WGDEVICE_A_FWMARK") or fwmark)
        for raw_peer in _attribute(message, "WGDEVICE_A_PEERS") or ():
            peer = _peer_status(raw_peer)
            known = peers.get(peer.public_key)
            if known is not None:
                peer = dataclasses.replace(known, allowed_ips=known.allowed_ips + peer.allowed_ips)
            peers[peer.public_key] = peer
    return InterfaceStatus(
        private_key=private_key,
        public_key=public_key,
        listen_port=listen_port,
        fwmark=fwmark,
        peers=tuple(peers.values()),
    )
