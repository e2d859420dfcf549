"""Test doubles for code built on the VPN plugin, usable without root.

`SocketPairTun` stands in for a TUN device: a SOCK_SEQPACKET socket pair keeps packet
boundaries, so the engine reads and writes one IP packet per call on its end exactly as on a
TUN without offloads, while the test injects and collects packets on the other end. Closing the
test's end makes the engine's reads return end-of-file, which it treats as the interface going
away. (For real TUN devices, namespaces and the stock tools, see `netns_lab.py`.)
"""

from __future__ import annotations

import socket

from pacata.vpn.io.tun import TunDevice

DEFAULT_TIMEOUT = 10.0


class SocketPairTun:
    """A fake TUN: `device` goes to the engine, `inject`/`delivered` are the host's side."""

    def __init__(self, name: str) -> None:
        engine_end, self.host_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.device = TunDevice(engine_end.detach(), name, vnet_header=False)

    def inject(self, packet: bytes) -> None:
        """A packet the host sends into the tunnel."""
        self.host_end.send(packet)

    def delivered(self, timeout: float = DEFAULT_TIMEOUT) -> bytes:
        """The next packet the engine delivered to the host; TimeoutError if none came."""
        self.host_end.settimeout(timeout)
        return self.host_end.recv(65535)

    def nothing_delivered(self, within: float = 0.3) -> bool:
        """True if no packet arrives within `within` seconds (for negative checks only)."""
        try:
            self.delivered(within)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.host_end.close()
        self.device.close()
