"""Sealing a secret under a passphrase: the keystore of the wallet files (docs/wallet.md §The seal).

The seal:
- scrypt (RFC 7914) stretches the passphrase into 64 bytes, with a random salt and the cost
  parameters stored beside the ciphertext. The passphrase is the UTF-8 of its NFKC form, so the
  same passphrase typed with a composed or a decomposed accent, or with a full-width digit,
  opens the file.
- The first 32 bytes key ChaCha20-Poly1305 (RFC 8439) with a random 12-byte nonce. The
  associated data is what the caller binds to the secret (the wallet file's public part), so
  a change to any of it makes decryption fail.
- `check` = SHA-256 of the second 32 bytes is stored too. It tells apart two failures that the
  AEAD alone reports alike: a wrong passphrase derives another check (`WrongPassphrase`); the
  right passphrase meeting altered data derives the stored check and then fails the tag
  (`WalletCorrupt`). It gives a guesser nothing the tag does not: testing a guess against
  either costs one scrypt, and the check's input is independent of the AEAD key.
- The salt and the cost parameters are inputs of the derivation, so changing one (or damaging
  the check itself) derives another check: that reads as a wrong passphrase, and nothing can
  tell the two apart without the passphrase. Parameters outside the bounds below are refused
  before any work, so a file cannot make us allocate gigabytes or spin for minutes.
- Every seal takes a fresh salt, hence a fresh key, so a random nonce is never reused under a
  key.

Rules: no file I/O here (the store reads and writes the files); `ScryptParams` validates its
bounds on construction, so a value of it is always safe to derive with.
"""

from __future__ import annotations

import hmac
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from marshmallow import Schema, ValidationError, fields, post_load, validate

from pacata.chain.hashing import sha256
from pacata.json_fields import HexBytes, describe_validation_errors
from pacata.wallet.errors import WalletCorrupt, WrongPassphrase

KDF_NAME = "scrypt"
CIPHER_NAME = "chacha20-poly1305"
NONCE_SIZE = 12
KEY_SIZE = 32
CHECK_SIZE = 32
SALT_SIZES = (16, 32)

