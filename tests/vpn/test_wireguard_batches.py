"""`Device.send_packets` (the batch form of `send_packet` the tunnel uses): a batch larger than
the staging limit is sent whole when a session is up, in order; without a session it is staged
like single packets, keeping the newest `max_staged_packets`."""

from __future__ import annotations

from pacata.testing.wireguard import Testbed, ipv4_packet
from pacata.vpn.wireguard import DropReason, PacketReceived


def test_a_large_batch_is_sent_whole_and_in_order() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"hello"))
    bed.flush()
    packets = [ipv4_packet(index.to_bytes(4, "big")) for index in range(1000)]
    alice.device.send_packets(bob.public_key, packets, bed.clock.now, bed.clock.wall)
    bed.flush()
    received = [event.packet for event in bob.events if isinstance(event, PacketReceived)]
    assert received[1:] == packets
    assert alice.device.drops[DropReason.STAGED_OVERFLOW] == 0


def test_without_a_session_the_newest_are_staged() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    limit = bed.parameters.max_staged_packets
    packets = [ipv4_packet(index.to_bytes(4, "big")) for index in range(limit + 50)]
    alice.device.send_packets(bob.public_key, packets, bed.clock.now, bed.clock.wall)
    assert alice.device.drops[DropReason.STAGED_OVERFLOW] == 50
    bed.flush()  # the handshake completes and the staged packets follow
    received = [event.packet for event in bob.events if isinstance(event, PacketReceived)]
    assert received == packets[50:]
