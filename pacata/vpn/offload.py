"""TUN offloads done in Python: virtio-net headers, TCP segmentation, checksums, TCP coalescing.

With `IFF_VNET_HDR` and `TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)` the kernel hands
the tunnel TCP "super-packets" of up to 64 KB (one read instead of ~45) and lets it finish
checksums; writing back, the tunnel may hand the kernel one coalesced TCP packet instead of many
(what GRO does on a NIC). Every packet read or written then carries a 10-byte
`struct virtio_net_hdr` (little-endian on the machines we run on):

    flags u8 (NEEDS_CSUM 1, DATA_VALID 2) | gso_type u8 (NONE 0, TCPV4 1, TCPV6 4, ECN 0x80)
    hdr_len u16 | gso_size u16 | csum_start u16 | csum_offset u16

This module is pure: bytes in, bytes out. Its rules, those of the kernel and of wireguard-go's
`tun/offload_linux.go`:

- Reading (`split_for_sending`): a GSO packet is cut into segments of `gso_size` payload bytes.
  Each segment gets the original headers with its own IPv4 total length, IPv4 id (+1 per
  segment) and header checksum, IPv6 payload length, TCP sequence number, and a full TCP
  checksum; FIN and PSH stay on the last segment only. A non-GSO packet with NEEDS_CSUM has its
  checksum completed (the field already holds the pseudo-header sum, as the kernel leaves it).
  Segmentation never trusts `hdr_len`: the header length comes from the TCP data offset.
- Writing (`coalesce_for_writing`): consecutive TCP segments of one flow, in sequence, with the
  same headers apart from length, id, sequence and checksums, equal payload sizes (the last may
  be shorter) and no flags but ACK (PSH allowed on the last), are merged into one GSO packet of
  at most 64 KB, written with NEEDS_CSUM and the pseudo-header sum in the checksum field: the
  kernel does not verify a CHECKSUM_PARTIAL packet, which is right here because the AEAD
  already authenticated every byte (Linux's WireGuard marks its packets CHECKSUM_UNNECESSARY
  for the same reason). Everything else is written as it came, with an empty header.
- Malformed input (a header that points outside the packet, a GSO type we did not ask for)
  raises `OffloadError`; the caller drops the packet.

The Internet checksum is computed as `int.from_bytes(data) % 0xFFFF`: 2^16 ≡ 1 (mod 2^16 - 1),
so a big-endian integer is congruent to the sum of its 16-bit words, which is the ones'
complement sum up to the representation of zero. That is one C-level pass per segment (about
2 µs for 1400 bytes), the fastest pure-Python form we found.
"""

from __future__ import annotations

import struct

from pacata.errors import PacataError

VIRTIO_NET_HEADER = struct.Struct("<BBHHHH")
VIRTIO_NET_HEADER_SIZE = VIRTIO_NET_HEADER.size
EMPTY_VIRTIO_NET_HEADER = bytes(VIRTIO_NET_HEADER_SIZE)

NEEDS_CSUM = 1
DATA_VALID = 2
GSO_NONE = 0
GSO_TCPV4 = 1
GSO_UDP = 3
GSO_TCPV6 = 4
GSO_UDP_L4 = 5
GSO_ECN = 0x80

IPPROTO_TCP = 6
IPPROTO_UDP = 17
TCP_FIN = 0x01
TCP_SYN = 0x02
TCP_RST = 0x04
TCP_PSH = 0x08
TCP_ACK = 0x10
TCP_URG = 0x20
TCP_CHECKSUM_OFFSET = 16
MAX_COALESCED_SIZE = 65535
MAX_COALESCED_SEGMENTS = 64

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_IPV4_HEADER_SIZE = 20
_IPV6_HEADER_SIZE = 40
_FLAGS_CLEARED_BEFORE_LAST = ~(TCP_FIN | TCP_PSH) & 0xFF


class OffloadError(PacataError):
    """A packet whose virtio-net header or IP/TCP headers do not add up."""


def internet_checksum(data: bytes | bytearray | memoryview, initial: int = 0) -> int:
    """The Internet checksum (RFC 1071) of `data` plus a partial sum `initial`; never 0, so
    the result is also a valid UDP checksum (which uses 0 for "none")."""
    value = int.from_bytes(data, "big")
    if len(data) & 1:
        value <<= 8
    return ~((value + initial) % 0xFFFF) & 0xFFFF


