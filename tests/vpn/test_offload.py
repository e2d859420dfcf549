"""TUN offloads in Python (pacata/vpn/offload.py): the Internet checksum, TCP segmentation of
super-packets (checked against a slow reference), checksum completion, TCP coalescing for
writes (round trip through segmentation), and garbage that must raise OffloadError only."""

from __future__ import annotations

import contextlib
import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.testing.tun import ipv4_tcp
from pacata.vpn.offload import (
    EMPTY_VIRTIO_NET_HEADER,
    GSO_TCPV4,
    GSO_TCPV6,
    NEEDS_CSUM,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_SYN,
    VIRTIO_NET_HEADER,
    VIRTIO_NET_HEADER_SIZE,
    OffloadError,
    coalesce_for_writing,
    complete_checksum,
    internet_checksum,
    payload_sum,
    segment_tcp,
    split_for_sending,
)


def reference_sum(data: bytes) -> int:
    """RFC 1071 ones' complement sum, word by word, with end-around carry."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for (word,) in struct.iter_unpack("!H", data):
        total += word
        total = (total & 0xFFFF) + (total >> 16)
    return total


def verifies(data: bytes) -> bool:
    """A checksummed region verifies when its ones' complement sum is all ones."""
    return reference_sum(data) == 0xFFFF


def ipv6_tcp(payload: bytes, *, flags: int = TCP_ACK, seq: int = 1) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", 40000, 5201, seq, 555, 5 << 4, flags, 512, 0, 0)
    ip = struct.pack("!IHBB16s16s", 6 << 28, len(tcp) + len(payload), 6, 64,
                     bytes(15) + b"\1", bytes(15) + b"\2")  # fmt: skip
    return ip + tcp + payload


def pseudo_header(packet: bytes, ipv6: bool, tcp_start: int) -> bytes:
    length = len(packet) - tcp_start
    if ipv6:
        return packet[8:40] + struct.pack("!IxxxB", length, 6)
    return packet[12:20] + struct.pack("!xBH", 6, length)


def check_segment(segment: bytes, ipv6: bool) -> None:
    tcp_start = 40 if ipv6 else 20
    if not ipv6:
        assert verifies(segment[:20]), "IPv4 header checksum"
        assert struct.unpack_from("!H", segment, 2)[0] == len(segment)
    else:
        assert struct.unpack_from("!H", segment, 4)[0] == len(segment) - 40
    assert verifies(pseudo_header(segment, ipv6, tcp_start) + segment[tcp_start:]), "TCP checksum"


@given(st.binary(max_size=3000))
def test_internet_checksum_matches_rfc_1071(data: bytes) -> None:
    checksum = internet_checksum(data)
    assert checksum != 0
    assert verifies(data + (b"\0" if len(data) % 2 else b"") + struct.pack("!H", checksum))


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("payload_size", [1, 1367, 1368, 1369, 45 * 1368, 60000])
def test_segmentation_is_valid_tcp(ipv6: bool, payload_size: int) -> None:
    payload = os.urandom(payload_size)
    flags = TCP_ACK | TCP_PSH | TCP_FIN
    packet = (ipv6_tcp if ipv6 else ipv4_tcp)(payload, flags=flags)
    tcp_start = 40 if ipv6 else 20
    header_size = tcp_start + (packet[tcp_start + 12] >> 4) * 4
    segments = segment_tcp(packet, ipv6, tcp_start, 1368)
    assert len(segments) == -(-payload_size // 1368)
    carried = b""
    for index, segment in enumerate(segments):
        check_segment(segment, ipv6)
        (sequence,) = struct.unpack_from("!I", segment, tcp_start + 4)
        assert sequence == struct.unpack_from("!I", packet, tcp_start + 4)[0] + len(carried)
        last = index == len(segments) - 1
        assert segment[tcp_start + 13] == (flags if last else TCP_ACK)
        if not ipv6:
            assert struct.unpack_from("!H", segment, 4)[0] == 7 + index
        carried += segment[header_size:]
    assert carried == payload


def test_split_for_sending_reads_the_virtio_header() -> None:
    packet = ipv4_tcp(os.urandom(5000))
    gso = VIRTIO_NET_HEADER.pack(NEEDS_CSUM, GSO_TCPV4, 52, 1400, 20, 16)
    assert len(split_for_sending(gso + packet)) == 4
    assert split_for_sending(EMPTY_VIRTIO_NET_HEADER + packet) == [packet]
    ipv6 = ipv6_tcp(os.urandom(3000))
    gso6 = VIRTIO_NET_HEADER.pack(NEEDS_CSUM, GSO_TCPV6, 60, 1000, 40, 16)
    for segment in split_for_sending(gso6 + ipv6):
        check_segment(segment, True)


def test_complete_checksum_of_a_partial_udp_packet() -> None:
    payload = b"hello, world!"  # odd length on purpose
    udp = struct.pack("!HHHH", 1000, 53, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     b"\x0a\0\0\x01", b"\x0a\0\0\x02")  # fmt: skip
    pseudo = (0x0A00 + 0x0001 + 0x0A00 + 0x0002 + 17 + len(udp)) % 0xFFFF
    partial = ip + udp[:6] + struct.pack("!H", pseudo) + udp[8:]
    header = VIRTIO_NET_HEADER.pack(NEEDS_CSUM, 0, 0, 0, 20, 6)
    (completed,) = split_for_sending(header + partial)
    pseudo_bytes = ip[12:20] + struct.pack("!xBH", 17, len(udp))
    assert verifies(pseudo_bytes + completed[20:] + b"\0")
    with pytest.raises(OffloadError):
        complete_checksum(partial, 20, 200)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes(VIRTIO_NET_HEADER_SIZE),
        VIRTIO_NET_HEADER.pack(0, 3, 0, 1000, 20, 6) + ipv4_tcp(b"x" * 100),  # UFO: not asked
        VIRTIO_NET_HEADER.pack(1, GSO_TCPV4, 0, 1000, 20, 16) + b"\x45" + bytes(20),
        VIRTIO_NET_HEADER.pack(1, GSO_TCPV4, 0, 0, 20, 16) + ipv4_tcp(b"x" * 100),
        VIRTIO_NET_HEADER.pack(1, GSO_TCPV6, 0, 100, 40, 16) + ipv4_tcp(b"x" * 100),
        VIRTIO_NET_HEADER.pack(1, GSO_TCPV4, 0, 100, 10, 16) + ipv4_tcp(b"x" * 100),
    ],
)
def test_malformed_reads_raise_offload_error(data: bytes) -> None:
    with pytest.raises(OffloadError):
        split_for_sending(data)


