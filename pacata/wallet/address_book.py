"""The address book: the user's names for addresses, in `address-book.json` beside the wallets.

The file is `{"version": 1, "entries": {"<name>": "pac1…", …}}`. It is not sealed (addresses
are public, and the book is read without a passphrase), so its protection is the file's mode
0600 in the 0700 wallet directory; whoever can write it can change where a name points, which
is why a command sending to a name should show the address too (docs/wallet.md §The address
book).

Rules: a name is 1 to 64 printable characters without surrounding spaces; a missing file is an
empty book; a file that is not a book is an `AddressBookError` naming it and is never replaced;
changes are read-modify-write under the wallet directory's lock, written whole and atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from pacata.chain.keys import Address
from pacata.documents import load_json_file, write_file_atomically
from pacata.errors import DocumentError
from pacata.json_fields import ParsedText, describe_validation_errors
from pacata.wallet.errors import (
    AddressBookEntryExists,
    AddressBookEntryNotFound,
    AddressBookError,
)
from pacata.wallet.locations import directory_lock, make_private_directory

BOOK_VERSION = 1
FILE_MODE = 0o600
MAX_NAME_CHARS = 64
MAX_BOOK_BYTES = 1024 * 1024


def check_entry_name(name: str) -> str:
    """`name` if it can name an entry, else `AddressBookError` saying why."""
    if not name or len(name) > MAX_NAME_CHARS:
        raise AddressBookError(f"an address-book name has 1 to {MAX_NAME_CHARS} characters")
    if not name.isprintable() or name != name.strip():
        raise AddressBookError(
            f"invalid address-book name {name!r}: no control characters nor surrounding spaces"
        )
    # Where a name stands for an address, `pac1…` is an address and `NAME/INDEX` a wallet's
    # account: a name of either form could never be reached.
    if name.lower().startswith("pac1") or "/" in name:
        raise AddressBookError(
            f"invalid address-book name {name!r}: it may not start with pac1 nor hold a /"
        )
    return name


def _check_stored_name(name: str) -> None:
    try:
        check_entry_name(name)
    except AddressBookError as exc:
        raise ValidationError(str(exc)) from None


class _AddressBookSchema(Schema):
    version = fields.Integer(required=True, strict=True, validate=validate.Equal(BOOK_VERSION))
    entries = fields.Dict(
        keys=fields.String(validate=_check_stored_name),
        values=ParsedText(Address, Address.from_string, what="a pac1… address"),
        required=True,
    )


class AddressBook:
    """The address book in the file `path` (`<wallet dir>/address-book.json`)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def entries(self) -> dict[str, Address]:
        """Every entry, sorted by name."""
        return dict(sorted(self._read().items()))

    def lookup(self, name: str) -> Address | None:
        """The address named `name`, or None."""
        return self._read().get(name)

    def add(self, name: str, address: Address, *, replace: bool = False) -> None:
        """Name `address` `name`; `AddressBookEntryExists` (a `WalletExists`) if the name is
        taken, unless `replace`."""
        check_entry_name(name)
        make_private_directory(self.path.parent)
        with directory_lock(self.path.parent):
            entries = self._read()
            if name in entries and not replace:
                raise AddressBookEntryExists(
                    f"the address book has '{name}' already ({entries[name]})"
                )
            entries[name] = address
            self._write(entries)

    def remove(self, name: str) -> None:
        """Forget `name`; `AddressBookEntryNotFound` if the book has no such entry."""
        if not self.path.parent.is_dir():
            raise AddressBookEntryNotFound(f"the address book has no entry '{name}'")
        with directory_lock(self.path.parent):
            entries = self._read()
            if name not in entries:
                raise AddressBookEntryNotFound(f"the address book has no entry '{name}'")
            del entries[name]
            self._write(entries)

    def _read(self) -> dict[str, Address]:
        if not self.path.exists():
            return {}
        try:
            document = load_json_file(self.path, "address book", MAX_BOOK_BYTES)
            values = _AddressBookSchema().load(document)
        except DocumentError as exc:
            raise AddressBookError(str(exc)) from None
        except ValidationError as exc:
            reasons = "; ".join(describe_validation_errors(exc.messages))
            raise AddressBookError(f"address book {self.path} is damaged: {reasons}") from None
        entries: dict[str, Address] = values["entries"]
        return entries

    def _write(self, entries: dict[str, Address]) -> None:
        document: dict[str, Any] = {
            "version": BOOK_VERSION,
            "entries": {name: str(address) for name, address in sorted(entries.items())},
        }
        data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            write_file_atomically(self.path, data, FILE_MODE)
        except OSError as exc:
            raise AddressBookError(
                f"cannot write address book {self.path}: {exc.strerror}"
            ) from None
