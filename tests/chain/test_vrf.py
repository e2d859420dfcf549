"""ECVRF-EDWARDS25519-SHA512-TAI (pacata/chain/vrf.py) against RFC 9381 Appendix B.3
(tests/vectors/rfc9381_edwards25519_sha512_tai.json), every intermediate value included; then
the refusals: altered, truncated and malleated proofs, wrong inputs, small-order keys (with a
forgery that only the key check stops) and non-canonical points, the last cross-checked against
a plain-integer RFC 8032 decoder written here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pacata.chain import vrf
from pacata.chain.vrf import (
    VRF_OUTPUT_SIZE,
    VRF_PROOF_SIZE,
    VRF_PUBLIC_KEY_SIZE,
    VRF_SEED_SIZE,
    VrfKey,
    proof_to_hash,
    verify,
)
from pacata.errors import DecodeError

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "rfc9381_edwards25519_sha512_tai.json").read_text(
        encoding="utf-8"
    )
)
EXAMPLES: list[dict[str, Any]] = VECTORS["vectors"]
IDS = [f"example{v['example']}" for v in EXAMPLES]

P = 2**255 - 19
Q = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, -1, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
IDENTITY = (1).to_bytes(32, "little")

# The eight points of order dividing 8, in canonical encoding (checked in a test below).
SMALL_ORDER_POINTS = {
    "order1": IDENTITY,  # (0, 1)
    "order2": bytes.fromhex("ec" + "ff" * 30 + "7f"),  # (0, -1)
    "order4+": bytes(32),  # (sqrt(-1), 0)
    "order4-": bytes(31) + b"\x80",  # (-sqrt(-1), 0)
    "order8a+": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    "order8a-": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    "order8b+": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    "order8b-": bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
}

seeds = st.binary(min_size=VRF_SEED_SIZE, max_size=VRF_SEED_SIZE)
alphas = st.binary(max_size=64)
prover_examples = settings(max_examples=60, deadline=None)


def reference_decode(encoded: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3 with plain integers, as slow and literal as the RFC."""
    value = int.from_bytes(encoded, "little")
    y, sign = value & ((1 << 255) - 1), value >> 255
    if y >= P:
        return None
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = pow(u * pow(v, -1, P), (P + 3) // 8, P)
    if v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    if v * x * x % P != u:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = P - x
    return x, y


def encode_y(y: int, sign: int = 0) -> bytes:
    return (y | sign << 255).to_bytes(32, "little")


def proof_with(proof: bytes, *, gamma: bytes | None = None, s: int | None = None) -> bytes:
    gamma_part = proof[:32] if gamma is None else gamma
    s_part = proof[48:] if s is None else s.to_bytes(32, "little")
    return gamma_part + proof[32:48] + s_part


def key(i: int) -> VrfKey:
    return VrfKey(hashlib.sha256(b"pacata vrf test key %d" % i).digest())


def equations_hold(public_key: bytes, alpha: bytes, proof: bytes) -> bool:
    """Steps 4-11 of RFC 9381 §5.3 without the key validation of §5.4.5."""
    y = vrf._decode_point(public_key)
    decoded = vrf._decode_proof(proof)
    h = vrf._encode_to_curve(public_key, alpha)
    assert y is not None and decoded is not None and h is not None
    gamma, c, s = decoded
    u = vrf._BASE * s + -(y * c)
    v = h * s + -(gamma * c)
    points = (y, h, gamma, u, v)
    return vrf._challenge(*(vrf._encode_point(point) for point in points)) == c


def forge_for_small_order_key(public_key: bytes, alpha: bytes) -> bytes:
    """A proof with Gamma = identity and s = k that passes the §5.3 equations for any key of
    order dividing 8: once c ≡ 0 (mod 8), c·Y vanishes and U = k·B, V = k·H."""
    h = vrf._encode_to_curve(public_key, alpha)
    assert h is not None
    h_string = vrf._encode_point(h)
    for k in range(1, 1000):
        u, v = vrf._encode_point(vrf._BASE * k), vrf._encode_point(h * k)
        c = vrf._challenge(public_key, h_string, IDENTITY, u, v)
        if c % 8 == 0:
            return IDENTITY + c.to_bytes(16, "little") + k.to_bytes(32, "little")
    raise AssertionError("no challenge divisible by 8 in 1000 tries")


# --- RFC 9381 Appendix B.3 ---------------------------------------------------------------


def test_vector_file_holds_the_three_rfc_examples() -> None:
    assert [v["example"] for v in EXAMPLES] == [16, 17, 18]
    assert VECTORS["suite_string"] == vrf.SUITE_STRING.hex() == "03"
    for v in EXAMPLES:
        assert len(bytes.fromhex(v["pi"])) == VRF_PROOF_SIZE
        assert len(bytes.fromhex(v["beta"])) == VRF_OUTPUT_SIZE
        assert len(bytes.fromhex(v["pk"])) == VRF_PUBLIC_KEY_SIZE


@pytest.mark.parametrize("vector", EXAMPLES, ids=IDS)
def test_vector_key_expansion(vector: dict[str, Any]) -> None:
    seed = bytes.fromhex(vector["sk"])
    scalar, _ = vrf._expand_seed(seed)
    assert scalar.to_bytes(32, "little").hex() == vector["x"]
    assert VrfKey(seed).public_key.hex() == vector["pk"]


@pytest.mark.parametrize("vector", EXAMPLES, ids=IDS)
def test_vector_intermediate_values(vector: dict[str, Any]) -> None:
    seed, alpha = bytes.fromhex(vector["sk"]), bytes.fromhex(vector["alpha"])
    public_key = bytes.fromhex(vector["pk"])
    for ctr in range(vector["ctr"]):
        assert vrf._hash_to_point_once(public_key, alpha, ctr) is None
    h = vrf._hash_to_point_once(public_key, alpha, vector["ctr"])
    assert h is not None
    assert vrf._encode_point(h).hex() == vector["h"]
    assert vrf._encode_to_curve(public_key, alpha) == h

    _, nonce_key = vrf._expand_seed(seed)
    k = vrf._nonce(nonce_key, vrf._encode_point(h))
    assert k == int.from_bytes(bytes.fromhex(vector["k_string"]), "little") % Q
    assert k.to_bytes(32, "little").hex() == vector["k"]
    assert vrf._encode_point(vrf._BASE * k).hex() == vector["u"]
    assert vrf._encode_point(h * k).hex() == vector["v"]


@pytest.mark.parametrize("vector", EXAMPLES, ids=IDS)
def test_vector_proof_and_output(vector: dict[str, Any]) -> None:
    seed, alpha = bytes.fromhex(vector["sk"]), bytes.fromhex(vector["alpha"])
    proof = VrfKey(seed).prove(alpha)
    assert proof.hex() == vector["pi"]
    assert proof_to_hash(proof).hex() == vector["beta"]


@pytest.mark.parametrize("vector", EXAMPLES, ids=IDS)
def test_vector_verifies(vector: dict[str, Any]) -> None:
    beta = verify(
        bytes.fromhex(vector["pk"]), bytes.fromhex(vector["alpha"]), bytes.fromhex(vector["pi"])
    )
    assert beta is not None
    assert beta.hex() == vector["beta"]


# --- Refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", EXAMPLES, ids=IDS)
def test_every_single_byte_alteration_is_refused(vector: dict[str, Any]) -> None:
    public_key, alpha = bytes.fromhex(vector["pk"]), bytes.fromhex(vector["alpha"])
    proof = bytes.fromhex(vector["pi"])
    for position in range(VRF_PROOF_SIZE):
        for mask in (0x01, 0x02, 0x40, 0x80, 0xFF):
            altered = bytearray(proof)
            altered[position] ^= mask
            assert verify(public_key, alpha, bytes(altered)) is None, (position, mask)


@pytest.mark.parametrize("vector", EXAMPLES, ids=IDS)
def test_wrong_alpha_and_wrong_key_are_refused(vector: dict[str, Any]) -> None:
    public_key, alpha = bytes.fromhex(vector["pk"]), bytes.fromhex(vector["alpha"])
    proof = bytes.fromhex(vector["pi"])
    for other_alpha in (alpha + b"\x00", b"\x00" + alpha, alpha[:-1] if alpha else b"x"):
        assert verify(public_key, other_alpha, proof) is None
    for other in EXAMPLES:
        if other is not vector:
            assert verify(bytes.fromhex(other["pk"]), alpha, proof) is None
    assert verify(key(0).public_key, alpha, proof) is None


@pytest.mark.parametrize("vector", EXAMPLES, ids=IDS)
def test_truncated_and_extended_proofs_are_refused(vector: dict[str, Any]) -> None:
    public_key, alpha = bytes.fromhex(vector["pk"]), bytes.fromhex(vector["alpha"])
    proof = bytes.fromhex(vector["pi"])
    for bad in (b"", proof[:32], proof[:48], proof[:-1], proof + b"\x00", proof + proof):
        assert verify(public_key, alpha, bad) is None
        with pytest.raises(DecodeError):
            proof_to_hash(bad)


@pytest.mark.parametrize("vector", EXAMPLES, ids=IDS)
def test_scalar_must_be_below_the_group_order(vector: dict[str, Any]) -> None:
    public_key, alpha = bytes.fromhex(vector["pk"]), bytes.fromhex(vector["alpha"])
    proof = bytes.fromhex(vector["pi"])
    s = int.from_bytes(proof[48:], "little")
    # s + q gives the same equations: only the range check keeps a proof to one form.
    malleated = proof_with(proof, s=s + Q)
    assert verify(public_key, alpha, malleated) is None
    for bad_s in (s + Q, Q, 2**256 - 1):
        with pytest.raises(DecodeError):
            proof_to_hash(proof_with(proof, s=bad_s))
    proof_to_hash(proof_with(proof, s=Q - 1))  # decodes, even though it does not verify


def test_the_small_order_points_are_the_eight_torsion_points() -> None:
    decoded = [vrf._decode_point(encoded) for encoded in SMALL_ORDER_POINTS.values()]
    assert len({reference_decode(encoded) for encoded in SMALL_ORDER_POINTS.values()}) == 8
    for point in decoded:
        assert point is not None
        assert vrf._times_cofactor(point) == vrf._IDENTITY


@pytest.mark.parametrize("public_key", SMALL_ORDER_POINTS.values(), ids=SMALL_ORDER_POINTS.keys())
def test_small_order_public_keys_are_refused_even_with_a_working_forgery(
    public_key: bytes,
) -> None:
    alpha = b"slot 42"
    forged = forge_for_small_order_key(public_key, alpha)
    assert equations_hold(public_key, alpha, forged)  # only the §5.4.5 key check stands
    assert verify(public_key, alpha, forged) is None


def test_public_key_with_a_small_order_component_still_works() -> None:
    # Y + T for a torsion point T is a valid key for §5.4.5; proofs made for Y fail under it.
    signer = key(1)
    y = vrf._decode_point(signer.public_key)
    torsion = vrf._decode_point(SMALL_ORDER_POINTS["order8a+"])
    assert y is not None and torsion is not None
    shifted = vrf._encode_point(y + torsion)
    assert verify(shifted, b"a", signer.prove(b"a")) is None


def test_non_canonical_point_encodings_are_refused() -> None:
    signer = key(2)
    proof = signer.prove(b"alpha")
    assert verify(signer.public_key, b"alpha", proof) is not None
    refused = 0
    # y + p for every y < 19 that is on the curve, with either sign; the canonical twin decodes.
    for y in range(19):
        for sign in (0, 1):
            canonical = encode_y(y, sign)
            if reference_decode(canonical) is None:
                continue
            non_canonical = encode_y(y + P, sign)
            assert vrf._decode_point(canonical) is not None
            assert vrf._decode_point(non_canonical) is None
            assert verify(non_canonical, b"alpha", proof) is None
            proof_to_hash(proof_with(proof, gamma=canonical))
            with pytest.raises(DecodeError):
                proof_to_hash(proof_with(proof, gamma=non_canonical))
            refused += 1
    # x = 0 (y = ±1) with the sign bit set: a second encoding of (0, 1) and (0, -1).
    for y in (1, P - 1):
        assert vrf._decode_point(encode_y(y, 1)) is None
        with pytest.raises(DecodeError):
            proof_to_hash(proof_with(proof, gamma=encode_y(y, 1)))
        refused += 1
    assert refused == 25  # 23 on-curve y below 19 (with signs), and the two x = 0 cases


def test_points_off_the_curve_are_refused() -> None:
    proof = key(3).prove(b"")
    off_curve = next(encode_y(y) for y in range(2, 100) if reference_decode(encode_y(y)) is None)
    assert vrf._decode_point(off_curve) is None
    assert verify(off_curve, b"", proof) is None
    with pytest.raises(DecodeError):
        proof_to_hash(proof_with(proof, gamma=off_curve))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
@example(encode_y(P - 1, 1))
@example(encode_y(P))
@example(encode_y(0, 1))
@example(b"\xff" * 32)
def test_point_decoding_matches_rfc8032(encoded: bytes) -> None:
    point = vrf._decode_point(encoded)
    expected = reference_decode(encoded)
    assert (point.xy if point is not None else None) == expected
    if point is not None:
        assert vrf._encode_point(point) == encoded


# Mostly well-formed: right sizes, s below q, so the bytes reach the curve arithmetic.
random_keys = st.one_of(st.binary(min_size=32, max_size=32), st.binary(max_size=100))
random_proofs = st.one_of(
    st.builds(
        lambda gamma, c, s: gamma + c + s.to_bytes(32, "little"),
        st.binary(min_size=32, max_size=32),
        st.binary(min_size=16, max_size=16),
        st.integers(0, Q - 1),
    ),
    st.binary(max_size=100),
)


@settings(max_examples=300, deadline=None)
@given(random_keys, st.binary(max_size=8), random_proofs)
@example(bytes(32), b"", bytes(80))
def test_verify_answers_none_to_random_bytes(public_key: bytes, alpha: bytes, proof: bytes) -> None:
    assert verify(public_key, alpha, proof) is None


def test_garbage_never_raises() -> None:
    good = key(4)
    proof = good.prove(b"x")
    garbage = [b"", b"\x00", bytes(31), bytes(33), bytes(80), b"\xff" * 80, b"\xff" * 32]
    for public_key in [*garbage, good.public_key]:
        for bad_proof in [*garbage, proof[:79], bytes(32) + proof[32:]]:
            assert verify(public_key, b"x", bad_proof) is None


# --- Keys and properties -------------------------------------------------------------------


def test_sizes() -> None:
    assert (VRF_PROOF_SIZE, VRF_OUTPUT_SIZE, VRF_PUBLIC_KEY_SIZE, VRF_SEED_SIZE) == (80, 64, 32, 32)
    signer = key(5)
    assert len(signer.public_key) == VRF_PUBLIC_KEY_SIZE
    proof = signer.prove(b"")
    assert len(proof) == VRF_PROOF_SIZE
    assert len(proof_to_hash(proof)) == VRF_OUTPUT_SIZE


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_seed_must_be_32_bytes(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        VrfKey(bytes(length))


def test_repr_shows_only_the_public_key() -> None:
    seed = hashlib.sha256(b"secret").digest()
    text = repr(VrfKey(seed))
    assert VrfKey(seed).public_key.hex() in text
    assert seed.hex() not in text
    assert hashlib.sha512(seed).hexdigest()[:16] not in text


@prover_examples
@given(seeds)
def test_public_key_is_the_ed25519_public_key_of_the_seed(seed: bytes) -> None:
    ed25519 = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert VrfKey(seed).public_key == ed25519


@prover_examples
@given(seeds, alphas)
def test_prove_verify_round_trip(seed: bytes, alpha: bytes) -> None:
    signer = VrfKey(seed)
    proof = signer.prove(alpha)
    beta = verify(signer.public_key, alpha, proof)
    assert beta is not None
    assert beta == proof_to_hash(proof)
    assert verify(signer.public_key, alpha + b"\x01", proof) is None


@prover_examples
@given(seeds, alphas)
def test_proof_and_output_are_deterministic(seed: bytes, alpha: bytes) -> None:
    proof = VrfKey(seed).prove(alpha)
    assert VrfKey(seed).prove(alpha) == proof
    assert proof_to_hash(proof) == proof_to_hash(VrfKey(seed).prove(alpha))


@prover_examples
@given(seeds, alphas, alphas)
def test_different_alphas_give_different_outputs(seed: bytes, a: bytes, b: bytes) -> None:
    signer = VrfKey(seed)
    same = a == b
    assert (proof_to_hash(signer.prove(a)) == proof_to_hash(signer.prove(b))) == same
