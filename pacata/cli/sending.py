"""Signing and sending a transaction from a wallet's account: the one path every sending
command takes (`wallet send`, `channel open|topup|close`, `stake bond|unbond`).

The steps, in order, so that nothing is signed that the user did not see and nothing is sent
that the node would refuse for a reason known here: the account's next nonce from the node
(counting its pending transactions), the fee its size calls for at the node's suggested rate
(or `--fee`), a check that the balance covers what it spends, the transaction shown, then
`--dry-run` stops; else a confirmation (`--yes` skips it), the passphrase, the signature, the
submission, and with `--wait` the block that holds it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from pacata.chain.keys import Address
from pacata.cli.amounts import pac_text
from pacata.cli.arguments import Completion, amount, bounded_int, checked, completes, timeout
from pacata.cli.errors import CommandError, UsageError
from pacata.cli.output import jsonable, print_json
from pacata.cli.session import Session

if TYPE_CHECKING:
    from pacata.chain.transactions import Payload, Transaction
    from pacata.rpc import SyncNodeClient
    from pacata.wallet import AccountEntry, WalletInfo

DEFAULT_CONFIRM_WAIT_S = 120.0
MAX_ACCOUNT_INDEX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Signer:
    """The wallet account that signs: `wallet/index`, its address and public key."""

    wallet: WalletInfo
    entry: AccountEntry

    @property
    def address(self) -> Address:
        return self.entry.address

    def __str__(self) -> str:
        return f"{self.wallet.name}/{self.entry.index}"


def declare_account(parser: argparse.ArgumentParser, what: str = "signs") -> None:
    """`--account INDEX`: which of the wallet's accounts."""
    parser.add_argument(
        "--account",
        metavar="INDEX",
        type=checked(bounded_int(0, MAX_ACCOUNT_INDEX, "an account index")),
        default=0,
        help=f"the wallet's account that {what} (default 0)",
    )


def declare_signer(parser: argparse.ArgumentParser) -> None:
    """`--wallet NAME` and `--account INDEX`: the account that signs."""
    completes(
        parser.add_argument(
            "-w",
            "--wallet",
            metavar="NAME",
            help="the wallet that signs (default: the only wallet there is)",
        ),
        Completion.WALLET,
    )
    declare_account(parser)


def declare_sending(parser: argparse.ArgumentParser) -> None:
    """The options of how a transaction is sent: its fee, and whether to wait for a block."""
    parser.add_argument(
        "--fee",
        metavar="AMOUNT",
        type=checked(amount),
        help="the fee in PAC (default: what the node suggests for its size)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until a block holds the transaction",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=checked(timeout),
        default=DEFAULT_CONFIRM_WAIT_S,
        help=f"how long --wait waits (default {DEFAULT_CONFIRM_WAIT_S:g})",
    )


def chosen_wallet(session: Session, name: str | None) -> WalletInfo:
    """Wallet `name`, or without one the only wallet there is."""
    store = session.wallets()
    if name is not None:
        return store.read(name)
    names = store.names() if store.directory.is_dir() else []
    if not names:
        raise UsageError(
            f"no wallet in {store.directory}: `pacata-vpn wallet create NAME` makes one"
        )
    if len(names) > 1:
        raise UsageError(f"{len(names)} wallets here, name one with --wallet: {', '.join(names)}")
    return store.read(names[0])


def chosen_signer(session: Session, arguments: argparse.Namespace) -> Signer:
    info = chosen_wallet(session, arguments.wallet)
    return Signer(info, info.account(arguments.account))


def signer_of(session: Session, address: Address, what: str) -> Signer:
    """The wallet account at `address`, which alone may sign for `what`."""
    found = session.wallets().find(address)
    if found is None:
        raise CommandError(f"{what} belongs to {address}, which none of your wallets holds")
    return Signer(*found)


