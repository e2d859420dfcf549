"""The cryptographic primitives of WireGuard (whitepaper §5.4, "Protocol & Cryptography").

Each function here is one primitive of the whitepaper's notation, nothing more:

- `blake2s_hash` is HASH: BLAKE2s-256.
- `blake2s_mac` is MAC: keyed BLAKE2s with a 16-byte digest (mac1, mac2, the cookie); not HMAC.
- `hmac_blake2s` is HMAC with BLAKE2s; it is used only inside the KDF, as the whitepaper says.
- `kdf1`, `kdf2`, `kdf3` are the HKDF of the Noise framework over HMAC-BLAKE2s with an empty info.
- `x25519_public_key` and `x25519` are DH-PUBKEY and DH. A DH result of all zeros (a low-order
  peer point) is refused with `HandshakeError`, as the Linux module refuses it.
- `aead_seal` / `aead_open` are AEAD: ChaCha20-Poly1305 with WireGuard's 96-bit nonce, four zero
  bytes then the 64-bit little-endian counter. `aead_open` raises `HandshakeError` on a bad tag;
  the transport hot path does not use these helpers, it keeps one cipher object per key
  (`pacata/vpn/wireguard/session.py`).
- `xaead_seal` / `xaead_open` are XAEAD: XChaCha20-Poly1305 with a 24-byte nonce, for cookie
  replies only (pycryptodome: `cryptography` has no XChaCha20).
- `tai64n` is TAI64N, the handshake timestamp, from an explicit wall-clock time: this module
  never reads a clock.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import struct

from Crypto.Cipher import ChaCha20_Poly1305
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pacata.errors import HandshakeError

KEY_SIZE = 32
HASH_SIZE = 32
MAC_SIZE = 16
TAG_SIZE = 16
XNONCE_SIZE = 24
TIMESTAMP_SIZE = 12

_AEAD_NONCE = struct.Struct("<4xQ")
_TAI64N = struct.Struct(">QI")
# TAI64 labels the second `s` of the Unix epoch as 2**62 + 10 + s (10 is TAI - UTC in 1970).
_TAI64_EPOCH = 0x400000000000000A
# WireGuard rounds the nanoseconds down to a multiple of 2**24 ns (the largest power of two not
# above 1 s / INITIATIONS_PER_SECOND) so that a timestamp does not leak a fine-grained clock.
_TAI64N_WHITENING_MASK = ~((1 << 24) - 1)


def blake2s_hash(data: bytes) -> bytes:
    """HASH(data): BLAKE2s with a 32-byte digest."""
    return hashlib.blake2s(data).digest()


def blake2s_mac(key: bytes, data: bytes) -> bytes:
    """MAC(key, data): keyed BLAKE2s with a 16-byte digest."""
    return hashlib.blake2s(data, digest_size=MAC_SIZE, key=key).digest()


def hmac_blake2s(key: bytes, data: bytes) -> bytes:
    """HMAC(key, data) over BLAKE2s-256 (block size 64)."""
    return hmac.digest(key, data, "blake2s")


def kdf1(chaining_key: bytes, data: bytes) -> bytes:
    """KDF1: the first HKDF output."""
    prk = hmac_blake2s(chaining_key, data)
    return hmac_blake2s(prk, b"\x01")


def kdf2(chaining_key: bytes, data: bytes) -> tuple[bytes, bytes]:
    """KDF2: the first two HKDF outputs."""
    prk = hmac_blake2s(chaining_key, data)
    first = hmac_blake2s(prk, b"\x01")
    return first, hmac_blake2s(prk, first + b"\x02")


def kdf3(chaining_key: bytes, data: bytes) -> tuple[bytes, bytes, bytes]:
    """KDF3: the first three HKDF outputs."""
    prk = hmac_blake2s(chaining_key, data)
    first = hmac_blake2s(prk, b"\x01")
    second = hmac_blake2s(prk, first + b"\x02")
    return first, second, hmac_blake2s(prk, second + b"\x03")


def x25519_public_key(private_key: bytes) -> bytes:
    """DH-PUBKEY: the X25519 public key of a 32-byte private key (clamped by X25519 itself)."""
    _check_key(private_key, "private key")
    public = X25519PrivateKey.from_private_bytes(private_key).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def x25519(private_key: bytes, public_key: bytes) -> bytes:
    """DH(private, public); raises `HandshakeError` when the result is all zeros."""
    _check_key(private_key, "private key")
    _check_key(public_key, "public key")
    try:
        return X25519PrivateKey.from_private_bytes(private_key).exchange(
            X25519PublicKey.from_public_bytes(public_key)
        )
    except ValueError:
        raise HandshakeError("X25519 produced the all-zero shared secret") from None


def aead_nonce(counter: int) -> bytes:
    """WireGuard's ChaCha20-Poly1305 nonce: 32 zero bits then the little-endian 64-bit counter."""
    return _AEAD_NONCE.pack(counter)


