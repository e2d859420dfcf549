"""Tunnel backends behind one interface, and the choice between them (DESIGN.md §7).

Two implementations of `TunnelBackend`:

- `KernelTunnel` (`io/kernel.py`): a Linux kernel WireGuard interface configured through
  pyroute2's generic-netlink WireGuard API; line rate, chosen whenever the module is there.
- `UserspaceTunnel` (`io/userspace.py`): our engine over a TUN device (`io/engine.py`),
  optionally serving the configuration socket that the stock `wg` tool talks to.

Both take an `InterfaceChange` and report an `InterfaceStatus` (`config.py`), so the relay's
gating and metering code (add a peer when its channel opens, read its byte counters, remove it
when the channel closes) does not know which one it drives. `open_tunnel` picks the kernel when
`kernel_wireguard_available()` says so, else the userspace engine.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pacata.vpn.config import InterfaceChange, InterfaceStatus

BackendKind = Literal["kernel", "userspace"]


class TunnelConfiguration(Protocol):
    """What the configuration protocol (and the node) needs: apply a change, read the state."""

    def apply(self, change: InterfaceChange) -> None: ...

    def status(self) -> InterfaceStatus: ...


class TunnelBackend(TunnelConfiguration, Protocol):
    """A WireGuard interface of either kind."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> BackendKind: ...

    def close(self) -> None:
        """Deletes the interface and releases everything the backend holds."""
        ...


def open_tunnel(
    name: str, *, prefer: BackendKind | None = None, mtu: int | None = None
) -> TunnelBackend:
    """A new WireGuard interface `name`: in the kernel when it can do it, else in userspace.

    `prefer` forces one kind (the kernel one raises if the module is missing).
    """
    from pacata.vpn.io.kernel import KernelTunnel, kernel_wireguard_available

    if prefer == "kernel" or (prefer is None and kernel_wireguard_available().available):
        return KernelTunnel.create(name, mtu=mtu)
    from pacata.vpn.io.userspace import UserspaceTunnel

    return UserspaceTunnel.create(name, mtu=mtu)
