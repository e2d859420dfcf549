"""The wallet files: one JSON file per wallet in the wallet directory (docs/wallet.md §The file).

A file `<directory>/<name>.json` (version 1) holds a public part, readable without the
passphrase (version, name, kind, creation time, derivation path, the accounts with their
addresses and labels, the scrypt and cipher parameters), and the sealed secret (`ciphertext`,
`check`; pacata/wallet/keystore.py). The secret is a small JSON document:
`{"mnemonic": …, "seed_passphrase": …}` for a mnemonic wallet, `{"key": <hex>}` for a single
imported key.

Rules:
- The seal's associated data is the canonical JSON (sorted keys, compact) of the public part as
  the file holds it, so an altered address, label, parameter or any other byte of meaning
  fails at unlock (`WalletCorrupt`). Until then the public part is what the file says: `read`,
  `wallets` and `find` show it unauthenticated.
- Unlocking also derives every account's key again and compares its address with the file's:
  a file whose addresses do not come from its secret is `WalletCorrupt`, whatever wrote it.
- A file is read through `pacata.documents` (bounded, UTF-8, JSON) and checked strictly:
  unknown keys, wrong types, a name that is not the file's, an unknown version are
  `WalletCorrupt` naming the file.
- Files are written whole (`write_file_atomically`) with mode 0600, in a directory made 0700
  (pacata/wallet/locations.py), under the directory's lock. Creating or importing never
  replaces a file (`WalletExists`). Every argument is checked before anything is written, so a
  failed operation leaves the directory as it was.
- Re-sealing (a new account, a new label) keeps the file's scrypt costs, with a fresh salt and
  nonce; the store's `kdf` costs are for new files only.
"""

from __future__ import annotations

import itertools
import json
import re
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from marshmallow import Schema, ValidationError, fields, post_load, validate

from pacata.chain.keys import Address, PrivateKey, check_public_key
from pacata.documents import parse_json, read_text_file, write_file_atomically
from pacata.errors import DocumentError
from pacata.json_fields import HexBytes, ParsedText, describe_validation_errors
from pacata.wallet.derivation import (
    ACCOUNT_PATH_TEMPLATE,
    HARDENED,
    account_path,
    master_key,
)
from pacata.wallet.errors import (
    InvalidKey,
    InvalidLabel,
    InvalidWalletName,
    UnknownAccount,
    WalletCorrupt,
    WalletError,
    WalletExists,
    WalletNotFound,
    WrongPassphrase,
)
from pacata.wallet.keystore import (
    CHECK_SIZE,
    CipherSchema,
    ScryptParams,
    ScryptParamsSchema,
    Sealed,
    cipher_document,
    new_nonce,
    seal,
    unseal,
)
from pacata.wallet.locations import (
    ADDRESS_BOOK_FILE,
    directory_lock,
    make_private_directory,
    warn_if_shared,
    warn_once,
)
from pacata.wallet.mnemonics import check_mnemonic, mnemonic_seed, new_mnemonic

FILE_VERSION = 1
FILE_SUFFIX = ".json"
FILE_MODE = 0o600
MAX_WALLET_FILE_BYTES = 1024 * 1024
MAX_ACCOUNTS = 1000
MAX_LABEL_CHARS = 64
CREATED_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

WalletKind = Literal["mnemonic", "key"]
KINDS: tuple[WalletKind, ...] = ("mnemonic", "key")

_WALLET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# The address book shares the directory; its file must never be taken for a wallet's.
_RESERVED_NAMES = frozenset({ADDRESS_BOOK_FILE.removesuffix(FILE_SUFFIX)})
# What the seal does not cover: itself.
_SEALED_KEYS = ("ciphertext", "check")


