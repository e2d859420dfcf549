"""Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, the handshake WireGuard is built on.

This is the generic Noise state machine (Noise Protocol Framework rev. 34: §5.1 CipherState,
§5.2 SymmetricState, §7.5 pattern IK, §9 the `psk2` modifier), for one pattern only:

    IKpsk2:
      <- s
      ...
      -> e, es, s, ss
      <- e, ee, se, psk

WireGuard's handshake (whitepaper §5.4.2–§5.4.3) is this machine with the prologue set to
IDENTIFIER, the first payload set to a TAI64N timestamp and the second payload empty; the
WireGuard framing (indices, MACs) lives in `pacata/vpn/wireguard/handshake.py`. Keeping the
Noise part generic lets the cacophony test vector check it byte for byte.

Rules:

- Because this is a PSK handshake, every `e` token calls MixHash(e.public_key) and then
  MixKey(e.public_key) (Noise §9.2); this is the `Ci := KDF1(Ci, Epub)` step of the whitepaper.
- Nothing here draws randomness or reads a clock: ephemeral private keys are arguments.
- Each side's methods must be called in handshake order; calling one out of order is our own bug
  and raises `LocalProtocolError`. Bytes from the peer that do not decrypt, are the wrong length
  or give an all-zero DH raise `HandshakeError`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from pacata.errors import HandshakeError, LocalProtocolError
from pacata.vpn.wireguard.primitives import (
    HASH_SIZE,
    KEY_SIZE,
    TAG_SIZE,
    aead_open,
    aead_seal,
    blake2s_hash,
    kdf2,
    kdf3,
    x25519,
    x25519_public_key,
)

PROTOCOL_NAME = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
NO_PRESHARED_KEY = bytes(KEY_SIZE)

# The sizes of the two handshake messages for a payload of `n` bytes.
INITIATION_OVERHEAD = KEY_SIZE + (KEY_SIZE + TAG_SIZE) + TAG_SIZE  # e, enc(s), tag of payload
RESPONSE_OVERHEAD = KEY_SIZE + TAG_SIZE  # e, tag of payload


class TransportKeys(NamedTuple):
    """The two keys of Split(): one per direction of the transport phase."""

    initiator_to_responder: bytes
    responder_to_initiator: bytes


@lru_cache(maxsize=8)
def _initial_chaining_key_and_hash(protocol_name: bytes, prologue: bytes) -> tuple[bytes, bytes]:
    # InitializeSymmetric(protocol_name) then MixHash(prologue): constant per (name, prologue).
    if len(protocol_name) <= HASH_SIZE:
        start = protocol_name.ljust(HASH_SIZE, b"\x00")
    else:
        start = blake2s_hash(protocol_name)
    return start, blake2s_hash(start + prologue)


class SymmetricState:
    """Noise §5.2 with its CipherState (§5.1) folded in: ck, h, k and the nonce n."""

    __slots__ = ("_key", "_nonce", "chaining_key", "handshake_hash")

    def __init__(self, protocol_name: bytes, prologue: bytes) -> None:
        self.chaining_key, self.handshake_hash = _initial_chaining_key_and_hash(
            protocol_name, prologue
        )
        self._key: bytes | None = None
        self._nonce = 0

    def mix_hash(self, data: bytes) -> None:
        self.handshake_hash = blake2s_hash(self.handshake_hash + data)

    def mix_key(self, input_key_material: bytes) -> None:
        self.chaining_key, self._key = kdf2(self.chaining_key, input_key_material)
        self._nonce = 0

    def mix_key_and_hash(self, input_key_material: bytes) -> None:
        self.chaining_key, hash_input, self._key = kdf3(self.chaining_key, input_key_material)
        self.mix_hash(hash_input)
        self._nonce = 0

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        if self._key is None:
            ciphertext = plaintext
        else:
            ciphertext = aead_seal(self._key, self._nonce, plaintext, self.handshake_hash)
            self._nonce += 1
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        if self._key is None:
            plaintext = ciphertext
        else:
            plaintext = aead_open(self._key, self._nonce, ciphertext, self.handshake_hash)
            self._nonce += 1
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> TransportKeys:
        first, second = kdf2(self.chaining_key, b"")
        return TransportKeys(first, second)


class IKpsk2Initiator:
    """The initiator: writes `-> e, es, s, ss, {payload}` and reads `<- e, ee, se, psk, {payload}`.

    `static_static` may carry DH(s, rs) computed once per peer (WireGuard precomputes it).
    """

    __slots__ = (
        "_ephemeral_private",
        "_preshared_key",
        "_remote_static",
        "_static_private",
        "_static_static",
        "_step",
        "_symmetric",
    )

    def __init__(
        self,
        *,
        static_private: bytes,
        remote_static: bytes,
        ephemeral_private: bytes,
        prologue: bytes,
        preshared_key: bytes = NO_PRESHARED_KEY,
        static_static: bytes | None = None,
        protocol_name: bytes = PROTOCOL_NAME,
    ) -> None:
        _check_size(preshared_key, KEY_SIZE, "preshared key")
        self._static_private = static_private
        self._remote_static = remote_static
        self._ephemeral_private = ephemeral_private
        self._preshared_key = preshared_key
        self._static_static = static_static
        self._symmetric = SymmetricState(protocol_name, prologue)
        self._symmetric.mix_hash(remote_static)  # pre-message `<- s`
        self._step = 0

    @property
    def handshake_hash(self) -> bytes:
        return self._symmetric.handshake_hash

    def write_initiation(self, payload: bytes) -> bytes:
        self._advance(0)
        symmetric = self._symmetric
        ephemeral_public = x25519_public_key(self._ephemeral_private)
        symmetric.mix_hash(ephemeral_public)
        symmetric.mix_key(ephemeral_public)
        symmetric.mix_key(x25519(self._ephemeral_private, self._remote_static))  # es
        encrypted_static = symmetric.encrypt_and_hash(x25519_public_key(self._static_private))
        static_static = self._static_static
        if static_static is None:
            static_static = x25519(self._static_private, self._remote_static)
        symmetric.mix_key(static_static)  # ss
        return ephemeral_public + encrypted_static + symmetric.encrypt_and_hash(payload)

    def read_response(self, message: bytes) -> bytes:
        self._advance(1)
        if len(message) < RESPONSE_OVERHEAD:
            raise HandshakeError(f"handshake response of {len(message)} bytes is too short")
        symmetric = self._symmetric
        remote_ephemeral = message[:KEY_SIZE]
        symmetric.mix_hash(remote_ephemeral)
        symmetric.mix_key(remote_ephemeral)
        symmetric.mix_key(x25519(self._ephemeral_private, remote_ephemeral))  # ee
        symmetric.mix_key(x25519(self._static_private, remote_ephemeral))  # se
        symmetric.mix_key_and_hash(self._preshared_key)  # psk
        return symmetric.decrypt_and_hash(message[KEY_SIZE:])

    def split(self) -> TransportKeys:
        self._advance(2)
        return self._symmetric.split()

    def _advance(self, expected: int) -> None:
        if self._step != expected:
            raise LocalProtocolError("IKpsk2 initiator steps called out of order")
        self._step += 1


class IKpsk2Responder:
    """The responder: reads `-> e, es, s, ss, {payload}` and writes `<- e, ee, se, psk, {payload}`.

    Reading the first message takes two calls so that the caller can find which peer the
    initiator claims to be (and that peer's preshared key and precomputed DH) between them:
    `read_initiation_identity` (e, es, s) returns the initiator's static public key, then
    `read_initiation_payload` (ss, payload) returns the payload.
    """

    __slots__ = (
        "_remote_ephemeral",
        "_remote_static",
        "_static_private",
        "_step",
        "_symmetric",
    )

    def __init__(
        self,
        *,
        static_private: bytes,
        prologue: bytes,
        static_public: bytes | None = None,
        protocol_name: bytes = PROTOCOL_NAME,
    ) -> None:
        self._static_private = static_private
        if static_public is None:
            static_public = x25519_public_key(static_private)
        self._symmetric = SymmetricState(protocol_name, prologue)
        self._symmetric.mix_hash(static_public)  # pre-message `<- s`
        self._remote_ephemeral = b""
        self._remote_static = b""
        self._step = 0

    @property
    def handshake_hash(self) -> bytes:
        return self._symmetric.handshake_hash

    @property
    def remote_static(self) -> bytes:
        return self._remote_static

    def read_initiation_identity(self, message: bytes) -> bytes:
        self._advance(0)
        if len(message) < INITIATION_OVERHEAD:
            raise HandshakeError(f"handshake initiation of {len(message)} bytes is too short")
        symmetric = self._symmetric
        remote_ephemeral = message[:KEY_SIZE]
        symmetric.mix_hash(remote_ephemeral)
        symmetric.mix_key(remote_ephemeral)
        symmetric.mix_key(x25519(self._static_private, remote_ephemeral))  # es
        self._remote_static = symmetric.decrypt_and_hash(
            message[KEY_SIZE : KEY_SIZE + KEY_SIZE + TAG_SIZE]
        )
        self._remote_ephemeral = remote_ephemeral
        return self._remote_static

    def read_initiation_payload(
        self, message: bytes, *, static_static: bytes | None = None
    ) -> bytes:
        self._advance(1)
        if static_static is None:
            static_static = x25519(self._static_private, self._remote_static)
        self._symmetric.mix_key(static_static)  # ss
        return self._symmetric.decrypt_and_hash(message[KEY_SIZE + KEY_SIZE + TAG_SIZE :])

    def write_response(
        self,
        payload: bytes,
        *,
        ephemeral_private: bytes,
        preshared_key: bytes = NO_PRESHARED_KEY,
    ) -> bytes:
        self._advance(2)
        _check_size(preshared_key, KEY_SIZE, "preshared key")
        symmetric = self._symmetric
        ephemeral_public = x25519_public_key(ephemeral_private)
        symmetric.mix_hash(ephemeral_public)
        symmetric.mix_key(ephemeral_public)
        symmetric.mix_key(x25519(ephemeral_private, self._remote_ephemeral))  # ee
        symmetric.mix_key(x25519(ephemeral_private, self._remote_static))  # se
        symmetric.mix_key_and_hash(preshared_key)  # psk
        return ephemeral_public + symmetric.encrypt_and_hash(payload)

    def split(self) -> TransportKeys:
        self._advance(3)
        return self._symmetric.split()

    def _advance(self, expected: int) -> None:
        if self._step != expected:
            raise LocalProtocolError("IKpsk2 responder steps called out of order")
        self._step += 1


def _check_size(value: bytes, size: int, what: str) -> None:
    if len(value) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(value)}")
