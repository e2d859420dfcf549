"""The kernel backend's netlink side without a kernel module: replies built and decoded by
pyroute2's own WireGuard message classes are read into an `InterfaceStatus`, including a peer
split across two messages; peer changes become the request dictionaries pyroute2 takes."""

from __future__ import annotations

import base64
import ipaddress
import socket
from typing import Any

from pyroute2.netlink.generic.wireguard import wgmsg

from pacata.vpn.config import PeerChange
from pacata.vpn.io.kernel import netlink_peer_request, status_from_messages

PRIVATE = bytes(range(32))
PUBLIC = bytes(range(1, 33))
PEER = bytes(range(2, 34))
PRESHARED = bytes(range(3, 35))


def allowed_ip(family: int, address: str, prefix: int) -> dict[str, Any]:
    return {
        "attrs": [
            ["WGALLOWEDIP_A_FAMILY", family],
            ["WGALLOWEDIP_A_IPADDR", socket.inet_pton(family, address)],
            ["WGALLOWEDIP_A_CIDR_MASK", prefix],
        ]
    }


def decoded(attributes: list[list[Any]]) -> Any:
    message = wgmsg()
    message["cmd"] = 0
    message["version"] = 1
    message["attrs"] = attributes
    message.encode()
    reply = wgmsg(message.data)
    reply.decode()
    return reply


def test_a_dump_split_across_messages() -> None:
    key = base64.b64encode
    first = decoded(
        [
            ["WGDEVICE_A_IFNAME", "wg0"],
            ["WGDEVICE_A_PRIVATE_KEY", key(PRIVATE)],
            ["WGDEVICE_A_PUBLIC_KEY", key(PUBLIC)],
            ["WGDEVICE_A_LISTEN_PORT", 51820],
            ["WGDEVICE_A_FWMARK", 0x1234],
            [
                "WGDEVICE_A_PEERS",
                [
                    {
                        "attrs": [
                            ["WGPEER_A_PUBLIC_KEY", key(PEER)],
                            ["WGPEER_A_PRESHARED_KEY", key(PRESHARED)],
                            ["WGPEER_A_ENDPOINT", {"addr": "2001:db8::7", "port": 51821}],
                            ["WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL", 25],
                            [
                                "WGPEER_A_LAST_HANDSHAKE_TIME",
                                {"tv_sec": 1_700_000_000, "tv_nsec": 5},
                            ],
                            ["WGPEER_A_RX_BYTES", 100],
                            ["WGPEER_A_TX_BYTES", 200],
                            ["WGPEER_A_ALLOWEDIPS", [allowed_ip(socket.AF_INET, "10.0.0.0", 24)]],
                        ]
                    }
                ],
            ],
        ]
    )
    second = decoded(
        [
            ["WGDEVICE_A_IFNAME", "wg0"],
            [
                "WGDEVICE_A_PEERS",
                [
                    {
                        "attrs": [
                            ["WGPEER_A_PUBLIC_KEY", key(PEER)],
                            ["WGPEER_A_ALLOWEDIPS", [allowed_ip(socket.AF_INET6, "fd00::", 64)]],
                        ]
                    }
                ],
            ],
        ]
    )
    status = status_from_messages([first, second])
    assert status.private_key == PRIVATE and status.public_key == PUBLIC
    assert status.listen_port == 51820 and status.fwmark == 0x1234
    (peer,) = status.peers
    assert peer.public_key == PEER and peer.preshared_key == PRESHARED
    assert peer.endpoint == ("2001:db8::7", 51821)
    assert peer.persistent_keepalive == 25
    assert peer.last_handshake_time is not None
    assert abs(peer.last_handshake_time - 1_700_000_000) < 1e-6
    assert (peer.rx_bytes, peer.tx_bytes) == (100, 200)
    assert peer.allowed_ips == (
        ipaddress.ip_network("10.0.0.0/24"),
        ipaddress.ip_network("fd00::/64"),
    )


def test_peer_changes_become_pyroute2_requests() -> None:
    encoded = base64.b64encode(PEER).decode()
    assert netlink_peer_request(PeerChange(PEER, remove=True)) == {
        "public_key": encoded,
        "remove": True,
    }
    request = netlink_peer_request(
        PeerChange(
            PEER,
            update_only=True,
            preshared_key=PRESHARED,
            endpoint=("192.0.2.1", 51820),
            persistent_keepalive=0,
            replace_allowed_ips=True,
            allowed_ips=(ipaddress.ip_network("10.1.0.0/16"),),
        )
    )
    assert request == {
        "public_key": encoded,
        "update_only": True,
        "preshared_key": base64.b64encode(PRESHARED).decode(),
        "endpoint_addr": "192.0.2.1",
        "endpoint_port": 51820,
        "persistent_keepalive": 0,
        "replace_allowed_ips": True,
        "allowed_ips": ["10.1.0.0/16"],
    }
