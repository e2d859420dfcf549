"""The wallet store (pacata/wallet/store.py): create, import, unlock, names, accounts and
labels, `find`, and two writers at once. The files' integrity (alterations caught, modes,
failures that change nothing) is tested in test_store_integrity.py."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.keys import Address, PrivateKey
from pacata.errors import NotFound, PacataError
from pacata.wallet import (
    AccountEntry,
    InvalidKey,
    InvalidWalletName,
    ScryptParams,
    UnknownAccount,
    WalletError,
    WalletExists,
    WalletNotFound,
    WalletStore,
    account_path,
    check_mnemonic,
    master_key,
    mnemonic_seed,
)
from pacata.wallet.store import MAX_ACCOUNTS

PASSPHRASE = "correct horse battery staple"
ABANDON = " ".join(["abandon"] * 11 + ["about"])
ABANDON_0 = "pac1yjrxn6fwal03slu3psyj38y0ap6xk75d2f57l4"  # pinned in test_derivation.py
ABANDON_1 = "pac1xlkm3r0uy8zy9qy3z03lywmdagd97m2z7v4n4z"
OTHER_KEY = PrivateKey(bytes(31) + b"\x07")

Snapshot = dict[str, tuple[bytes | None, int, int]]
TakeSnapshot = Callable[[Path], Snapshot]


def derived_address(mnemonic: str, index: int, seed_passphrase: str = "") -> Address:
    key = master_key(mnemonic_seed(mnemonic, seed_passphrase)).derive(account_path(index))
    return key.private_key().address


def document_of(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def test_create(store: WalletStore, wallet_dir: Path) -> None:
    assert not wallet_dir.exists()
    info, mnemonic = store.create("main", PASSPHRASE)
    assert len(mnemonic.split()) == 24
    assert check_mnemonic(mnemonic) == mnemonic
    assert info.name == "main"
    assert info.kind == "mnemonic"
    assert info.path == wallet_dir / "main.json"
    assert [entry.index for entry in info.accounts] == [0]
    assert info.accounts[0].address == derived_address(mnemonic, 0)
    assert info.accounts[0].label == ""
    assert store.read("main") == info
    unlocked = store.unlock("main", PASSPHRASE)
    assert unlocked.info == info
    assert unlocked.mnemonic == mnemonic
    assert unlocked.seed_passphrase == ""
    assert unlocked.secret_key is None
    assert unlocked.key().address == info.accounts[0].address
    assert unlocked.key(0).public_key == info.accounts[0].public_key
    assert mnemonic not in repr(unlocked)


def test_create_with_12_words_and_a_seed_passphrase(store: WalletStore) -> None:
    info, mnemonic = store.create("short", PASSPHRASE, words=12, seed_passphrase="TREZOR")
    assert len(mnemonic.split()) == 12
    assert info.accounts[0].address == derived_address(mnemonic, 0, "TREZOR")
    assert info.accounts[0].address != derived_address(mnemonic, 0)
    assert store.unlock("short", PASSPHRASE).seed_passphrase == "TREZOR"


def test_the_file_format(store: WalletStore) -> None:
    info = store.import_mnemonic("main", ABANDON, PASSPHRASE)
    document = document_of(info.path)
    assert list(document) == [
        "version",
        "name",
        "kind",
        "created",
        "derivation",
        "accounts",
        "kdf",
        "cipher",
        "ciphertext",
        "check",
    ]
    assert document["version"] == 1
    assert document["name"] == "main"
    assert document["kind"] == "mnemonic"
    assert document["created"] == info.created
    assert len(info.created) == 20 and info.created.endswith("Z")
    assert document["derivation"] == "m/44'/9740'/{account}'/0/0"
    assert document["accounts"] == [
        {
            "index": 0,
            "address": ABANDON_0,
            "public_key": "03fe3acb0771f1a526f8402b354d07839367419e4292d3170957cef73d53960781",
            "label": "",
        }
    ]
    assert document["kdf"]["name"] == "scrypt"
    assert (document["kdf"]["n"], document["kdf"]["r"], document["kdf"]["p"]) == (2**10, 8, 1)
    assert len(bytes.fromhex(document["kdf"]["salt"])) == 32
    assert document["cipher"]["name"] == "chacha20-poly1305"
    assert len(bytes.fromhex(document["cipher"]["nonce"])) == 12
    assert len(bytes.fromhex(document["check"])) == 32
    text = info.path.read_text(encoding="utf-8")
    assert "abandon" not in text


def test_import_mnemonic_with_accounts(store: WalletStore) -> None:
    info = store.import_mnemonic("main", "  ABANDON " + ABANDON[8:] + "\n", PASSPHRASE, accounts=3)
    assert [str(entry.address) for entry in info.accounts[:2]] == [ABANDON_0, ABANDON_1]
    assert info.accounts[2].address == derived_address(ABANDON, 2)
    unlocked = store.unlock("main", PASSPHRASE)
    assert unlocked.mnemonic == ABANDON  # normalised
    for entry in info.accounts:
        assert unlocked.key(entry.index).address == entry.address
        assert unlocked.key_for(entry.address) is not None
    assert unlocked.key_for(OTHER_KEY.address) is None
    with pytest.raises(
        UnknownAccount, match="wallet 'main' has no account 3 \\(accounts: 0, 1, 2\\)"
    ):
        unlocked.key(3)


@pytest.mark.parametrize("accounts", [0, -1, MAX_ACCOUNTS + 1])
def test_import_refuses_a_number_of_accounts_out_of_range(
    store: WalletStore, wallet_dir: Path, accounts: int
) -> None:
    with pytest.raises(WalletError, match="1 to 1000 accounts"):
        store.import_mnemonic("main", ABANDON, PASSPHRASE, accounts=accounts)
    assert not wallet_dir.exists()


def test_import_key(store: WalletStore) -> None:
    info = store.import_key("single", OTHER_KEY.secret, PASSPHRASE)
    assert info.kind == "key"
    assert [(e.index, e.address) for e in info.accounts] == [(0, OTHER_KEY.address)]
    document = document_of(info.path)
    assert document["derivation"] is None
    assert OTHER_KEY.secret.hex() not in info.path.read_text(encoding="utf-8")
    unlocked = store.unlock("single", PASSPHRASE)
    assert unlocked.secret_key == OTHER_KEY.secret
    assert unlocked.mnemonic is None
    assert unlocked.seed_passphrase is None
    assert unlocked.key().secret == OTHER_KEY.secret
    assert unlocked.key_for(OTHER_KEY.address) is not None


@pytest.mark.parametrize(
    ("secret", "reason"),
    [
        (bytes(32), "out of range"),
        (bytes.fromhex("ff" * 32), "out of range"),
        (bytes(31) + b"\x01" + b"\x00", "32 bytes"),
        (b"\x01" * 31, "32 bytes"),
    ],
)
def test_import_key_refuses_a_non_key(
    store: WalletStore, wallet_dir: Path, secret: bytes, reason: str
) -> None:
    with pytest.raises(InvalidKey, match=reason):
        store.import_key("single", secret, PASSPHRASE)
    assert not wallet_dir.exists()


def test_a_unicode_label_and_passphrase(store: WalletStore) -> None:
    passphrase = "pässwörd ☕"
    store.import_mnemonic("main", ABANDON, passphrase)
    info = store.set_label("main", passphrase, 0, "café ☕ 日本")
    assert "café ☕ 日本" in info.path.read_text(encoding="utf-8")  # UTF-8, not \u escapes
    assert store.unlock("main", passphrase).info.accounts[0].label == "café ☕ 日本"


def test_the_default_costs_once(wallet_dir: Path) -> None:
    """The one test with scrypt's default costs (2**17: 128 MiB, about 0.4 s per unlock)."""
    store = WalletStore(wallet_dir)
    info, mnemonic = store.create("main", PASSPHRASE)
    kdf = document_of(info.path)["kdf"]
    assert (kdf["n"], kdf["r"], kdf["p"]) == (2**17, 8, 1)
    assert store.unlock("main", PASSPHRASE).mnemonic == mnemonic