def send(
    session: Session,
    arguments: argparse.Namespace,
    signer: Signer,
    payload: Payload,
    summary: str,
    *,
    details: Sequence[tuple[str, str]] = (),
    outcome: Callable[[Transaction], dict[str, Any]] | None = None,
) -> int:
    """Signs `payload` with `signer`'s key and sends it (the module's steps); `summary` says
    what it does ("send 5 PAC to pac1…"), `details` add lines to what is shown, and `outcome`
    what the signed transaction makes (a channel's id), printed and in the JSON document."""
    from pacata.chain.keys import PrivateKey
    from pacata.chain.transitions import spend_of
    from pacata.wallet.transactions import unsigned_transaction

    client = session.node().client
    chain_id = client.status().chain_id
    fees = client.fees()
    if arguments.fee is not None and arguments.fee < fees.min_fee:
        raise UsageError(
            f"a fee of {pac_text(arguments.fee)} PAC is below the chain's minimum of "
            f"{pac_text(fees.min_fee)} PAC"
        )
    balance, nonce = _balance_and_nonce(client, signer.address)
    tx = unsigned_transaction(
        chain_id,
        signer.entry.public_key,
        nonce,
        payload,
        min_fee=fees.min_fee,
        rate_per_kb=fees.fee_rate_per_kb,
        fee=arguments.fee,
    )
    cost = tx.fee + spend_of(payload)
    if cost > balance:
        raise CommandError(
            f"{signer} ({signer.address}) holds {pac_text(balance)} PAC once its pending "
            f"transactions apply, less than the {pac_text(cost)} PAC this takes with its fee "
            f"of {pac_text(tx.fee)}"
        )
    if not arguments.json:
        _show(signer, tx, summary, cost, details, dry_run=arguments.dry_run, out=sys.stdout)
    elif not arguments.dry_run and session.will_ask():  # shown where the question is asked
        _show(signer, tx, summary, cost, details, dry_run=False, out=sys.stderr)
    if arguments.dry_run:
        if arguments.json:
            print_json(_document(signer, tx, cost, status="not sent", dry_run=True))
        return 0
    session.confirm(f"{summary}, fee {pac_text(tx.fee)} PAC?")
    unlocked = session.wallets().unlock(signer.wallet.name, session.passphrase(signer.wallet.name))
    key: PrivateKey = unlocked.key(signer.entry.index)
    signed = tx.signed(key)
    sent = client.submit_transaction(signed)
    document = _document(signer, signed, cost, status=sent.status, dry_run=False)
    made = {} if outcome is None else outcome(signed)
    document.update(made)
    if not arguments.json:
        print(f"sent: txid {sent.txid.hex()} ({sent.status})", flush=True)
        for name, value in made.items():
            print(f"{name.replace('_', ' ')}: {value}", flush=True)
    if arguments.wait:
        try:
            found = client.wait_for_transaction(sent.txid, timeout_s=arguments.timeout)
        except TimeoutError:
            raise CommandError(
                f"transaction {sent.txid.hex()} is still pending after {arguments.timeout:g} s"
            ) from None
        document.update(status=found.status, block_height=found.block_height)
        if found.status != "confirmed":
            raise CommandError(f"transaction {sent.txid.hex()} was {found.status}: {found.reason}")
        if not arguments.json:
            print(f"confirmed in block {found.block_height}", flush=True)
    if arguments.json:
        print_json(document)
    return 0


def _balance_and_nonce(client: SyncNodeClient, address: Address) -> tuple[int, int]:
    """What the account can spend once its pending transactions apply, and its next nonce."""
    from pacata.cli.balances import account_on_chain

    account = account_on_chain(client, address)
    if account is None:
        return 0, 0
    return account.pending_balance, account.pending_nonce


def _show(
    signer: Signer,
    tx: Transaction,
    summary: str,
    cost: int,
    details: Sequence[tuple[str, str]],
    *,
    dry_run: bool,
    out: TextIO,
) -> None:
    print(f"{'dry run, nothing sent: ' if dry_run else ''}{summary}", file=out)
    rows = [
        ("kind", tx.kind.name),
        ("from", f"{signer.address} ({signer})"),
        *details,
        ("nonce", str(tx.nonce)),
        ("fee", f"{pac_text(tx.fee)} PAC ({tx.size} bytes)"),
        ("total", f"{pac_text(cost)} PAC"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}", file=out)
    out.flush()


def _document(
    signer: Signer, tx: Transaction, cost: int, *, status: str, dry_run: bool
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "dry_run": dry_run,
        "status": status,
        "kind": tx.kind.name,
        "wallet": signer.wallet.name,
        "account": signer.entry.index,
        "sender": signer.address,
        "nonce": tx.nonce,
        "fee": tx.fee,
        "total": cost,
        "payload": jsonable(tx.payload),
        "size": tx.size,
    }
    if not dry_run:
        document["txid"] = tx.txid.hex()
        document["transaction"] = tx.encode().hex()
    return document


def preview_for_node(
    session: Session, arguments: argparse.Namespace, question: str, request: dict[str, Any]
) -> bool:
    """For a transaction the node signs with its own account (a relay offer, `connect`'s
    channel): shows what it is asked; True with `--dry-run` (stop there), else asks (`--yes`
    answers). The node chooses the nonce and the fee."""
    if arguments.dry_run:
        if arguments.json:
            print_json({"dry_run": True, "request": request})
        else:
            print(f"dry run, nothing sent: {question}")
        return True
    session.confirm(f"{question}?")
    return False
