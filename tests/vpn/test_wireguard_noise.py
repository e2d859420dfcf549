"""The Noise IKpsk2 machine (pacata/vpn/wireguard/noise.py) and WireGuard's framing of it
(handshake.py, cookie.py, device.py):

- the cacophony vector for Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s is reproduced byte for byte
  (both handshake messages, and the four transport messages that pin down the split keys);
- a device's initiation, response and first transport message equal the whitepaper's formulas
  (§5.4.2–§5.4.6) written out independently here, step by step.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import pytest

from pacata.errors import HandshakeError, LocalProtocolError
from pacata.vpn.wireguard import CONSTRUCTION, IDENTIFIER, Device
from pacata.vpn.wireguard.noise import IKpsk2Initiator, IKpsk2Responder
from pacata.vpn.wireguard.primitives import (
    aead_open,
    aead_seal,
    blake2s_hash,
    blake2s_mac,
    kdf1,
    kdf2,
    kdf3,
    tai64n,
    x25519,
    x25519_public_key,
)

VECTOR: dict[str, Any] = json.loads(
    (
        Path(__file__).parent.parent
        / "vectors"
        / "wireguard"
        / "cacophony_IKpsk2_25519_ChaChaPoly_BLAKE2s.json"
    ).read_text(encoding="utf-8")
)


def _hex(name: str) -> bytes:
    return bytes.fromhex(VECTOR[name])


def _message(index: int, field: str) -> bytes:
    return bytes.fromhex(VECTOR["messages"][index][field])


def _parties() -> tuple[IKpsk2Initiator, IKpsk2Responder]:
    initiator = IKpsk2Initiator(
        static_private=_hex("init_static"),
        remote_static=_hex("init_remote_static"),
        ephemeral_private=_hex("init_ephemeral"),
        prologue=_hex("init_prologue"),
        preshared_key=bytes.fromhex(VECTOR["init_psks"][0]),
    )
    responder = IKpsk2Responder(static_private=_hex("resp_static"), prologue=_hex("resp_prologue"))
    return initiator, responder


def test_vector_is_the_wireguard_construction() -> None:
    assert VECTOR["protocol_name"].encode() == CONSTRUCTION
    assert x25519_public_key(_hex("resp_static")) == _hex("init_remote_static")


def test_cacophony_ikpsk2_handshake_and_transport_byte_for_byte() -> None:
    initiator, responder = _parties()

    first = initiator.write_initiation(_message(0, "payload"))
    assert first == _message(0, "ciphertext")
    assert responder.read_initiation_identity(first) == x25519_public_key(_hex("init_static"))
    assert responder.read_initiation_payload(first) == _message(0, "payload")

    second = responder.write_response(
        _message(1, "payload"),
        ephemeral_private=_hex("resp_ephemeral"),
        preshared_key=bytes.fromhex(VECTOR["resp_psks"][0]),
    )
    assert second == _message(1, "ciphertext")
    assert initiator.read_response(second) == _message(1, "payload")
    assert initiator.handshake_hash == responder.handshake_hash

    keys = initiator.split()
    assert responder.split() == keys
    # Transport messages alternate initiator, responder, initiator, responder; each direction
    # counts its own nonces from zero, with WireGuard's (and Noise's) ChaChaPoly nonce layout.
    directions = [keys.initiator_to_responder, keys.responder_to_initiator]
    for index in range(2, 6):
        key, nonce = directions[index % 2], (index - 2) // 2
        sealed = aead_seal(key, nonce, _message(index, "payload"), b"")
        assert sealed == _message(index, "ciphertext")


def test_wrong_preshared_key_breaks_the_response() -> None:
    initiator, responder = _parties()
    first = initiator.write_initiation(b"")
    responder.read_initiation_identity(first)
    responder.read_initiation_payload(first)
    second = responder.write_response(b"", ephemeral_private=_hex("resp_ephemeral"))
    with pytest.raises(HandshakeError):
        initiator.read_response(second)


@pytest.mark.parametrize("position", [0, 40, 100])
def test_tampered_initiation_is_refused(position: int) -> None:
    initiator, responder = _parties()
    first = bytearray(initiator.write_initiation(b"timestamp here"))
    first[position] ^= 0x80
    with pytest.raises(HandshakeError):
        responder.read_initiation_identity(bytes(first))
        responder.read_initiation_payload(bytes(first))


def test_steps_out_of_order_are_our_bug() -> None:
    initiator, responder = _parties()
    with pytest.raises(LocalProtocolError):
        initiator.read_response(bytes(48))
    with pytest.raises(LocalProtocolError):
        responder.write_response(b"", ephemeral_private=_hex("resp_ephemeral"))


def test_short_messages_are_refused() -> None:
    initiator, responder = _parties()
    with pytest.raises(HandshakeError):
        responder.read_initiation_identity(bytes(95))
    initiator.write_initiation(b"")
    with pytest.raises(HandshakeError):
        initiator.read_response(bytes(47))


class ScriptedRandom:
    """Hands out prepared byte strings in order, so the test knows every key and index."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = deque(chunks)

    def __call__(self, size: int) -> bytes:
        chunk = self._chunks.popleft()
        assert len(chunk) == size
        return chunk


