"""The node's one UDP socket: WireGuard and every other datagram protocol share it.

`UdpPort` is a dual-stack socket (IPv6 with IPv4-mapped addresses, or plain IPv4 where the
namespace has no IPv6) with batching in both directions:

- receiving: `receive` takes one read and `receive_batch` every datagram already queued (up to
  a limit), without blocking; with UDP_GRO the kernel hands over a run of same-sized datagrams
  from one source as one buffer with its segment size (`split_segments` cuts it);
- sending: `send_batch` groups consecutive datagrams to one address where all but the last have
  the same size into one `sendmsg` with UDP_SEGMENT (GSO): one system call for up to
  `MAX_GSO_SEGMENTS` datagrams. If the kernel refuses GSO, it is switched off for good and the
  batch is sent datagram by datagram (the kill switch wireguard-go and Tailscale also need).

Rules: addresses are (host, port) with IPv4 hosts in dotted form, never `::ffff:`-mapped;
sends block when the socket buffer is full (backpressure for the tunnel) but receives never do;
a send that fails (no route, a closed port's ICMP error) drops that datagram and is counted,
it never raises into the engine.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
from collections import Counter

from pacata.vpn.wireguard.events import Address

SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
MAX_GSO_SEGMENTS = 64
MAX_GSO_BYTES = 65535 - 8 - 40
SOCKET_BUFFER_BYTES = 7 << 20
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
_RECEIVE_BUFFER = 65535
_GRO_CONTROL_SIZE = socket.CMSG_SPACE(4)
_SEGMENT_SIZE = struct.Struct("=H")
_GRO_SIZE = struct.Struct("=i")
_MAPPED_PREFIX = "::ffff:"


def _bound_socket(family: socket.AddressFamily, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", port))
        else:
            sock.bind(("0.0.0.0", port))
    except BaseException:
        sock.close()
        raise
    return sock


def split_segments(data: bytes, source: Address, segment: int) -> list[tuple[bytes, Address]]:
    """The datagrams of a GRO read: consecutive runs of `segment` bytes (the last may be
    shorter), all from `source`."""
    return [(data[start : start + segment], source) for start in range(0, len(data), segment)]


class UdpPort:
    """One bound UDP socket with batched, offloaded receive and send."""

    def __init__(
        self, port: int = 0, *, fwmark: int = 0, gso: bool = True, gro: bool = True
    ) -> None:
        try:
            sock = _bound_socket(socket.AF_INET6, port)
        except OSError as error:
            if error.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
                raise
            sock = _bound_socket(socket.AF_INET, port)
        self.socket = sock
        self.dual_stack = sock.family == socket.AF_INET6
        self.drops: Counter[str] = Counter()
        # As wireguard-go: ask for 7 MiB, past net.core.[rw]mem_max when privileged (the
        # *FORCE options), so that a burst of GSO datagrams does not overflow the receiver.
        for forced, option in (
            (SO_SNDBUFFORCE, socket.SO_SNDBUF),
            (SO_RCVBUFFORCE, socket.SO_RCVBUF),
        ):
            try:
                sock.setsockopt(socket.SOL_SOCKET, forced, SOCKET_BUFFER_BYTES)
            except OSError:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        if fwmark:
            self.set_fwmark(fwmark)
        self.gso = gso
        self.gro = False
        if gro:
            try:
                sock.setsockopt(SOL_UDP, UDP_GRO, 1)
                self.gro = True
            except OSError:
                pass
        self._control_size = _GRO_CONTROL_SIZE if self.gro else 0
        self._outgoing_names: dict[Address, tuple[str, int]] = {}
        self._incoming_names: dict[tuple[str, int], Address] = {}

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    def fileno(self) -> int:
        return self.socket.fileno()

    def set_fwmark(self, fwmark: int) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, fwmark)

    def close(self) -> None:
        self.socket.close()

    # -- receiving ----------------------------------------------------------------------------

    def _source(self, address: tuple[str, int] | tuple[str, int, int, int]) -> Address:
        """A received address as (host, port), IPv4 hosts dotted (the dual-stack socket
        gives IPv6 4-tuples, IPv4 ones mapped)."""
        names = self._incoming_names
        known = names.get(address[:2])
        if known is None:
            host, port = address[0], address[1]
            if host.startswith(_MAPPED_PREFIX) and "." in host:
                host = host[len(_MAPPED_PREFIX) :]
            if len(names) > 4096:
                names.clear()
            known = names[address[:2]] = (host, port)
        return known

    def receive(self) -> tuple[bytes, Address, int] | None:
        """One read without blocking: the data, its source and the GRO segment size (0: the
        data is one datagram; see `split_segments`), or None when nothing was queued. A read
        that fails (an ICMP error queued on the socket, which reading clears, or a socket that
        a rebind closed) is counted and also gives None: poll says when to read again."""
        try:
            data, ancillary, _, address = self.socket.recvmsg(
                _RECEIVE_BUFFER, self._control_size, socket.MSG_DONTWAIT
            )
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            self.drops["receive error"] += 1
            return None
        segment = 0
        for level, kind, value in ancillary:
            if level == SOL_UDP and kind == UDP_GRO:
                segment = _GRO_SIZE.unpack(value[: _GRO_SIZE.size])[0]
        return data, self._source(address), segment

    def receive_batch(
        self, limit: int = 64, small: int = 512
    ) -> tuple[list[tuple[bytes, Address]], bool]:
        """The datagrams already queued (at most `limit` reads), without blocking, and whether
        to read again before polling: not after an empty or failed read, nor after a read
        shorter than `small` bytes (interactive traffic: `poll` says at once if more is queued,
        which is cheaper than an empty read)."""
        received: list[tuple[bytes, Address]] = []
        for _ in range(limit):
            read = self.receive()
            if read is None:
                return received, False
            data, source, segment = read
            if segment and len(data) > segment:
                received += split_segments(data, source, segment)
            else:
                received.append((data, source))
            if len(data) < small:
                return received, False
        return received, True

    # -- sending ------------------------------------------------------------------------------

    def _destination(self, address: Address) -> tuple[str, int]:
        names = self._outgoing_names
        known = names.get(address)
        if known is None:
            host = address[0]
            if self.dual_stack and ":" not in host:
                host = _MAPPED_PREFIX + host
            if len(names) > 4096:
                names.clear()
            known = names[address] = (host, address[1])
        return known

    def send(self, data: bytes, address: Address) -> None:
        try:
            self.socket.sendto(data, self._destination(address))
        except OSError:
            self.drops["send error"] += 1

    def send_batch(self, datagrams: list[tuple[bytes, Address]]) -> None:
        """Sends `datagrams` in order, with GSO where consecutive ones allow it."""
        count = len(datagrams)
        if not self.gso:
            for data, address in datagrams:
                self.send(data, address)
            return
        index = 0
        while index < count:
            data, address = datagrams[index]
            size = len(data)
            end = index + 1
            total = size
            while end < count and end - index < MAX_GSO_SEGMENTS:
                following, following_address = datagrams[end]
                length = len(following)
                if following_address != address or length > size or total + length > MAX_GSO_BYTES:
                    break
                total += length
                end += 1
                if length < size:
                    break
            if end - index == 1:
                self.send(data, address)
            else:
                self._send_segmented(datagrams[index:end], size, address)
            index = end

    def _send_segmented(
        self, datagrams: list[tuple[bytes, Address]], size: int, address: Address
    ) -> None:
        try:
            self.socket.sendmsg(
                [data for data, _ in datagrams],
                [(SOL_UDP, UDP_SEGMENT, _SEGMENT_SIZE.pack(size))],
                0,
                self._destination(address),
            )
        except OSError as error:
            if error.errno in (errno.EIO, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOPROTOOPT):
                self.gso = False  # this path cannot do UDP GSO: never try again
                for data, destination in datagrams:
                    self.send(data, destination)
            else:
                self.drops["send error"] += len(datagrams)
