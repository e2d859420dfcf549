"""One conformance suite for every tunnel backend (pacata/vpn/backend.py): the same
configuration changes give the same status, whichever implementation holds the interface.

- `engine`: our engine on a socket-pair TUN (runs anywhere);
- `userspace`: `UserspaceTunnel` on a real TUN device (root);
- `kernel`: `KernelTunnel`, the Linux module through pyroute2's netlink (root and the module;
  skipped with the reason where the kernel has no WireGuard, as on the development machines).
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from pacata.testing.netns_lab import missing_requirements
from pacata.testing.tun import SocketPairTun
from pacata.vpn.backend import TunnelConfiguration
from pacata.vpn.config import NO_KEY, InterfaceChange, PeerChange
from pacata.vpn.io.backends import open_tunnel
from pacata.vpn.io.engine import UserspaceEngine
from pacata.vpn.io.kernel import KernelTunnel, kernel_wireguard_available
from pacata.vpn.io.userspace import UserspaceTunnel
from pacata.vpn.wireguard import x25519_public_key

net = ipaddress.ip_network
PEER_ONE = x25519_public_key(bytes(range(1, 33)))
PEER_TWO = x25519_public_key(bytes(range(2, 34)))


@pytest.fixture(
    params=[
        "engine",
        pytest.param("userspace", marks=pytest.mark.root),
        pytest.param("kernel", marks=pytest.mark.root),
    ]
)
def backend(request: pytest.FixtureRequest) -> Iterator[TunnelConfiguration]:
    kind: str = request.param
    name = f"pt{os.getpid() % 100000}{kind[0]}"
    if kind == "engine":
        tun = SocketPairTun(name)
        engine = UserspaceEngine(tun.device)
        engine.start()
        try:
            yield engine
        finally:
            engine.close()
            tun.close()
        return
    reason = missing_requirements(("ip",))
    if reason is not None:
        pytest.skip(reason)
    if kind == "kernel":
        availability = kernel_wireguard_available()
        if not availability.available:
            pytest.skip(f"kernel WireGuard unavailable: {availability.reason}")
        tunnel: Any = KernelTunnel.create(name, mtu=1420)
    else:
        tunnel = UserspaceTunnel.create(name, mtu=1420)
    try:
        yield tunnel
    finally:
        tunnel.close()


def test_keys_port_and_peers(backend: TunnelConfiguration) -> None:
    private_key = bytes(range(100, 132))
    backend.apply(
        InterfaceChange(
            private_key=private_key,
            listen_port=0,
            peers=(
                PeerChange(
                    PEER_ONE,
                    endpoint=("192.0.2.1", 51820),
                    persistent_keepalive=0,
                    allowed_ips=(net("10.10.0.0/24"), net("fd10::/64")),
                ),
                PeerChange(PEER_TWO, preshared_key=bytes(range(7, 39))),
            ),
        )
    )
    status = backend.status()
    assert status.private_key == private_key
    assert status.public_key == x25519_public_key(private_key)
    assert status.listen_port > 0
    one = status.peer(PEER_ONE)
    two = status.peer(PEER_TWO)
    assert one is not None and two is not None
    assert one.endpoint == ("192.0.2.1", 51820)
    assert set(one.allowed_ips) == {net("10.10.0.0/24"), net("fd10::/64")}
    assert one.preshared_key == NO_KEY and two.preshared_key == bytes(range(7, 39))
    assert one.rx_bytes == one.tx_bytes == 0 and one.last_handshake_time is None


def test_allowed_ips_move_and_are_replaced(backend: TunnelConfiguration) -> None:
    backend.apply(
        InterfaceChange(
            private_key=os.urandom(32),
            peers=(
                PeerChange(PEER_ONE, allowed_ips=(net("10.20.0.0/16"),)),
                PeerChange(PEER_TWO, allowed_ips=(net("10.20.0.0/16"), net("10.30.0.0/16"))),
            ),
        )
    )
    status = backend.status()
    one, two = status.peer(PEER_ONE), status.peer(PEER_TWO)
    assert one is not None and two is not None
    assert one.allowed_ips == ()
    assert set(two.allowed_ips) == {net("10.20.0.0/16"), net("10.30.0.0/16")}
    backend.apply(
        InterfaceChange(
            peers=(PeerChange(PEER_TWO, replace_allowed_ips=True, allowed_ips=(net("::/0"),)),)
        )
    )
    two = backend.status().peer(PEER_TWO)
    assert two is not None and two.allowed_ips == (net("::/0"),)


def test_remove_update_only_and_replace_peers(backend: TunnelConfiguration) -> None:
    backend.apply(InterfaceChange(private_key=os.urandom(32), peers=(PeerChange(PEER_ONE),)))
    backend.apply(InterfaceChange(peers=(PeerChange(PEER_TWO, update_only=True),)))
    assert [peer.public_key for peer in backend.status().peers] == [PEER_ONE]
    backend.apply(InterfaceChange(replace_peers=True, peers=(PeerChange(PEER_TWO),)))
    assert [peer.public_key for peer in backend.status().peers] == [PEER_TWO]
    backend.apply(InterfaceChange(peers=(PeerChange(PEER_TWO, remove=True),)))
    assert backend.status().peers == ()


@pytest.mark.root
def test_open_tunnel_picks_what_the_kernel_offers() -> None:
    reason = missing_requirements(("ip",))
    if reason is not None:
        pytest.skip(reason)
    tunnel = open_tunnel(f"po{os.getpid() % 100000}")
    try:
        expected = "kernel" if kernel_wireguard_available().available else "userspace"
        assert tunnel.kind == expected
        links = subprocess.run(
            ["ip", "link", "show", tunnel.name], capture_output=True, check=False
        )
        assert links.returncode == 0
    finally:
        tunnel.close()
    gone = subprocess.run(["ip", "link", "show", tunnel.name], capture_output=True, check=False)
    assert gone.returncode != 0