def aead_seal(key: bytes, counter: int, plaintext: bytes, associated_data: bytes) -> bytes:
    """AEAD(key, counter, plaintext, associated_data): ciphertext followed by the 16-byte tag."""
    return ChaCha20Poly1305(key).encrypt(_AEAD_NONCE.pack(counter), plaintext, associated_data)


def aead_open(key: bytes, counter: int, ciphertext: bytes, associated_data: bytes) -> bytes:
    """The inverse of `aead_seal`; raises `HandshakeError` when the tag does not verify."""
    try:
        return ChaCha20Poly1305(key).decrypt(_AEAD_NONCE.pack(counter), ciphertext, associated_data)
    except (InvalidTag, ValueError):  # ValueError: input shorter than a tag
        raise HandshakeError("AEAD authentication failed") from None


def xaead_seal(key: bytes, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    """XAEAD: XChaCha20-Poly1305 with a 24-byte nonce; ciphertext followed by the tag."""
    if len(nonce) != XNONCE_SIZE:
        raise ValueError(f"XChaCha20 nonce must be {XNONCE_SIZE} bytes, got {len(nonce)}")
    cipher = ChaCha20_Poly1305.new(key=key, nonce=nonce)
    cipher.update(associated_data)
    ciphertext, tag = cipher.encrypt_and_digest(plaintext)
    return bytes(ciphertext) + bytes(tag)


def xaead_open(key: bytes, nonce: bytes, sealed: bytes, associated_data: bytes) -> bytes:
    """The inverse of `xaead_seal`; raises `HandshakeError` when the tag does not verify."""
    if len(nonce) != XNONCE_SIZE or len(sealed) < TAG_SIZE:
        raise HandshakeError("malformed XChaCha20-Poly1305 input")
    cipher = ChaCha20_Poly1305.new(key=key, nonce=nonce)
    cipher.update(associated_data)
    try:
        return bytes(cipher.decrypt_and_verify(sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]))
    except ValueError:
        raise HandshakeError("XAEAD authentication failed") from None


def tai64n(wall_time: float, *, whiten: bool = True) -> bytes:
    """The 12-byte TAI64N label of `wall_time` (seconds since the Unix epoch).

    With `whiten` (what stock WireGuard sends) the nanoseconds are rounded down to a multiple of
    2**24 ns; two initiations less than ~16.8 ms apart then carry the same timestamp, and the
    second is refused as a replay, which is the flood protection the whitepaper intends.
    """
    if not math.isfinite(wall_time) or wall_time < 0:
        raise ValueError(f"wall-clock time must be a finite non-negative number, got {wall_time}")
    seconds = math.floor(wall_time)
    nanoseconds = min(int((wall_time - seconds) * 1_000_000_000), 999_999_999)
    if whiten:
        nanoseconds &= _TAI64N_WHITENING_MASK
    return _TAI64N.pack(_TAI64_EPOCH + seconds, nanoseconds)


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"X25519 {what} must be {KEY_SIZE} bytes, got {len(key)}")
