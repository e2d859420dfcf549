"""`pacata-vpn wallet balance|send|history`: the wallets' accounts on the chain — what they
hold, a payment, and what they did (docs/cli.md).

Balances and history come from the user's node (`pacata.rpc`: the account route and the
address index); a payment is signed here and sent by `pacata.cli.sending`, the one path every
sending command takes. A recipient is a `pac1…` address, a name of the address book, or a
wallet's account (`NAME`, `NAME/INDEX`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

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
    declare_account,
    declare_sending,
    declare_signer,
    send,
)
from pacata.cli.session import Session
from pacata.cli.table import EXAMPLE_ADDRESS, Command

if TYPE_CHECKING:
    from pacata.wallet import DamagedWallet, WalletInfo

MAX_HISTORY_PAGE = 100
DEFAULT_HISTORY_PAGE = 25


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
    wallets: Sequence[WalletInfo]
    damaged: Sequence[DamagedWallet]
    if arguments.name is not None:
        wallets, damaged = [store.read(arguments.name)], []
    else:
        survey = store.survey()
        wallets, damaged = survey.wallets, survey.damaged
    balances = balances_of(session.node().client, wallets)
    if arguments.json:
        total = sum(b.balance for b in balances)
        print_json({"total": total, "accounts": balances, "damaged_wallets": damaged})
        return 0
    out = console()
    print_balances(out, balances, damaged)
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
    if name in store.names():
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
    declare_account(parser, "the history is of")
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
    height = client.status().height
    behind = (
        f"the node's address index is at block {page.indexed_height} of {height}: it is "
        "catching up, and newer transactions are not listed yet"
        if page.indexed_height < height
        else None
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
                "indexed_height": page.indexed_height,
                "height": height,
            }
        )
        return 0
    if behind is not None:
        print(behind)
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


COMMANDS = (
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
)
