"""`pacata-vpn wallet create|import|list|show|add-account|export`: the user's wallets and their
keys (pacata/wallet, docs/wallet.md); what the accounts hold and do is `payment_commands`.

Rules: a secret (a passphrase, a mnemonic, a raw key) never comes from the command line: it is
asked on the terminal or read from a file named by an option (`pacata.cli.session`); a new
mnemonic is shown once, at creation, and again only by `export`, behind a confirmation. What a
wallet file is written by `pacata.wallet` alone: atomically, mode 0600, never over another.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pacata.cli.arguments import Completion, bounded_int, checked, completes
from pacata.cli.errors import UsageError
from pacata.cli.output import console, print_json
from pacata.cli.session import Session, read_secret_file
from pacata.cli.table import Command, no_arguments
from pacata.wallet import MAX_ACCOUNTS, WORD_COUNTS

if TYPE_CHECKING:
    from pacata.wallet import WalletInfo

MAX_HISTORY_PAGE = 100
DEFAULT_HISTORY_PAGE = 25


def wallet_document(info: WalletInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "kind": info.kind,
        "created": info.created,
        "path": str(info.path),
        "accounts": [
            {"index": e.index, "address": str(e.address), "label": e.label} for e in info.accounts
        ],
    }


def _declare_name(parser: argparse.ArgumentParser, *, existing: bool = True) -> None:
    action = parser.add_argument(
        "name",
        metavar="NAME",
        help="the wallet's name"
        if existing
        else "a name for the new wallet (letters, digits, ._-)",
    )
    if existing:
        completes(action, Completion.WALLET)


# -- create and import ----------------------------------------------------------------------


def _declare_create(parser: argparse.ArgumentParser) -> None:
    _declare_name(parser, existing=False)
    parser.add_argument(
        "--words",
        type=int,
        choices=WORD_COUNTS,
        default=24,
        help="the length of the new mnemonic (default 24)",
    )


def _run_create(session: Session, arguments: argparse.Namespace) -> int:
    store = session.wallets()
    store.check_new_name(arguments.name)
    passphrase = session.passphrase(arguments.name, new=True)
    info, mnemonic = store.create(arguments.name, passphrase, words=arguments.words)
    if arguments.json:
        print_json({**wallet_document(info), "mnemonic": mnemonic})
        return 0
    print(f"created wallet {info.name!r} in {info.path}")
    print(f"  account 0: {info.accounts[0].address}")
    print()
    print("Write these words down, in order, and keep them offline. They restore the wallet")
    print("(`pacata-vpn wallet import`); anyone who has them can spend its PAC.")
    print()
    words = mnemonic.split()
    for start in range(0, len(words), 6):
        print(
            "  "
            + "  ".join(f"{i + 1:2}. {w:<9}" for i, w in enumerate(words) if start <= i < start + 6)
        )
    return 0


def _declare_import(parser: argparse.ArgumentParser) -> None:
    _declare_name(parser, existing=False)
    source = parser.add_mutually_exclusive_group()
    completes(
        source.add_argument(
            "--mnemonic-file",
            metavar="FILE",
            help="read the mnemonic from the first line of FILE (- for standard input)",
        ),
        Completion.PATH,
    )
    completes(
        source.add_argument(
            "--key-file",
            metavar="FILE",
            help="import one raw secp256k1 key: 64 hex digits on the first line of FILE",
        ),
        Completion.PATH,
    )
    source.add_argument(
        "--devnet-account",
        metavar="I",
        type=checked(bounded_int(0, 9, "a devnet account")),
        help="DEVNET ONLY: import the well-known devnet account I, whose key is public",
    )
    parser.add_argument(
        "--accounts",
        metavar="N",
        type=checked(bounded_int(1, MAX_ACCOUNTS, "a number of accounts")),
        default=1,
        help="how many accounts of the mnemonic to derive (default 1)",
    )


def _run_import(session: Session, arguments: argparse.Namespace) -> int:
    store = session.wallets()
    store.check_new_name(arguments.name)
    if arguments.devnet_account is not None:
        from pacata.chain.devnet import devnet_key

        secret: bytes | None = devnet_key(arguments.devnet_account).secret
        mnemonic = None
    elif arguments.key_file is not None:
        secret, mnemonic = _raw_key(read_secret_file(arguments.key_file, "key")), None
    else:
        if arguments.mnemonic_file is not None:
            text = read_secret_file(arguments.mnemonic_file, "mnemonic")
        elif session.prompter.interactive():
            text = session.prompter.secret("the mnemonic's words, separated by spaces: ")
        else:
            raise UsageError(
                "no terminal to ask the mnemonic on: give --mnemonic-file FILE (- for standard "
                "input), --key-file FILE or --devnet-account I"
            )
        from pacata.wallet import check_mnemonic

        secret, mnemonic = None, check_mnemonic(text)
    passphrase = session.passphrase(arguments.name, new=True)
    if mnemonic is not None:
        info = store.import_mnemonic(
            arguments.name, mnemonic, passphrase, accounts=arguments.accounts
        )
    else:
        assert secret is not None
        info = store.import_key(arguments.name, secret, passphrase)
    if arguments.json:
        print_json(wallet_document(info))
        return 0
    print(f"imported wallet {info.name!r} ({info.kind}) in {info.path}")
    for entry in info.accounts:
        print(f"  account {entry.index}: {entry.address}")
    return 0


def _raw_key(text: str) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise UsageError("the key file does not hold a key: 64 hex digits on its first line")
    return secret


# -- list, show, add-account ----------------------------------------------------------------


def _run_list(session: Session, arguments: argparse.Namespace) -> int:
    store = session.wallets()
    survey = store.survey()
    wallets = survey.wallets
    if arguments.json:
        print_json(
            {
                "directory": str(store.directory),
                "wallets": [wallet_document(w) for w in wallets],
                "damaged": survey.damaged,
            }
        )
        return 0
    for damaged in survey.damaged:
        print(f"{damaged.name}: cannot be read: {damaged.reason}")
    if not wallets and not survey.damaged:
        print(f"no wallet in {store.directory}: `pacata-vpn wallet create NAME` makes one")
        return 0
    from rich.table import Table

    table = Table(title=f"Wallets in {store.directory}", title_justify="left")
    for name in ("wallet", "kind", "accounts", "account 0", "created"):
        table.add_column(name)
    for info in wallets:
        table.add_row(
            info.name,
            info.kind,
            str(len(info.accounts)),
            str(info.accounts[0].address),
            info.created,
        )
    console().print(table)
    return 0


def _run_show(session: Session, arguments: argparse.Namespace) -> int:
    info = session.wallets().read(arguments.name)
    if arguments.json:
        print_json(wallet_document(info))
        return 0
    _print_accounts(info)
    return 0


def _print_accounts(info: WalletInfo) -> None:
    from rich.table import Table

    table = Table(title=f"Wallet {info.name} ({info.kind}, {info.path})", title_justify="left")
    for name in ("account", "address", "label"):
        table.add_column(name)
    for entry in info.accounts:
        table.add_row(str(entry.index), str(entry.address), entry.label)
    console().print(table)


def _declare_add_account(parser: argparse.ArgumentParser) -> None:
    _declare_name(parser)
    parser.add_argument("--label", default="", help="a label for the new account")


def _run_add_account(session: Session, arguments: argparse.Namespace) -> int:
    store = session.wallets()
    store.read(arguments.name)  # an unknown wallet is said before the passphrase is asked
    passphrase = session.passphrase(arguments.name)
    info = store.add_account(arguments.name, passphrase, arguments.label)
    entry = info.accounts[-1]
    if arguments.json:
        print_json(wallet_document(info))
        return 0
    print(f"wallet {info.name!r}: account {entry.index} is {entry.address}")
    return 0


# -- export ---------------------------------------------------------------------------------


def _run_export(session: Session, arguments: argparse.Namespace) -> int:
    store = session.wallets()
    info = store.read(arguments.name)
    session.confirm(
        f"show the secret of wallet {info.name!r} on this screen? Anyone who sees it can spend "
        "its PAC"
    )
    unlocked = store.unlock(info.name, session.passphrase(info.name))
    if arguments.json:
        document: dict[str, Any] = {"name": info.name, "kind": info.kind}
        if unlocked.mnemonic is not None:
            document["mnemonic"] = unlocked.mnemonic
        if unlocked.seed_passphrase:
            document["seed_passphrase"] = unlocked.seed_passphrase
        if unlocked.secret_key is not None:
            document["key"] = unlocked.secret_key.hex()
        print_json(document)
        return 0
    if unlocked.mnemonic is not None:
        print(f"mnemonic of wallet {info.name!r}:")
        print(f"  {unlocked.mnemonic}")
        if unlocked.seed_passphrase:
            print(f"  with the BIP-39 passphrase {unlocked.seed_passphrase!r}")
    if unlocked.secret_key is not None:
        print(f"key of wallet {info.name!r}: {unlocked.secret_key.hex()}")
    return 0


COMMANDS = (
    Command(
        ("wallet", "create"),
        "make a new wallet from a fresh 24-word mnemonic",
        "Makes wallet NAME from a new BIP-39 mnemonic, encrypted with a passphrase you choose "
        "(asked twice, or read with --passphrase-file), and shows the mnemonic once: write it "
        "down. Accounts are derived from it by BIP-32 (docs/wallet.md).",
        (
            "pacata-vpn wallet create alice",
            "pacata-vpn wallet create bob --passphrase-file - --json",
        ),
        _declare_create,
        _run_create,
        wallets=True,
        secret=True,
    ),
    Command(
        ("wallet", "import"),
        "restore a wallet from its mnemonic, or import one raw key",
        "Makes wallet NAME from a BIP-39 mnemonic (asked, or --mnemonic-file), from one raw "
        "secp256k1 key (--key-file), or, on the devnet only, from a well-known devnet account.",
        (
            "pacata-vpn wallet import alice --accounts 3",
            "pacata-vpn wallet import faucet --devnet-account 0 --passphrase-file pass.txt",
        ),
        _declare_import,
        _run_import,
        wallets=True,
        secret=True,
    ),
    Command(
        ("wallet", "list"),
        "the wallets here and their first address",
        "The wallets of the wallet directory, their kind and their accounts.",
        ("pacata-vpn wallet list", "pacata-vpn wallet list --json"),
        no_arguments,
        _run_list,
        wallets=True,
    ),
    Command(
        ("wallet", "show"),
        "a wallet's accounts and their addresses",
        "The accounts of wallet NAME: index, address, label. Needs no passphrase.",
        ("pacata-vpn wallet show alice",),
        _declare_name,
        _run_show,
        wallets=True,
    ),
    Command(
        ("wallet", "add-account"),
        "derive the wallet's next account",
        "Derives the next account of wallet NAME (mnemonic wallets) and shows its address.",
        ("pacata-vpn wallet add-account alice --label savings",),
        _declare_add_account,
        _run_add_account,
        wallets=True,
        secret=True,
    ),
    Command(
        ("wallet", "export"),
        "show a wallet's mnemonic or key, after a confirmation",
        "Shows the mnemonic (or the raw key) of wallet NAME, after a confirmation (--yes) and "
        "its passphrase. Anyone who sees it can spend the wallet's PAC.",
        ("pacata-vpn wallet export alice",),
        _declare_name,
        _run_export,
        wallets=True,
        secret=True,
        confirms=True,
    ),
)
