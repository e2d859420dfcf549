"""WireGuard's primitives (pacata/vpn/wireguard/primitives.py) against known answers: the
wireguard-go KDF table in tests/vectors/wireguard/wireguard_go_kdf.json, RFC 7748 X25519,
BLAKE2s, TAI64N, and the nonce layouts of AEAD and XAEAD."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pacata.errors import HandshakeError
from pacata.vpn.wireguard.primitives import (
    aead_nonce,
    aead_open,
    aead_seal,
    blake2s_hash,
    blake2s_mac,
    hmac_blake2s,
    kdf1,
    kdf2,
    kdf3,
    tai64n,
    x25519,
    x25519_public_key,
    xaead_open,
    xaead_seal,
)

VECTORS = Path(__file__).parent.parent / "vectors" / "wireguard"
KDF_VECTORS = json.loads((VECTORS / "wireguard_go_kdf.json").read_text(encoding="utf-8"))["vectors"]


@pytest.mark.parametrize("vector", KDF_VECTORS, ids=lambda vector: vector["key"] or "empty")
def test_kdf_matches_wireguard_go(vector: dict[str, str]) -> None:
    key, data = bytes.fromhex(vector["key"]), bytes.fromhex(vector["input"])
    t0, t1, t2 = (bytes.fromhex(vector[name]) for name in ("t0", "t1", "t2"))
    assert kdf3(key, data) == (t0, t1, t2)
    assert kdf2(key, data) == (t0, t1)
    assert kdf1(key, data) == t0


def test_blake2s_hash_and_mac_known_answers() -> None:
    # BLAKE2s-256 of the empty string (RFC 7693 test suite value).
    assert blake2s_hash(b"").hex() == (
        "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9"
    )
    # MAC is keyed BLAKE2s-128, not HMAC and not a truncated 256-bit digest.
    key = bytes(range(32))
    assert len(blake2s_mac(key, b"abc")) == 16
    assert blake2s_mac(key, b"abc") != hmac_blake2s(key, b"abc")[:16]
    assert blake2s_mac(key, b"abc") != blake2s_hash(key + b"abc")[:16]


def test_x25519_rfc7748_section_6_1() -> None:
    alice = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    alice_public = x25519_public_key(alice)
    bob_public = x25519_public_key(bob)
    assert alice_public.hex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    assert bob_public.hex() == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    assert x25519(alice, bob_public).hex() == shared
    assert x25519(bob, alice_public).hex() == shared


def test_x25519_refuses_a_low_order_point() -> None:
    with pytest.raises(HandshakeError):
        x25519(bytes(range(1, 33)), bytes(32))


def test_x25519_refuses_keys_of_the_wrong_size() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        x25519(bytes(31), bytes(32))


def test_aead_nonce_is_four_zero_bytes_then_little_endian_counter() -> None:
    assert aead_nonce(0x0102030405060708) == bytes(4) + bytes.fromhex("0807060504030201")
    key = bytes(range(32))
    sealed = aead_seal(key, 7, b"payload", b"ad")
    expected = ChaCha20Poly1305(key).encrypt(
        bytes(4) + (7).to_bytes(8, "little"), b"payload", b"ad"
    )
    assert sealed == expected
    assert aead_open(key, 7, sealed, b"ad") == b"payload"


@pytest.mark.parametrize(
    ("counter", "associated_data", "flip"),
    [(8, b"ad", None), (7, b"other", None), (7, b"ad", 0), (7, b"ad", -1)],
)
def test_aead_open_refuses_anything_altered(
    counter: int, associated_data: bytes, flip: int | None
) -> None:
    key = bytes(range(32))
    sealed = bytearray(aead_seal(key, 7, b"payload", b"ad"))
    if flip is not None:
        sealed[flip] ^= 1
    with pytest.raises(HandshakeError):
        aead_open(key, counter, bytes(sealed), associated_data)


def test_xaead_round_trip_and_tamper() -> None:
    key, nonce = bytes(range(32)), bytes(range(24))
    sealed = xaead_seal(key, nonce, bytes(16), b"mac1 of the message")
    assert len(sealed) == 32
    assert xaead_open(key, nonce, sealed, b"mac1 of the message") == bytes(16)
    with pytest.raises(HandshakeError):
        xaead_open(key, nonce, sealed, b"another mac1")
    with pytest.raises(HandshakeError):
        xaead_open(key, bytes(24), sealed, b"mac1 of the message")
    with pytest.raises(ValueError, match="24 bytes"):
        xaead_seal(key, bytes(12), b"", b"")


def test_xaead_is_xchacha20_not_chacha20_with_a_truncated_nonce() -> None:
    key = bytes(range(32))
    sealed = xaead_seal(key, bytes(range(24)), b"x" * 16, b"")
    plain_chacha = ChaCha20Poly1305(key).encrypt(bytes(range(12)), b"x" * 16, b"")
    assert sealed != plain_chacha


def test_tai64n_layout() -> None:
    # TAI64 label of the Unix epoch is 2**62 + 10; nanoseconds follow as a big-endian u32.
    assert tai64n(0.0).hex() == "400000000000000a" + "00000000"
    assert tai64n(1.5, whiten=False).hex() == "400000000000000b" + f"{500_000_000:08x}"


def test_tai64n_whitening_rounds_nanoseconds_down_to_2_pow_24() -> None:
    whitened = int.from_bytes(tai64n(1.5)[8:], "big")
    assert whitened % (1 << 24) == 0
    assert 500_000_000 - (1 << 24) < whitened <= 500_000_000
    # Two times 10 ms apart inside one 16.8 ms slot carry the same timestamp.
    assert tai64n(100.001) == tai64n(100.011)
    assert tai64n(100.001) < tai64n(100.03)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_tai64n_refuses_impossible_wall_clocks(bad: float) -> None:
    with pytest.raises(ValueError, match="wall-clock"):
        tai64n(bad)
