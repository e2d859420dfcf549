"""Account keys, signatures and addresses.

- Keys are secp256k1 (libsecp256k1 through coincurve). Public keys travel compressed (33 bytes);
  any other form is refused so that a key has one encoding.
- Signatures are 64-byte compact ECDSA (r ‖ s) over a 32-byte digest, deterministic (RFC 6979)
  and **low-S only**: libsecp256k1 signs low-S and its verifier refuses high-S, which removes
  the one third-party malleation of ECDSA.
- An address is the first 20 bytes of SHA-256 of the compressed public key, shown as bech32m
  with the prefix `pac` (`pac1…`).

`verify_many` checks a batch of signatures on all cores: coincurve's cffi calls release the GIL,
so plain threads verify in parallel.

Parsing a compressed key (a square root on the curve) costs about a tenth of a verification, and
a block's sender keys are parsed when it is decoded (`check_public_key`) and again when its
signatures are verified; a bounded cache of parsed keys makes the second time free.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Self

import coincurve
from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from pacata.chain import bech32m
from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import sha256
from pacata.errors import DecodeError

PUBLIC_KEY_SIZE = 33
SIGNATURE_SIZE = 64
DIGEST_SIZE = 32
ADDRESS_SIZE = 20
ADDRESS_PREFIX = "pac"

_CTX = GLOBAL_CONTEXT.ctx


class _ParsedKeys:
    """Parsed public keys (`secp256k1_pubkey`) by their compressed encoding; only valid keys.

    Two generations bound the size, like the state tree's node cache: a hit is a dict lookup,
    and when the young generation is full the old one, holding what was not used since, goes.
    Verification threads share it; a lost insertion in a race only costs a parse.
    """

    __slots__ = ("_half", "_old", "_young")

    def __init__(self, half: int) -> None:
        self._half = half
        self._young: dict[bytes, Any] = {}
        self._old: dict[bytes, Any] = {}

    def get(self, public_key: bytes) -> Any:
        """The parsed point of a 33-byte `public_key`, or None if it is not a valid one."""
        if type(public_key) is not bytes:  # a bytearray or memoryview is no dict key
            return _parse_public_key(public_key)
        parsed = self._young.get(public_key)
        if parsed is not None:
            return parsed
        parsed = self._old.get(public_key)
        if parsed is None:
            parsed = _parse_public_key(public_key)
            if parsed is None:
                return None
        if len(self._young) >= self._half:
            self._old = self._young
            self._young = {}
        self._young[public_key] = parsed
        return parsed


def _parse_public_key(public_key: bytes) -> Any:
    parsed = ffi.new("secp256k1_pubkey *")
    if not lib.secp256k1_ec_pubkey_parse(_CTX, parsed, public_key, PUBLIC_KEY_SIZE):
        return None
    return parsed


# 2 x 16 Ki keys of ~300 bytes each (key, parsed point, dict slot): at most ~10 MiB.
_parsed_keys = _ParsedKeys(1 << 14)


def verify_signature(public_key: bytes, digest: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid low-S compact signature of `digest` by `public_key`."""
    if (
        len(public_key) != PUBLIC_KEY_SIZE
        or len(digest) != DIGEST_SIZE
        or len(signature) != SIGNATURE_SIZE
    ):
        return False
    pubkey = _parsed_keys.get(public_key)
    if pubkey is None:
        return False
    sig = ffi.new("secp256k1_ecdsa_signature *")
    if not lib.secp256k1_ecdsa_signature_parse_compact(_CTX, sig, signature):
        return False
    # secp256k1_ecdsa_verify refuses signatures whose S is in the upper half.
    return bool(lib.secp256k1_ecdsa_verify(_CTX, sig, digest, pubkey) == 1)


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_BATCH_PER_THREAD = 64


def _first_invalid_in(items: Sequence[tuple[bytes, bytes, bytes]], start: int) -> int | None:
    for offset, (public_key, digest, signature) in enumerate(items):
        if not verify_signature(public_key, digest, signature):
            return start + offset
    return None


