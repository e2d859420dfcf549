"""The wallet files' integrity (pacata/wallet/store.py): every alteration caught with its precise
error, files 0600 in a 0700 directory, nothing on disk changed by a failed operation, no
temporary file left behind."""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.keys import PrivateKey
from pacata.wallet import (
    AccountEntry,
    InvalidKey,
    InvalidLabel,
    InvalidMnemonic,
    InvalidWalletName,
    ScryptParams,
    UnknownAccount,
    WalletCorrupt,
    WalletError,
    WalletExists,
    WalletNotFound,
    WalletStore,
    WrongPassphrase,
    seal,
)

PASSPHRASE = "correct horse battery staple"
ABANDON = " ".join(["abandon"] * 11 + ["about"])
OTHER_KEY = PrivateKey(bytes(31) + b"\x07")

Snapshot = dict[str, tuple[bytes | None, int, int]]
TakeSnapshot = Callable[[Path], Snapshot]


def document_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def write_document(path: Path, document: Any) -> None:
    path.write_text(json.dumps(document), encoding="utf-8")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("attempt", "error"),
    [
        (lambda s: s.unlock("main", "wrong"), WrongPassphrase),
        (lambda s: s.add_account("main", "wrong"), WrongPassphrase),
        (lambda s: s.add_account("main", PASSPHRASE, "a\nb"), InvalidLabel),
        (lambda s: s.add_account("main", PASSPHRASE, "x" * 65), InvalidLabel),
        (lambda s: s.set_label("main", "wrong", 0, "x"), WrongPassphrase),
        (lambda s: s.set_label("main", PASSPHRASE, 5, "x"), UnknownAccount),
        (lambda s: s.set_label("main", PASSPHRASE, 0, "\x1b[31m"), InvalidLabel),
        (lambda s: s.import_mnemonic("new", ABANDON + " abandon", PASSPHRASE), InvalidMnemonic),
        (
            lambda s: s.import_mnemonic("new", " ".join(["abandon"] * 12), PASSPHRASE),
            InvalidMnemonic,
        ),
        (lambda s: s.create("new", PASSPHRASE, words=13), InvalidMnemonic),
        (lambda s: s.import_key("new", bytes(32), PASSPHRASE), InvalidKey),
        (lambda s: s.import_key("main", OTHER_KEY.secret, PASSPHRASE), WalletExists),
        (lambda s: s.create("bad name", PASSPHRASE), InvalidWalletName),
        (lambda s: s.read("absent"), WalletNotFound),
    ],
)
def test_a_failed_operation_changes_nothing(
    store: WalletStore,
    wallet_dir: Path,
    snapshot: TakeSnapshot,
    attempt: Callable[[WalletStore], Any],
    error: type[Exception],
) -> None:
    store.import_mnemonic("main", ABANDON, PASSPHRASE)
    before = snapshot(wallet_dir)
    with pytest.raises(error):
        attempt(store)
    assert snapshot(wallet_dir) == before


