"""The choice between the two tunnel backends (DESIGN.md §7, `pacata/vpn/backend.py`).

It lives beside the backends, not with the `TunnelBackend` interface they implement: the
interface is imported by both, and so imports neither.
"""

from __future__ import annotations

from pacata.vpn.backend import BackendKind, TunnelBackend
from pacata.vpn.io.kernel import KernelTunnel, kernel_wireguard_available
from pacata.vpn.io.userspace import UserspaceTunnel


def open_tunnel(
    name: str, *, prefer: BackendKind | None = None, mtu: int | None = None
) -> TunnelBackend:
    """A new WireGuard interface `name`: in the kernel when it can do it, else in userspace.

    `prefer` forces one kind (the kernel one raises if the module is missing).
    """
    if prefer == "kernel" or (prefer is None and kernel_wireguard_available().available):
        return KernelTunnel.create(name, mtu=mtu)
    return UserspaceTunnel.create(name, mtu=mtu)
