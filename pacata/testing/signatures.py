"""Signed (public key, digest, signature) items for tests of verification, and ways to spoil one.

Keys come from a fixed seed (`seeded_key(i)`), so the same index gives the same key everywhere.
"""

from __future__ import annotations

import hashlib

from pacata.chain.keys import PrivateKey

# The order of secp256k1's group: s and N - s sign the same digest (the high-S twin).
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

SignatureItem = tuple[bytes, bytes, bytes]

SAME_SIZE_SPOILS = ("flipped bit", "other digest", "other key", "high s")
WRONG_SIZE_SPOILS = ("short public key", "long digest", "short signature", "long signature")


def seeded_key(index: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(b"pacata test key %d" % index).digest())


def digest_of(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


def high_s_twin(signature: bytes) -> bytes:
    """The same signature with S replaced by N - S (valid ECDSA, refused as malleable)."""
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    return r.to_bytes(32, "big") + (CURVE_ORDER - s).to_bytes(32, "big")


def spoil(item: SignatureItem, how: str) -> SignatureItem:
    """`item` made invalid in one of the ways of SAME_SIZE_SPOILS or WRONG_SIZE_SPOILS."""
    public_key, digest, signature = item
    spoiled = {
        "flipped bit": lambda: (public_key, digest, signature[:-1] + bytes((signature[-1] ^ 1,))),
        "other digest": lambda: (public_key, digest_of(digest), signature),
        "other key": lambda: (seeded_key(99).public_key, digest, signature),
        "high s": lambda: (public_key, digest, high_s_twin(signature)),
        "short public key": lambda: (public_key[:32], digest, signature),
        "long digest": lambda: (public_key, digest + b"\x00", signature),
        "short signature": lambda: (public_key, digest, signature[:63]),
        "long signature": lambda: (public_key, digest, signature + b"\x00"),
    }
    if how not in spoiled:
        raise ValueError(f"no way to spoil a signature item called {how!r}")
    return spoiled[how]()
