"""The wallet's errors: every one a `WalletError`, whose `str()` is one line a user can act on.

They live in a module of their own because every other module of the package raises them (the
keystore raises `WrongPassphrase` and `WalletCorrupt`, the store adds the wallet's name and
file to them), and `pacata/wallet/__init__.py` re-exports them.
"""

from __future__ import annotations

from pathlib import Path

from pacata.errors import NotFound, PacataError


class WalletError(PacataError):
    """Root of the wallet's errors; `str()` is a one-line reason for the user."""


class WalletNotFound(WalletError, NotFound):
    """No wallet of that name in the wallet directory."""


class WalletExists(WalletError):
    """A wallet of that name exists already (nothing is ever overwritten)."""


class UnknownAccount(WalletError, NotFound):
    """A wallet has no account of that index."""


class WrongPassphrase(WalletError):
    """The passphrase does not open the wallet."""


class WalletCorrupt(WalletError):
    """A wallet file cannot be trusted: not JSON, not a wallet, an unknown version, or content
    that fails authentication (altered or damaged)."""

    @classmethod
    def of_file(cls, path: Path, why: str) -> WalletCorrupt:
        return cls(f"wallet file {path} is damaged or was altered: {why}")


class InvalidMnemonic(WalletError):
    """A mnemonic with an unknown word, a wrong number of words or a wrong checksum."""


class InvalidWalletName(WalletError):
    """A wallet name outside `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`, or a reserved one."""


class InvalidKey(WalletError):
    """A secret key that is not a secp256k1 private key."""


class InvalidLabel(WalletError):
    """An account label that is too long or holds control characters."""


class AddressBookError(WalletError):
    """The address book cannot be read or written, or an entry name is invalid."""


class AddressBookEntryNotFound(AddressBookError, NotFound):
    """No address-book entry of that name."""


class AddressBookEntryExists(AddressBookError, WalletExists):
    """An address-book entry of that name exists and replacing it was not asked for."""
