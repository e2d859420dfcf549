"""BIP-32 hierarchical deterministic keys on secp256k1, and the accounts' derivation path.

Written here on coincurve: the PyPI `bip32` package pins coincurve below 21, which we do not.
Only private derivation (CKDpriv) is needed; public keys are computed from the private ones.
Extended keys serialise to and parse from the Base58Check `xprv`/`xpub` forms with the mainnet
version bytes, which is how the BIP-32 and BIP-39 test vectors check them
(tests/vectors/bip32.json, tests/vectors/bip39.json).

Rules (BIP-32 §Key derivation, §Serialization format):
- A seed is 16 to 64 bytes. A master key whose I_L is 0 or ≥ n is invalid (`ValueError`).
- A child whose I_L is ≥ n or whose key is 0 is invalid, and derivation proceeds with the
  next index (probability below 2**-127: never seen, but specified). The key returned then
  carries the index actually used.
- The sum k_par + I_L is libsecp256k1's `seckey_tweak_add`: constant time, and it fails
  exactly in BIP-32's two invalid cases (I_L ≥ n, a sum of 0).
- Paths read `m/44'/9740'/0'/0/0`: `'`, `h` or `H` marks a hardened index, written below 2**31;
  anything else (no leading `m`, an empty step, a sign, a leading zero, an index too large) is
  a `ValueError` saying what.
- Parsing a serialised key checks everything BIP-32's test vector 5 lists: checksum, length,
  version, key prefix, the key's range or curve point, and a depth-0 key's fingerprint and index.

Pacata's accounts live at `m/44'/9740'/<account>'/0/0` (BIP-44 shape: purpose, coin type,
account, external chain, first address): one hardened branch per account, so that an exported
account key reveals nothing of the other accounts. 9740 is not registered in SLIP-44
(docs/wallet.md §Derivation).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Self

import coincurve
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT
from Crypto.Hash import RIPEMD160

from pacata.chain.keys import PrivateKey

COIN_TYPE = 9740
# `.format(account=…)` gives an account's path; wallet files record it (docs/wallet.md).
ACCOUNT_PATH_TEMPLATE = f"m/44'/{COIN_TYPE}'/{{account}}'/0/0"
HARDENED = 2**31
MAX_INDEX = 2**32 - 1
MAX_DEPTH = 255
MIN_SEED_BYTES = 16
MAX_SEED_BYTES = 64

# secp256k1's group order n.
CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

XPRV_VERSION = bytes.fromhex("0488ade4")
XPUB_VERSION = bytes.fromhex("0488b21e")
SERIALIZED_SIZE = 78
_MASTER_HMAC_KEY = b"Bitcoin seed"
_HARDENED_MARKS = ("'", "h", "H")


def _hmac_sha512(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, hashlib.sha512)


def _tweak_add(secret: bytes, tweak: bytes) -> bytes | None:
    """`secret` + `tweak` mod n, or None when `tweak` ≥ n or the sum is 0 (BIP-32's invalid
    child); libsecp256k1 directly, as pacata/chain/keys.py does: coincurve's `PrivateKey.add`
    would make two key objects (a public key and a keypair) per step, doubling the cost."""
    buffer = ffi.new("unsigned char[32]", secret)
    if not lib.secp256k1_ec_seckey_tweak_add(GLOBAL_CONTEXT.ctx, buffer, tweak):
        return None
    return bytes(ffi.buffer(buffer, 32))


def _fingerprint(public_key: bytes) -> bytes:
    """The first 4 bytes of HASH160 (RIPEMD-160 of SHA-256) of a compressed public key."""
    # pycryptodome's RIPEMD-160: hashlib has it only when OpenSSL's legacy provider is loaded.
    return RIPEMD160.new(hashlib.sha256(public_key).digest()).digest()[:4]


def _check_header(depth: int, parent_fingerprint: bytes, child_number: int) -> None:
    if not 0 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be from 0 to {MAX_DEPTH}")
    if len(parent_fingerprint) != 4:
        raise ValueError("a parent fingerprint is 4 bytes")
    if not 0 <= child_number <= MAX_INDEX:
        raise ValueError("a child number is below 2**32")
    if depth == 0 and parent_fingerprint != bytes(4):
        raise ValueError("a master key (depth 0) has a zero parent fingerprint")
    if depth == 0 and child_number != 0:
        raise ValueError("a master key (depth 0) has child number 0")


@dataclass(frozen=True, slots=True)
class ExtendedPublicKey:
    """A public key with its chain code and place in the tree (BIP-32's extended public key)."""

    public_key: bytes
    chain_code: bytes
    depth: int
    parent_fingerprint: bytes
    child_number: int

    def __post_init__(self) -> None:
        if len(self.public_key) != 33 or self.public_key[0] not in (2, 3):
            raise ValueError("a public key is 33 bytes starting with 02 or 03")
        try:
            coincurve.PublicKey(self.public_key)
        except ValueError:
            raise ValueError("the public key is not a point on secp256k1") from None
        if len(self.chain_code) != 32:
            raise ValueError("a chain code is 32 bytes")
        _check_header(self.depth, self.parent_fingerprint, self.child_number)

    def xpub(self) -> str:
        """The Base58Check serialisation (mainnet `xpub…`)."""
        return _serialize(XPUB_VERSION, self, self.public_key)


@dataclass(frozen=True, slots=True, repr=False)
class ExtendedKey:
    """A private key with its chain code and place in the tree (BIP-32's extended private key)."""

    secret: bytes
    chain_code: bytes
    depth: int
    parent_fingerprint: bytes
    child_number: int

    def __post_init__(self) -> None:
        if len(self.secret) != 32 or not 0 < int.from_bytes(self.secret, "big") < CURVE_ORDER:
            raise ValueError("a private key is 32 bytes, from 1 to n-1")
        if len(self.chain_code) != 32:
            raise ValueError("a chain code is 32 bytes")
        _check_header(self.depth, self.parent_fingerprint, self.child_number)

    def __repr__(self) -> str:
        return f"ExtendedKey(depth={self.depth}, child_number={self.child_number}, ...)"

    @property
    def public_key(self) -> bytes:
        """The compressed public key."""
        return bytes(coincurve.PublicKey.from_secret(self.secret).format(compressed=True))

    @property
    def fingerprint(self) -> bytes:
        """This key's fingerprint: its children's `parent_fingerprint`."""
        return _fingerprint(self.public_key)

    def child(self, index: int) -> ExtendedKey:
        """The child at `index` (hardened from 2**31); the next index if that child is invalid."""
        if self.depth == MAX_DEPTH:
            raise ValueError(f"a key at depth {MAX_DEPTH} has no children")
        while True:
            if not 0 <= index <= MAX_INDEX:
                raise ValueError(f"a child index is from 0 to 2**32-1, not {index}")
            child = self._child_at(index)
            if child is not None:
                return child
            index += 1

    def _child_at(self, index: int) -> ExtendedKey | None:
        public_key = self.public_key
        if index >= HARDENED:
            data = b"\x00" + self.secret + index.to_bytes(4, "big")
        else:
            data = public_key + index.to_bytes(4, "big")
        digest = _hmac_sha512(self.chain_code, data)
        secret = _tweak_add(self.secret, digest[:32])
        if secret is None:
            return None
        return ExtendedKey(secret, digest[32:], self.depth + 1, _fingerprint(public_key), index)

    def derive(self, path: str) -> ExtendedKey:
        """The key at `path` (`m/44'/9740'/0'/0/0`) below this master key."""
        indices = parse_path(path)
        if self.depth != 0:
            raise ValueError("an 'm/…' path starts at a master key (depth 0)")
        key = self
        for index in indices:
            key = key.child(index)
        return key

    def private_key(self) -> PrivateKey:
        return PrivateKey(self.secret)

    def public(self) -> ExtendedPublicKey:
        return ExtendedPublicKey(
            self.public_key, self.chain_code, self.depth, self.parent_fingerprint, self.child_number
        )

    def xprv(self) -> str:
        """The Base58Check serialisation (mainnet `xprv…`)."""
        return _serialize(XPRV_VERSION, self, b"\x00" + self.secret)

    def xpub(self) -> str:
        """The serialisation of the public half (mainnet `xpub…`)."""
        return self.public().xpub()

    @classmethod
    def from_xprv(cls, text: str) -> Self:
        """The key serialised as `text`; `ValueError` for an `xpub` or anything invalid."""
        key = parse_extended_key(text)
        if not isinstance(key, cls):
            raise ValueError("an extended public key (xpub), not a private one")
        return key


def master_key(seed: bytes) -> ExtendedKey:
    """The master key of `seed` (16 to 64 bytes; a BIP-39 seed is 64)."""
    if not MIN_SEED_BYTES <= len(seed) <= MAX_SEED_BYTES:
        raise ValueError(f"a seed is {MIN_SEED_BYTES} to {MAX_SEED_BYTES} bytes, not {len(seed)}")
    digest = _hmac_sha512(_MASTER_HMAC_KEY, seed)
    if not 0 < int.from_bytes(digest[:32], "big") < CURVE_ORDER:
        raise ValueError("this seed gives an invalid master key; use another seed")
    return ExtendedKey(digest[:32], digest[32:], 0, bytes(4), 0)


def account_path(index: int) -> str:
    """The derivation path of account `index`: `m/44'/9740'/<index>'/0/0`."""
    if not 0 <= index < HARDENED:
        raise ValueError(f"an account index is from 0 to 2**31-1, not {index}")
    return ACCOUNT_PATH_TEMPLATE.format(account=index)


def parse_path(path: str) -> tuple[int, ...]:
    """The child indices of `path` (`m/0'/1`: hardened ones from 2**31); `ValueError` says what
    is wrong with a malformed one."""
    steps = path.split("/")
    if steps[0] != "m":
        raise ValueError(f"a derivation path starts with 'm', not {steps[0]!r}")
    indices = []
    for position, step in enumerate(steps[1:], start=1):
        hardened = step.endswith(_HARDENED_MARKS)
        digits = step[:-1] if hardened else step
        if not digits:
            raise ValueError(f"step {position} of the path is empty")
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(f"step {position} of the path ({step!r}) is not a number")
        if len(digits) > 1 and digits[0] == "0":
            raise ValueError(f"step {position} of the path ({step!r}) has a leading zero")
        index = int(digits)
        if index >= HARDENED:
            raise ValueError(
                f"step {position} of the path ({step!r}) is not below 2**31 "
                "(write a hardened index as 0' to 2147483647')"
            )
        indices.append(index + HARDENED if hardened else index)
    if len(indices) > MAX_DEPTH:
        raise ValueError(f"a path has at most {MAX_DEPTH} steps")
    return tuple(indices)


def _serialize(version: bytes, key: ExtendedKey | ExtendedPublicKey, key_data: bytes) -> str:
    payload = (
        version
        + bytes((key.depth,))
        + key.parent_fingerprint
        + key.child_number.to_bytes(4, "big")
        + key.chain_code
        + key_data
    )
    return base58check_encode(payload)


def parse_extended_key(text: str) -> ExtendedKey | ExtendedPublicKey:
    """The `xprv…` or `xpub…` key serialised as `text` (mainnet version bytes); `ValueError`
    says what makes it invalid."""
    payload = base58check_decode(text)
    if len(payload) != SERIALIZED_SIZE:
        raise ValueError(f"an extended key is {SERIALIZED_SIZE} bytes, not {len(payload)}")
    version, depth = payload[:4], payload[4]
    parent_fingerprint, child_number = payload[5:9], int.from_bytes(payload[9:13], "big")
    chain_code, key_data = payload[13:45], payload[45:]
    if version == XPRV_VERSION:
        if key_data[0] != 0:
            raise ValueError("the private key data of an xprv starts with 00")
        return ExtendedKey(key_data[1:], chain_code, depth, parent_fingerprint, child_number)
    if version == XPUB_VERSION:
        return ExtendedPublicKey(key_data, chain_code, depth, parent_fingerprint, child_number)
    raise ValueError(f"unknown extended key version {version.hex()} (not xprv nor xpub)")


_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_VALUES = {char: value for value, char in enumerate(_BASE58_ALPHABET)}
# 78 payload bytes + 4 checksum bytes take 111 or 112 characters; nothing of ours is longer.
_MAX_BASE58_CHARS = 200


def base58check_encode(payload: bytes) -> str:
    data = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    number = int.from_bytes(data, "big")
    chars = []
    while number:
        number, digit = divmod(number, 58)
        chars.append(_BASE58_ALPHABET[digit])
    zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * zeros + "".join(reversed(chars))


def base58check_decode(text: str) -> bytes:
    """The payload of a Base58Check string; `ValueError` for a bad character or checksum."""
    if len(text) > _MAX_BASE58_CHARS:
        raise ValueError("too long for an extended key")
    number = 0
    for position, char in enumerate(text, start=1):
        value = _BASE58_VALUES.get(char)
        if value is None:
            raise ValueError(f"character {position} ({char!r}) is not Base58")
        number = number * 58 + value
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    data = bytes(zeros) + body
    if len(data) < 4:
        raise ValueError("too short for Base58Check")
    payload, checksum = data[:-4], data[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        raise ValueError("the Base58Check checksum does not match")
    return payload