def test_names_lists_wallet_files_only(store: WalletStore, wallet_dir: Path) -> None:
    assert store.names() == []
    assert not wallet_dir.exists()  # reading makes nothing
    store.import_key("b", OTHER_KEY.secret, PASSPHRASE)
    store.import_mnemonic("A.1_x-y", ABANDON, PASSPHRASE)
    (wallet_dir / "address-book.json").write_text("{}")
    (wallet_dir / "notes.txt").write_text("")
    (wallet_dir / ".hidden.json").write_text("")
    (wallet_dir / "bad name.json").write_text("")
    (wallet_dir / "x.json.json").write_text("")
    (wallet_dir / "directory.json").mkdir()
    assert store.names() == ["A.1_x-y", "b"]
    assert [info.name for info in store.wallets()] == ["A.1_x-y", "b"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "1 to 64 of"),
        ("-a", "starting with a letter or digit"),
        (".a", "starting with a letter or digit"),
        ("_a", "starting with a letter or digit"),
        ("a b", "1 to 64 of"),
        ("a/b", "1 to 64 of"),
        ("../a", "1 to 64 of"),
        ("é", "1 to 64 of"),
        ("a\n", "1 to 64 of"),
        ("a" * 65, "1 to 64 of"),
        ("main.json", "leave out the .json"),
        ("main.JSON", "leave out the .json"),
        ("address-book", "kept for the address book"),
    ],
)
def test_invalid_names(store: WalletStore, wallet_dir: Path, name: str, reason: str) -> None:
    for attempt in (
        lambda: store.create(name, PASSPHRASE),
        lambda: store.import_mnemonic(name, ABANDON, PASSPHRASE),
        lambda: store.import_key(name, OTHER_KEY.secret, PASSPHRASE),
        lambda: store.read(name),
        lambda: store.unlock(name, PASSPHRASE),
        lambda: store.check_new_name(name),
    ):
        with pytest.raises(InvalidWalletName, match=reason):
            attempt()
    assert not wallet_dir.exists()


