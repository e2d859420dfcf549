"""ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite string 0x03): the VRF of the slot lottery.

A producer proves `pi = VrfKey(seed).prove(alpha)`; anyone holding its public key checks the
proof with `verify` and gets the same 64-byte output `beta` the producer got. The lottery
(DESIGN.md §5) compares `beta` with the producer's threshold. docs/vrf.md has the whole spec.

Rules:

- A VRF key is a 32-byte seed expanded as an Ed25519 key (RFC 8032 §5.1.5): the secret scalar
  is the clamped first half of SHA-512(seed), the nonce key its second half, and the public key
  is byte for byte the Ed25519 public key of the seed.
- Points travel in the 32-byte encoding of RFC 8032 §5.1.2. Decoding (§5.1.3) is strict: an
  encoding whose y is not below p, or that asks for the sign bit of x = 0, is refused, so every
  point has one encoding and a proof one form.
- `H` comes from try-and-increment (RFC 9381 §5.4.1.1) salted with the public key encoding, the
  nonce from §5.4.2.2, the 16-byte challenge from §5.4.3; the cofactor 8 is cleared on `H` and
  on `Gamma` before hashing it into `beta` (§5.2).
- A proof is `Gamma (32) ‖ c (16) ‖ s (32)`, little-endian; `s` must be below the group order q
  (§5.4.4), so a proof has no second form.
- `verify` checks the public key first (§5.4.5): a key of small order would let anyone forge
  proofs for it, so it is refused. `verify` never raises on bad bytes; it answers `None`.

The point arithmetic is pycryptodome's C code for Ed25519, which blinds every scalar
multiplication with a fresh random seed. The Python integer arithmetic around it
(s = k + c·x mod q) is not constant time, the usual state of a Python prover.
"""

from __future__ import annotations

import hashlib

# EccPoint is documented as `Crypto.PublicKey.ECC.EccPoint`, but ECC imports it without marking
# the re-export (no `__all__`), which strict mypy refuses.
from Crypto.PublicKey.ECC import EccPoint  # type: ignore[attr-defined]
from Crypto.Signature import eddsa

from pacata.errors import DecodeError

VRF_PROOF_SIZE = 80
VRF_OUTPUT_SIZE = 64
VRF_PUBLIC_KEY_SIZE = 32
VRF_SEED_SIZE = 32

SUITE_STRING = b"\x03"

# edwards25519 (RFC 8032 §5.1): field prime, prime group order q and the base point B.
_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_B_X = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_B_Y = 46316835694926478169428394003475163141307993866256225615783033603165251855960
_BASE = EccPoint(_B_X, _B_Y, curve="Ed25519")
# Compared against with `==` (one C call); `is_point_at_infinity()` builds a new point each time.
_IDENTITY = EccPoint(0, 1, curve="Ed25519")

_POINT_SIZE = 32  # ptLen
_CHALLENGE_SIZE = 16  # cLen
_SCALAR_SIZE = 32  # qLen
_Y_MASK = (1 << 255) - 1

# Domain separators of RFC 9381 §5.2, §5.4.1.1 and §5.4.3.
_ENCODE_TO_CURVE_FRONT = b"\x01"
_CHALLENGE_FRONT = b"\x02"
_PROOF_TO_HASH_FRONT = b"\x03"
_BACK = b"\x00"


def _decode_point(encoded: bytes) -> EccPoint | None:
    """The point of a 32-byte encoding (RFC 8032 §5.1.3), or None if it is not canonical."""
    if len(encoded) != _POINT_SIZE:
        return None
    # The two canonical-form rules are checked here, not left to the library. The installed
    # pycryptodome (4.x) refuses both as well, but pyproject also admits 3.x, whose decoder is
    # different code; consensus must not depend on which release is installed.
    value = int.from_bytes(encoded, "little")
    y = value & _Y_MASK
    if y >= _P:
        return None
    # x = 0 exactly when y = ±1, and then only the encoding with the sign bit clear is canonical.
    if value >> 255 and y in (1, _P - 1):
        return None
    try:
        # The public decoder recovers x (in C: 20 µs, against 90 µs for the square root in
        # Python integers) and checks that the point is on the curve.
        point: EccPoint = eddsa.import_public_key(bytes(encoded)).pointQ
    except ValueError:
        return None
    return point


def _encode_point(point: EccPoint) -> bytes:
    """RFC 8032 §5.1.2: y little-endian, the low bit of x in the top bit."""
    x, y = point.xy
    return (y | ((x & 1) << 255)).to_bytes(_POINT_SIZE, "little")


def _times_cofactor(point: EccPoint) -> EccPoint:
    # Three doublings cost about 2 µs; the library's generic `point * 8` costs 120 µs.
    return point.copy().double().double().double()


def _expand_seed(seed: bytes) -> tuple[int, bytes]:
    """The secret scalar x and the nonce key of a seed (RFC 8032 §5.1.5, RFC 9381 §5.5)."""
    digest = hashlib.sha512(seed).digest()
    scalar = bytearray(digest[:32])
    scalar[0] &= 0xF8
    scalar[31] &= 0x7F
    scalar[31] |= 0x40
    return int.from_bytes(scalar, "little"), digest[32:]


def _hash_to_point_once(salt: bytes, alpha: bytes, ctr: int) -> EccPoint | None:
    """One try of RFC 9381 §5.4.1.1: the cofactor-cleared point of counter `ctr`, or None.

    None when the first 32 bytes of the hash are not a point (§5.5
    interpret_hash_value_as_a_point) or the point has small order.
    """
    digest = hashlib.sha512()
    for part in (SUITE_STRING, _ENCODE_TO_CURVE_FRONT, salt, alpha, bytes((ctr,)), _BACK):
        digest.update(part)
    point = _decode_point(digest.digest()[:_POINT_SIZE])
    if point is None:
        return None
    point = _times_cofactor(point)
    return None if point == _IDENTITY else point


