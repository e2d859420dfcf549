"""`pacata-vpn wallet …`: the user's wallets (pacata/wallet, docs/wallet.md) — create, import,
list, show, add an account, balances, send, history, export.

Rules: a secret (a passphrase, a mnemonic, a raw key) never comes from the command line: it is
asked on the terminal or read from a file named by an option (`pacata.cli.session`); a new
mnemonic is shown once, at creation, and again only by `export`, behind a confirmation. What a
command reads from the node it reads through `pacata.rpc`; what it signs, it signs here.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pacata.chain.keys import Address
from pacata.chain.transactions import Transfer
from pacata.cli.amounts import pac_text
from pacata.cli.arguments import Completion, amount, bounded_int, checked, completes
from pacata.cli.balances import balances_of, print_balances
from pacata.cli.errors import UsageError
from pacata.cli.output import console, print_json, short_address
from pacata.cli.sending import (
    chosen_signer,
    chosen_wallet,
    declare_sending,
    declare_signer,
    send,
)
from pacata.cli.session import Session, read_secret_file
from pacata.cli.table import EXAMPLE_ADDRESS, Command, no_arguments
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
    wallets = store.wallets() if store.directory.is_dir() else []
    if arguments.json:
        print_json(
            {"directory": str(store.directory), "wallets": [wallet_document(w) for w in wallets]}
        )
        return 0
    if not wallets:
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


# -- balance --------------------------------------------------------------------------------


def _declare_balance(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument(
            "name", metavar="NAME", nargs="?", help="one wallet (default: every wallet)"
        ),
        Completion.WALLET,
    )


def _run_balance(session: Session, arguments: argparse.Namespace) -> int:
    store = session.wallets()
    if arguments.name is not None:
        wallets = [store.read(arguments.name)]
    else:
        wallets = store.wallets() if store.directory.is_dir() else []
    balances = balances_of(session.node().client, wallets)
    if arguments.json:
        print_json(
            {
                "total": sum(b.balance for b in balances),
                "accounts": balances,
            }
        )
        return 0
    out = console()
    print_balances(out, balances)
    if len(balances) > 1:
        out.print(f"total   {pac_text(sum(b.balance for b in balances))} PAC")
    return 0


# -- send -----------------------------------------------------------------------------------


def resolve_recipient(session: Session, text: str) -> tuple[Address, str]:
    """`text` as an address: a pac1 address, a name of the address book, or a wallet's
    account (`NAME` for its account 0, `NAME/INDEX`); with how to name it to the user."""
    from pacata.errors import DecodeError

    if text.startswith("pac1"):
        try:
            return Address.from_string(text), text
        except (DecodeError, ValueError) as error:
            raise UsageError(f"{text!r} is not a pac1 address ({error})") from None
    found = session.address_book().lookup(text)
    if found is not None:
        return found, f"{found} ({text})"
    name, _, index = text.partition("/")
    store = session.wallets()
    if store.directory.is_dir() and name in store.names():
        if index and not index.isdigit():
            raise UsageError(f"{text!r}: write a wallet's account as NAME/INDEX")
        entry = store.read(name).account(int(index or 0))
        return entry.address, f"{entry.address} ({name}/{entry.index})"
    raise UsageError(
        f"{text!r} is neither a pac1 address nor a name in the address book nor a wallet"
    )


def _declare_send(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument(
            "recipient",
            metavar="TO",
            help="a pac1 address, a name of the address book, or a wallet (NAME or NAME/INDEX)",
        ),
        Completion.RECIPIENT,
    )
    parser.add_argument(
        "amount", metavar="AMOUNT", type=checked(amount), help="PAC, at most 8 decimals"
    )
    declare_signer(parser)
    declare_sending(parser)


def _run_send(session: Session, arguments: argparse.Namespace) -> int:
    signer = chosen_signer(session, arguments)
    recipient, named = resolve_recipient(session, arguments.recipient)
    if recipient == signer.address:
        raise UsageError(f"{arguments.recipient} is the sending account itself")
    summary = f"send {pac_text(arguments.amount)} PAC to {named}"
    details = [("to", named), ("amount", f"{pac_text(arguments.amount)} PAC")]
    return send(
        session, arguments, signer, Transfer(recipient, arguments.amount), summary, details=details
    )


# -- history --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """A transaction as an account's history shows it: `change` is what it did to the
    account's balance (None when the transaction alone does not say: a settlement, a close)."""

    txid: bytes
    status: str
    height: int | None
    timestamp_ms: int | None
    kind: str
    counterparty: Address | None
    change: int | None
    fee: int


def _declare_history(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument(
            "name", metavar="NAME", nargs="?", help="the wallet (default: the only one)"
        ),
        Completion.WALLET,
    )
    parser.add_argument(
        "--account",
        metavar="INDEX",
        type=checked(bounded_int(0, 2**31 - 1, "an account index")),
        default=0,
        help="the wallet's account (default 0)",
    )
    parser.add_argument(
        "--limit",
        metavar="N",
        type=checked(bounded_int(1, MAX_HISTORY_PAGE, "a page size")),
        default=DEFAULT_HISTORY_PAGE,
        help=f"transactions per page (default {DEFAULT_HISTORY_PAGE})",
    )
    parser.add_argument(
        "--cursor", metavar="CURSOR", help="the page after CURSOR (printed under each page)"
    )