def test_the_longest_name(store: WalletStore) -> None:
    name = "a" * 64
    store.import_key(name, OTHER_KEY.secret, PASSPHRASE)
    assert store.names() == [name]


def test_not_found(store: WalletStore) -> None:
    with pytest.raises(WalletNotFound, match=r"no wallet named 'main' in .* \(no wallets\)"):
        store.read("main")
    store.import_key("b", OTHER_KEY.secret, PASSPHRASE)
    store.import_key("a", PrivateKey(bytes(31) + b"\x09").secret, PASSPHRASE)
    for attempt in (
        lambda: store.read("main"),
        lambda: store.unlock("main", PASSPHRASE),
        lambda: store.add_account("main", PASSPHRASE),
        lambda: store.set_label("main", PASSPHRASE, 0, "x"),
    ):
        with pytest.raises(
            WalletNotFound, match=r"no wallet named 'main' in .* \(wallets: a, b\)"
        ) as caught:
            attempt()
        assert isinstance(caught.value, NotFound)
        assert isinstance(caught.value, PacataError)


def test_existing_names_are_never_overwritten(
    store: WalletStore, wallet_dir: Path, snapshot: TakeSnapshot
) -> None:
    store.import_mnemonic("main", ABANDON, PASSPHRASE)
    before = snapshot(wallet_dir)
    for attempt in (
        lambda: store.check_new_name("main"),
        lambda: store.create("main", "other"),
        lambda: store.import_mnemonic("main", ABANDON, "other"),
        lambda: store.import_key("main", OTHER_KEY.secret, "other"),
    ):
        with pytest.raises(WalletExists, match="a wallet named 'main' exists already"):
            attempt()
    assert snapshot(wallet_dir) == before
    # A dangling symbolic link holds the name too.
    (wallet_dir / "link.json").symlink_to(wallet_dir / "nowhere.json")
    with pytest.raises(WalletExists):
        store.import_key("link", OTHER_KEY.secret, PASSPHRASE)