def _encode_to_curve(salt: bytes, alpha: bytes) -> EccPoint | None:
    """ECVRF_encode_to_curve_try_and_increment (RFC 9381 §5.4.1.1), salted with the public key.

    About half of all hashes are points, so two tries are the average. The counter is one
    octet; running out of it (probability 2^-256) is reported as None.
    """
    for ctr in range(256):
        point = _hash_to_point_once(salt, alpha, ctr)
        if point is not None:
            return point
    return None


def _nonce(nonce_key: bytes, h_string: bytes) -> int:
    """ECVRF_nonce_generation_RFC8032 (RFC 9381 §5.4.2.2): SHA-512(nonce key ‖ H) mod q."""
    return int.from_bytes(hashlib.sha512(nonce_key + h_string).digest(), "little") % _Q


def _challenge(*point_strings: bytes) -> int:
    """ECVRF_challenge_generation (RFC 9381 §5.4.3) over the encodings of Y, H, Gamma, U, V."""
    digest = hashlib.sha512(SUITE_STRING + _CHALLENGE_FRONT)
    for encoded in point_strings:
        digest.update(encoded)
    digest.update(_BACK)
    return int.from_bytes(digest.digest()[:_CHALLENGE_SIZE], "little")


def _decode_proof(proof: bytes) -> tuple[EccPoint, int, int] | None:
    """ECVRF_decode_proof (RFC 9381 §5.4.4): (Gamma, c, s), or None if malformed."""
    if len(proof) != VRF_PROOF_SIZE:
        return None
    gamma = _decode_point(proof[:_POINT_SIZE])
    if gamma is None:
        return None
    c = int.from_bytes(proof[_POINT_SIZE : _POINT_SIZE + _CHALLENGE_SIZE], "little")
    s = int.from_bytes(proof[_POINT_SIZE + _CHALLENGE_SIZE :], "little")
    if s >= _Q:
        return None
    return gamma, c, s


def _gamma_to_hash(gamma: EccPoint) -> bytes:
    """Steps 4-6 of ECVRF_proof_to_hash (RFC 9381 §5.2): beta from Gamma."""
    digest = hashlib.sha512(SUITE_STRING + _PROOF_TO_HASH_FRONT)
    digest.update(_encode_point(_times_cofactor(gamma)))
    digest.update(_BACK)
    return digest.digest()


class VrfKey:
    """The secret side of a VRF key pair. Never encoded on the wire."""

    __slots__ = ("_nonce_key", "_scalar", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != VRF_SEED_SIZE:
            raise ValueError(f"a VRF seed is {VRF_SEED_SIZE} bytes, got {len(seed)}")
        self._scalar, self._nonce_key = _expand_seed(seed)
        self.public_key: bytes = _encode_point(_BASE * self._scalar)

    def prove(self, alpha: bytes) -> bytes:
        """The 80-byte proof `pi` of `alpha` (ECVRF_prove, RFC 9381 §5.1); deterministic."""
        h = _encode_to_curve(self.public_key, alpha)
        if h is None:  # pragma: no cover - probability 2^-256
            raise RuntimeError("encode_to_curve found no point in 256 tries")
        h_string = _encode_point(h)
        gamma = h * self._scalar
        k = _nonce(self._nonce_key, h_string)
        gamma_string = _encode_point(gamma)
        c = _challenge(
            self.public_key,
            h_string,
            gamma_string,
            _encode_point(_BASE * k),
            _encode_point(h * k),
        )
        s = (k + c * self._scalar) % _Q
        return (
            gamma_string
            + c.to_bytes(_CHALLENGE_SIZE, "little")
            + s.to_bytes(_SCALAR_SIZE, "little")
        )

    def __repr__(self) -> str:
        return f"VrfKey(public_key={self.public_key.hex()})"


def proof_to_hash(proof: bytes) -> bytes:
    """The 64-byte output `beta` of a proof (ECVRF_proof_to_hash, RFC 9381 §5.2).

    Does not verify the proof: use it only on a proof already verified, or to recompute the
    output of one's own proof. Raises `DecodeError` if the proof is malformed.
    """
    decoded = _decode_proof(proof)
    if decoded is None:
        raise DecodeError(
            f"not a VRF proof: {VRF_PROOF_SIZE} bytes of a canonical point, a challenge and "
            "a scalar below the group order"
        )
    return _gamma_to_hash(decoded[0])


def verify(public_key: bytes, alpha: bytes, proof: bytes) -> bytes | None:
    """`beta` if `proof` is a valid proof of `alpha` under `public_key`, else None.

    ECVRF_verify (RFC 9381 §5.3) with validate_key true (§5.4.5). Never raises on bad bytes.
    """
    y = _decode_point(public_key)
    if y is None or _times_cofactor(y) == _IDENTITY:
        return None
    decoded = _decode_proof(proof)
    if decoded is None:
        return None
    gamma, c, s = decoded
    h = _encode_to_curve(public_key, alpha)
    if h is None:  # pragma: no cover - probability 2^-256
        return None
    u = _BASE * s + -(y * c)
    v = h * s + -(gamma * c)
    # Decoding is canonical, so the bytes received are point_to_string(Y) and of Gamma.
    expected = _challenge(
        public_key,
        _encode_point(h),
        proof[:_POINT_SIZE],
        _encode_point(u),
        _encode_point(v),
    )
    if expected != c:
        return None
    return _gamma_to_hash(gamma)
