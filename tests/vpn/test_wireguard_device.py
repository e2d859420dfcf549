"""Devices wired in memory with a manual clock (pacata/testing/wireguard.py): the handshake,
transport in both directions, replay and reordering, the MACs and cookies, TAI64N replay,
every timer of whitepaper §6, roaming, and datagrams that belong to other protocols."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.errors import NotFound
from pacata.testing.wireguard import Node, Testbed, Transmission, ipv4_packet, ipv6_packet
from pacata.vpn.wireguard import (
    Device,
    DropReason,
    EndpointChanged,
    HandshakeAbandoned,
    HandshakeCompleted,
    MessageType,
    PacketReceived,
    ProtocolParameters,
)
from pacata.vpn.wireguard.messages import MAC1_OFFSET, MAC2_OFFSET, HandshakeInitiation


def kinds(wire: list[Transmission]) -> list[int]:
    return [transmission.datagram[0] for transmission in wire]


def from_node(wire: list[Transmission], node: Node) -> list[Transmission]:
    return [transmission for transmission in wire if transmission.sender is node]


def established() -> tuple[Testbed, Node, Node]:
    """Alice initiated a session with Bob by sending him one packet; the network is quiet."""
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"first"))
    bed.flush()
    assert bob.packets() == [ipv4_packet(b"first")]
    return bed, alice, bob


# -- handshake and transport --------------------------------------------------------------------


def test_handshake_then_data_both_ways() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"hello bob"))
    wire = bed.flush()
    assert kinds(wire) == [1, 2, 4]
    assert [len(item.datagram) for item in wire] == [148, 92, 32 + 32]
    assert alice.events == [HandshakeCompleted(bob.public_key, initiator=True)]
    assert bob.events == [
        HandshakeCompleted(alice.public_key, initiator=False),
        PacketReceived(alice.public_key, ipv4_packet(b"hello bob")),
    ]

    bed.send(bob, alice, ipv6_packet(b"hello alice"))
    assert kinds(bed.flush()) == [4]
    assert alice.packets() == [ipv6_packet(b"hello alice")]
    assert not alice.device.drops and not bob.device.drops
    peer = alice.device.peer(bob.public_key)
    assert peer.tx_bytes == 148 + 64 and peer.rx_bytes == 92 + 32 + 64
    assert peer.last_handshake_wall_time == bed.clock.wall


def test_many_packets_arrive_in_order_with_padding_removed() -> None:
    bed, alice, bob = established()
    packets = [ipv4_packet(bytes([n]) * n) for n in range(40)]
    for packet in packets:
        bed.send(alice, bob, packet)
    wire = bed.flush()
    assert all((len(item.datagram) - 32) % 16 == 0 for item in wire)
    assert bob.packets()[1:] == packets


def test_responder_learns_the_endpoint_from_the_initiation() -> None:
    bed = Testbed()
    alice = bed.add_node("alice", ("192.0.2.1", 40001))
    bob = bed.add_node("bob", ("198.51.100.2", 51820))
    alice.device.add_peer(bob.public_key, endpoint=bob.address)
    bob.device.add_peer(alice.public_key)  # a server does not know where its clients are
    bed.send(bob, alice, ipv4_packet(b"nowhere to go"))
    assert bed.flush() == []
    assert bob.device.drops[DropReason.NO_ENDPOINT] == 1
    bed.send(alice, bob, ipv4_packet(b"hi"))
    bed.flush()
    assert bob.events_of(EndpointChanged) == [EndpointChanged(alice.public_key, alice.address)]
    # The packet bob could not send waited for the session, like any staged packet.
    assert alice.packets() == [ipv4_packet(b"nowhere to go")]
    bed.send(bob, alice, ipv4_packet(b"now I know"))
    bed.flush()
    assert alice.packets() == [ipv4_packet(b"nowhere to go"), ipv4_packet(b"now I know")]


def test_preshared_key_must_match() -> None:
    bed = Testbed()
    alice, bob = bed.pair(preshared_key=bytes([9]) * 32)
    bed.send(alice, bob, ipv4_packet(b"with psk"))
    bed.flush()
    assert bob.packets() == [ipv4_packet(b"with psk")]

    bed = Testbed()
    alice = bed.add_node("alice", ("192.0.2.1", 1))
    bob = bed.add_node("bob", ("198.51.100.2", 2))
    alice.device.add_peer(bob.public_key, endpoint=bob.address, preshared_key=bytes([1]) * 32)
    bob.device.add_peer(alice.public_key, preshared_key=bytes([2]) * 32)
    bed.send(alice, bob, ipv4_packet(b"x"))
    assert kinds(bed.flush()) == [1, 2]
    assert alice.device.drops[DropReason.INVALID_HANDSHAKE] == 1
    assert bob.packets() == []


def test_simultaneous_initiations_resolve() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"from alice"))
    bed.send(bob, alice, ipv4_packet(b"from bob"))
    bed.flush()
    # Each initiation overwrote the other side's own; both responses are refused as stale.
    assert alice.device.drops[DropReason.UNEXPECTED_RESPONSE] == 1
    assert bob.device.drops[DropReason.UNEXPECTED_RESPONSE] == 1
    bed.advance(6)  # the retransmission timers settle it
    assert alice.packets() == [ipv4_packet(b"from bob")]
    assert bob.packets() == [ipv4_packet(b"from alice")]


def test_staged_packets_are_bounded() -> None:
    bed = Testbed(ProtocolParameters(max_staged_packets=4))
    alice, bob = bed.pair()
    for n in range(6):
        bed.send(alice, bob, ipv4_packet(bytes([n])))
    assert alice.device.drops[DropReason.STAGED_OVERFLOW] == 2
    bed.flush()
    assert bob.packets() == [ipv4_packet(bytes([n])) for n in range(2, 6)]


# -- replay, reordering, authentication ---------------------------------------------------------


def test_replayed_transport_is_dropped() -> None:
    bed, alice, bob = established()
    bed.send(alice, bob, ipv4_packet(b"once"))
    [data] = bed.take(alice)
    assert bed.deliver(data)
    assert bed.deliver(data)
    assert bob.packets().count(ipv4_packet(b"once")) == 1
    assert bob.device.drops[DropReason.REPLAYED_COUNTER] == 1


def test_reordered_transport_within_the_window_is_accepted() -> None:
    bed, alice, bob = established()
    packets = [ipv4_packet(bytes([n])) for n in range(10)]
    for packet in packets:
        bed.send(alice, bob, packet)
    for transmission in reversed(bed.take(alice)):
        bed.deliver(transmission)
    assert bob.packets()[1:] == list(reversed(packets))
    assert not bob.device.drops


def test_transport_older_than_the_window_is_dropped() -> None:
    bed, alice, bob = established()
    bed.send(alice, bob, ipv4_packet(b"late"))
    [late] = bed.take(alice)
    for _ in range(8200):
        bed.send(alice, bob, b"")  # keepalive-sized messages keep this fast
    newest = bed.take(alice)[-1]
    bed.deliver(newest)
    bed.deliver(late)
    assert ipv4_packet(b"late") not in bob.packets()
    assert bob.device.drops[DropReason.REPLAYED_COUNTER] == 1


def test_forged_or_corrupted_transport_is_dropped_and_moves_nothing() -> None:
    bed, alice, bob = established()
    bed.send(alice, bob, ipv4_packet(b"genuine"))
    [data] = bed.take(alice)
    forged = bytearray(data.datagram)
    forged[-1] ^= 1
    attacker = ("203.0.113.66", 666)
    assert bed.deliver(Transmission(alice, attacker, bob.address, bytes(forged)))
    assert bob.device.drops[DropReason.INVALID_TRANSPORT] == 1
    assert bob.device.peer(alice.public_key).endpoint == alice.address
    bed.deliver(data)  # the genuine packet's counter was not burnt by the forgery
    assert bob.packets()[-1] == ipv4_packet(b"genuine")
    unknown = bytearray(data.datagram)
    unknown[4:8] = (0xDEADBEEF).to_bytes(4, "little")
    bed.deliver(Transmission(alice, attacker, bob.address, bytes(unknown)))
    assert bob.device.drops[DropReason.UNKNOWN_INDEX] == 1


def test_inner_packet_that_is_not_ip_is_dropped() -> None:
    bed, alice, bob = established()
    bed.send(alice, bob, b"\x99not an ip packet at all")
    bed.send(alice, bob, ipv4_packet(b"x")[:2] + (500).to_bytes(2, "big") + ipv4_packet(b"x")[4:])
    bed.flush()
    assert bob.device.drops[DropReason.INVALID_INNER_PACKET] == 2
    assert bob.packets() == [ipv4_packet(b"first")]


def test_forged_mac1_is_dropped_without_an_answer() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"x"))
    [initiation] = bed.take(alice)
    forged = bytearray(initiation.datagram)
    forged[MAC1_OFFSET[MessageType.HANDSHAKE_INITIATION]] ^= 1
    assert bed.deliver(Transmission(alice, alice.address, bob.address, bytes(forged)))
    assert bob.device.drops[DropReason.INVALID_MAC1] == 1
    assert bed.take(bob) == []
    assert bed.deliver(initiation)  # the genuine one still works
    assert kinds(bed.take(bob)) == [2]


def test_initiation_with_valid_mac1_but_bad_crypto_is_dropped() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"x"))
    [initiation] = bed.take(alice)
    message = HandshakeInitiation.decode(initiation.datagram)
    corrupted = HandshakeInitiation(
        message.sender_index,
        message.unencrypted_ephemeral,
        bytes(48),
        message.encrypted_timestamp,
    )
    peer = alice.device.peer(bob.public_key)
    offset = MAC1_OFFSET[MessageType.HANDSHAKE_INITIATION]
    stamped = peer.cookie.stamp(corrupted.encode(), offset, bed.clock.now)
    bed.deliver(Transmission(alice, alice.address, bob.address, stamped))
    assert bob.device.drops[DropReason.INVALID_HANDSHAKE] == 1
    assert bed.take(bob) == []


def test_initiation_from_an_unknown_key_is_dropped() -> None:
    bed = Testbed()
    _, bob = bed.pair()
    carol = bed.add_node("carol", ("203.0.113.3", 51820))
    carol.device.add_peer(bob.public_key, endpoint=bob.address)
    bed.send(carol, bob, ipv4_packet(b"let me in"))
    assert kinds(bed.flush()) == [1]
    assert bob.device.drops[DropReason.UNKNOWN_PEER] == 1


def test_replayed_and_stale_initiations_are_refused() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"x"))
    [older] = bed.take(alice)
    [newer] = bed.advance(6, deliver=False)  # the retransmission, with a newer timestamp
    assert newer.datagram[0] == 1
    assert newer.datagram != older.datagram

    bed.deliver(newer)
    assert kinds(bed.take(bob)) == [2]
    assert bed.advance(1, deliver=False) == []
    bed.deliver(newer)  # the very same initiation again
    bed.deliver(older)  # an initiation with an older timestamp
    assert bed.take(bob) == []
    assert bob.device.drops[DropReason.REPLAYED_INITIATION] == 2


def test_initiation_flood_is_refused() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    private_key = alice.device.identity.private_key
    clone = Device(private_key, random_bytes=bed.random.randbytes)
    clone.add_peer(bob.public_key, endpoint=bob.address)
    bed.send(alice, bob, ipv4_packet(b"x"))
    [first] = bed.take(alice)
    clone.send_keepalive(bob.public_key, bed.clock.now, bed.clock.wall + 1.0)
    [(second, _)] = clone.datagrams_to_send()
    bed.deliver(first)
    bed.deliver(Transmission(alice, alice.address, bob.address, second))
    assert bob.device.drops[DropReason.INITIATION_FLOOD] == 1
    bed.take(bob)
    bed.clock.advance(0.02)  # 1 / INITIATIONS_PER_SECOND later it is welcome
    bed.deliver(Transmission(alice, alice.address, bob.address, second))
    assert bob.device.drops[DropReason.INITIATION_FLOOD] == 1
    assert kinds(bed.take(bob)) == [2]


# -- cookies under load -------------------------------------------------------------------------


def test_cookie_reply_under_load_then_the_retried_initiation_with_mac2_is_accepted() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bob.device.under_load = True
    bed.send(alice, bob, ipv4_packet(b"under load"))
    wire = bed.flush()
    assert kinds(wire) == [1, 3]
    assert bob.device.drops[DropReason.COOKIE_REQUIRED] == 1
    assert bob.packets() == []
    # A second copy of the cookie reply is refused: a cookie answers one mac1.
    bed.deliver(wire[1])
    assert alice.device.drops[DropReason.INVALID_COOKIE_REPLY] == 1

    wire = bed.advance(5.4)  # REKEY_TIMEOUT + jitter: the retransmission carries mac2
    retried = wire[0].datagram
    assert retried[0] == 1
    assert retried[MAC2_OFFSET[MessageType.HANDSHAKE_INITIATION] :] != bytes(16)
    assert kinds(wire) == [1, 2, 4]
    assert bob.packets() == [ipv4_packet(b"under load")]
    assert bob.device.drops[DropReason.COOKIE_REQUIRED] == 1


def test_under_load_a_cookie_is_bound_to_the_source_address() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bob.device.under_load = True
    bed.send(alice, bob, ipv4_packet(b"x"))
    bed.flush()
    [retried] = bed.advance(5.4, deliver=False)
    bed.deliver(retried, source=("203.0.113.200", 9999))
    assert bob.device.drops[DropReason.COOKIE_REQUIRED] == 2
    assert [item.destination for item in bed.take(bob)] == [("203.0.113.200", 9999)]


def test_initiator_under_load_sends_a_cookie_for_the_response() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    alice.device.under_load = True
    bed.send(alice, bob, ipv4_packet(b"x"))
    assert kinds(bed.flush()) == [1, 2, 3]  # the cookie reply names bob's new keypair index
    assert alice.device.drops[DropReason.COOKIE_REQUIRED] == 1
    assert bob.device.peer(alice.public_key).cookie.has_cookie
    wire = bed.advance(5.4)
    assert kinds(wire) == [1, 2, 4]
    assert wire[1].datagram[MAC2_OFFSET[MessageType.HANDSHAKE_RESPONSE] :] != bytes(16)
    assert bob.packets() == [ipv4_packet(b"x")]


def test_not_under_load_mac2_is_ignored() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"x"))
    [initiation] = bed.take(alice)
    garbage_mac2 = initiation.datagram[:-16] + bytes(range(16))
    bed.deliver(Transmission(alice, alice.address, bob.address, garbage_mac2))
    assert kinds(bed.take(bob)) == [2]


# -- timers -------------------------------------------------------------------------------------


def test_rekey_after_time_is_started_by_the_initiator_only() -> None:
    bed, alice, bob = established()
    first_key = alice.device.peer(bob.public_key).keypairs.current
    bed.advance(121)
    bed.send(bob, alice, ipv4_packet(b"bob, still on the old key"))
    assert kinds(bed.flush()) == [4]  # the responder does not rekey by time
    bed.send(alice, bob, ipv4_packet(b"alice, old key, then rekey"))
    assert kinds(bed.flush()) == [4, 1, 2, 4]
    assert bob.packets()[-1] == ipv4_packet(b"alice, old key, then rekey")
    assert alice.device.peer(bob.public_key).keypairs.current is not first_key
    assert len(alice.events_of(HandshakeCompleted)) == 2
    bed.send(alice, bob, ipv4_packet(b"new key"))
    bed.flush()
    assert bob.packets()[-1] == ipv4_packet(b"new key")


def test_rekey_after_messages() -> None:
    bed = Testbed(ProtocolParameters(rekey_after_messages=20, reject_after_messages=1000))
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"0"))
    bed.flush()
    bed.advance(6)  # past REKEY_TIMEOUT since the last initiation
    for n in range(1, 21):
        bed.send(alice, bob, ipv4_packet(str(n).encode()))
        assert kinds(bed.take(alice)) == ([4, 1] if n == 20 else [4]), n


def test_reject_after_messages_stops_sending_on_the_old_key() -> None:
    bed = Testbed(ProtocolParameters(rekey_after_messages=5, reject_after_messages=10))
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(bytes([0])))
    bed.flush()
    for n in range(1, 15):
        bed.send(alice, bob, ipv4_packet(bytes([n])))
    wire = bed.take(alice)
    # Counters 0..9 only: the first packet used counter 0, so 9 more fit; the rest wait.
    assert kinds(wire).count(4) == 9
    current = alice.device.peer(bob.public_key).keypairs.current
    assert current is not None and current.sending_valid is False
    for transmission in wire:
        bed.deliver(transmission)
    # The rekey was rate limited (REKEY_TIMEOUT since the first handshake); the next packet
    # after that starts it, and everything waiting goes out under the new session, in order.
    bed.clock.advance(5)
    bed.send(alice, bob, ipv4_packet(bytes([15])))
    assert kinds(bed.flush()) == [1, 2] + [4] * 6
    assert bob.packets() == [ipv4_packet(bytes([n])) for n in range(16)]


def test_reject_after_time_no_send_or_receive_with_old_keys() -> None:
    bed, alice, bob = established()
    bed.advance(1)
    bed.send(alice, bob, ipv4_packet(b"held back"))
    [held] = bed.take(alice)
    bed.send(bob, alice, ipv4_packet(b"keeps alice's timers quiet"))
    bed.flush()
    bed.advance(180)
    current = alice.device.peer(bob.public_key).keypairs.current
    assert current is not None and bed.clock.now - current.birth > 180

    bed.deliver(held)
    assert bob.device.drops[DropReason.EXPIRED_KEY] == 1
    assert ipv4_packet(b"held back") not in bob.packets()

    bed.send(bob, alice, ipv4_packet(b"new session please"))
    assert kinds(bed.take(bob)) == [1]  # no transport under the expired key
    bed.send(alice, bob, ipv4_packet(b"me too"))
    assert kinds(bed.take(alice)) == [1]


def test_last_minute_handshake_when_receiving_on_an_old_initiator_key() -> None:
    bed, alice, bob = established()
    bed.advance(166)
    bed.send(bob, alice, ipv4_packet(b"late data"))
    wire = bed.flush()
    assert kinds(wire) == [4, 1, 2, 4]
    assert wire[1].sender is alice
    assert len(alice.events_of(HandshakeCompleted)) == 2


def test_data_received_during_a_pending_keepalive_earns_another_one() -> None:
    bed, alice, bob = established()
    bed.advance(5)
    bed.send(alice, bob, ipv4_packet(b"more"))
    bed.flush()
    wire = from_node(bed.advance(20), bob)
    # One keepalive 10 s after the first packet, another 10 s later for the second packet.
    assert [(item.time, len(item.datagram)) for item in wire] == [(110.0, 32), (120.0, 32)]


def test_keepalive_after_keepalive_timeout() -> None:
    bed, alice, bob = established()
    assert bed.advance(9.99) == []
    wire = bed.advance(0.01)
    assert [(item.sender.name, len(item.datagram)) for item in wire] == [("bob", 32)]
    # Sending data back in time suppresses the keepalive.
    bed.send(alice, bob, ipv4_packet(b"again"))
    bed.flush()
    bed.advance(5)
    bed.send(bob, alice, ipv4_packet(b"answer"))
    bed.flush()
    assert from_node(bed.advance(5.1), bob) == []


def test_last_minute_handshake_is_started_once() -> None:
    bed, alice, bob = established()
    start = bed.clock.now
    bed.advance(166)
    for _ in range(3):  # bob's data reaches alice; nothing alice sends gets through
        bed.send(bob, alice, ipv4_packet(b"data"))
        for transmission in bed.take(bob):
            bed.deliver(transmission)
        bed.advance(6, deliver=False)
    while not alice.events_of(HandshakeAbandoned):
        deadline = bed.next_timer()
        assert deadline is not None
        bed.run_until(deadline, deliver=False)
    # Counted from the first last-minute initiation: later data did not restart the attempts.
    assert bed.clock.now - start < 166 + 106


def test_persistent_keepalive() -> None:
    bed = Testbed()
    alice, bob = bed.pair(persistent_keepalive=25)
    bed.send(alice, bob, ipv4_packet(b"x"))
    bed.flush()
    wire = bed.advance(100)
    alice_sent = [item for item in from_node(wire, alice) if len(item.datagram) == 32]
    assert len(alice_sent) >= 3
    assert all(item.datagram[0] == 4 for item in wire)


def test_handshake_retry_with_jitter_then_give_up() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    start = bed.clock.now
    bed.send(alice, bob, ipv4_packet(b"into the void"))
    times = [bed.clock.now]
    bed.drain()
    while bed.clock.now < start + 200:
        deadline = bed.next_timer()
        assert deadline is not None
        sent = bed.run_until(deadline, deliver=False)
        if any(item.datagram[0] == 1 for item in sent):
            times.append(bed.clock.now)
        if alice.events_of(HandshakeAbandoned):
            break
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(times) == 20  # the first initiation and 19 retries, as in Linux
    assert all(5 <= gap < 5 + 1 / 3 for gap in gaps)
    assert len({round(gap, 6) for gap in gaps}) > 1  # jittered
    assert alice.events_of(HandshakeAbandoned) == [HandshakeAbandoned(bob.public_key)]
    assert 100 <= bed.clock.now - start < 110
    assert alice.device.drops[DropReason.HANDSHAKE_ABANDONED] == 1
    assert kinds(bed.advance(300, deliver=False)) == []
    bed.send(alice, bob, ipv4_packet(b"try again"))
    assert kinds(bed.flush()) == [1, 2, 4]
    assert bob.packets() == [ipv4_packet(b"try again")]


def test_jitter_comes_from_the_injected_source() -> None:
    fractions = iter([0.0, 0.999])
    alice = Device(bytes([1]) * 32, random_fraction=lambda: next(fractions))
    bob_key = Device(bytes([2]) * 32).public_key
    alice.add_peer(bob_key, endpoint=("198.51.100.2", 51820))
    alice.send_keepalive(bob_key, 10.0, 1e9)
    assert alice.get_timer() == 15.0
    alice.handle_timer(15.0, 1e9 + 5)
    timer = alice.get_timer()
    assert timer is not None and timer == pytest.approx(20.0 + 0.999 / 3)


def test_key_material_is_zeroed_after_three_reject_after_times() -> None:
    bed, alice, bob = established()
    bed.send(alice, bob, ipv4_packet(b"kept for later"))
    [held] = bed.take(alice)
    bed.advance(539)
    assert alice.device.peer(bob.public_key).keypairs.current is not None
    bed.advance(2)
    assert list(alice.device.peer(bob.public_key).keypairs) == []
    assert list(bob.device.peer(alice.public_key).keypairs) == []
    bed.deliver(held)
    assert bob.device.drops[DropReason.UNKNOWN_INDEX] == 1
    bed.send(alice, bob, ipv4_packet(b"fresh start"))
    bed.flush()
    assert bob.packets()[-1] == ipv4_packet(b"fresh start")


# -- roaming, peers, other protocols ------------------------------------------------------------


def test_endpoint_roams_to_the_latest_authenticated_source() -> None:
    bed, alice, bob = established()
    bed.move(alice, ("203.0.113.7", 61000))
    bed.send(alice, bob, ipv4_packet(b"from my new address"))
    bed.flush()
    assert bob.device.peer(alice.public_key).endpoint == ("203.0.113.7", 61000)
    assert bob.events_of(EndpointChanged)[-1] == EndpointChanged(
        alice.public_key, ("203.0.113.7", 61000)
    )
    bed.send(bob, alice, ipv4_packet(b"reply follows you"))
    wire = bed.flush()
    assert wire[0].destination == ("203.0.113.7", 61000)
    assert alice.packets() == [ipv4_packet(b"reply follows you")]


def test_removed_peer_is_forgotten() -> None:
    bed, alice, bob = established()
    bed.send(alice, bob, ipv4_packet(b"after removal"))
    [data] = bed.take(alice)
    bob.device.remove_peer(alice.public_key)
    bed.deliver(data)
    assert bob.device.drops[DropReason.UNKNOWN_INDEX] == 1
    with pytest.raises(NotFound):
        bob.device.peer(alice.public_key)
    with pytest.raises(NotFound):
        bob.device.send_packet(alice.public_key, b"", bed.clock.now, bed.clock.wall)
    bed.send(alice, bob, ipv4_packet(b"hello?"))
    bed.flush()
    assert bob.device.drops[DropReason.UNKNOWN_INDEX] == 2
    # Hearing nothing back, alice starts a new handshake, which bob no longer answers.
    wire = bed.advance(16)
    assert kinds(wire) == [1]
    assert bob.device.drops[DropReason.UNKNOWN_PEER] == 1


def test_add_peer_refuses_bad_keys() -> None:
    device = Device(bytes([1]) * 32)
    with pytest.raises(ValueError, match="32 bytes"):
        device.add_peer(bytes(31))
    with pytest.raises(ValueError, match="own peer"):
        device.add_peer(device.public_key)
    with pytest.raises(ValueError, match="low-order"):
        device.add_peer(bytes(32))
    device.add_peer(bytes([9]) * 32)
    with pytest.raises(ValueError, match="already"):
        device.add_peer(bytes([9]) * 32)


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\x00",
        bytes.fromhex("000100002112a442") + bytes(12),  # STUN binding request
        b"\x01\x00\x00\x00" + bytes(100),  # initiation header, wrong size
        b"\x04\x00\x00\x00" + bytes(20),  # transport header, too short
        b"\x02\x00\x00\x01" + bytes(88),  # reserved bytes not zero
        b"\x07\x00\x00\x00" + bytes(60),
    ],
)
def test_other_protocols_are_passed_through(datagram: bytes) -> None:
    bed, alice, bob = established()
    drops_before = +bob.device.drops
    assert bed.deliver(Transmission(alice, alice.address, bob.address, datagram)) is False
    assert bob.device.drops == drops_before
    assert bed.take(bob) == []


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from([(1, 148), (2, 92), (3, 64), (4, None)]),
    body=st.binary(min_size=28, max_size=200),
)
def test_garbage_shaped_like_wireguard_is_dropped_never_raised(
    kind: tuple[int, int | None], body: bytes
) -> None:
    bed, alice, bob = established()
    message_type, size = kind
    payload = bytes([message_type, 0, 0, 0]) + body
    if size is not None:
        payload = (payload + bytes(size))[:size]
    assert bed.deliver(Transmission(alice, alice.address, bob.address, payload)) is True
    assert sum(bob.device.drops.values()) == 1
    assert bob.device.peer(alice.public_key).endpoint == alice.address


def test_timer_heap_survives_many_reschedules() -> None:
    bed, alice, bob = established()
    for _ in range(500):
        bed.send(alice, bob, ipv4_packet(b"ping"))
        bed.send(bob, alice, ipv4_packet(b"pong"))
        bed.flush()
        bed.advance(0.01)
    timer = alice.device.get_timer()
    assert timer is not None and timer > bed.clock.now
    assert len(alice.packets()) == 500
