"""mac1, mac2 and cookie replies (pacata/vpn/wireguard/cookie.py), on both sides."""

from __future__ import annotations

import random

import pytest

from pacata.errors import HandshakeError
from pacata.vpn.wireguard.cookie import (
    CookieChecker,
    MacCheck,
    PeerCookie,
    address_bytes,
)
from pacata.vpn.wireguard.messages import MAC1_OFFSET, MessageType
from pacata.vpn.wireguard.parameters import DEFAULT_PARAMETERS, ProtocolParameters
from pacata.vpn.wireguard.primitives import blake2s_hash, blake2s_mac, x25519_public_key

OFFSET = MAC1_OFFSET[MessageType.HANDSHAKE_INITIATION]
SOURCE = ("192.0.2.1", 51820)


def setup(
    parameters: ProtocolParameters = DEFAULT_PARAMETERS,
) -> tuple[CookieChecker, PeerCookie, bytes]:
    responder_public = x25519_public_key(bytes(range(32)))
    rng = random.Random(3)
    checker = CookieChecker(responder_public, parameters=parameters, random_bytes=rng.randbytes)
    sender = PeerCookie(responder_public, parameters=parameters)
    message = b"\x01\x00\x00\x00" + bytes(range(112)) + bytes(32)
    return checker, sender, message


def test_mac1_is_keyed_by_the_receivers_public_key() -> None:
    checker, sender, message = setup()
    stamped = sender.stamp(message, OFFSET, now=0.0)
    responder_public = x25519_public_key(bytes(range(32)))
    expected = blake2s_mac(blake2s_hash(b"mac1----" + responder_public), message[:OFFSET])
    assert stamped[OFFSET : OFFSET + 16] == expected
    assert stamped[OFFSET + 16 :] == bytes(16)
    assert checker.check(stamped, OFFSET, SOURCE, 0.0, check_mac2=False) is (
        MacCheck.VALID_MAC1_WITHOUT_COOKIE
    )


@pytest.mark.parametrize("position", [0, 50, OFFSET, OFFSET + 15])
def test_any_altered_byte_before_mac2_fails_mac1(position: int) -> None:
    checker, sender, message = setup()
    stamped = bytearray(sender.stamp(message, OFFSET, now=0.0))
    stamped[position] ^= 1
    assert checker.check(bytes(stamped), OFFSET, SOURCE, 0.0, check_mac2=False) is (
        MacCheck.INVALID_MAC1
    )


def test_cookie_round_trip_gives_a_valid_mac2_from_the_same_address_only() -> None:
    checker, sender, message = setup()
    first = sender.stamp(message, OFFSET, now=0.0)
    assert checker.check(first, OFFSET, SOURCE, 0.0, check_mac2=True) is (
        MacCheck.VALID_MAC1_WITHOUT_COOKIE
    )
    reply = checker.create_reply(first, OFFSET, 1234, SOURCE, now=0.0)
    assert reply.receiver_index == 1234
    sender.consume_reply(reply, now=0.5)
    assert sender.has_cookie
    second = sender.stamp(message, OFFSET, now=1.0)
    assert second[OFFSET + 16 :] != bytes(16)
    assert checker.check(second, OFFSET, SOURCE, 1.0, check_mac2=True) is (
        MacCheck.VALID_MAC1_WITH_COOKIE
    )
    elsewhere = ("192.0.2.99", 51820)
    assert checker.check(second, OFFSET, elsewhere, 1.0, check_mac2=True) is (
        MacCheck.VALID_MAC1_WITHOUT_COOKIE
    )


def test_a_cookie_reply_is_accepted_once_and_only_for_the_last_mac1() -> None:
    checker, sender, message = setup()
    first = sender.stamp(message, OFFSET, now=0.0)
    reply = checker.create_reply(first, OFFSET, 1, SOURCE, now=0.0)
    sender.stamp(message[:10] + b"x" + message[11:], OFFSET, now=0.1)  # a newer mac1 was sent
    with pytest.raises(HandshakeError):
        sender.consume_reply(reply, now=0.2)
    again = sender.stamp(message, OFFSET, now=0.3)
    reply = checker.create_reply(again, OFFSET, 1, SOURCE, now=0.3)
    sender.consume_reply(reply, now=0.4)
    with pytest.raises(HandshakeError):
        sender.consume_reply(reply, now=0.5)


def test_sender_stops_using_a_cookie_before_the_secret_rotates() -> None:
    checker, sender, message = setup()
    reply = checker.create_reply(sender.stamp(message, OFFSET, now=0.0), OFFSET, 1, SOURCE, 0.0)
    sender.consume_reply(reply, now=0.0)
    assert sender.stamp(message, OFFSET, now=114.9)[OFFSET + 16 :] != bytes(16)
    assert sender.stamp(message, OFFSET, now=115.0)[OFFSET + 16 :] == bytes(16)


def test_secret_rotates_after_cookie_refresh_time() -> None:
    checker, sender, message = setup()
    reply = checker.create_reply(sender.stamp(message, OFFSET, now=0.0), OFFSET, 1, SOURCE, 0.0)
    sender.consume_reply(reply, now=0.0)
    stamped = sender.stamp(message, OFFSET, now=10.0)
    assert checker.check(stamped, OFFSET, SOURCE, 119.0, check_mac2=True) is (
        MacCheck.VALID_MAC1_WITH_COOKIE
    )
    assert checker.check(stamped, OFFSET, SOURCE, 120.0, check_mac2=True) is (
        MacCheck.VALID_MAC1_WITHOUT_COOKIE
    )


def test_address_bytes() -> None:
    assert address_bytes(("192.0.2.1", 51820)) == bytes([192, 0, 2, 1]) + (51820).to_bytes(2, "big")
    assert len(address_bytes(("2001:db8::1", 1))) == 18
    assert address_bytes(("relay.example", 1)) == b"relay.example\x00\x01"