virtio_fields = st.tuples(
    st.integers(0, 255),
    st.sampled_from([0, 1, 3, 4, 5, 0x81]),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
)


@settings(max_examples=300, deadline=None)
@given(virtio_fields, st.binary(max_size=300))
def test_garbage_from_the_tun_raises_nothing_else(
    fields: tuple[int, int, int, int, int, int], body: bytes
) -> None:
    with contextlib.suppress(OffloadError):
        split_for_sending(VIRTIO_NET_HEADER.pack(*fields) + body)


def test_coalescing_round_trips_through_segmentation() -> None:
    payload = os.urandom(40 * 1368 + 77)
    original = segment_tcp(ipv4_tcp(payload, flags=TCP_ACK | TCP_PSH), False, 20, 1368)
    (write,) = coalesce_for_writing(original)
    flags, gso_type, header_size, gso_size, csum_start, csum_offset = VIRTIO_NET_HEADER.unpack_from(
        write
    )
    assert (flags, gso_type, header_size, gso_size, csum_start, csum_offset) == (
        NEEDS_CSUM, GSO_TCPV4, 52, 1368, 20, 16,
    )  # fmt: skip
    merged = write[VIRTIO_NET_HEADER_SIZE:]
    assert verifies(merged[:20])
    assert len(merged) == 52 + len(payload)
    # What the kernel would do if it had to segment it again: the same segments, bit for bit.
    assert split_for_sending(write) == original


def test_coalescing_ipv6() -> None:
    original = segment_tcp(ipv6_tcp(os.urandom(10 * 1000)), True, 40, 1000)
    (write,) = coalesce_for_writing(original)
    assert VIRTIO_NET_HEADER.unpack_from(write)[1] == GSO_TCPV6
    assert split_for_sending(write) == original


def test_what_cannot_be_coalesced_is_written_as_is() -> None:
    first = segment_tcp(ipv4_tcp(os.urandom(3 * 1000), seq=1000), False, 20, 1000)
    other_flow = segment_tcp(
        ipv4_tcp(os.urandom(2 * 1000), source=b"\x0a\0\0\x09"), False, 20, 1000
    )
    syn = ipv4_tcp(b"x" * 10, flags=TCP_SYN)
    udp_like = b"\x45" + bytes(30)
    gap = segment_tcp(ipv4_tcp(os.urandom(1000), seq=999_999), False, 20, 1000)
    writes = coalesce_for_writing([*first, *other_flow, syn, udp_like, *gap])
    assert len(writes) == 5
    assert VIRTIO_NET_HEADER.unpack_from(writes[0])[1] == GSO_TCPV4
    assert VIRTIO_NET_HEADER.unpack_from(writes[1])[1] == GSO_TCPV4
    assert writes[2] == EMPTY_VIRTIO_NET_HEADER + syn
    assert writes[3] == EMPTY_VIRTIO_NET_HEADER + udp_like
    assert writes[4] == EMPTY_VIRTIO_NET_HEADER + gap[0]


def test_a_coalesced_packet_stays_under_64_kib() -> None:
    first = segment_tcp(ipv4_tcp(os.urandom(40 * 1368), flags=TCP_ACK), False, 20, 1368)
    second = segment_tcp(
        ipv4_tcp(os.urandom(40 * 1368), flags=TCP_ACK, seq=1000 + 40 * 1368, ip_id=47),
        False,
        20,
        1368,
    )
    writes = coalesce_for_writing(first + second)
    assert len(writes) == 2
    assert all(len(write) - VIRTIO_NET_HEADER_SIZE <= 65535 for write in writes)
    assert [segment for write in writes for segment in split_for_sending(write)] == first + second


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=200), max_size=10))
def test_coalescing_garbage_never_raises(packets: list[bytes]) -> None:
    writes = coalesce_for_writing(packets)
    assert len(writes) <= len(packets)


@given(st.binary(max_size=9000))
def test_payload_sum_is_congruent_to_the_word_sum(data: bytes) -> None:
    assert payload_sum(data) % 0xFFFF == reference_sum(data) % 0xFFFF
