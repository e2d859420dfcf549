"""BIP-32 (pacata/wallet/derivation.py) against the BIP's test vectors 1 to 4, every xprv and
xpub of every chain (tests/vectors/bip32.json), and vector 5's invalid keys; paths; the rare
invalid child; and the accounts' path, pinned for the "abandon … about" mnemonic and checked
by a second, independent derivation on the pure-Python `ecdsa` package."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import ecdsa
import pytest

from pacata.chain import bech32m
from pacata.wallet import (
    COIN_TYPE,
    ExtendedKey,
    ExtendedPublicKey,
    account_path,
    derivation,
    master_key,
    mnemonic_seed,
    parse_extended_key,
    parse_path,
)
from pacata.wallet.derivation import CURVE_ORDER, HARDENED

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "bip32.json").read_text(encoding="utf-8")
)
CHAINS = [
    (vector["vector"], vector["seed"], chain)
    for vector in VECTORS["vectors"]
    for chain in vector["chains"]
]
ABANDON = " ".join(["abandon"] * 11 + ["about"])
# Computed once with this module, and checked here against `independent_account_key` below.
ABANDON_ACCOUNTS = {
    0: (
        "pac1yjrxn6fwal03slu3psyj38y0ap6xk75d2f57l4",
        "03fe3acb0771f1a526f8402b354d07839367419e4292d3170957cef73d53960781",
    ),
    1: (
        "pac1xlkm3r0uy8zy9qy3z03lywmdagd97m2z7v4n4z",
        "0218b1ec4ac1dd9fd789f5e43415bafb80d5ecf88be635419442714ab1fb067808",
    ),
}


def test_the_vector_file_holds_vectors_1_to_4_and_5() -> None:
    assert [v["vector"] for v in VECTORS["vectors"]] == [1, 2, 3, 4]
    assert len(CHAINS) == 17
    assert len(VECTORS["invalid"]) == 16


@pytest.mark.parametrize(
    ("number", "seed", "chain"), CHAINS, ids=[f"{n}:{c['path']}" for n, _, c in CHAINS]
)
def test_vector_chain(number: int, seed: str, chain: dict[str, str]) -> None:
    key = master_key(bytes.fromhex(seed)).derive(chain["path"])
    assert key.xprv() == chain["xprv"]
    assert key.xpub() == chain["xpub"]
    # And back: the serialisations parse to the same keys.
    assert parse_extended_key(chain["xprv"]) == key
    assert ExtendedKey.from_xprv(chain["xprv"]) == key
    assert parse_extended_key(chain["xpub"]) == key.public()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: str(v["vector"]))
def test_vector_step_by_step(vector: dict[str, Any]) -> None:
    """Each chain is the previous one's `child`: derivation composes."""
    key = master_key(bytes.fromhex(vector["seed"]))
    for previous, chain in zip(vector["chains"], vector["chains"][1:], strict=False):
        assert chain["path"].startswith(previous["path"] + "/")
        (index,) = parse_path("m/" + chain["path"].rsplit("/", 1)[1])
        parent = key
        key = key.child(index)
        assert key.xprv() == chain["xprv"]
        assert key.parent_fingerprint == parent.fingerprint
        assert key.depth == parent.depth + 1
        assert key.child_number == index


# What our parser says for each of vector 5's reasons.
INVALID_REASONS = {
    "pubkey version / prvkey mismatch": "starting with 02 or 03",
    "prvkey version / pubkey mismatch": "private key data of an xprv starts with 00",
    "invalid pubkey prefix 04": "starting with 02 or 03",
    "invalid prvkey prefix 04": "private key data of an xprv starts with 00",
    "invalid pubkey prefix 01": "starting with 02 or 03",
    "invalid prvkey prefix 01": "private key data of an xprv starts with 00",
    "zero depth with non-zero parent fingerprint": "zero parent fingerprint",
    "zero depth with non-zero index": "has child number 0",
    "unknown extended key version": "unknown extended key version",
    "private key 0 not in 1..n-1": "from 1 to n-1",
    "private key n not in 1..n-1": "from 1 to n-1",
    "invalid pubkey 020000000000000000000000000000000000000000000000000000000000000007": (
        "not a point on secp256k1"
    ),
    "invalid checksum": "checksum does not match",
}


