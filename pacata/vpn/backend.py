"""Tunnel backends behind one interface, and the choice between them (DESIGN.md §7).

Two implementations of `TunnelBackend`:

- `KernelTunnel` (`io/kernel.py`): a Linux kernel WireGuard interface configured through
  pyroute2's generic-netlink WireGuard API; line rate, chosen whenever the module is there.
- `UserspaceTunnel` (`io/userspace.py`): our engine over a TUN device (`io/engine.py`),
  optionally serving the configuration socket that the stock `wg` tool talks to.

Both take an `InterfaceChange` and report an `InterfaceStatus` (`config.py`), so the relay's
gating and metering code (add a peer when its channel opens, read its byte counters, remove it
when the channel closes) does not know which one it drives. This module is the interface only:
the backends import it, never the other way, and `open_tunnel` (`io/backends.py`), which
picks the kernel when `kernel_wireguard_available()` says so, else the userspace engine, sits
beside them.
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