def _run_history(session: Session, arguments: argparse.Namespace) -> int:
    from pacata.wallet.transactions import balance_change, counterparty

    info = chosen_wallet(session, arguments.name)
    entry = info.account(arguments.account)
    client = session.node().client
    page = client.address_transactions(
        entry.address, limit=arguments.limit, cursor=arguments.cursor
    )
    rows = [
        HistoryRow(
            txid=item.txid,
            status=item.status,
            height=item.height,
            timestamp_ms=item.timestamp_ms,
            kind=item.transaction.kind.name,
            counterparty=counterparty(item.transaction, entry.address),
            change=balance_change(item.transaction, entry.address),
            fee=item.transaction.fee if item.transaction.sender_address == entry.address else 0,
        )
        for item in page.transactions
    ]
    if arguments.json:
        print_json(
            {
                "wallet": info.name,
                "account": entry.index,
                "address": entry.address,
                "transactions": rows,
                "next_cursor": page.next_cursor,
            }
        )
        return 0
    if not rows:
        print(f"no transactions of {info.name}/{entry.index} ({entry.address})")
        return 0
    from rich.table import Table

    title = f"History of {info.name}/{entry.index} ({entry.address})"
    table = Table(title=title, title_justify="left")
    for name in ("height", "kind", "with", "change (PAC)", "fee", "txid"):
        table.add_column(
            name, justify="right" if name in ("height", "change (PAC)", "fee") else "left"
        )
    for row in rows:
        table.add_row(
            "pending" if row.height is None else str(row.height),
            row.kind.lower(),
            "-" if row.counterparty is None else short_address(row.counterparty),
            "?" if row.change is None else ("+" if row.change > 0 else "") + pac_text(row.change),
            pac_text(row.fee) if row.fee else "",
            row.txid.hex()[:16],
        )
    out = console()
    out.print(table)
    if page.next_cursor is not None:
        out.print(f"more: pacata-vpn wallet history {info.name} --cursor {page.next_cursor}")
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


def _declare_export(parser: argparse.ArgumentParser) -> None:
    _declare_name(parser)
    parser.add_argument("-y", "--yes", action="store_true", help="show it without asking")


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
        node=False,
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
        node=False,
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
        node=False,
        wallets=True,
    ),
    Command(
        ("wallet", "show"),
        "a wallet's accounts and their addresses",
        "The accounts of wallet NAME: index, address, label. Needs no passphrase.",
        ("pacata-vpn wallet show alice",),
        _declare_name,
        _run_show,
        node=False,
        wallets=True,
    ),
    Command(
        ("wallet", "add-account"),
        "derive the wallet's next account",
        "Derives the next account of wallet NAME (mnemonic wallets) and shows its address.",
        ("pacata-vpn wallet add-account alice --label savings",),
        _declare_add_account,
        _run_add_account,
        node=False,
        wallets=True,
        secret=True,
    ),
    Command(
        ("wallet", "balance"),
        "the balance of each account, as the node has it",
        "Each account's spendable balance, bond and unbonding amount, as your node has them.",
        ("pacata-vpn wallet balance", "pacata-vpn wallet balance alice --json"),
        _declare_balance,
        _run_balance,
        wallets=True,
    ),
    Command(
        ("wallet", "send"),
        "send PAC to an address, a contact or another wallet",
        "Signs a TRANSFER of AMOUNT PAC from a wallet's account to TO and sends it through your "
        "node: the nonce comes from the node, the fee from its suggestion (or --fee); the "
        "transaction is shown and confirmed first (--yes skips, --dry-run stops there).",
        (
            f"pacata-vpn wallet send {EXAMPLE_ADDRESS} 2.5",
            "pacata-vpn wallet send bob 0.1 --wallet alice --yes --wait --json",
        ),
        _declare_send,
        _run_send,
        wallets=True,
        secret=True,
        sends=True,
    ),
    Command(
        ("wallet", "history"),
        "an account's transactions, newest first, pending ones on top",
        "The transactions touching an account of a wallet, newest first (those still in the "
        "mempool on top), 25 a page: --cursor shows the next. From the node's address index.",
        ("pacata-vpn wallet history alice", "pacata-vpn wallet history alice --limit 100 --json"),
        _declare_history,
        _run_history,
        wallets=True,
    ),
    Command(
        ("wallet", "export"),
        "show a wallet's mnemonic or key, after a confirmation",
        "Shows the mnemonic (or the raw key) of wallet NAME, after a confirmation (--yes) and "
        "its passphrase. Anyone who sees it can spend the wallet's PAC.",
        ("pacata-vpn wallet export alice",),
        _declare_export,
        _run_export,
        node=False,
        wallets=True,
        secret=True,
    ),
)