def check_wallet_name(name: str) -> str:
    """`name` if it can name a wallet, else `InvalidWalletName` saying why."""
    if not _WALLET_NAME.fullmatch(name):
        raise InvalidWalletName(
            f"invalid wallet name {name!r}: 1 to 64 of A-Z a-z 0-9 _ . -, starting with a "
            "letter or digit"
        )
    if name.lower().endswith(FILE_SUFFIX):
        raise InvalidWalletName(f"invalid wallet name {name!r}: leave out the {FILE_SUFFIX}")
    if name in _RESERVED_NAMES:
        raise InvalidWalletName(f"invalid wallet name {name!r}: kept for the address book")
    return name


def check_label(label: str) -> str:
    """`label` if it can label an account (printable, at most 64 characters), else
    `InvalidLabel`."""
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidLabel(f"a label has at most {MAX_LABEL_CHARS} characters")
    if not label.isprintable():
        raise InvalidLabel("a label holds no control characters nor line breaks")
    return label


@dataclass(frozen=True, slots=True)
class AccountEntry:
    """An account of a wallet: its index (its derivation path's account), address, label and
    public key (public, so that a transaction can be built and shown before the wallet is
    unlocked to sign it)."""

    index: int
    address: Address
    label: str
    public_key: bytes

    def __post_init__(self) -> None:
        if Address.from_public_key(self.public_key) != self.address:
            raise ValueError(f"address {self.address} is not the public key's")

    @classmethod
    def of_key(cls, index: int, key: PrivateKey, label: str = "") -> AccountEntry:
        return cls(index, key.address, label, key.public_key)

    def to_document(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "address": str(self.address),
            "public_key": self.public_key.hex(),
            "label": self.label,
        }


@dataclass(frozen=True, slots=True)
class WalletInfo:
    """A wallet's public part, readable without the passphrase (and not authenticated until
    the wallet is unlocked)."""

    name: str
    kind: WalletKind
    accounts: tuple[AccountEntry, ...]
    created: str  # ISO-8601 UTC, to the second: 2026-01-31T12:00:00Z
    path: Path

    def account(self, index: int) -> AccountEntry:
        """The account `index`; `UnknownAccount` if the wallet has none of that index."""
        for entry in self.accounts:
            if entry.index == index:
                return entry
        known = ", ".join(str(entry.index) for entry in self.accounts)
        raise UnknownAccount(f"wallet '{self.name}' has no account {index} (accounts: {known})")


class UnlockedWallet:
    """An opened wallet: its accounts' keys, and its secret for an export."""

    __slots__ = ("_keys", "info", "mnemonic", "secret_key", "seed_passphrase")

    def __init__(
        self,
        info: WalletInfo,
        keys: Mapping[int, PrivateKey],
        *,
        mnemonic: str | None = None,
        seed_passphrase: str | None = None,
        secret_key: bytes | None = None,
    ) -> None:
        self.info = info
        self._keys = dict(keys)
        # A mnemonic wallet's words and BIP-39 passphrase (both are needed to restore it).
        self.mnemonic = mnemonic
        self.seed_passphrase = seed_passphrase
        # A key wallet's 32-byte secret.
        self.secret_key = secret_key

    def key(self, index: int = 0) -> PrivateKey:
        """The key of account `index`; `UnknownAccount` if there is none."""
        return self._keys[self.info.account(index).index]

    def key_for(self, address: Address) -> PrivateKey | None:
        """The key of the account at `address`, or None if no account of this wallet is there."""
        for entry in self.info.accounts:
            if entry.address == address:
                return self._keys[entry.index]
        return None

    def __repr__(self) -> str:
        return f"UnlockedWallet({self.info.name!r}, {len(self.info.accounts)} accounts)"


def _check_created(value: str) -> None:
    try:
        datetime.strptime(value, CREATED_FORMAT)
    except ValueError:
        raise ValidationError("not a UTC time like 2026-01-31T12:00:00Z") from None


def _check_stored_label(value: str) -> None:
    try:
        check_label(value)
    except InvalidLabel as exc:
        raise ValidationError(str(exc)) from None


