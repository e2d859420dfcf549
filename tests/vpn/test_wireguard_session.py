"""Keypairs (pacata/vpn/wireguard/session.py): sealing and padding, and the rotation of the
current / previous / next slots for the initiator and the responder."""

from __future__ import annotations

import pytest

from pacata.vpn.wireguard.primitives import aead_open
from pacata.vpn.wireguard.session import Keypair, Keypairs, padded_size


def make_keypair(index: int, *, initiator: bool) -> Keypair:
    return Keypair(
        sending_key=bytes([index]) * 32,
        receiving_key=bytes([index + 100]) * 32,
        is_initiator=initiator,
        local_index=index,
        remote_index=index + 1000,
        birth=0.0,
        reject_after_messages=2**64 - 2**13 - 1,
    )


@pytest.mark.parametrize(
    ("size", "mtu", "expected"),
    [
        (0, None, 0),
        (1, None, 16),
        (16, None, 16),
        (17, None, 32),
        (1419, 1420, 1420),
        (1420, 1420, 1420),
        (1421, 1420, 1421),
    ],
)
def test_padding(size: int, mtu: int | None, expected: int) -> None:
    assert padded_size(size, mtu) == expected


def test_seal_pads_counts_and_opens() -> None:
    sender = make_keypair(1, initiator=True)
    message = sender.seal(b"abc")
    assert len(message) == 16 + 16 + 16
    assert message[:16] == b"\x04\x00\x00\x00" + (1001).to_bytes(4, "little") + bytes(8)
    assert aead_open(bytes([1]) * 32, 0, message[16:], b"") == b"abc" + bytes(13)
    second = sender.seal(b"")
    assert second[8:16] == (1).to_bytes(8, "little")
    assert len(second) == 32
    assert sender.sending_counter == 2

    receiver = Keypair(
        sending_key=bytes([101]) * 32,
        receiving_key=bytes([1]) * 32,
        is_initiator=False,
        local_index=1001,
        remote_index=1,
        birth=0.0,
        reject_after_messages=100,
    )
    assert receiver.open(0, message) == b"abc" + bytes(13)
    assert receiver.open(1, message) is None
    tampered = bytearray(message)
    tampered[-1] ^= 1
    assert receiver.open(0, bytes(tampered)) is None


def test_initiator_rotation() -> None:
    slots = Keypairs()
    first, second, third = (make_keypair(i, initiator=True) for i in (1, 2, 3))
    assert slots.install(first) == []
    assert (slots.current, slots.previous, slots.next) == (first, None, None)
    assert slots.install(second) == []
    assert (slots.current, slots.previous, slots.next) == (second, first, None)
    assert slots.install(third) == [first]
    assert (slots.current, slots.previous, slots.next) == (third, second, None)


def test_responder_waits_for_confirmation() -> None:
    slots = Keypairs()
    first, second, third = (make_keypair(i, initiator=False) for i in (1, 2, 3))
    slots.install(first)
    assert (slots.current, slots.previous, slots.next) == (None, None, first)
    assert slots.confirm(first) == []
    assert (slots.current, slots.previous, slots.next) == (first, None, None)
    slots.install(second)
    assert (slots.current, slots.previous, slots.next) == (first, None, second)
    # Data under the current key is no confirmation of the next one.
    assert slots.confirm(first) == []
    assert slots.next is second
    # A newer responder keypair replaces an unconfirmed one.
    assert slots.install(third) == [second]
    assert slots.confirm(third) == []
    assert list(slots) == [third, first]
    assert slots.next is None


def test_initiator_keypair_demotes_an_unconfirmed_next_to_previous() -> None:
    slots = Keypairs()
    old, unconfirmed = make_keypair(1, initiator=True), make_keypair(2, initiator=False)
    fresh = make_keypair(3, initiator=True)
    slots.install(old)
    slots.install(unconfirmed)
    assert slots.install(fresh) == [old]
    assert (slots.current, slots.previous, slots.next) == (fresh, unconfirmed, None)
    assert sorted(keypair.local_index for keypair in slots.clear()) == [2, 3]
    assert list(slots) == []


def test_new_responder_keypair_drops_the_previous_one() -> None:
    slots = Keypairs()
    first, second, third = (make_keypair(i, initiator=False) for i in (1, 2, 3))
    slots.install(first)
    slots.confirm(first)
    slots.install(second)
    slots.confirm(second)
    assert list(slots) == [second, first]
    assert slots.install(third) == [first]
    assert (slots.current, slots.previous, slots.next) == (second, None, third)