@pytest.mark.parametrize("invalid", VECTORS["invalid"], ids=lambda v: v["reason"])
def test_vector_5_invalid_keys_are_refused_for_their_reason(invalid: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=INVALID_REASONS[invalid["reason"]]):
        parse_extended_key(invalid["key"])


def test_from_xprv_refuses_an_xpub() -> None:
    xpub = VECTORS["vectors"][0]["chains"][0]["xpub"]
    assert isinstance(parse_extended_key(xpub), ExtendedPublicKey)
    with pytest.raises(ValueError, match="public key"):
        ExtendedKey.from_xprv(xpub)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("xprv0OIl", "is not Base58"),
        ("", "too short"),
        ("1" * 300, "too long"),
        # A valid Base58Check string of the wrong length.
        (derivation.base58check_encode(bytes(77)), "78 bytes, not 77"),
    ],
)
def test_malformed_serialisations_are_refused(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_extended_key(text)


@pytest.mark.parametrize(
    ("path", "indices"),
    [
        ("m", ()),
        ("m/0", (0,)),
        ("m/0'", (HARDENED,)),
        ("m/0h", (HARDENED,)),
        ("m/0H", (HARDENED,)),
        ("m/44'/9740'/0'/0/0", (HARDENED + 44, HARDENED + 9740, HARDENED, 0, 0)),
        ("m/2147483647'/2147483647", (2**32 - 1, 2**31 - 1)),
    ],
)
def test_paths(path: str, indices: tuple[int, ...]) -> None:
    assert parse_path(path) == indices


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "starts with 'm'"),
        ("M/0", "starts with 'm'"),
        ("0/1", "starts with 'm'"),
        ("/0", "starts with 'm'"),
        ("m/", "step 1 of the path is empty"),
        ("m//1", "step 1 of the path is empty"),
        ("m/0/", "step 2 of the path is empty"),
        ("m/'", "step 1 of the path is empty"),
        ("m/1''", "not a number"),
        ("m/-1", "not a number"),
        ("m/+1", "not a number"),
        ("m/ 1", "not a number"),
        ("m/0x10", "not a number"),
        ("m/\uff11", "not a number"),  # a full-width digit: str.isdigit, but not ASCII
        ("m/01", "leading zero"),
        ("m/2147483648", "not below 2\\*\\*31"),
        ("m/2147483648'", "not below 2\\*\\*31"),
        ("m" + "/0" * 256, "at most 255 steps"),
    ],
)
def test_invalid_paths_say_why(path: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_path(path)


def test_a_path_starts_at_a_master_key() -> None:
    child = master_key(bytes(16)).child(0)
    with pytest.raises(ValueError, match="master key"):
        child.derive("m/0")


@pytest.mark.parametrize("index", [-1, 2**32])
def test_child_indices_are_32_bits(index: int) -> None:
    with pytest.raises(ValueError, match="child index"):
        master_key(bytes(16)).child(index)


@pytest.mark.parametrize("size", [0, 15, 65])
def test_seeds_are_16_to_64_bytes(size: int) -> None:
    with pytest.raises(ValueError, match="a seed is 16 to 64 bytes"):
        master_key(bytes(size))


def _forcing(monkeypatch: pytest.MonkeyPatch, index: int, left: Any) -> None:
    """Make the HMAC of child `index` give I_L = left(parent secret)."""
    real = derivation._hmac_sha512

    def forced(key: bytes, data: bytes) -> bytes:
        digest = real(key, data)
        if data[-4:] == index.to_bytes(4, "big") and len(data) == 37:
            parent_secret = data[1:33] if data[0] == 0 else None
            return left(parent_secret).to_bytes(32, "big") + digest[32:]
        return digest

    monkeypatch.setattr(derivation, "_hmac_sha512", forced)


@pytest.mark.parametrize("case", ["I_L = n", "I_L > n", "k_i = 0"])
def test_an_invalid_child_gives_the_next_index(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """BIP-32: when I_L ≥ n or the child key is 0, proceed with the next index."""
    parent = master_key(bytes(range(32)))
    index = HARDENED + 5
    expected = parent.child(index + 1)
    left = {
        "I_L = n": lambda _: CURVE_ORDER,
        "I_L > n": lambda _: 2**256 - 1,
        "k_i = 0": lambda secret: CURVE_ORDER - int.from_bytes(secret, "big"),
    }[case]
    _forcing(monkeypatch, index, left)
    child = parent.child(index)
    assert child == expected
    assert child.child_number == index + 1
    assert parent.derive("m/5'") == expected


def test_an_invalid_master_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for left in (0, CURVE_ORDER):
        monkeypatch.setattr(
            derivation, "_hmac_sha512", lambda key, data, left=left: left.to_bytes(32, "big") * 2
        )
        with pytest.raises(ValueError, match="invalid master key"):
            master_key(bytes(32))


def test_extended_keys_hide_their_secret_in_repr() -> None:
    key = master_key(bytes(16))
    assert key.secret.hex() not in repr(key)
    assert key.chain_code.hex() not in repr(key)


def test_account_path() -> None:
    assert COIN_TYPE == 9740
    assert account_path(0) == "m/44'/9740'/0'/0/0"
    assert account_path(7) == "m/44'/9740'/7'/0/0"
    assert account_path(2**31 - 1) == "m/44'/9740'/2147483647'/0/0"
    for bad in (-1, 2**31):
        with pytest.raises(ValueError, match="account index"):
            account_path(bad)


# An independent BIP-32 CKDpriv: integers mod n, points by the pure-Python `ecdsa` package.
_CURVE = ecdsa.SECP256k1


def _compressed_point(secret: int) -> bytes:
    point = secret * _CURVE.generator
    return bytes((2 + (point.y() & 1),)) + point.x().to_bytes(32, "big")


def independent_account_key(seed: bytes, account: int) -> tuple[int, bytes]:
    """The secret and compressed public key at m/44'/9740'/account'/0/0."""
    digest = hmac.new(b"Bitcoin seed", seed, hashlib.sha512).digest()
    secret, chain_code = int.from_bytes(digest[:32], "big"), digest[32:]
    for index in (2**31 + 44, 2**31 + 9740, 2**31 + account, 0, 0):
        if index >= 2**31:
            data = b"\x00" + secret.to_bytes(32, "big") + index.to_bytes(4, "big")
        else:
            data = _compressed_point(secret) + index.to_bytes(4, "big")
        digest = hmac.new(chain_code, data, hashlib.sha512).digest()
        secret = (int.from_bytes(digest[:32], "big") + secret) % _CURVE.order
        chain_code = digest[32:]
    return secret, _compressed_point(secret)


@pytest.mark.parametrize("account", sorted(ABANDON_ACCOUNTS))
def test_the_accounts_of_abandon_about_are_pinned(account: int) -> None:
    address, public_key = ABANDON_ACCOUNTS[account]
    seed = mnemonic_seed(ABANDON)
    key = master_key(seed).derive(account_path(account)).private_key()
    assert str(key.address) == address
    assert key.public_key.hex() == public_key
    secret, independent_public_key = independent_account_key(seed, account)
    assert key.secret == secret.to_bytes(32, "big")
    assert independent_public_key.hex() == public_key
    # The address: the first 20 bytes of SHA-256 of the key, in bech32m (BIP-350's vectors
    # check bech32m itself: tests/chain/test_bech32m.py).
    assert bech32m.encode_bytes("pac", hashlib.sha256(independent_public_key).digest()[:20]) == (
        address
    )
