"""Keys, signatures and addresses (pacata/chain/keys.py), cross-checked against the independent
pure-Python `ecdsa` package: our signatures verify there, its (low-S) signatures verify here, and
our deterministic nonces are RFC 6979's."""

from __future__ import annotations

import hashlib
import random

import ecdsa
import pytest
from ecdsa.util import sigdecode_string, sigencode_string
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from pacata.chain import bech32m
from pacata.chain.keys import (
    ADDRESS_PREFIX,
    ADDRESS_SIZE,
    Address,
    PrivateKey,
    check_public_key,
    verify_many,
    verify_signature,
)
from pacata.errors import DecodeError
from pacata.testing.signatures import spoil

CURVE = ecdsa.SECP256k1
N = CURVE.order
HALF_N = N // 2
P = CURVE.curve.p()

secrets = st.integers(1, N - 1).map(lambda k: k.to_bytes(32, "big"))
digests = st.binary(min_size=32, max_size=32)

# The pure-Python cross-checks take a few milliseconds per example.
cross_check = settings(max_examples=40, deadline=None)


def split(signature: bytes) -> tuple[int, int]:
    r, s = sigdecode_string(signature, N)
    return int(r), int(s)


def join(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def key(i: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"pacata test key %d" % i).digest())


def digest_of(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


def ecdsa_verifies(public_key: bytes, digest: bytes, signature: bytes) -> bool:
    verifier = ecdsa.VerifyingKey.from_string(public_key, curve=CURVE)
    try:
        return bool(verifier.verify_digest(signature, digest, sigdecode=sigdecode_string))
    except ecdsa.BadSignatureError:
        return False


def is_on_curve(x: int) -> bool:
    """Whether x³ + 7 is a square mod p (Euler's criterion), i.e. x is some point's abscissa."""
    return pow((x**3 + 7) % P, (P - 1) // 2, P) == 1


# --- signing and verifying ------------------------------------------------------------------


@given(secrets, digests)
@example((1).to_bytes(32, "big"), bytes(32))
@example((N - 1).to_bytes(32, "big"), b"\xff" * 32)
def test_sign_verify_round_trip(secret: bytes, digest: bytes) -> None:
    private = PrivateKey(secret)
    signature = private.sign(digest)
    assert len(signature) == 64
    r, s = split(signature)
    assert 0 < r < N
    assert 0 < s <= HALF_N, "we sign low-S only"
    assert verify_signature(private.public_key, digest, signature)


@cross_check
@given(secrets, digests)
def test_our_signature_verifies_with_ecdsa(secret: bytes, digest: bytes) -> None:
    private = PrivateKey(secret)
    reference = ecdsa.SigningKey.from_string(secret, curve=CURVE).get_verifying_key()
    assert private.public_key == reference.to_string("compressed")
    assert ecdsa_verifies(private.public_key, digest, private.sign(digest))


@cross_check
@given(secrets, digests, st.integers(1, N - 1))
def test_ecdsa_signature_normalised_to_low_s_verifies_with_us(
    secret: bytes, digest: bytes, nonce: int
) -> None:
    signer = ecdsa.SigningKey.from_string(secret, curve=CURVE)
    public_key = signer.get_verifying_key().to_string("compressed")
    r, s = split(signer.sign_digest(digest, sigencode=sigencode_string, k=nonce))
    low_s = min(s, N - s)
    assert verify_signature(public_key, digest, join(r, low_s))
    if s != low_s:  # ecdsa left it high: we must refuse that form
        assert not verify_signature(public_key, digest, join(r, s))


@cross_check
@given(secrets, digests)
def test_high_s_twin_of_a_valid_signature_is_refused(secret: bytes, digest: bytes) -> None:
    private = PrivateKey(secret)
    r, s = split(private.sign(digest))
    high = join(r, N - s)
    # Plain ECDSA accepts both forms; the low-S rule is what refuses the malleated one.
    assert ecdsa_verifies(private.public_key, digest, high)
    assert not verify_signature(private.public_key, digest, high)
    assert not verify_many([(private.public_key, digest, high)])


@given(secrets, digests, digests)
def test_signature_over_another_digest_is_refused(
    secret: bytes, digest: bytes, other: bytes
) -> None:
    private = PrivateKey(secret)
    signature = private.sign(digest)
    assert verify_signature(private.public_key, other, signature) == (other == digest)


@given(secrets, secrets, digests)
def test_signature_by_another_key_is_refused(secret: bytes, other: bytes, digest: bytes) -> None:
    # A zero digest makes ECDSA verification depend only on x(Q), so the keys k and n - k (Q and
    # -Q) would both accept it: a property of ECDSA, not of our code. Our digests are hashes.
    assume(int.from_bytes(digest, "big") % N != 0)
    signature = PrivateKey(secret).sign(digest)
    assert verify_signature(PrivateKey(other).public_key, digest, signature) == (other == secret)


@given(secrets, digests, st.integers(0, 63), st.integers(0, 7))
def test_any_flipped_signature_bit_is_refused(
    secret: bytes, digest: bytes, byte: int, bit: int
) -> None:
    private = PrivateKey(secret)
    signature = bytearray(private.sign(digest))
    signature[byte] ^= 1 << bit
    assert not verify_signature(private.public_key, digest, bytes(signature))


def test_wrong_sizes_are_refused() -> None:
    private = key(0)
    digest = digest_of(b"sizes")
    signature = private.sign(digest)
    assert verify_signature(private.public_key, digest, signature)
    for bad_signature in (signature[:63], signature + b"\x00", b"", signature * 2):
        assert not verify_signature(private.public_key, digest, bad_signature)
    for bad_digest in (digest[:31], digest + b"\x00", b""):
        assert not verify_signature(private.public_key, bad_digest, signature)
    uncompressed = ecdsa.VerifyingKey.from_string(private.public_key, curve=CURVE).to_string(
        "uncompressed"
    )
    for bad_key in (private.public_key[:32], private.public_key + b"\x00", uncompressed, b""):
        assert not verify_signature(bad_key, digest, signature)


def test_scalars_zero_or_not_below_the_order_are_refused() -> None:
    private = key(1)
    digest = digest_of(b"scalars")
    r, s = split(private.sign(digest))
    for bad_r, bad_s in [
        (0, s),
        (r, 0),
        (0, 0),
        (N, s),
        (r, N),
        (N + 1, s),
        (r, N + 1),
        ((1 << 256) - 1, s),
        (r, (1 << 256) - 1),
    ]:
        assert not verify_signature(private.public_key, digest, join(bad_r, bad_s)), (bad_r, bad_s)


def test_invalid_public_key_is_refused_by_verify() -> None:
    private = key(2)
    digest = digest_of(b"bad key")
    signature = private.sign(digest)
    not_a_point = bytes((2,)) + next(x for x in range(1, 100) if not is_on_curve(x)).to_bytes(
        32, "big"
    )
    assert not verify_signature(not_a_point, digest, signature)
    assert not verify_signature(b"\x04" + private.public_key[1:], digest, signature)


def test_signing_is_deterministic_rfc6979() -> None:
    for i in range(8):
        private = key(i)
        digest = digest_of(b"rfc6979 %d" % i)
        signature = private.sign(digest)
        assert private.sign(digest) == signature
        reference = ecdsa.SigningKey.from_string(private.secret, curve=CURVE)
        r, s = split(
            reference.sign_digest_deterministic(
                digest, hashfunc=hashlib.sha256, sigencode=sigencode_string
            )
        )
        assert signature == join(r, min(s, N - s))


@cross_check
@given(secrets, digests)
def test_deterministic_nonce_matches_rfc6979(secret: bytes, digest: bytes) -> None:
    reference = ecdsa.SigningKey.from_string(secret, curve=CURVE)
    r, s = split(
        reference.sign_digest_deterministic(
            digest, hashfunc=hashlib.sha256, sigencode=sigencode_string
        )
    )
    assert PrivateKey(secret).sign(digest) == join(r, min(s, N - s))


def test_different_digests_give_different_signatures() -> None:
    private = key(3)
    assert private.sign(digest_of(b"a")) != private.sign(digest_of(b"b"))


# --- private keys ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 31, 33])
def test_private_key_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PrivateKey(b"\x01" * size)


@pytest.mark.parametrize("scalar", [0, N, N + 1, (1 << 256) - 1])
def test_private_key_out_of_range_is_refused(scalar: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        PrivateKey(scalar.to_bytes(32, "big"))


@pytest.mark.parametrize("size", [0, 20, 31, 33, 64])
def test_signing_anything_but_a_32_byte_digest_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="32-byte digest"):
        key(4).sign(b"\x00" * size)


def test_generated_keys_are_distinct_and_work() -> None:
    first, second = PrivateKey.generate(), PrivateKey.generate()
    assert first.secret != second.secret
    assert PrivateKey(first.secret).public_key == first.public_key
    digest = digest_of(b"generated")
    assert verify_signature(first.public_key, digest, first.sign(digest))
    assert first.secret.hex() not in repr(first)


# --- public keys ----------------------------------------------------------------------------


@given(secrets)
def test_valid_compressed_public_key_is_accepted(secret: bytes) -> None:
    public_key = PrivateKey(secret).public_key
    assert len(public_key) == 33
    assert public_key[0] in (2, 3)
    assert check_public_key(public_key) is public_key


@given(secrets)
def test_uncompressed_public_key_is_refused(secret: bytes) -> None:
    public_key = PrivateKey(secret).public_key
    uncompressed = ecdsa.VerifyingKey.from_string(public_key, curve=CURVE).to_string("uncompressed")
    assert len(uncompressed) == 65
    with pytest.raises(DecodeError, match="compressed"):
        check_public_key(uncompressed)
    # The "hybrid" form (prefix 6 or 7) is an uncompressed key by another name.
    hybrid = bytes((6 + (uncompressed[-1] & 1),)) + uncompressed[1:]
    with pytest.raises(DecodeError, match="compressed"):
        check_public_key(hybrid)


def _invalid_public_keys() -> list[tuple[str, bytes]]:
    off_curve = next(x for x in range(1, 100) if not is_on_curve(x))
    valid_x = key(5).public_key[1:]
    return [
        ("empty", b""),
        ("32 bytes", b"\x02" + valid_x[:31]),
        ("34 bytes", b"\x02" + valid_x + b"\x00"),
        ("prefix 0", b"\x00" + valid_x),
        ("prefix 1", b"\x01" + valid_x),
        ("prefix 4 at 33 bytes", b"\x04" + valid_x),
        ("prefix 5", b"\x05" + valid_x),
        ("x not on the curve, even", b"\x02" + off_curve.to_bytes(32, "big")),
        ("x not on the curve, odd", b"\x03" + off_curve.to_bytes(32, "big")),
        ("x equal to p", b"\x02" + P.to_bytes(32, "big")),
        ("x above p", b"\x02" + ((1 << 256) - 1).to_bytes(32, "big")),
        ("point at infinity", b"\x00" * 33),
    ]


@pytest.mark.parametrize(("case", "public_key"), _invalid_public_keys())
def test_invalid_public_key_is_refused(case: str, public_key: bytes) -> None:
    with pytest.raises(DecodeError):
        check_public_key(public_key)


# --- addresses ------------------------------------------------------------------------------


@given(secrets)
def test_address_is_the_first_20_bytes_of_sha256_of_the_public_key(secret: bytes) -> None:
    private = PrivateKey(secret)
    address = private.address
    assert address.raw == hashlib.sha256(private.public_key).digest()[:20]
    assert address == Address.from_public_key(private.public_key)


@given(st.binary(min_size=ADDRESS_SIZE, max_size=ADDRESS_SIZE))
def test_address_string_round_trip(raw: bytes) -> None:
    address = Address(raw)
    text = str(address)
    assert text.startswith("pac1")
    assert len(text) == 3 + 1 + 32 + 6
    assert text == text.lower()
    assert Address.from_string(text) == address
    assert Address.from_string(text.upper()) == address
    assert bech32m.decode_bytes(ADDRESS_PREFIX, text) == raw
    assert repr(address) == f"Address({text})"


@given(st.binary(min_size=ADDRESS_SIZE, max_size=ADDRESS_SIZE))
def test_address_wire_round_trip(raw: bytes) -> None:
    address = Address(raw)
    assert address.encode() == raw
    assert Address.decode(raw) == address


@pytest.mark.parametrize("size", [19, 21])
def test_address_wire_form_of_the_wrong_size_is_refused(size: int) -> None:
    with pytest.raises(DecodeError):
        Address.decode(b"\x01" * size)


@pytest.mark.parametrize("hrp", ["bc", "tpac", "pa", "paca", "pac1"])
def test_address_with_another_prefix_is_refused(hrp: str) -> None:
    text = bech32m.encode_bytes(hrp, b"\x07" * ADDRESS_SIZE)
    with pytest.raises(DecodeError, match="expected prefix"):
        Address.from_string(text)


@pytest.mark.parametrize("size", [0, 1, 19, 21, 32])
def test_address_with_a_payload_of_the_wrong_length_is_refused(size: int) -> None:
    text = bech32m.encode_bytes(ADDRESS_PREFIX, b"\x07" * size)
    with pytest.raises(DecodeError, match="20 bytes"):
        Address.from_string(text)


def test_corrupted_or_mixed_case_address_is_refused() -> None:
    text = str(key(6).address)
    last = "q" if text[-1] != "q" else "p"
    with pytest.raises(DecodeError, match="checksum"):
        Address.from_string(text[:-1] + last)
    with pytest.raises(DecodeError, match="mixes upper and lower case"):
        Address.from_string(text[:10] + text[10:].upper())
    with pytest.raises(DecodeError):
        Address.from_string("")


@pytest.mark.parametrize("size", [0, 19, 21, 32])
def test_address_of_the_wrong_size_cannot_be_built(size: int) -> None:
    with pytest.raises(ValueError, match="20 bytes"):
        Address(b"\x00" * size)


# --- batch verification ---------------------------------------------------------------------

BATCH_SIZE = 500


@pytest.fixture(scope="module")
def batch() -> list[tuple[bytes, bytes, bytes]]:
    keys = [key(i) for i in range(16)]
    items = []
    for i in range(BATCH_SIZE):
        private = keys[i % len(keys)]
        digest = digest_of(b"batch item %d" % i)
        items.append((private.public_key, digest, private.sign(digest)))
    return items


SPOILS = ["flipped bit", "other digest", "other key", "high s", "short signature"]


def test_verify_many_accepts_a_good_batch(batch: list[tuple[bytes, bytes, bytes]]) -> None:
    assert all(verify_signature(*item) for item in batch)
    assert verify_many(batch)
    assert verify_many(tuple(batch))
    assert verify_many(batch[:10])
    assert verify_many([])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, BATCH_SIZE - 1), st.sampled_from(SPOILS))
