"""The per-peer handshake state (pacata/vpn/wireguard/handshake.py): its transitions, and the
refusals that the device turns into drop reasons."""

from __future__ import annotations

import pytest

from pacata.errors import LocalProtocolError
from pacata.vpn.wireguard.events import DropReason
from pacata.vpn.wireguard.handshake import (
    Handshake,
    HandshakeRefused,
    HandshakeState,
    StaticIdentity,
    open_initiation,
)

WALL = 1_700_000_000.0


def parties() -> tuple[StaticIdentity, StaticIdentity, Handshake, Handshake]:
    alice, bob = StaticIdentity(bytes([1]) * 32), StaticIdentity(bytes([2]) * 32)
    return alice, bob, Handshake(alice, bob.public_key), Handshake(bob, alice.public_key)


def test_full_exchange_through_the_states() -> None:
    alice, bob, alice_side, bob_side = parties()
    initiation = alice_side.create_initiation(
        alice, local_index=7, ephemeral_private=bytes([3]) * 32, wall_time=WALL
    )
    assert alice_side.state is HandshakeState.CREATED_INITIATION
    responder = open_initiation(bob, initiation)
    assert responder.remote_static == alice.public_key
    bob_side.accept_initiation(responder, initiation, now=1.0, interval=0.02)
    assert bob_side.state is HandshakeState.CONSUMED_INITIATION
    assert bob_side.remote_index == 7
    response = bob_side.create_response(local_index=9, ephemeral_private=bytes([4]) * 32)
    assert response.receiver_index == 7
    alice_side.consume_response(response)
    assert alice_side.state is HandshakeState.CONSUMED_RESPONSE

    alice_keys, bob_keys = alice_side.begin_session(), bob_side.begin_session()
    assert alice_keys.sending_key == bob_keys.receiving_key
    assert alice_keys.receiving_key == bob_keys.sending_key
    assert (alice_keys.is_initiator, bob_keys.is_initiator) == (True, False)
    assert (alice_keys.local_index, alice_keys.remote_index) == (7, 9)
    assert (bob_keys.local_index, bob_keys.remote_index) == (9, 7)
    assert alice_side.state is bob_side.state is HandshakeState.ZEROED
    # The replay mark survives the zeroing.
    assert bob_side.latest_timestamp != bytes(12)


def test_response_to_another_index_or_state_is_refused() -> None:
    alice, bob, alice_side, bob_side = parties()
    initiation = alice_side.create_initiation(
        alice, local_index=7, ephemeral_private=bytes([3]) * 32, wall_time=WALL
    )
    bob_side.accept_initiation(open_initiation(bob, initiation), initiation, 1.0, 0.02)
    response = bob_side.create_response(local_index=9, ephemeral_private=bytes([4]) * 32)
    alice_side.local_index = 8  # as if another initiation had replaced ours
    with pytest.raises(HandshakeRefused) as refused:
        alice_side.consume_response(response)
    assert refused.value.reason is DropReason.UNEXPECTED_RESPONSE
    alice_side.clear()
    with pytest.raises(HandshakeRefused):
        alice_side.consume_response(response)


def test_cannot_respond_or_split_out_of_order() -> None:
    _, _, alice_side, _ = parties()
    with pytest.raises(LocalProtocolError):
        alice_side.create_response(local_index=1, ephemeral_private=bytes([4]) * 32)
    with pytest.raises(LocalProtocolError):
        alice_side.begin_session()


def test_low_order_peer_key_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match="low-order"):
        Handshake(StaticIdentity(bytes([1]) * 32), bytes(32))
