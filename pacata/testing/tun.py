"""Test doubles for code built on the VPN plugin, usable without root.

`SocketPairTun` stands in for a TUN device: a SOCK_SEQPACKET socket pair keeps packet
boundaries, so the engine reads and writes one IP packet per call on its end exactly as on a
TUN without offloads (or, with `vnet_header=True`, one virtio-net header and packet per call,
as on a TUN with offloads), while the test injects and collects packets on the other end.
Closing the test's end makes the engine's reads return end-of-file, which it treats as the
interface going away. (For real TUN devices, namespaces and the stock tools, see `netns_lab.py`.)
"""

from __future__ import annotations

import socket
import struct

from pacata.vpn.io.tun import TunDevice
from pacata.vpn.offload import TCP_ACK, TCP_PSH

DEFAULT_TIMEOUT = 10.0


class SocketPairTun:
    """A fake TUN: `device` goes to the engine, `inject`/`delivered` are the host's side."""

    def __init__(self, name: str, *, vnet_header: bool = False) -> None:
        engine_end, self.host_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.device = TunDevice(engine_end.detach(), name, vnet_header=vnet_header)

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


def ipv4_tcp(
    payload: bytes,
    *,
    flags: int = TCP_ACK | TCP_PSH,
    seq: int = 1000,
    source: bytes = b"\x0a\x00\x00\x01",
    ip_id: int = 7,
) -> bytes:
    """An IPv4 TCP segment from `source` to 10.0.0.2 with a timestamps option (checksums left
    zero: what the offload code fills in or leaves to the kernel)."""
    tcp = struct.pack("!HHIIBBHHH", 40000, 5201, seq, 555, 8 << 4, flags, 512, 0, 0)
    tcp += b"\x01\x01\x08\x0a" + bytes(8)  # NOP NOP timestamps
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), ip_id, 0x4000, 64, 6, 0,
        source, b"\x0a\x00\x00\x02",
    )  # fmt: skip
    return ip + tcp + payload