def test_device_messages_follow_the_whitepaper_formulas() -> None:
    initiator_static = bytes([1]) * 32
    responder_static = bytes([2]) * 32
    initiator_ephemeral = bytes([3]) * 32
    responder_ephemeral = bytes([4]) * 32
    preshared = bytes([5]) * 32
    initiator_index, responder_index = 0x11223344, 0x55667788
    wall_time = 1_700_000_000.25

    alice = Device(
        initiator_static,
        random_bytes=ScriptedRandom(initiator_index.to_bytes(4, "little"), initiator_ephemeral),
        random_fraction=lambda: 0.0,
    )
    bob = Device(
        responder_static,
        random_bytes=ScriptedRandom(responder_index.to_bytes(4, "little"), responder_ephemeral),
        random_fraction=lambda: 0.0,
    )
    si_pub, sr_pub = alice.public_key, bob.public_key
    ei_pub, er_pub = x25519_public_key(initiator_ephemeral), x25519_public_key(responder_ephemeral)
    alice.add_peer(sr_pub, preshared_key=preshared, endpoint=("198.51.100.2", 51820))
    bob.add_peer(si_pub, preshared_key=preshared)

    # §5.4.2, first message, initiator to responder.
    alice.send_keepalive(sr_pub, 10.0, wall_time)
    [(initiation, destination)] = alice.datagrams_to_send()
    assert destination == ("198.51.100.2", 51820)
    ci = blake2s_hash(CONSTRUCTION)
    hi = blake2s_hash(ci + IDENTIFIER)
    hi = blake2s_hash(hi + sr_pub)
    ci = kdf1(ci, ei_pub)
    hi = blake2s_hash(hi + ei_pub)
    ci, key = kdf2(ci, x25519(initiator_ephemeral, sr_pub))
    encrypted_static = aead_seal(key, 0, si_pub, hi)
    hi = blake2s_hash(hi + encrypted_static)
    ci, key = kdf2(ci, x25519(initiator_static, sr_pub))
    encrypted_timestamp = aead_seal(key, 0, tai64n(wall_time), hi)
    hi = blake2s_hash(hi + encrypted_timestamp)
    body = (
        b"\x01\x00\x00\x00"
        + initiator_index.to_bytes(4, "little")
        + ei_pub
        + encrypted_static
        + encrypted_timestamp
    )
    mac1 = blake2s_mac(blake2s_hash(b"mac1----" + sr_pub), body)
    assert initiation == body + mac1 + bytes(16)

    # §5.4.3, second message, responder to initiator.
    assert bob.receive_datagram(initiation, ("192.0.2.1", 40000), 10.5, wall_time)
    [(response, destination)] = bob.datagrams_to_send()
    assert destination == ("192.0.2.1", 40000)
    cr, hr = ci, hi
    cr = kdf1(cr, er_pub)
    hr = blake2s_hash(hr + er_pub)
    cr = kdf1(cr, x25519(responder_ephemeral, ei_pub))
    cr = kdf1(cr, x25519(responder_ephemeral, si_pub))
    cr, tau, key = kdf3(cr, preshared)
    hr = blake2s_hash(hr + tau)
    encrypted_nothing = aead_seal(key, 0, b"", hr)
    body = (
        b"\x02\x00\x00\x00"
        + responder_index.to_bytes(4, "little")
        + initiator_index.to_bytes(4, "little")
        + er_pub
        + encrypted_nothing
    )
    mac1 = blake2s_mac(blake2s_hash(b"mac1----" + si_pub), body)
    assert response == body + mac1 + bytes(16)

    # §5.4.5 key derivation, §5.4.6 the first transport message: a keepalive, counter 0.
    assert alice.receive_datagram(response, ("198.51.100.2", 51820), 11.0, wall_time)
    [(keepalive, _)] = alice.datagrams_to_send()
    sending_key, receiving_key = kdf2(cr, b"")
    header = b"\x04\x00\x00\x00" + responder_index.to_bytes(4, "little") + bytes(8)
    assert keepalive == header + aead_seal(sending_key, 0, b"", b"")
    assert aead_open(sending_key, 0, keepalive[16:], b"") == b""
    assert receiving_key != sending_key
