"""The transport fast path (`Device.seal_packet`, `Device.open_packet`): it takes only the
packets the general path would handle with nothing else due, and then does what it would do.

The conftest runs this module with both Testbed settings; the scenario tests below also build
both paths side by side and compare everything observable."""

from __future__ import annotations

import random

import pytest

from pacata.testing.wireguard import Node, Testbed, Transmission, ipv4_packet
from pacata.vpn.wireguard import DropReason, ProtocolParameters

SHORT = ProtocolParameters(
    rekey_after_messages=40,
    reject_after_messages=60,
    rekey_after_time=30.0,
    reject_after_time=45.0,
    rekey_attempt_time=20.0,
    keepalive_timeout=4.0,
    rekey_timeout=2.0,
)


def _established(bed: Testbed) -> tuple[Node, Node]:
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"hello"))
    bed.flush()
    bed.send(bob, alice, ipv4_packet(b"confirm", "10.0.0.2", "10.0.0.1"))
    bed.flush()
    return alice, bob


def _observed(bed: Testbed) -> list[object]:
    """Everything a user of the devices can see, except the (early-firing) timer deadline."""
    state: list[object] = []
    for node in bed.nodes.values():
        state.append((node.name, node.address, [repr(event) for event in node.events]))
        state.append(sorted(node.device.drops.items()))
        for key, peer in sorted(node.device.peers.items()):
            keypairs = [
                (keypair.local_index, keypair.sending_counter, keypair.replay.highest)
                for keypair in (peer.keypairs.current, peer.keypairs.previous, peer.keypairs.next)
                if keypair is not None
            ]
            state.append((key, peer.endpoint, peer.rx_bytes, peer.tx_bytes, keypairs))
    return state


def _wire(transmissions: list[Transmission]) -> list[tuple[str, object, bytes, float]]:
    return [
        (item.sender.name, item.destination, item.datagram, item.time) for item in transmissions
    ]


def _scenario(seed: int, *, fast_path: bool) -> tuple[list[object], list[object]]:
    """A seeded random run: packets both ways, silences past every timer, losses, a replay, a
    roaming client, and for odd seeds persistent keepalives. Returns what went on the wire
    and the observable state at each step."""
    bed = Testbed(SHORT, seed=seed, fast_path=fast_path)
    alice, bob = bed.pair(persistent_keepalive=3.0 if seed % 2 else None)
    choices = random.Random(seed)
    wire: list[object] = []
    states: list[object] = []
    last: list[Transmission] = []
    for step in range(120):
        action = choices.random()
        if action < 0.35:
            bed.send(alice, bob, ipv4_packet(choices.randbytes(choices.randrange(0, 90))))
        elif action < 0.6:
            payload = choices.randbytes(choices.randrange(0, 90))
            bed.send(bob, alice, ipv4_packet(payload, "10.0.0.2", "10.0.0.1"))
        elif action < 0.75:
            last = bed.flush()
            wire.append(_wire(last))
        elif action < 0.8:
            wire.append(_wire(bed.drain()))  # lost
        elif action < 0.85 and last:
            bed.deliver(last[-1])  # a replay
        elif action < 0.87:
            bed.move(alice, ("203.0.113.9", 40000 + step))
        else:
            # The network goes quiet first: with the fast path a timer may wake early (and do
            # nothing), and the testbed delivers what is pending at every wake-up.
            wire.append(_wire(bed.flush()))
            wire.append(_wire(bed.advance(choices.choice([0.3, 1.5, 4.5, 9.0, 31.0]))))
        states.append(_observed(bed))
    wire.append(_wire(bed.flush()))
    wire.append(_wire(bed.advance(200.0)))
    states.append(_observed(bed))
    return wire, states


@pytest.mark.parametrize("seed", range(12))
def test_both_paths_put_the_same_bytes_on_the_wire_and_reach_the_same_state(seed: int) -> None:
    general_wire, general_states = _scenario(seed, fast_path=False)
    fast_wire, fast_states = _scenario(seed, fast_path=True)
    assert fast_wire == general_wire
    assert fast_states == general_states
    assert any(len(batch) > 2 for batch in general_wire if isinstance(batch, list))


def test_a_lone_packet_on_a_session_takes_the_fast_path_both_ways() -> None:
    bed = Testbed()
    alice, bob = _established(bed)
    packet = ipv4_packet(b"ping")
    sealed = alice.device.seal_packet(bob.public_key, packet, bed.clock.now)
    assert sealed is not None
    datagram, endpoint = sealed
    assert endpoint == bob.address
    assert alice.device.datagrams_to_send() == []  # nothing went the general way
    opened = bob.device.open_packet(datagram, alice.address, bed.clock.now)
    assert opened == (alice.public_key, packet)
    assert bob.device.next_event() is None


def test_without_a_session_the_fast_path_declines() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    assert alice.device.seal_packet(bob.public_key, ipv4_packet(b"x"), bed.clock.now) is None
    assert alice.device.seal_packet(b"\x01" * 32, ipv4_packet(b"x"), bed.clock.now) is None
    # A handshake message or foreign bytes are not transport data.
    bed.send(alice, bob, ipv4_packet(b"x"))
    (initiation,) = bed.take(alice)
    assert bob.device.open_packet(initiation.datagram, alice.address, bed.clock.now) is None
    assert bob.device.open_packet(b"not wireguard", alice.address, bed.clock.now) is None


