"""The shared UDP socket (pacata/vpn/io/udp.py) on loopback, without root: GSO batches sent
as one call and received as one GRO read (split into the datagrams that were sent), sources in
plain IPv4 form on the dual-stack socket, and reads that fail being counted, not raised."""

from __future__ import annotations

import select
from collections.abc import Iterator

import pytest

from pacata.vpn.io.udp import UdpPort, split_segments

TIMEOUT_MS = 10_000


@pytest.fixture
def ports() -> Iterator[tuple[UdpPort, UdpPort]]:
    sender, receiver = UdpPort(gso=True), UdpPort(gro=True)
    try:
        yield sender, receiver
    finally:
        sender.close()
        receiver.close()


def wait_readable(port: UdpPort) -> None:
    poller = select.poll()
    poller.register(port.fileno(), select.POLLIN)
    assert poller.poll(TIMEOUT_MS), "nothing arrived"


def test_a_gso_batch_arrives_as_one_gro_read(ports: tuple[UdpPort, UdpPort]) -> None:
    sender, receiver = ports
    destination = ("127.0.0.1", receiver.port)
    datagrams = [bytes([index]) * 100 for index in range(3)] + [b"\xff" * 40]
    sender.send_batch([(data, destination) for data in datagrams])
    wait_readable(receiver)
    read = receiver.receive()
    assert read is not None
    data, source, segment = read
    assert source == ("127.0.0.1", sender.port)
    if receiver.gro and sender.gso:  # loopback keeps the GSO packet whole for a GRO socket
        assert (len(data), segment) == (340, 100)
        assert [chunk for chunk, _ in split_segments(data, source, segment)] == datagrams
    else:
        assert (data, segment) == (datagrams[0], 0)
    sender.send_batch([(data, destination) for data in datagrams])
    wait_readable(receiver)
    received, read_again = receiver.receive_batch(limit=64)
    assert [data for data, _ in received][-4:] == datagrams
    assert {source for _, source in received} == {("127.0.0.1", sender.port)}
    assert not read_again  # the last read was short


def test_without_offloads_every_datagram_is_its_own_read() -> None:
    sender, receiver = UdpPort(gso=False), UdpPort(gro=False)
    try:
        destination = ("127.0.0.1", receiver.port)
        datagrams = [bytes([index]) * 600 for index in range(5)]
        sender.send_batch([(data, destination) for data in datagrams])
        received: list[bytes] = []
        while len(received) < len(datagrams):
            wait_readable(receiver)
            read = receiver.receive()
            assert read is not None and read[2] == 0
            received.append(read[0])
        assert received == datagrams
        assert receiver.receive() is None  # nothing left: no blocking, no error
        assert not receiver.drops
    finally:
        sender.close()
        receiver.close()


def test_a_read_that_fails_is_counted_not_raised() -> None:
    port = UdpPort()
    port.close()
    assert port.receive() is None
    assert port.receive_batch() == ([], False)
    assert port.drops["receive error"] == 2
    port.send(b"lost", ("127.0.0.1", 9))
    assert port.drops["send error"] == 1


def test_split_segments_keeps_a_short_last_datagram() -> None:
    source = ("192.0.2.1", 51820)
    assert split_segments(b"aaabbbc", source, 3) == [
        (b"aaa", source),
        (b"bbb", source),
        (b"c", source),
    ]