def _public_key(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError("not hexadecimal") from None
    return check_public_key(raw)


class _AccountSchema(Schema):
    index = fields.Integer(required=True, strict=True, validate=validate.Range(0, HARDENED - 1))
    address = ParsedText(Address, Address.from_string, what="a pac1… address", required=True)
    public_key = ParsedText(bytes, _public_key, what="a public key (66 hex digits)", required=True)
    label = fields.String(required=True, validate=_check_stored_label)

    @post_load
    def _entry(self, values: dict[str, Any], **_: Any) -> AccountEntry:
        try:
            return AccountEntry(
                values["index"], values["address"], values["label"], values["public_key"]
            )
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class _WalletFileSchema(Schema):
    version = fields.Integer(required=True, strict=True, validate=validate.Equal(FILE_VERSION))
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    created = fields.String(required=True, validate=_check_created)
    derivation = fields.String(required=True, allow_none=True)
    accounts = fields.List(
        fields.Nested(_AccountSchema), required=True, validate=validate.Length(1, MAX_ACCOUNTS)
    )
    kdf = fields.Nested(ScryptParamsSchema, required=True)
    cipher = fields.Nested(CipherSchema, required=True)
    ciphertext = HexBytes(required=True)
    check = HexBytes(required=True, size=CHECK_SIZE)


@dataclass(frozen=True, slots=True)
class _WalletFile:
    info: WalletInfo
    public: dict[str, Any]  # the public part as the file holds it: the associated data
    sealed: Sealed


def _canonical(document: Mapping[str, Any]) -> bytes:
    """The one encoding of a JSON document: the associated data of a wallet's public part,
    and the bytes of its secret."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class DamagedWallet:
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class WalletSurvey:
    """The wallets of a directory that can be read, and those that cannot."""

    wallets: tuple[WalletInfo, ...]
    damaged: tuple[DamagedWallet, ...]


class WalletStore:
    """The wallets in `directory`. `kdf` gives the scrypt costs of new files (its salt is not
    used: each file gets its own); reading always uses a file's own."""

    def __init__(self, directory: Path, kdf: ScryptParams | None = None) -> None:
        self.directory = directory
        costs = kdf if kdf is not None else ScryptParams()
        self._costs = (costs.n, costs.r, costs.p)

    def names(self) -> list[str]:
        """The names of the wallets, sorted: the files `<name>.json` with a valid name."""
        try:
            paths = list(self.directory.iterdir())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise WalletError(
                f"cannot list the wallet directory {self.directory}: {exc.strerror}"
            ) from None
        warn_if_shared(self.directory)
        names = []
        for path in paths:
            name = path.name.removesuffix(FILE_SUFFIX)
            if name == path.name or not path.is_file():
                continue
            try:
                names.append(check_wallet_name(name))
            except InvalidWalletName:
                continue
        return sorted(names)

    def read(self, name: str) -> WalletInfo:
        """The public part of wallet `name`."""
        return self._load(name).info

    def wallets(self) -> list[WalletInfo]:
        """Every wallet's public part, by name; `WalletCorrupt` for the first unreadable one."""
        return [self.read(name) for name in self.names()]

    def survey(self) -> WalletSurvey:
        """Every readable wallet's public part, and the reason each other one cannot be read:
        what a listing shows (one damaged file must not hide the others)."""
        readable, damaged = [], []
        for name in self.names() if self.directory.is_dir() else []:
            try:
                readable.append(self.read(name))
            except WalletError as error:
                damaged.append(DamagedWallet(name, str(error)))
        return WalletSurvey(tuple(readable), tuple(damaged))

    def find(self, address: Address) -> tuple[WalletInfo, AccountEntry] | None:
        """The wallet and account at `address` (as the readable files say), or None."""
        for info in self.survey().wallets:
            for entry in info.accounts:
                if entry.address == address:
                    return info, entry
        return None

    def unlock(self, name: str, passphrase: str) -> UnlockedWallet:
        """Wallet `name` opened with `passphrase`: `WrongPassphrase`, or `WalletCorrupt` if the
        file was altered or its addresses do not come from its secret."""
        unlocked, _ = self._unlock(self._load(name), passphrase)
        return unlocked

    def create(
        self, name: str, passphrase: str, *, words: int = 24, seed_passphrase: str = ""
    ) -> tuple[WalletInfo, str]:
        """A new mnemonic wallet with account 0; returns it and its new mnemonic."""
        self.check_new_name(name)
        mnemonic = new_mnemonic(words)
        return self._create_mnemonic(name, mnemonic, passphrase, seed_passphrase, 1), mnemonic

    def import_mnemonic(
        self,
        name: str,
        mnemonic: str,
        passphrase: str,
        *,
        seed_passphrase: str = "",
        accounts: int = 1,
    ) -> WalletInfo:
        """A wallet of an existing mnemonic, with accounts 0 to `accounts` - 1."""
        self.check_new_name(name)
        words = check_mnemonic(mnemonic)
        if not 1 <= accounts <= MAX_ACCOUNTS:
            raise WalletError(f"a wallet has 1 to {MAX_ACCOUNTS} accounts, not {accounts}")
        return self._create_mnemonic(name, words, passphrase, seed_passphrase, accounts)

    def import_key(self, name: str, secret: bytes, passphrase: str) -> WalletInfo:
        """A wallet of one secp256k1 private key (32 bytes), as account 0."""
        self.check_new_name(name)
        try:
            key = PrivateKey(secret)
        except ValueError as exc:
            raise InvalidKey(f"not a private key: {exc}") from None
        secret_document = {"key": key.secret.hex()}
        return self._write_new(name, "key", secret_document, [key], passphrase)

    def add_account(self, name: str, passphrase: str, label: str = "") -> WalletInfo:
        """Wallet `name` with one more account (the next index), labelled `label`."""
        check_label(label)
        with self._locked_existing(name):
            loaded = self._load(name)
            info = loaded.info
            if info.kind != "mnemonic":
                raise WalletError(
                    f"wallet '{name}' holds one imported key; only a mnemonic wallet has more "
                    "accounts"
                )
            if len(info.accounts) >= MAX_ACCOUNTS:
                raise WalletError(f"wallet '{name}' has {MAX_ACCOUNTS} accounts, the most")
            unlocked, secret = self._unlock(loaded, passphrase)
            assert unlocked.mnemonic is not None  # a mnemonic wallet opens with its words
            index = info.accounts[-1].index + 1
            seed = mnemonic_seed(unlocked.mnemonic, unlocked.seed_passphrase or "")
            key = master_key(seed).derive(account_path(index)).private_key()
            accounts = (*info.accounts, AccountEntry.of_key(index, key, label))
            return self._reseal(loaded, accounts, secret, passphrase)

    def set_label(self, name: str, passphrase: str, index: int, label: str) -> WalletInfo:
        """Wallet `name` with account `index` labelled `label`."""
        check_label(label)
        with self._locked_existing(name):
            loaded = self._load(name)
            loaded.info.account(index)
            _, secret = self._unlock(loaded, passphrase)
            accounts = tuple(
                replace(entry, label=label) if entry.index == index else entry
                for entry in loaded.info.accounts
            )
            return self._reseal(loaded, accounts, secret, passphrase)

    def _path(self, name: str) -> Path:
        return self.directory / f"{check_wallet_name(name)}{FILE_SUFFIX}"

    def _not_found(self, name: str) -> WalletNotFound:
        names = self.names()
        listed = f"wallets: {', '.join(names)}" if names else "no wallets"
        return WalletNotFound(f"no wallet named '{name}' in {self.directory} ({listed})")

    def _load(self, name: str) -> _WalletFile:
        path = self._path(name)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise self._not_found(name) from None
        except OSError as exc:
            raise WalletError(f"cannot read wallet file {path}: {exc.strerror}") from None
        warn_if_shared(self.directory)
        if not stat.S_ISREG(mode):
            raise WalletCorrupt.of_file(path, "not a regular file")
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warn_once(path, f"wallet file {path} is accessible to other users; chmod 600 it")
        try:
            text = read_text_file(path, "wallet file", MAX_WALLET_FILE_BYTES)
        except DocumentError as exc:
            raise WalletCorrupt(str(exc)) from None
        try:
            document = parse_json(text)
        except DocumentError as exc:
            raise WalletCorrupt.of_file(path, str(exc)) from None
        return _decode_wallet_file(document, name, path)

    def _unlock(self, loaded: _WalletFile, passphrase: str) -> tuple[UnlockedWallet, bytes]:
        info = loaded.info
        try:
            secret = unseal(loaded.sealed, passphrase, _canonical(loaded.public))
        except WrongPassphrase:
            raise WrongPassphrase(f"wrong passphrase for wallet '{info.name}'") from None
        except WalletCorrupt as exc:
            raise WalletCorrupt.of_file(info.path, str(exc)) from None
        return _open_secret(info, secret), secret

    def check_new_name(self, name: str) -> None:
        """`InvalidWalletName` or `WalletExists` unless `name` can name a new wallet (for a
        caller that asks for a passphrase before creating it)."""
        path = self._path(name)
        if path.exists() or path.is_symlink():
            raise WalletExists(f"a wallet named '{name}' exists already in {self.directory}")

    def _create_mnemonic(
        self, name: str, words: str, passphrase: str, seed_passphrase: str, accounts: int
    ) -> WalletInfo:
        master = master_key(mnemonic_seed(words, seed_passphrase))
        keys = [master.derive(account_path(index)).private_key() for index in range(accounts)]
        secret_document = {"mnemonic": words, "seed_passphrase": seed_passphrase}
        return self._write_new(name, "mnemonic", secret_document, keys, passphrase)

    def _write_new(
        self,
        name: str,
        kind: WalletKind,
        secret_document: Mapping[str, str],
        keys: list[PrivateKey],
        passphrase: str,
    ) -> WalletInfo:
        make_private_directory(self.directory)
        warn_if_shared(self.directory)
        with directory_lock(self.directory):
            # Again under the lock: another process may have made it since `check_new_name`.
            self.check_new_name(name)
            info = WalletInfo(
                name,
                kind,
                tuple(AccountEntry.of_key(index, key) for index, key in enumerate(keys)),
                datetime.now(UTC).strftime(CREATED_FORMAT),
                self._path(name),
            )
            self._write(info, _canonical(secret_document), passphrase, self._costs)
            return info

    def _reseal(
        self,
        loaded: _WalletFile,
        accounts: tuple[AccountEntry, ...],
        secret: bytes,
        passphrase: str,
    ) -> WalletInfo:
        info = replace(loaded.info, accounts=accounts)
        params = loaded.sealed.params
        self._write(info, secret, passphrase, (params.n, params.r, params.p))
        return info

    def _write(
        self, info: WalletInfo, secret: bytes, passphrase: str, costs: tuple[int, int, int]
    ) -> None:
        params = ScryptParams.fresh(*costs)
        nonce = new_nonce()
        public: dict[str, Any] = {
            "version": FILE_VERSION,
            "name": info.name,
            "kind": info.kind,
            "created": info.created,
            "derivation": ACCOUNT_PATH_TEMPLATE if info.kind == "mnemonic" else None,
            "accounts": [entry.to_document() for entry in info.accounts],
            "kdf": params.to_document(),
            "cipher": cipher_document(nonce),
        }
        sealed = seal(secret, passphrase, _canonical(public), params, nonce=nonce)
        document = {**public, "ciphertext": sealed.ciphertext.hex(), "check": sealed.check.hex()}
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        try:
            write_file_atomically(info.path, text.encode("utf-8"), FILE_MODE)
        except OSError as exc:
            raise WalletError(f"cannot write wallet file {info.path}: {exc.strerror}") from None

    @contextmanager
    def _locked_existing(self, name: str) -> Iterator[None]:
        if not self._path(name).exists():
            raise self._not_found(name)
        with directory_lock(self.directory):
            yield


def _decode_wallet_file(document: object, name: str, path: Path) -> _WalletFile:
    if not isinstance(document, dict):
        raise WalletCorrupt.of_file(path, "not a wallet file (not a JSON object)")
    version = document.get("version")
    if version is None:
        raise WalletCorrupt.of_file(path, "not a wallet file (it has no version)")
    if type(version) is not int or version != FILE_VERSION:
        raise WalletCorrupt.of_file(
            path, f"version {version!r} is not one this Pacata reads (it reads {FILE_VERSION})"
        )
    try:
        values = _WalletFileSchema().load(document)
    except ValidationError as exc:
        raise WalletCorrupt.of_file(
            path, "; ".join(describe_validation_errors(exc.messages))
        ) from None
    if values["name"] != name:
        raise WalletCorrupt.of_file(
            path, f"it holds wallet '{values['name']}' (a wallet file cannot be renamed)"
        )
    kind: WalletKind = values["kind"]
    accounts: list[AccountEntry] = values["accounts"]
    if kind == "mnemonic" and values["derivation"] != ACCOUNT_PATH_TEMPLATE:
        raise WalletCorrupt.of_file(path, f"unknown derivation path {values['derivation']!r}")
    if kind == "key" and (values["derivation"] is not None or [a.index for a in accounts] != [0]):
        raise WalletCorrupt.of_file(path, "a key wallet has account 0 only and no derivation")
    indices = [entry.index for entry in accounts]
    if any(later <= earlier for earlier, later in itertools.pairwise(indices)):
        raise WalletCorrupt.of_file(path, "the accounts are not in increasing index order")
    info = WalletInfo(name, kind, tuple(accounts), values["created"], path)
    public = {key: value for key, value in document.items() if key not in _SEALED_KEYS}
    sealed = Sealed(values["kdf"], values["cipher"], values["ciphertext"], values["check"])
    return _WalletFile(info, public, sealed)


def _open_secret(info: WalletInfo, secret: bytes) -> UnlockedWallet:
    """The wallet of the unsealed `secret`, its addresses checked against the file's."""
    try:
        document = json.loads(secret)
    except ValueError:
        document = None
    if info.kind == "mnemonic":
        keys, opened = _open_mnemonic(info, document)
    else:
        keys, opened = _open_key(info, document)
    for entry in info.accounts:
        if keys[entry.index].address != entry.address:
            raise WalletCorrupt.of_file(
                info.path,
                f"account {entry.index}'s address {entry.address} does not come from the "
                "wallet's secret",
            )
    return opened


def _open_mnemonic(info: WalletInfo, document: Any) -> tuple[dict[int, PrivateKey], UnlockedWallet]:
    if (
        not isinstance(document, dict)
        or set(document) != {"mnemonic", "seed_passphrase"}
        or not all(isinstance(value, str) for value in document.values())
    ):
        raise WalletCorrupt.of_file(info.path, "the sealed secret is not a mnemonic wallet's")
    try:
        master = master_key(mnemonic_seed(document["mnemonic"], document["seed_passphrase"]))
    except WalletError as exc:
        raise WalletCorrupt.of_file(info.path, f"the sealed mnemonic: {exc}") from None
    keys = {e.index: master.derive(account_path(e.index)).private_key() for e in info.accounts}
    opened = UnlockedWallet(
        info,
        keys,
        mnemonic=document["mnemonic"],
        seed_passphrase=document["seed_passphrase"],
    )
    return keys, opened


def _open_key(info: WalletInfo, document: Any) -> tuple[dict[int, PrivateKey], UnlockedWallet]:
    try:
        if not isinstance(document, dict) or set(document) != {"key"}:
            raise ValueError("not a key wallet's")
        key = PrivateKey(bytes.fromhex(document["key"]))
    except (ValueError, TypeError):
        raise WalletCorrupt.of_file(info.path, "the sealed secret is not a key wallet's") from None
    keys = {0: key}
    return keys, UnlockedWallet(info, keys, secret_key=key.secret)