def test_the_first_data_under_a_new_responder_keypair_goes_the_general_way() -> None:
    bed = Testbed()
    alice, bob = bed.pair()
    bed.send(alice, bob, ipv4_packet(b"first"))
    bed.flush()  # initiation, response, then alice's staged packet went the general way
    assert bob.packets() == [ipv4_packet(b"first")]
    # bob now holds the keypair as `current`; alice's next packet takes the fast path.
    assert alice.device.seal_packet(bob.public_key, ipv4_packet(b"again"), bed.clock.now)


def test_a_new_source_address_goes_the_general_way_and_moves_the_endpoint() -> None:
    bed = Testbed()
    alice, bob = _established(bed)
    sealed = alice.device.seal_packet(bob.public_key, ipv4_packet(b"roam"), bed.clock.now)
    assert sealed is not None
    roamed = ("203.0.113.7", 4242)
    assert bob.device.open_packet(sealed[0], roamed, bed.clock.now) is None
    assert bob.device.receive_datagram(sealed[0], roamed, bed.clock.now, bed.clock.wall)
    assert bob.device.peer(alice.public_key).endpoint == roamed


def test_replays_and_forgeries_are_dropped_and_counted_on_the_fast_path() -> None:
    bed = Testbed()
    alice, bob = _established(bed)
    sealed = alice.device.seal_packet(bob.public_key, ipv4_packet(b"once"), bed.clock.now)
    assert sealed is not None
    datagram = sealed[0]
    assert bob.device.open_packet(datagram, alice.address, bed.clock.now) == (
        alice.public_key,
        ipv4_packet(b"once"),
    )
    assert bob.device.open_packet(datagram, alice.address, bed.clock.now) == (alice.public_key, b"")
    forged = datagram[:-1] + bytes([datagram[-1] ^ 1])
    before = bob.device.peer(alice.public_key).rx_bytes
    assert bob.device.open_packet(forged, alice.address, bed.clock.now) == (alice.public_key, b"")
    assert bob.device.drops[DropReason.REPLAYED_COUNTER] == 1
    assert bob.device.drops[DropReason.INVALID_TRANSPORT] == 1
    assert bob.device.peer(alice.public_key).rx_bytes == before


def test_near_a_rekey_limit_the_fast_path_hands_over() -> None:
    bed = Testbed(SHORT)
    alice, bob = _established(bed)
    bed.clock.advance(SHORT.rekey_timeout)  # past the rate limit of initiations
    sent = 0
    while alice.device.seal_packet(bob.public_key, ipv4_packet(b"n"), bed.clock.now) is not None:
        sent += 1
    keypair = alice.device.peer(bob.public_key).keypairs.current
    assert keypair is not None
    assert keypair.sending_counter == SHORT.rekey_after_messages
    # The general path sends the next one and starts the handshake the limit calls for.
    bed.send(alice, bob, ipv4_packet(b"n"))
    kinds = [item.datagram[0] for item in bed.take(alice)]
    assert kinds == [4, 1]
    assert sent > 30


def test_an_old_initiator_keypair_hands_over_for_the_rekey() -> None:
    bed = Testbed(SHORT)
    alice, bob = _established(bed)  # alice initiated
    bed.clock.advance(SHORT.rekey_after_time)
    assert alice.device.seal_packet(bob.public_key, ipv4_packet(b"x"), bed.clock.now) is None
    assert bob.device.seal_packet(alice.public_key, ipv4_packet(b"x"), bed.clock.now) is not None


def test_the_last_minute_handshake_is_left_to_the_general_path() -> None:
    bed = Testbed(SHORT)
    alice, bob = _established(bed)
    bed.clock.advance(SHORT.lastminute_rekey_after)
    sealed = bob.device.seal_packet(alice.public_key, ipv4_packet(b"late"), bed.clock.now)
    assert sealed is not None
    assert alice.device.open_packet(sealed[0], bob.address, bed.clock.now) is None


def test_a_deadline_left_early_fires_as_a_no_op_then_the_real_one_acts() -> None:
    bed = Testbed(SHORT)
    alice, bob = _established(bed)
    bed.advance(20.0)  # every keepalive of the handshake is over
    sealed = alice.device.seal_packet(bob.public_key, ipv4_packet(b"a"), bed.clock.now)
    assert sealed is not None
    assert bob.device.open_packet(sealed[0], alice.address, bed.clock.now) is not None
    keepalive_due = bed.clock.now + SHORT.keepalive_timeout
    assert bob.device.get_timer() == keepalive_due
    # bob answers with data: the keepalive is no longer due, but its deadline stays scheduled.
    reply = bob.device.seal_packet(alice.public_key, ipv4_packet(b"b"), bed.clock.now)
    assert reply is not None
    assert bob.device.get_timer() == keepalive_due
    bed.clock.now = keepalive_due
    bob.device.handle_timer(bed.clock.now, bed.clock.wall)
    assert bob.device.datagrams_to_send() == []  # woke early: nothing sent
    later = bob.device.get_timer()
    assert later is not None and later > keepalive_due  # rescheduled to the real deadline