@example(0, "flipped bit")
@example(BATCH_SIZE - 1, "flipped bit")
@example(BATCH_SIZE // 2 - 1, "high s")
@example(BATCH_SIZE // 2, "high s")
@example(127, "other key")
@example(128, "other digest")
def test_verify_many_refuses_a_batch_with_one_bad_signature(
    batch: list[tuple[bytes, bytes, bytes]], position: int, how: str
) -> None:
    spoiled = list(batch)
    spoiled[position] = spoil(batch[position], how)
    assert not verify_signature(*spoiled[position])
    assert verify_many(spoiled) is False
    assert verify_many(spoiled) == all(verify_signature(*item) for item in spoiled)


@pytest.mark.parametrize("size", [1, 2, 127, 128, 129, 257])
def test_verify_many_refuses_the_last_item_at_every_batch_shape(
    batch: list[tuple[bytes, bytes, bytes]], size: int
) -> None:
    items = batch[:size]
    assert verify_many(items) is True
    assert verify_many([*items[:-1], spoil(items[-1], "flipped bit")]) is False


def test_verify_many_agrees_with_verify_signature_on_a_random_mix(
    batch: list[tuple[bytes, bytes, bytes]],
) -> None:
    rng = random.Random(6979)
    for _ in range(10):
        items = [
            spoil(item, rng.choice(SPOILS)) if rng.random() < 0.002 else item for item in batch
        ]
        assert verify_many(items) == all(verify_signature(*item) for item in items)