def test_add_account(store: WalletStore, wallet_dir: Path) -> None:
    store.import_mnemonic("main", ABANDON, PASSPHRASE)
    first = document_of(wallet_dir / "main.json")
    info = store.add_account("main", PASSPHRASE, "savings")
    assert [(str(e.address), e.label) for e in info.accounts] == [
        (ABANDON_0, ""),
        (ABANDON_1, "savings"),
    ]
    assert store.read("main") == info
    second = document_of(wallet_dir / "main.json")
    # Re-sealed with a fresh salt and nonce.
    assert second["kdf"]["salt"] != first["kdf"]["salt"]
    assert second["cipher"]["nonce"] != first["cipher"]["nonce"]
    assert second["created"] == first["created"]
    unlocked = store.unlock("main", PASSPHRASE)
    assert str(unlocked.key(1).address) == ABANDON_1
    assert store.add_account("main", PASSPHRASE).accounts[-1].index == 2


def test_resealing_keeps_the_files_costs(wallet_dir: Path, cheap_kdf: ScryptParams) -> None:
    WalletStore(wallet_dir, cheap_kdf).import_mnemonic("main", ABANDON, PASSPHRASE)
    WalletStore(wallet_dir, ScryptParams.fresh(n=2**11, r=4)).add_account("main", PASSPHRASE)
    kdf = document_of(wallet_dir / "main.json")["kdf"]
    assert (kdf["n"], kdf["r"]) == (2**10, 8)


def test_a_key_wallet_has_one_account(
    store: WalletStore, wallet_dir: Path, snapshot: TakeSnapshot
) -> None:
    store.import_key("single", OTHER_KEY.secret, PASSPHRASE)
    before = snapshot(wallet_dir)
    with pytest.raises(WalletError, match="only a mnemonic wallet has more accounts"):
        store.add_account("single", PASSPHRASE)
    assert snapshot(wallet_dir) == before


def test_set_label(store: WalletStore) -> None:
    store.import_mnemonic("main", ABANDON, PASSPHRASE, accounts=2)
    info = store.set_label("main", PASSPHRASE, 1, "rent")
    assert [e.label for e in info.accounts] == ["", "rent"]
    assert store.read("main") == info
    assert store.unlock("main", PASSPHRASE).info == info
    assert [e.label for e in store.set_label("main", PASSPHRASE, 1, "").accounts] == ["", ""]


def test_account_lookup(store: WalletStore) -> None:
    info = store.import_mnemonic("main", ABANDON, PASSPHRASE, accounts=2)
    assert info.account(1) == info.accounts[1]
    with pytest.raises(UnknownAccount, match="wallet 'main' has no account 2 \\(accounts: 0, 1\\)"):
        info.account(2)


def test_find(store: WalletStore) -> None:
    assert store.find(OTHER_KEY.address) is None
    main = store.import_mnemonic("main", ABANDON, PASSPHRASE, accounts=2)
    single = store.import_key("single", OTHER_KEY.secret, PASSPHRASE)
    assert store.find(Address.from_string(ABANDON_1)) == (main, main.accounts[1])
    assert store.find(OTHER_KEY.address) == (single, single.accounts[0])
    assert store.find(PrivateKey(bytes(31) + b"\x09").address) is None


def test_account_entries_hold_their_address_and_key_together() -> None:
    entry = AccountEntry.of_key(0, OTHER_KEY, "x")
    assert entry.public_key == OTHER_KEY.public_key
    with pytest.raises(ValueError, match="not the public key's"):
        AccountEntry(0, Address.from_string(ABANDON_0), "", OTHER_KEY.public_key)


def test_concurrent_changes_are_not_lost(wallet_dir: Path, cheap_kdf: ScryptParams) -> None:
    """Two stores (as two processes would) add accounts at once: the directory's lock makes
    each read-modify-write whole, so every account is kept."""
    WalletStore(wallet_dir, cheap_kdf).import_mnemonic("main", ABANDON, PASSPHRASE)
    errors: list[BaseException] = []

    def add_accounts() -> None:
        try:
            for _ in range(4):
                WalletStore(wallet_dir, cheap_kdf).add_account("main", PASSPHRASE)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add_accounts) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    info = WalletStore(wallet_dir).read("main")
    assert [entry.index for entry in info.accounts] == list(range(9))
    assert sorted(os.listdir(wallet_dir)) == ["main.json"]
