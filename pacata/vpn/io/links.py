"""Interface addresses, MTU, state and routes through rtnetlink (pyroute2's IPRoute).

One short-lived IPRoute socket per call: these are configuration steps, not a hot path, and a
socket per call keeps them usable from any thread and any network namespace the calling thread
is in. Errors are pyroute2's `NetlinkError` (an OSError with the kernel's errno), except
`LinkNotFound` when no interface has the name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from pyroute2 import IPRoute

from pacata.errors import NotFound
from pacata.vpn.allowed_ips import IPNetwork

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
"""An address on a link with its prefix length (10.0.0.1/24: host bits kept)."""


class LinkNotFound(NotFound):
    """No network interface with that name in this network namespace."""


def link_index(ipr: IPRoute, name: str) -> int:
    indices = ipr.link_lookup(ifname=name)
    if not indices:
        raise LinkNotFound(f"no interface {name!r}")
    return int(indices[0])


def link_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def configure_link(
    name: str,
    *,
    addresses: Iterable[IPInterface] = (),
    mtu: int | None = None,
    routes: Iterable[IPNetwork] = (),
    up: bool = True,
) -> None:
    """Sets the MTU, adds `addresses` (address/prefix on the link), brings the link up, then
    routes `routes` through it."""
    with IPRoute() as ipr:
        index = link_index(ipr, name)
        if mtu is not None:
            ipr.link("set", index=index, mtu=mtu)
        for interface in addresses:
            ipr.addr(
                "add", index=index, address=str(interface.ip), prefixlen=interface.network.prefixlen
            )
        if up:
            ipr.link("set", index=index, state="up")
        for route in routes:
            ipr.route("add", dst=str(route), oif=index)


def set_mtu(name: str, mtu: int) -> None:
    with IPRoute() as ipr:
        ipr.link("set", index=link_index(ipr, name), mtu=mtu)


def delete_link(name: str) -> None:
    """Deletes the interface; no error if it is already gone."""
    with IPRoute() as ipr:
        indices = ipr.link_lookup(ifname=name)
        if indices:
            ipr.link("del", index=indices[0])
