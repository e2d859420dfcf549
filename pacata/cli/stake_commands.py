"""`pacata-vpn stake bond|unbond`: stake a wallet account's PAC as a block producer (BOND,
with the Ed25519 key of its slot lottery), or start releasing it (UNBOND: spendable again after
the chain's unbonding delay)."""

from __future__ import annotations

import argparse

from pacata.chain.transactions import VRF_PUBLIC_KEY_SIZE, Bond, Unbond
from pacata.cli.amounts import pac_text
from pacata.cli.arguments import amount, checked, hex_bytes
from pacata.cli.balances import account_on_chain
from pacata.cli.errors import UsageError
from pacata.cli.sending import chosen_signer, declare_sending, declare_signer, send
from pacata.cli.session import Session
from pacata.cli.table import Command


def _declare_amount(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "amount", metavar="AMOUNT", type=checked(amount), help="PAC, at most 8 decimals"
    )
    declare_signer(parser)
    declare_sending(parser)


def _declare_bond(parser: argparse.ArgumentParser) -> None:
    _declare_amount(parser)
    parser.add_argument(
        "--vrf-public-key",
        metavar="HEX",
        type=checked(hex_bytes(VRF_PUBLIC_KEY_SIZE, "a VRF public key")),
        help="the Ed25519 public key of the producer's slot lottery (default: the one the "
        "account already bonded with)",
    )


def _run_bond(session: Session, arguments: argparse.Namespace) -> int:
    signer = chosen_signer(session, arguments)
    key: bytes | None = arguments.vrf_public_key
    if key is None:
        account = account_on_chain(session.node().client, signer.address)
        key = None if account is None else account.vrf_public_key
        if key is None:
            raise UsageError(
                f"{signer} has never bonded: give the producer's --vrf-public-key HEX "
                "(docs/operations.md §Producer keys)"
            )
    summary = f"bond {pac_text(arguments.amount)} PAC of {signer} as a block producer"
    details = [("amount", f"{pac_text(arguments.amount)} PAC"), ("vrf key", key.hex())]
    return send(session, arguments, signer, Bond(arguments.amount, key), summary, details=details)


def _run_unbond(session: Session, arguments: argparse.Namespace) -> int:
    signer = chosen_signer(session, arguments)
    summary = f"unbond {pac_text(arguments.amount)} PAC of {signer}"
    details = [("amount", f"{pac_text(arguments.amount)} PAC")]
    return send(session, arguments, signer, Unbond(arguments.amount), summary, details=details)


COMMANDS = (
    Command(
        ("stake", "bond"),
        "bond PAC as a block producer",
        "Signs a BOND of AMOUNT PAC from a wallet's account with the producer's VRF public "
        "key: the account then draws slots in proportion to its bond. The node that produces "
        "for it needs the account's key and the VRF seed in its producer.key.",
        ("pacata-vpn stake bond 1000 --wallet alice --vrf-public-key 3b6a27bc…",),
        _declare_bond,
        _run_bond,
        wallets=True,
        secret=True,
        sends=True,
    ),
    Command(
        ("stake", "unbond"),
        "start releasing bonded PAC",
        "Signs an UNBOND of AMOUNT PAC: it stops counting for the lottery at once and becomes "
        "spendable after the chain's unbonding delay (`wallet balance` shows it unbonding).",
        ("pacata-vpn stake unbond 250 --wallet alice --yes",),
        _declare_amount,
        _run_unbond,
        wallets=True,
        secret=True,
        sends=True,
    ),
)