def test_a_failed_write_changes_nothing(
    store: WalletStore, wallet_dir: Path, snapshot: TakeSnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.import_mnemonic("main", ABANDON, PASSPHRASE)
    before = snapshot(wallet_dir)

    def full_disk(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(WalletError, match=r"cannot write wallet file .*main\.json: No space left"):
        store.add_account("main", PASSPHRASE)
    with pytest.raises(WalletError, match=r"cannot write wallet file .*other\.json: No space left"):
        store.import_key("other", OTHER_KEY.secret, PASSPHRASE)
    after = snapshot(wallet_dir)
    # The temporary file came and went, which touched the directory's mtime; every file is
    # as it was, and no temporary file is left.
    assert after.pop(".")[2] == before.pop(".")[2]
    assert after == before


def test_no_temporary_file_is_left(store: WalletStore, wallet_dir: Path) -> None:
    store.create("main", PASSPHRASE)
    store.add_account("main", PASSPHRASE, "one")
    store.set_label("main", PASSPHRASE, 0, "zero")
    store.import_key("single", OTHER_KEY.secret, PASSPHRASE)
    assert sorted(os.listdir(wallet_dir)) == ["main.json", "single.json"]


def test_files_are_0600_and_the_directory_0700(store: WalletStore, wallet_dir: Path) -> None:
    previous = os.umask(0)  # the most permissive umask: the modes must not depend on it
    try:
        store.create("main", PASSPHRASE)
        assert mode_of(wallet_dir) == 0o700
        assert mode_of(wallet_dir / "main.json") == 0o600
        store.add_account("main", PASSPHRASE)
        assert mode_of(wallet_dir / "main.json") == 0o600
    finally:
        os.umask(previous)


def test_a_directory_made_under_a_strange_umask_is_0700(
    store: WalletStore, wallet_dir: Path
) -> None:
    previous = os.umask(0o277)
    try:
        store.import_key("single", OTHER_KEY.secret, PASSPHRASE)
    finally:
        os.umask(previous)
    assert mode_of(wallet_dir) == 0o700
    assert mode_of(wallet_dir / "single.json") == 0o600


def test_a_shared_directory_is_used_with_a_warning(
    wallet_dir: Path, cheap_kdf: ScryptParams, caplog: pytest.LogCaptureFixture
) -> None:
    wallet_dir.mkdir(mode=0o755)
    os.chmod(wallet_dir, 0o755)
    with caplog.at_level(logging.WARNING, logger="pacata.wallet"):
        WalletStore(wallet_dir, cheap_kdf).import_key("single", OTHER_KEY.secret, PASSPHRASE)
    assert "accessible to other users (mode 755); chmod 700 it" in caplog.text
    assert mode_of(wallet_dir) == 0o755  # left as the user made it


def test_a_readable_wallet_file_is_used_with_a_warning(
    store: WalletStore, wallet_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    info = store.import_key("single", OTHER_KEY.secret, PASSPHRASE)
    os.chmod(info.path, 0o644)
    with caplog.at_level(logging.WARNING, logger="pacata.wallet"):
        assert store.read("single") == info
    assert "single.json is accessible to other users; chmod 600 it" in caplog.text


def _flip_hex(value: str, position: int = 0) -> str:
    raw = bytearray(bytes.fromhex(value))
    raw[position] ^= 1
    return raw.hex()


def _set(path: tuple[Any, ...], change: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def alter(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = change(target[path[-1]])

    return alter


def _other_account(document: dict[str, Any]) -> None:
    document["accounts"][0] |= {
        "address": str(OTHER_KEY.address),
        "public_key": OTHER_KEY.public_key.hex(),
    }


def _extra_account(document: dict[str, Any]) -> None:
    document["accounts"].append(AccountEntry.of_key(1, OTHER_KEY).to_document())


ALTERED_AT_UNLOCK = {
    "ciphertext": _set(("ciphertext",), _flip_hex),
    "nonce": _set(("cipher", "nonce"), lambda v: _flip_hex(v, 11)),
    "label": _set(("accounts", 0, "label"), lambda _: "mine"),
    "address and key": _other_account,
    "an added account": _extra_account,
    "created": _set(("created",), lambda _: "2020-01-01T00:00:00Z"),
    "a key in upper case": _set(("accounts", 0, "public_key"), str.upper),
}


@pytest.mark.parametrize("alter", ALTERED_AT_UNLOCK.values(), ids=ALTERED_AT_UNLOCK)
def test_an_altered_public_part_is_caught_at_unlock(
    store: WalletStore, alter: Callable[[dict[str, Any]], None]
) -> None:
    """Each of these still reads as a wallet; the seal's associated data catches it."""
    info = store.import_mnemonic("main", ABANDON, PASSPHRASE)
    document = document_of(info.path)
    alter(document)
    write_document(info.path, document)
    store.read("main")  # readable: the public part is not authenticated without the passphrase
    with pytest.raises(
        WalletCorrupt,
        match=re.escape(
            f"wallet file {info.path} is damaged or was altered: the passphrase is right"
        ),
    ):
        store.unlock("main", PASSPHRASE)
    with pytest.raises(WalletCorrupt):
        store.add_account("main", PASSPHRASE)


KEY_INPUTS = {
    "salt": _set(("kdf", "salt"), _flip_hex),
    "n": _set(("kdf", "n"), lambda _: 2**11),
    "r": _set(("kdf", "r"), lambda _: 4),
    "check": _set(("check",), lambda v: _flip_hex(v, 31)),
}


@pytest.mark.parametrize("alter", KEY_INPUTS.values(), ids=KEY_INPUTS)
def test_altered_key_inputs_read_as_a_wrong_passphrase(
    store: WalletStore, alter: Callable[[dict[str, Any]], None]
) -> None:
    """A changed salt, cost or check derives another check: no passphrase opens the file, and
    nothing can tell that from a wrong passphrase (docs/wallet.md §What is authenticated)."""
    info = store.import_mnemonic("main", ABANDON, PASSPHRASE)
    document = document_of(info.path)
    alter(document)
    write_document(info.path, document)
    with pytest.raises(WrongPassphrase, match="wrong passphrase for wallet 'main'"):
        store.unlock("main", PASSPHRASE)


MALFORMED = {
    "version 2": (_set(("version",), lambda _: 2), "version 2 is not one this Pacata reads"),
    "version true": (_set(("version",), lambda _: True), "version True is not one"),
    "version '1'": (_set(("version",), lambda _: "1"), "version '1' is not one"),
    "no version": (lambda d: d.pop("version"), "not a wallet file \\(it has no version\\)"),
    "renamed": (_set(("name",), lambda _: "other"), "it holds wallet 'other'"),
    "unknown kind": (_set(("kind",), lambda _: "multisig"), "kind: Must be one of"),
    "key kind": (_set(("kind",), lambda _: "key"), "a key wallet has account 0 only"),
    "derivation": (
        _set(("derivation",), lambda _: "m/44'/0'/{account}'/0/0"),
        "unknown derivation",
    ),
    "an unknown key": (lambda d: d.update(extra=1), "extra: Unknown field"),
    "no ciphertext": (lambda d: d.pop("ciphertext"), "ciphertext: Missing data"),
    "address checksum": (
        _set(("accounts", 0, "address"), lambda v: v[:-1] + ("q" if v[-1] != "q" else "p")),
        "accounts.0.address",
    ),
    "address of another key": (
        _set(("accounts", 0, "address"), lambda _: str(OTHER_KEY.address)),
        "is not the public key's",
    ),
    "no accounts": (
        _set(("accounts",), lambda _: []),
        "accounts: Length must be between 1 and 1000",
    ),
    "accounts out of order": (
        lambda d: d["accounts"].insert(0, AccountEntry.of_key(1, OTHER_KEY).to_document()),
        "not in increasing index order",
    ),
    "label with a line break": (_set(("accounts", 0, "label"), lambda _: "a\nb"), "line breaks"),
    "n not a power of 2": (_set(("kdf", "n"), lambda _: 1536), "kdf.*power of 2"),
    "n too large": (_set(("kdf", "n"), lambda _: 2**23), "kdf.n"),
    "memory too large": (_set(("kdf", "n"), lambda _: 2**21), "2048 MiB"),
    "salt length": (_set(("kdf", "salt"), lambda v: v[:30]), "16 or 32 bytes"),
    "nonce length": (_set(("cipher", "nonce"), lambda v: v[:22]), "cipher.nonce: must be 12 bytes"),
    "cipher": (_set(("cipher", "name"), lambda _: "aes-256-gcm"), "cipher.name"),
    "check length": (_set(("check",), lambda v: v[:62]), "check: must be 32 bytes"),
    "ciphertext not hex": (_set(("ciphertext",), lambda _: "xyz"), "ciphertext: not hexadecimal"),
    "created": (_set(("created",), lambda _: "yesterday"), "created: not a UTC time"),
}


@pytest.mark.parametrize(("alter", "reason"), MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_file_is_corrupt(
    store: WalletStore,
    wallet_dir: Path,
    snapshot: TakeSnapshot,
    alter: Callable[[dict[str, Any]], None],
    reason: str,
) -> None:
    info = store.import_mnemonic("main", ABANDON, PASSPHRASE)
    document = document_of(info.path)
    alter(document)
    write_document(info.path, document)
    before = snapshot(wallet_dir)
    for attempt in (
        lambda: store.read("main"),
        lambda: store.unlock("main", PASSPHRASE),
        store.wallets,
        lambda: store.add_account("main", PASSPHRASE),
        lambda: store.set_label("main", PASSPHRASE, 0, "x"),
    ):
        with pytest.raises(
            WalletCorrupt,
            match=f"wallet file {re.escape(str(info.path))} is damaged or was altered: .*{reason}",
        ):
            attempt()
    assert snapshot(wallet_dir) == before


DAMAGED = {
    "empty": (b"", "not JSON"),
    "not JSON": (b"hello", "not JSON"),
    "a JSON array": (b"[1, 2]", "not a JSON object"),
    "not UTF-8": (b'{"version": 1, "name": "\xff"}', "not UTF-8"),
    "too large": (b" " * (1024 * 1024 + 1), "larger than 1048576 bytes"),
}


@pytest.mark.parametrize(("content", "reason"), DAMAGED.values(), ids=DAMAGED)
def test_a_file_that_is_not_a_wallet_is_corrupt(
    store: WalletStore, wallet_dir: Path, content: bytes, reason: str
) -> None:
    wallet_dir.mkdir()
    path = wallet_dir / "main.json"
    path.write_bytes(content)
    with pytest.raises(WalletCorrupt, match=reason) as caught:
        store.read("main")
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content


def test_a_truncated_file_is_corrupt(store: WalletStore) -> None:
    info = store.import_mnemonic("main", ABANDON, PASSPHRASE)
    data = info.path.read_bytes()
    info.path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        WalletCorrupt, match=f"{re.escape(str(info.path))} is damaged or was altered: not JSON"
    ):
        store.unlock("main", PASSPHRASE)


def test_a_directory_in_the_place_of_a_file(store: WalletStore, wallet_dir: Path) -> None:
    (wallet_dir / "main.json").mkdir(parents=True)
    assert store.names() == []
    with pytest.raises(WalletCorrupt, match="not a regular file"):
        store.read("main")


def test_addresses_that_do_not_come_from_the_secret_are_corrupt(store: WalletStore) -> None:
    """A file sealed with the right passphrase but with another key's address: the seal holds,
    and unlocking still refuses it, because it derives every address again."""
    info = store.import_mnemonic("main", ABANDON, PASSPHRASE)
    document = document_of(info.path)
    _other_account(document)
    public = {key: value for key, value in document.items() if key not in ("ciphertext", "check")}
    secret = json.dumps(
        {"mnemonic": ABANDON, "seed_passphrase": ""}, sort_keys=True, separators=(",", ":")
    ).encode()
    params = ScryptParams.from_document(document["kdf"])
    nonce = bytes.fromhex(document["cipher"]["nonce"])
    associated = json.dumps(public, sort_keys=True, separators=(",", ":")).encode()
    sealed = seal(secret, PASSPHRASE, associated, params, nonce=nonce)
    document |= {"ciphertext": sealed.ciphertext.hex(), "check": sealed.check.hex()}
    write_document(info.path, document)
    with pytest.raises(
        WalletCorrupt, match=r"account 0's address .* does not come from the wallet's secret"
    ):
        store.unlock("main", PASSPHRASE)


def test_a_sealed_secret_of_the_wrong_kind_is_corrupt(store: WalletStore) -> None:
    info = store.import_key("single", OTHER_KEY.secret, PASSPHRASE)
    document = document_of(info.path)
    public = {key: value for key, value in document.items() if key not in ("ciphertext", "check")}
    associated = json.dumps(public, sort_keys=True, separators=(",", ":")).encode()
    params = ScryptParams.from_document(document["kdf"])
    nonce = bytes.fromhex(document["cipher"]["nonce"])
    for secret in (b'{"mnemonic": "x"}', b"not json", b'{"key": "zz"}'):
        sealed = seal(secret, PASSPHRASE, associated, params, nonce=nonce)
        document |= {"ciphertext": sealed.ciphertext.hex(), "check": sealed.check.hex()}
        write_document(info.path, document)
        with pytest.raises(WalletCorrupt, match="the sealed secret is not a key wallet's"):
            store.unlock("single", PASSPHRASE)
