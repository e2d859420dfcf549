"""The well-known keys of the devnet. DEVNET ONLY: these secrets are public, never use them
on any other network.

Every key is derived from a fixed label, so tests, documentation and `genesis/devnet.json` agree
without shipping a secret file: account *i* has the secret SHA-256("pacata devnet account i"), the
producer's VRF seed is SHA-256("pacata devnet vrf 0"), the developer fund's secret is
SHA-256("pacata devnet developer fund").
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey

DEVNET_ACCOUNTS = 10


def devnet_key(index: int) -> PrivateKey:
    return PrivateKey(sha256(f"pacata devnet account {index}".encode()))


def devnet_vrf_seed(index: int) -> bytes:
    return sha256(f"pacata devnet vrf {index}".encode())


def devnet_vrf_public_key(index: int) -> bytes:
    key = Ed25519PrivateKey.from_private_bytes(devnet_vrf_seed(index))
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def devnet_developer_fund_key() -> PrivateKey:
    return PrivateKey(sha256(b"pacata devnet developer fund"))
