"""`pacata-vpn contacts list|add|remove`: the address book, names for addresses that `wallet
send` takes and the shell completes (pacata/wallet/address_book.py)."""

from __future__ import annotations

import argparse

from pacata.cli.arguments import Completion, address, checked, completes
from pacata.cli.output import print_json
from pacata.cli.session import Session
from pacata.cli.table import EXAMPLE_ADDRESS, Command, no_arguments


def _run_list(session: Session, arguments: argparse.Namespace) -> int:
    entries = session.address_book().entries()
    if arguments.json:
        print_json({"contacts": [{"name": n, "address": a} for n, a in entries.items()]})
        return 0
    if not entries:
        print("the address book is empty: `pacata-vpn contacts add NAME ADDRESS` adds a name")
        return 0
    width = max(len(name) for name in entries)
    for name, found in entries.items():
        print(f"{name:<{width}}  {found}")
    return 0


def _declare_add(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="a name for the address")
    parser.add_argument("address", metavar="ADDRESS", type=checked(address), help="a pac1 address")
    parser.add_argument("--replace", action="store_true", help="replace the name's address")


def _run_add(session: Session, arguments: argparse.Namespace) -> int:
    session.address_book().add(arguments.name, arguments.address, replace=arguments.replace)
    if arguments.json:
        print_json({"name": arguments.name, "address": arguments.address})
    else:
        print(f"{arguments.name} is {arguments.address}")
    return 0


def _declare_remove(parser: argparse.ArgumentParser) -> None:
    completes(parser.add_argument("name", metavar="NAME", help="the name"), Completion.CONTACT)


def _run_remove(session: Session, arguments: argparse.Namespace) -> int:
    session.address_book().remove(arguments.name)
    if arguments.json:
        print_json({"removed": arguments.name})
    else:
        print(f"removed {arguments.name}")
    return 0


COMMANDS = (
    Command(
        ("contacts", "list"),
        "the names of the address book",
        "The address book's names and their addresses.",
        ("pacata-vpn contacts list --json",),
        no_arguments,
        _run_list,
        wallets=True,
    ),
    Command(
        ("contacts", "add"),
        "name an address",
        "Adds NAME for ADDRESS to the address book; `wallet send NAME …` then pays it.",
        (f"pacata-vpn contacts add bob {EXAMPLE_ADDRESS}",),
        _declare_add,
        _run_add,
        wallets=True,
    ),
    Command(
        ("contacts", "remove"),
        "forget a name",
        "Removes NAME from the address book.",
        ("pacata-vpn contacts remove bob",),
        _declare_remove,
        _run_remove,
        wallets=True,
    ),
)