_FOLDS: dict[int, tuple[tuple[int, int], ...]] = {}


def _folds_for(bits: int) -> tuple[tuple[int, int], ...]:
    """Two (shift, mask) halvings for a sum of `bits` bits; shifts are multiples of 16, so each
    halving keeps the value congruent modulo 0xFFFF while the final `%` works on a quarter."""
    steps: list[tuple[int, int]] = []
    width = bits
    for _ in range(2):
        half = ((width + 1) // 2 + 15) // 16 * 16
        steps.append((half, (1 << half) - 1))
        width = half + 1
    folds = _FOLDS[bits] = tuple(steps)
    return folds


def payload_sum(data: bytes | bytearray | memoryview) -> int:
    """A partial sum of `data` (any length, zero-padded), congruent to its ones' complement sum
    modulo 0xFFFF and a quarter of its size: CPython divides a big integer by 0xFFFF one 30-bit
    digit at a time, and two shift-and-add halvings first are cheaper than those divisions."""
    value = int.from_bytes(data, "big")
    bits = len(data) * 8
    if bits & 8:
        value <<= 8
        bits += 8
    if bits < 2048:
        return value
    folds = _FOLDS.get(bits) or _folds_for(bits)
    for shift, mask in folds:
        value = (value >> shift) + (value & mask)
    return value


def partial_sum(data: bytes | bytearray | memoryview) -> int:
    """A ones' complement partial sum of `data` (even length), to add into `internet_checksum`."""
    return int.from_bytes(data, "big")


def complete_checksum(packet: bytes, csum_start: int, csum_offset: int) -> bytes:
    """`packet` with the checksum at `csum_start + csum_offset` computed over everything from
    `csum_start` on (the field holds the pseudo-header sum, so it is included as is)."""
    field = csum_start + csum_offset
    if field + 2 > len(packet) or csum_start >= len(packet):
        raise OffloadError("checksum offsets point outside the packet")
    checksum = internet_checksum(memoryview(packet)[csum_start:])
    return packet[:field] + _U16.pack(checksum) + packet[field + 2 :]


def split_for_sending(data: bytes) -> list[bytes]:
    """The IP packets carried by one TUN read (virtio-net header first), ready to encrypt."""
    if len(data) <= VIRTIO_NET_HEADER_SIZE:
        raise OffloadError("read shorter than a virtio-net header and an IP header")
    flags, gso_type, _, gso_size, csum_start, csum_offset = VIRTIO_NET_HEADER.unpack_from(data)
    packet = data[VIRTIO_NET_HEADER_SIZE:]
    gso_kind = gso_type & ~GSO_ECN
    if gso_kind == GSO_NONE:
        if flags & NEEDS_CSUM:
            return [complete_checksum(packet, csum_start, csum_offset)]
        return [packet]
    if gso_kind not in (GSO_TCPV4, GSO_TCPV6):
        raise OffloadError(f"GSO type {gso_type} was not asked for")
    return segment_tcp(packet, gso_kind == GSO_TCPV6, csum_start, gso_size)


def segment_tcp(  # noqa: PLR0915 (one hot loop: helpers would cost a call per segment)
    packet: bytes, ipv6: bool, csum_start: int, gso_size: int
) -> list[bytes]:
    """Cuts a TCP super-packet into segments of `gso_size` payload bytes (see module rules).

    The checksums are incremental: the sums of the fixed header words are taken once, and each
    segment adds only what differs (lengths, IPv4 id, sequence number, flags) and its payload.
    """
    size = len(packet)
    if gso_size == 0 or csum_start + 20 > size:
        raise OffloadError("GSO packet too short for its TCP header")
    tcp_header_size = (packet[csum_start + 12] >> 4) * 4
    header_size = csum_start + tcp_header_size
    if tcp_header_size < 20 or header_size > size:
        raise OffloadError("TCP header runs past the packet")
    ip_header = bytearray(packet[:csum_start])
    tcp_header = bytearray(packet[csum_start:header_size])
    if ipv6:
        if csum_start < _IPV6_HEADER_SIZE or packet[0] >> 4 != 6:
            raise OffloadError("TCPv6 GSO packet without an IPv6 header")
        pseudo = partial_sum(packet[8:40]) + IPPROTO_TCP
        ip_id = ip_sum = 0
        extension_size = csum_start - _IPV6_HEADER_SIZE
    else:
        if csum_start < _IPV4_HEADER_SIZE or packet[0] >> 4 != 4:
            raise OffloadError("TCPv4 GSO packet without an IPv4 header")
        pseudo = partial_sum(packet[12:20]) + IPPROTO_TCP
        ip_id = (packet[4] << 8) | packet[5]
        ip_header[2:6] = b"\0\0\0\0"  # total length and id: per segment
        ip_header[10:12] = b"\0\0"  # checksum
        ip_sum = partial_sum(ip_header)
        extension_size = 0
    (first_sequence,) = _U32.unpack_from(tcp_header, 4)
    tcp_flags = tcp_header[13]
    middle_flags = tcp_flags & _FLAGS_CLEARED_BEFORE_LAST
    tcp_header[4:8] = b"\0\0\0\0"  # sequence: per segment
    tcp_header[13] = 0  # flags: per segment
    tcp_header[16:18] = b"\0\0"  # checksum
    tcp_sum = pseudo + partial_sum(tcp_header)
    view = memoryview(packet)
    pack_u16 = _U16.pack_into
    pack_u32 = _U32.pack_into
    segments: list[bytes] = []
    for index, start in enumerate(range(header_size, size, gso_size)):
        payload = view[start : start + gso_size]
        payload_size = len(payload)
        tcp_length = tcp_header_size + payload_size
        if ipv6:
            pack_u16(ip_header, 4, extension_size + tcp_length)
        else:
            total_length = csum_start + tcp_length
            segment_id = (ip_id + index) & 0xFFFF
            pack_u16(ip_header, 2, total_length)
            pack_u16(ip_header, 4, segment_id)
            pack_u16(ip_header, 10, ~((ip_sum + total_length + segment_id) % 0xFFFF) & 0xFFFF)
        sequence = (first_sequence + start - header_size) & 0xFFFFFFFF
        flags = tcp_flags if start + gso_size >= size else middle_flags
        pack_u32(tcp_header, 4, sequence)
        tcp_header[13] = flags
        total = (
            tcp_sum
            + tcp_length
            + (sequence >> 16)
            + (sequence & 0xFFFF)
            + flags
            + payload_sum(payload)
        )
        pack_u16(tcp_header, 16, ~(total % 0xFFFF) & 0xFFFF)
        segments.append(b"".join((ip_header, tcp_header, payload)))
        tcp_header[16:18] = b"\0\0"
    return segments


class _TcpRun:
    """Segments of one flow being merged into one GSO packet."""

    __slots__ = (
        "closed",
        "first",
        "flow",
        "gso_size",
        "header_size",
        "ip_header_size",
        "ipv6",
        "next_sequence",
        "payloads",
        "push",
        "size",
    )

    def __init__(
        self, packet: bytes, flow: bytes, ipv6: bool, ip_header_size: int, header_size: int
    ) -> None:
        self.first = packet
        self.flow = flow
        self.ipv6 = ipv6
        self.ip_header_size = ip_header_size
        self.header_size = header_size
        self.gso_size = len(packet) - header_size
        (sequence,) = _U32.unpack_from(packet, ip_header_size + 4)
        self.next_sequence: int = (sequence + self.gso_size) & 0xFFFFFFFF
        self.payloads: list[memoryview] = []
        self.size = len(packet)
        # PSH, or a segment shorter than the first, ends a run, as in the kernel's GRO.
        self.push = bool(packet[ip_header_size + 13] & TCP_PSH)
        self.closed = self.push

    def accepts(self, packet: bytes, flow: bytes, header_size: int) -> bool:
        if self.closed or flow != self.flow or header_size != self.header_size:
            return False
        payload = len(packet) - header_size
        if payload > self.gso_size or self.size + payload > MAX_COALESCED_SIZE:
            return False
        if len(self.payloads) + 1 >= MAX_COALESCED_SEGMENTS:
            return False
        sequence: int = _U32.unpack_from(packet, self.ip_header_size + 4)[0]
        return sequence == self.next_sequence

    def add(self, packet: bytes) -> None:
        payload = len(packet) - self.header_size
        self.payloads.append(memoryview(packet)[self.header_size :])
        self.size += payload
        self.next_sequence = (self.next_sequence + payload) & 0xFFFFFFFF
        self.push = bool(packet[self.ip_header_size + 13] & TCP_PSH)
        self.closed = self.push or payload < self.gso_size

    def encode(self) -> bytes:
        first = self.first
        if not self.payloads:
            return EMPTY_VIRTIO_NET_HEADER + first
        ip_size = self.ip_header_size
        header = bytearray(first[: self.header_size])
        tcp_length = self.size - ip_size
        if self.ipv6:
            _U16.pack_into(header, 4, self.size - _IPV6_HEADER_SIZE)
            addresses = partial_sum(header[8:40])
            gso_type = GSO_TCPV6
        else:
            _U16.pack_into(header, 2, self.size)
            header[10:12] = b"\0\0"
            _U16.pack_into(header, 10, internet_checksum(header[:ip_size]))
            addresses = partial_sum(header[12:20])
            gso_type = GSO_TCPV4
        if self.push:
            header[ip_size + 13] |= TCP_PSH
        # CHECKSUM_PARTIAL: the field holds the folded, uncomplemented pseudo-header sum.
        pseudo = (addresses + IPPROTO_TCP + tcp_length) % 0xFFFF
        _U16.pack_into(header, ip_size + TCP_CHECKSUM_OFFSET, pseudo)
        virtio = VIRTIO_NET_HEADER.pack(
            NEEDS_CSUM, gso_type, self.header_size, self.gso_size, ip_size, TCP_CHECKSUM_OFFSET
        )
        return b"".join((virtio, header, memoryview(first)[self.header_size :], *self.payloads))


def _tcp_flow(packet: bytes) -> tuple[bytes, bool, int, int] | None:
    """(flow key, is IPv6, IP header size, IP+TCP header size) of a TCP segment that may be
    coalesced: no IP options or fragments, only ACK (and PSH) set, some payload."""
    size = len(packet)
    version = packet[0] >> 4
    if version == 4:
        if packet[0] != 0x45 or size < 40 or packet[9] != IPPROTO_TCP:
            return None
        if (packet[6] & 0x3F) or packet[7]:  # MF flag or a fragment offset
            return None
        ip_size = _IPV4_HEADER_SIZE
        # Addresses, TOS and TTL must match; the id may not (it grows per segment).
        flow_fields = packet[12:20] + packet[1:2] + packet[6:7] + packet[8:9]
        ipv6 = False
    elif version == 6:
        if size < 60 or packet[6] != IPPROTO_TCP:
            return None
        ip_size = _IPV6_HEADER_SIZE
        flow_fields = packet[8:40] + packet[0:4] + packet[7:8]
        ipv6 = True
    else:
        return None
    tcp_size = (packet[ip_size + 12] >> 4) * 4
    header_size = ip_size + tcp_size
    if tcp_size < 20 or header_size >= size:
        return None
    if packet[ip_size + 13] & ~(TCP_ACK | TCP_PSH) or not packet[ip_size + 13] & TCP_ACK:
        return None
    # Ports, ack number, window, urgent pointer and options must match; sequence and checksum
    # are per segment.
    tcp = packet[ip_size:header_size]
    flow = flow_fields + tcp[0:4] + tcp[8:12] + tcp[14:16] + tcp[18:]
    return flow, ipv6, ip_size, header_size


def coalesce_for_writing(packets: list[bytes]) -> list[bytes]:
    """The writes (virtio-net header first) that deliver `packets`, in order, to a TUN with
    IFF_VNET_HDR: runs of mergeable TCP segments become single GSO packets (module rules)."""
    writes: list[bytes] = []
    run: _TcpRun | None = None
    for packet in packets:
        flow = _tcp_flow(packet) if len(packet) > 40 else None
        if flow is not None and run is not None and run.accepts(packet, flow[0], flow[3]):
            run.add(packet)
            continue
        if run is not None:
            writes.append(run.encode())
            run = None
        if flow is None:
            writes.append(EMPTY_VIRTIO_NET_HEADER + packet)
        else:
            run = _TcpRun(packet, *flow)
    if run is not None:
        writes.append(run.encode())
    return writes
