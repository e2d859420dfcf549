"""TUN devices opened with our own ioctls on /dev/net/tun (pyroute2 leaves this to the caller).

A `TunDevice` is a layer-3 interface (IFF_TUN | IFF_NO_PI): each read returns one IP packet,
each write injects one. With `offload=True` it also sets IFF_VNET_HDR and
TUNSETOFFLOAD(CSUM | TSO4 | TSO6): reads then start with a 10-byte virtio-net header and may be
64 KB TCP super-packets, and writes must start with such a header (see `pacata/vpn/offload.py`).

Rules: the device is not persistent, so closing its descriptor deletes the interface; once the
interface is deleted by someone else (`ip link del`), reads fail with EBADFD, which is how the
engine notices. Addresses, MTU and routes are set through netlink (`links.py`), not here.
"""

from __future__ import annotations

import fcntl
import os
import struct

from pacata.vpn.offload import VIRTIO_NET_HEADER_SIZE

TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETVNETHDRSZ = 0x400454D8
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM = 0x01
TUN_F_TSO4 = 0x02
TUN_F_TSO6 = 0x04
IFNAMSIZ = 16
_IFREQ = struct.Struct("16sH22x")


class TunDevice:
    """An open TUN interface; `fd` is its packet descriptor."""

    def __init__(self, fd: int, name: str, *, vnet_header: bool) -> None:
        self.fd = fd
        self.name = name
        self.vnet_header = vnet_header

    def close(self) -> None:
        """Closes the descriptor, which deletes the interface (no error if already closed)."""
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> TunDevice:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def check_interface_name(name: str) -> str:
    """`name` if Linux takes it as an interface name (at most 15 bytes; no "/", ":" or white
    space; not "." or ".."), else `ValueError`."""
    encoded = name.encode(errors="replace")
    if (
        not encoded
        or len(encoded) >= IFNAMSIZ
        or name in (".", "..")
        or any(c in "/:" or c.isspace() or not c.isprintable() for c in name)
    ):
        raise ValueError(
            f"invalid interface name {name!r}: 1 to {IFNAMSIZ - 1} bytes, without '/', ':' "
            "or white space"
        )
    return name


def open_tun(name: str, *, offload: bool = True, tso: bool = True) -> TunDevice:
    """Creates (or attaches to) the TUN interface `name`; raises OSError (EPERM without
    CAP_NET_ADMIN). With `offload`, packets carry virtio-net headers (so that writes may be
    coalesced) and, with `tso` too, the kernel may hand over TCP super-packets whose
    checksums are left to us; without `tso` it segments and checksums them itself."""
    encoded = check_interface_name(name).encode()
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if offload else 0)
        request = fcntl.ioctl(fd, TUNSETIFF, _IFREQ.pack(encoded, flags))
        actual = _IFREQ.unpack(request)[0].rstrip(b"\0").decode()
        if offload:
            fcntl.ioctl(fd, TUNSETVNETHDRSZ, struct.pack("i", VIRTIO_NET_HEADER_SIZE))
            fcntl.ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 if tso else 0)
    except BaseException:
        os.close(fd)
        raise
    return TunDevice(fd, actual, vnet_header=offload)