def _pool() -> ThreadPoolExecutor:
    global _executor  # noqa: PLW0603 - one process-wide pool, made on first use
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="pacata-verify"
            )
        return _executor


def first_invalid_signature(
    items: Sequence[tuple[bytes, bytes, bytes]], threads: int | None = None
) -> int | None:
    """The index of the first (public key, digest, signature) in `items` that does not verify,
    or None when all do; on `threads` threads (default: one per core)."""
    workers = min(threads or os.cpu_count() or 1, os.cpu_count() or 1)
    if workers <= 1 or len(items) < 2 * _BATCH_PER_THREAD:
        return _first_invalid_in(items, 0)
    size = -(-len(items) // workers)
    chunks = [(items[start : start + size], start) for start in range(0, len(items), size)]
    verdicts = _pool().map(lambda chunk: _first_invalid_in(*chunk), chunks)
    return min((bad for bad in verdicts if bad is not None), default=None)


def verify_many(items: Sequence[tuple[bytes, bytes, bytes]]) -> bool:
    """True when every (public key, digest, signature) in `items` verifies; uses all cores."""
    return first_invalid_signature(items) is None


@dataclass(frozen=True, slots=True)
class Address(WireObject):
    """A 20-byte account address; `str()` gives its `pac1…` form."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != ADDRESS_SIZE:
            raise ValueError(f"an address is {ADDRESS_SIZE} bytes, got {len(self.raw)}")

    @classmethod
    def from_public_key(cls, public_key: bytes) -> Self:
        return cls(sha256(public_key)[:ADDRESS_SIZE])

    @classmethod
    def from_string(cls, text: str) -> Self:
        """Parses `pac1…`; raises `DecodeError` with the reason for anything else."""
        raw = bech32m.decode_bytes(ADDRESS_PREFIX, text)
        if len(raw) != ADDRESS_SIZE:
            raise DecodeError(f"an address holds {ADDRESS_SIZE} bytes, this one {len(raw)}")
        return cls(raw)

    def __str__(self) -> str:
        return bech32m.encode_bytes(ADDRESS_PREFIX, self.raw)

    def __repr__(self) -> str:
        return f"Address({self})"

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.raw, ADDRESS_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(ADDRESS_SIZE))


def check_public_key(public_key: bytes) -> bytes:
    """`public_key` if it is a valid compressed secp256k1 point, else `DecodeError`."""
    if len(public_key) != PUBLIC_KEY_SIZE or public_key[0] not in (2, 3):
        raise DecodeError("a public key must be a 33-byte compressed secp256k1 point")
    if _parsed_keys.get(public_key) is None:
        raise DecodeError("public key is not a point on secp256k1")
    return public_key


class PrivateKey:
    """A secp256k1 signing key. Never encoded on the wire; the keystore protects it at rest."""

    __slots__ = ("_key", "public_key")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise ValueError("a private key is 32 bytes")
        try:
            self._key = coincurve.PrivateKey(secret)
        except ValueError:
            raise ValueError("private key out of range for secp256k1") from None
        self.public_key: bytes = self._key.public_key.format(compressed=True)

    @classmethod
    def generate(cls) -> Self:
        return cls(coincurve.PrivateKey().secret)

    @property
    def secret(self) -> bytes:
        return bytes(self._key.secret)

    @property
    def address(self) -> Address:
        return Address.from_public_key(self.public_key)

    def sign(self, digest: bytes) -> bytes:
        """Compact 64-byte low-S signature of a 32-byte digest."""
        if len(digest) != DIGEST_SIZE:
            raise ValueError("sign a 32-byte digest")
        der = self._key.sign(digest, hasher=None)
        sig = ffi.new("secp256k1_ecdsa_signature *")
        if not lib.secp256k1_ecdsa_signature_parse_der(_CTX, sig, der, len(der)):
            raise RuntimeError("libsecp256k1 produced an unparsable signature")
        out = ffi.new("unsigned char[64]")
        lib.secp256k1_ecdsa_signature_serialize_compact(_CTX, out, sig)
        return bytes(ffi.buffer(out, SIGNATURE_SIZE))

    def __repr__(self) -> str:
        return f"PrivateKey(address={self.address})"