DEFAULT_N = 2**17
DEFAULT_R = 8
DEFAULT_P = 1
MIN_N = 2**10
MAX_N = 2**22
MAX_R = 32
MAX_P = 16
# scrypt's memory is 128·n·r bytes; the default takes 128 MiB. A file may ask for up to 1 GiB
# (n = 2**20 with r = 8): more is refused rather than risk the machine's memory.
MAX_MEMORY = 2**30


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt's cost parameters and salt. The defaults (n = 2**17, r = 8, p = 1: 128 MiB)
    are for new files; reading a file uses the file's own."""

    n: int = DEFAULT_N
    r: int = DEFAULT_R
    p: int = DEFAULT_P
    salt: bytes = field(default_factory=lambda: os.urandom(32), repr=False)

    def __post_init__(self) -> None:
        for name in ("n", "r", "p"):
            if type(getattr(self, name)) is not int:
                raise ValueError(f"scrypt's {name} must be an integer")
        if self.n & (self.n - 1) or not MIN_N <= self.n <= MAX_N:
            raise ValueError(f"scrypt's n must be a power of 2 from 2**10 to 2**22, not {self.n}")
        if not 1 <= self.r <= MAX_R:
            raise ValueError(f"scrypt's r must be from 1 to {MAX_R}, not {self.r}")
        if not 1 <= self.p <= MAX_P:
            raise ValueError(f"scrypt's p must be from 1 to {MAX_P}, not {self.p}")
        if self.memory > MAX_MEMORY:
            raise ValueError(
                f"scrypt with n={self.n}, r={self.r} needs {self.memory >> 20} MiB; "
                f"at most {MAX_MEMORY >> 20} MiB is allowed"
            )
        if not isinstance(self.salt, bytes) or len(self.salt) not in SALT_SIZES:
            raise ValueError("scrypt's salt must be 16 or 32 bytes")

    @classmethod
    def fresh(cls, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> Self:
        """These costs with a new random 32-byte salt."""
        return cls(n, r, p, os.urandom(32))

    @property
    def memory(self) -> int:
        """The bytes scrypt allocates for one derivation (128·n·r)."""
        return 128 * self.n * self.r

    def to_document(self) -> dict[str, Any]:
        return {"name": KDF_NAME, "n": self.n, "r": self.r, "p": self.p, "salt": self.salt.hex()}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Self:
        """The parameters in `document` (the `kdf` object of a wallet file); `ValueError` with
        the reason for anything else, bounds included."""
        try:
            params: Self = ScryptParamsSchema().load(document)
        except ValidationError as exc:
            raise ValueError("; ".join(describe_validation_errors(exc.messages))) from None
        return params

    def derive(self, passphrase: str) -> bytes:
        """The 64 bytes stretched from `passphrase` (its NFKC form, in UTF-8)."""
        normalised = unicodedata.normalize("NFKC", passphrase).encode("utf-8")
        kdf = Scrypt(salt=self.salt, length=KEY_SIZE + CHECK_SIZE, n=self.n, r=self.r, p=self.p)
        return kdf.derive(normalised)


def _integer(low: int, high: int) -> fields.Integer:
    return fields.Integer(required=True, strict=True, validate=validate.Range(low, high))


class ScryptParamsSchema(Schema):
    """The `kdf` object of a wallet file, loaded as `ScryptParams` (bounds checked)."""

    name = fields.String(required=True, validate=validate.Equal(KDF_NAME))
    n = _integer(MIN_N, MAX_N)
    r = _integer(1, MAX_R)
    p = _integer(1, MAX_P)
    salt = HexBytes(required=True)

    @post_load
    def _params(self, values: dict[str, Any], **_: Any) -> ScryptParams:
        try:
            return ScryptParams(values["n"], values["r"], values["p"], values["salt"])
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class CipherSchema(Schema):
    """The `cipher` object of a wallet file, loaded as its nonce."""

    name = fields.String(required=True, validate=validate.Equal(CIPHER_NAME))
    nonce = HexBytes(required=True, size=NONCE_SIZE)

    @post_load
    def _nonce(self, values: dict[str, Any], **_: Any) -> bytes:
        nonce: bytes = values["nonce"]
        return nonce


def cipher_document(nonce: bytes) -> dict[str, Any]:
    """The `cipher` object of a wallet file sealed with `nonce`."""
    return {"name": CIPHER_NAME, "nonce": nonce.hex()}


def new_nonce() -> bytes:
    return os.urandom(NONCE_SIZE)


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed secret: what opens it (the parameters, the nonce) and what it is."""

    params: ScryptParams
    nonce: bytes
    ciphertext: bytes = field(repr=False)
    check: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.nonce) != NONCE_SIZE:
            raise ValueError(f"a nonce is {NONCE_SIZE} bytes")
        if len(self.check) != CHECK_SIZE:
            raise ValueError(f"a check is {CHECK_SIZE} bytes")


def seal(
    secret: bytes,
    passphrase: str,
    associated: bytes,
    params: ScryptParams,
    *,
    nonce: bytes | None = None,
) -> Sealed:
    """`secret` sealed under `passphrase`, bound to `associated`. `params` should carry a fresh
    salt (`ScryptParams.fresh`); `nonce` is random unless given, for a caller whose associated
    data names it (a wallet file's public part holds its nonce)."""
    stretched = params.derive(passphrase)
    nonce = new_nonce() if nonce is None else nonce
    if len(nonce) != NONCE_SIZE:
        raise ValueError(f"a nonce is {NONCE_SIZE} bytes")
    ciphertext = ChaCha20Poly1305(stretched[:KEY_SIZE]).encrypt(nonce, secret, associated)
    return Sealed(params, nonce, ciphertext, sha256(stretched[KEY_SIZE:]))


def unseal(sealed: Sealed, passphrase: str, associated: bytes) -> bytes:
    """The secret in `sealed`. `WrongPassphrase` when `passphrase` derives another check (or
    the salt, the costs or the check were changed); `WalletCorrupt` when it derives the right
    check but the ciphertext, the nonce or `associated` were changed."""
    stretched = sealed.params.derive(passphrase)
    if not hmac.compare_digest(sha256(stretched[KEY_SIZE:]), sealed.check):
        raise WrongPassphrase("wrong passphrase")
    try:
        return ChaCha20Poly1305(stretched[:KEY_SIZE]).decrypt(
            sealed.nonce, sealed.ciphertext, associated
        )
    except InvalidTag:
        raise WalletCorrupt(
            "the passphrase is right but the sealed secret does not authenticate with the "
            "file's content"
        ) from None
