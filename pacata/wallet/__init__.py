"""The wallet: keys sealed under a passphrase in one file per wallet, BIP-39 mnemonics, BIP-32
derivation of the accounts, the address book (docs/wallet.md).

The public names are re-exported here; the modules behind them are:
- `errors`: every error, a `WalletError` (a `PacataError`) whose `str()` is one line for users;
- `keystore`: sealing a secret with scrypt and ChaCha20-Poly1305;
- `mnemonics`: BIP-39 through trezor's `mnemonic`;
- `derivation`: BIP-32 on coincurve, and the accounts' path `m/44'/9740'/<account>'/0/0`;
- `store`: the wallet files (`WalletStore`);
- `address_book`: names for addresses;
- `locations`: the wallet directory.

The wallet imports the ledger (`chain`) and the API client side (`rpc`), never the network,
the VPN, the node or the command line (pyproject.toml's import contracts).
"""

from pacata.wallet.address_book import AddressBook
from pacata.wallet.derivation import (
    COIN_TYPE,
    ExtendedKey,
    ExtendedPublicKey,
    account_path,
    master_key,
    parse_extended_key,
    parse_path,
)
from pacata.wallet.errors import (
    AddressBookEntryExists,
    AddressBookEntryNotFound,
    AddressBookError,
    InvalidKey,
    InvalidLabel,
    InvalidMnemonic,
    InvalidWalletName,
    UnknownAccount,
    WalletCorrupt,
    WalletError,
    WalletExists,
    WalletNotFound,
    WrongPassphrase,
)
from pacata.wallet.keystore import ScryptParams, Sealed, seal, unseal
from pacata.wallet.locations import ADDRESS_BOOK_FILE, WALLET_DIR_VARIABLE, default_wallet_dir
from pacata.wallet.mnemonics import (
    WORD_COUNTS,
    check_mnemonic,
    mnemonic_from_entropy,
    mnemonic_seed,
    new_mnemonic,
)
from pacata.wallet.store import (
    MAX_ACCOUNTS,
    AccountEntry,
    DamagedWallet,
    UnlockedWallet,
    WalletInfo,
    WalletKind,
    WalletStore,
    WalletSurvey,
    check_label,
    check_wallet_name,
)

__all__ = [
    "ADDRESS_BOOK_FILE",
    "COIN_TYPE",
    "MAX_ACCOUNTS",
    "WALLET_DIR_VARIABLE",
    "WORD_COUNTS",
    "AccountEntry",
    "DamagedWallet",
    "AddressBook",
    "AddressBookEntryExists",
    "AddressBookEntryNotFound",
    "AddressBookError",
    "ExtendedKey",
    "ExtendedPublicKey",
    "InvalidKey",
    "InvalidLabel",
    "InvalidMnemonic",
    "InvalidWalletName",
    "ScryptParams",
    "Sealed",
    "UnknownAccount",
    "UnlockedWallet",
    "WalletCorrupt",
    "WalletError",
    "WalletExists",
    "WalletInfo",
    "WalletKind",
    "WalletNotFound",
    "WalletStore",
    "WalletSurvey",
    "WrongPassphrase",
    "account_path",
    "check_label",
    "check_mnemonic",
    "check_wallet_name",
    "default_wallet_dir",
    "master_key",
    "mnemonic_from_entropy",
    "mnemonic_seed",
    "new_mnemonic",
    "parse_extended_key",
    "parse_path",
    "seal",
    "unseal",
]
