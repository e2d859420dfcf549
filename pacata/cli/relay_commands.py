"""`pacata-vpn relay register|update|retire|list`: this node's relay offer, which the node
signs with its account's key (RELAY_REGISTER, RELAY_UPDATE, RELAY_RETIRE), and the offers on
the chain (docs/operations.md §Paid tunnels from the command line)."""

from __future__ import annotations

import argparse

from pacata.chain.transactions import MAX_ENDPOINTS, MAX_TIERS
from pacata.cli.amounts import MAX_AMOUNT
from pacata.cli.arguments import bounded_int, checked, endpoint, price
from pacata.cli.errors import UsageError
from pacata.cli.output import console, jsonable, print_json, tiers
from pacata.cli.sending import preview_for_node
from pacata.cli.session import Session
from pacata.cli.table import Command, no_arguments


def _run_relay_offer(session: Session, arguments: argparse.Namespace) -> int:
    node = session.node()
    action = arguments.command.words[-1]
    prices: list[int] = arguments.price
    limits: list[int] | None = arguments.rate_limit or None
    endpoints: list[str] | None = arguments.endpoint or None
    if len(prices) > MAX_TIERS:
        raise UsageError(f"{len(prices)} prices: a relay offers at most {MAX_TIERS} tiers")
    if limits is not None and len(limits) != len(prices):
        raise UsageError(
            f"{len(limits)} rate limits for {len(prices)} tiers: give one --rate-limit per "
            "--price, or none"
        )
    if endpoints is not None and len(endpoints) > MAX_ENDPOINTS:
        raise UsageError(f"{len(endpoints)} endpoints: an offer lists at most {MAX_ENDPOINTS}")
    listing = node.tunnels()
    request = {
        "action": action,
        "relay": listing.account,
        "prices_per_gib": prices,
        "rate_limits": limits or [0] * len(prices),
        "endpoints": endpoints,
    }
    offered = "; ".join(tiers(prices, limits or [0] * len(prices)))
    question = f"have the node {action} the relay offer of {listing.account}: {offered}"
    if preview_for_node(session, arguments, question, request):
        return 0
    sent = node.signed(lambda admin: admin.relay_offer(action, prices, limits, endpoints))
    limits = limits or [0] * len(prices)
    if arguments.json:
        print_json({**jsonable(sent), "prices_per_gib": prices, "rate_limits": limits})
        return 0
    print(f"relay {action} sent (txid {sent.txid.hex()}, {sent.status}): {sent.relay} offers")
    for line in tiers(prices, limits):
        print(f"  {line}")
    print(f"  at {', '.join(sent.endpoints)}")
    print("It takes effect once a block holds it (`pacata-vpn relay list` shows the chain's).")
    return 0


def _run_relay_retire(session: Session, arguments: argparse.Namespace) -> int:
    node = session.node()
    listing = node.tunnels()
    question = (
        f"have the node retire the relay offer of {listing.account}: its clients' tunnels end"
    )
    if preview_for_node(
        session, arguments, question, {"action": "retire", "relay": listing.account}
    ):
        return 0
    sent = node.signed(lambda admin: admin.relay_offer("retire"))
    if arguments.json:
        print_json(sent)
        return 0
    print(
        f"relay retire sent (txid {sent.txid.hex()}, {sent.status}): once a block holds it, "
        f"{sent.relay} offers nothing, and its clients' tunnels end"
    )
    return 0


def _run_relay_list(session: Session, arguments: argparse.Namespace) -> int:
    node = session.node()
    from pacata.rpc.routes import MAX_RELAY_LIST

    relays = node.client.relays(MAX_RELAY_LIST)
    if arguments.json:
        print_json({"count": len(relays), "relays": relays})
        return 0
    if not relays:
        print("no relay is registered on the chain")
        return 0
    from rich.table import Table

    table = Table(title="Relays", title_justify="left")
    for name in ("relay", "since", "tiers", "endpoints"):
        table.add_column(name)
    for relay in relays:
        offer = relay.offer
        table.add_row(
            str(relay.address),
            str(relay.registered_height),
            "\n".join(tiers(offer.prices_per_gib, offer.rate_limits)),
            "\n".join(offer.endpoints),
        )
    console().print(table)
    return 0


def _declare_offer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--price",
        metavar="PAC_PER_GIB",
        type=checked(price),
        action="append",
        required=True,
        help="the price of a tier, in PAC per GiB (repeat: tier 0, tier 1, …)",
    )
    parser.add_argument(
        "--rate-limit",
        metavar="BYTES_PER_S",
        type=checked(bounded_int(0, MAX_AMOUNT, "a rate limit")),
        action="append",
        default=[],
        help="a tier's rate limit in bytes per second, 0 for none (one per --price)",
    )
    parser.add_argument(
        "--endpoint",
        metavar="IP:PORT",
        type=checked(endpoint),
        action="append",
        default=[],
        help=f"where clients dial the relay, [IPv6]:PORT for IPv6 (at most {MAX_ENDPOINTS})",
    )


def _offer_command(action: str, summary: str) -> Command:
    return Command(
        ("relay", action),
        summary,
        f"Has the node {summary}: one --price per tier, in PAC per GiB with at most 8 "
        "decimals, each tier's --rate-limit in bytes per second (0, the default: none), and "
        "the --endpoint IP:PORT clients dial (default: the node's own UDP endpoints). The "
        "WireGuard key offered is the node's. Run pacatad with --relay to admit the clients "
        "that open channels to it.",
        (
            f"pacata-vpn relay {action} --price 0.2 --price 0.6 --rate-limit 12500000 "
            "--rate-limit 0 --endpoint 203.0.113.7:9741",
        ),
        _declare_offer,
        _run_relay_offer,
        sends=True,
    )


COMMANDS = (
    _offer_command("register", "offer this node as a relay (RELAY_REGISTER, signed by the node)"),
    _offer_command("update", "replace this node's offer (RELAY_UPDATE)"),
    Command(
        ("relay", "retire"),
        "withdraw this node's offer (RELAY_RETIRE)",
        "Has the node withdraw its relay offer: once a block holds it, no channel can be "
        "opened to it, and the tunnels of its clients end.",
        ("pacata-vpn relay retire --json",),
        no_arguments,
        _run_relay_retire,
        sends=True,
    ),
    Command(
        ("relay", "list"),
        "the relays registered on the chain and their offers",
        "The relays registered on the chain, in address order (the first 1000).",
        ("pacata-vpn relay list", "pacata-vpn relay list --json"),
        no_arguments,
        _run_relay_list,
    ),
)
