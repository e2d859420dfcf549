"""The address book (pacata/wallet/address_book.py): entries sorted by name, no silent
replacement, a damaged file named and left alone, a private file written whole."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.keys import Address, PrivateKey
from pacata.errors import NotFound
from pacata.wallet import (
    ADDRESS_BOOK_FILE,
    AddressBook,
    AddressBookEntryExists,
    AddressBookEntryNotFound,
    AddressBookError,
    WalletExists,
    WalletStore,
)

ALICE = PrivateKey(bytes(31) + b"\x01").address
BOB = PrivateKey(bytes(31) + b"\x02").address

Snapshot = dict[str, tuple[bytes | None, int, int]]


@pytest.fixture
def book(wallet_dir: Path) -> AddressBook:
    return AddressBook(wallet_dir / ADDRESS_BOOK_FILE)


def test_a_missing_book_is_empty_and_reading_makes_nothing(
    book: AddressBook, wallet_dir: Path
) -> None:
    assert book.entries() == {}
    assert book.lookup("alice") is None
    assert not wallet_dir.exists()


def test_add_lookup_and_remove(book: AddressBook) -> None:
    book.add("bob", BOB)
    book.add("Alice ☕", ALICE)
    assert book.lookup("bob") == BOB
    assert book.lookup("Alice ☕") == ALICE
    assert book.lookup("alice ☕") is None  # names are exact
    assert list(book.entries().items()) == [("Alice ☕", ALICE), ("bob", BOB)]
    book.remove("bob")
    assert book.entries() == {"Alice ☕": ALICE}
    # Read back by another instance: it is on disk.
    assert AddressBook(book.path).entries() == {"Alice ☕": ALICE}


def test_the_file(book: AddressBook, wallet_dir: Path) -> None:
    previous = os.umask(0)
    try:
        book.add("bob", BOB)
    finally:
        os.umask(previous)
    assert json.loads(book.path.read_text(encoding="utf-8")) == {
        "version": 1,
        "entries": {"bob": str(BOB)},
    }
    assert stat.S_IMODE(book.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(wallet_dir.stat().st_mode) == 0o700
    assert os.listdir(wallet_dir) == [ADDRESS_BOOK_FILE]


def test_a_name_is_not_replaced_unless_asked(
    book: AddressBook, wallet_dir: Path, snapshot: Callable[[Path], Snapshot]
) -> None:
    book.add("bob", BOB)
    before = snapshot(wallet_dir)
    with pytest.raises(AddressBookEntryExists, match="has 'bob' already") as caught:
        book.add("bob", ALICE)
    assert isinstance(caught.value, WalletExists)
    assert snapshot(wallet_dir) == before
    book.add("bob", ALICE, replace=True)
    assert book.lookup("bob") == ALICE


def test_removing_an_absent_name(
    book: AddressBook, wallet_dir: Path, snapshot: Callable[[Path], Snapshot]
) -> None:
    with pytest.raises(AddressBookEntryNotFound, match="no entry 'bob'"):
        book.remove("bob")
    assert not wallet_dir.exists()
    book.add("alice", ALICE)
    before = snapshot(wallet_dir)
    with pytest.raises(AddressBookEntryNotFound, match="no entry 'bob'") as caught:
        book.remove("bob")
    assert isinstance(caught.value, NotFound)
    assert snapshot(wallet_dir) == before


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "1 to 64 characters"),
        ("x" * 65, "1 to 64 characters"),
        (" bob", "surrounding spaces"),
        ("bob ", "surrounding spaces"),
        ("a\nb", "no control characters"),
        ("a\tb", "no control characters"),
    ],
)
def test_invalid_names(book: AddressBook, wallet_dir: Path, name: str, reason: str) -> None:
    with pytest.raises(AddressBookError, match=reason):
        book.add(name, BOB)
    assert not wallet_dir.exists()


DAMAGED: dict[str, tuple[Any, str]] = {
    "not JSON": ("{", "not JSON"),
    "a list": ([], "Invalid input type"),
    "version 2": ({"version": 2, "entries": {}}, "version: Must be equal to 1"),
    "unknown key": ({"version": 1, "entries": {}, "x": 1}, "x: Unknown field"),
    "bad address": ({"version": 1, "entries": {"bob": "pac1xyz"}}, "entries.bob"),
    "bad name": ({"version": 1, "entries": {" bob": str(BOB)}}, "surrounding spaces"),
}


@pytest.mark.parametrize(("content", "reason"), DAMAGED.values(), ids=DAMAGED)
def test_a_damaged_book_is_named_and_left_alone(
    book: AddressBook,
    wallet_dir: Path,
    snapshot: Callable[[Path], Snapshot],
    content: Any,
    reason: str,
) -> None:
    wallet_dir.mkdir()
    book.path.write_text(content if isinstance(content, str) else json.dumps(content))
    before = snapshot(wallet_dir)
    for attempt in (
        book.entries,
        lambda: book.lookup("bob"),
        lambda: book.add("carol", ALICE),
        lambda: book.remove("bob"),
    ):
        with pytest.raises(AddressBookError, match=reason) as caught:
            attempt()
        assert str(book.path) in str(caught.value)
    assert snapshot(wallet_dir) == before


def test_the_book_and_the_wallets_share_the_directory(book: AddressBook, wallet_dir: Path) -> None:
    from pacata.wallet import ScryptParams

    book.add("bob", BOB)
    store = WalletStore(wallet_dir, ScryptParams.fresh(n=2**10))
    assert store.names() == []
    store.import_key("mine", PrivateKey(bytes(31) + b"\x03").secret, "pass")
    assert store.names() == ["mine"]
    assert book.lookup("bob") == BOB
    assert isinstance(book.lookup("bob"), Address)


@pytest.mark.parametrize("name", ["pac1bob", "PAC1x", "alice/1", "a/b"])
def test_a_name_that_reads_as_an_address_or_an_account_is_refused(
    tmp_path: Path, name: str
) -> None:
    book = AddressBook(tmp_path / "book.json")
    with pytest.raises(AddressBookError, match="may not start with pac1 nor hold a /"):
        book.add(name, PrivateKey(bytes(31) + b"\x01").address)
    assert not (tmp_path / "book.json").exists()
