"""`pacata-vpn connect|disconnect|status`: paid tunnels through the user's own node
(docs/operations.md §Paid tunnels from the command line). The node signs what they ask for (a
channel, a disconnection) with its account's key, carrying the token of its `.cookie`."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pacata.chain.keys import Address
from pacata.cli.amounts import pac_text
from pacata.cli.arguments import (
    Completion,
    address,
    channel_reference,
    checked,
    completes,
    timeout,
)
from pacata.cli.balances import balances_of, print_balances
from pacata.cli.channel_terms import declare_channel_terms
from pacata.cli.errors import CommandError, UsageError
from pacata.cli.node_session import NodeSession
from pacata.cli.output import (
    byte_count,
    console,
    jsonable,
    optional_pac,
    print_json,
    progress,
    short_address,
    short_id,
)
from pacata.cli.sending import preview_for_node
from pacata.cli.session import Session
from pacata.cli.table import EXAMPLE_RELAY, Command, no_arguments

if TYPE_CHECKING:
    from pacata.rpc import OpenedChannel, RelayInfo, TunnelInfo, TunnelsInfo

DEFAULT_WAIT_S = 300.0
POLL_S = 0.5  # between two looks at the tunnels while `connect` waits


# -- connect --------------------------------------------------------------------------------


def _run_connect(session: Session, arguments: argparse.Namespace) -> int:
    node = session.node()
    say = progress(arguments.json)
    listing = node.tunnels()
    relay: Address | None = arguments.relay
    if relay is None:
        chosen = _cheapest_relay(node, arguments.tier, listing.account)
        relay = chosen.address
        say(
            f"no relay named: {relay}, the cheapest offering tier {arguments.tier} "
            f"({pac_text(chosen.offer.prices_per_gib[arguments.tier])} PAC/GiB)"
        )
    request = {
        "relay": relay,
        "tier": arguments.tier,
        "deposit": arguments.deposit,
        "blocks": arguments.blocks,
        "account": listing.account,
    }
    question = (
        f"have the node's account {listing.account} lock {pac_text(arguments.deposit)} PAC in "
        f"a channel to {relay} at tier {arguments.tier}"
    )
    if preview_for_node(session, arguments, question, request):
        return 0
    opened = node.signed(
        lambda admin: admin.open_channel(relay, arguments.deposit, arguments.tier, arguments.blocks)
    )
    channel = opened.channel_id.hex()
    say(
        f"opened channel {channel} to {relay} at tier {arguments.tier}: deposit "
        f"{pac_text(arguments.deposit)} PAC, expires at height {opened.expiry_height} "
        f"(txid {opened.txid.hex()})"
    )
    summary: dict[str, Any] = {
        "channel_id": opened.channel_id,
        "txid": opened.txid,
        "relay": relay,
        "tier": arguments.tier,
        "deposit": arguments.deposit,
        "expiry_height": opened.expiry_height,
        "state": opened.status,
        "interface": listing.interface,
        "overlay_address": listing.overlay_address,
        "peer_address": None,
        "endpoint": None,
    }
    if not arguments.wait:
        say(
            f"its tunnel comes up once the opening is {listing.confirmations} blocks deep: "
            "`pacata-vpn status` shows it"
        )
        if arguments.json:
            print_json(summary)
        return 0
    try:
        listing, tunnel = _wait_until_up(node, opened, arguments.timeout, say)
    except KeyboardInterrupt:
        raise CommandError(
            f"interrupted: channel {channel} stays open (`pacata-vpn disconnect {channel}` "
            "leaves it)"
        ) from None
    summary.update(
        state=tunnel.state,
        interface=listing.interface,
        overlay_address=listing.overlay_address,
        peer_address=tunnel.peer_address,
        endpoint=tunnel.endpoint,
    )
    if arguments.json:
        print_json(summary)
        return 0
    at = f" at {tunnel.endpoint}" if tunnel.endpoint else ""
    print(f"up: channel {channel} through relay {relay}{at}")
    print(f"  this node  {listing.overlay_address}  ({listing.interface})")
    print(f"  relay      {tunnel.peer_address or '-'}")
    return 0


def _cheapest_relay(node: NodeSession, tier: int, own: Address) -> RelayInfo:
    from pacata.rpc.routes import MAX_RELAY_LIST

    offering = [
        relay
        for relay in node.client.relays(MAX_RELAY_LIST)
        if relay.address != own and tier < len(relay.offer.prices_per_gib)
    ]
    if not offering:
        raise CommandError(
            f"no relay on the chain offers tier {tier}: name one (`pacata-vpn relay list` "
            "shows the offers)"
        )
    return min(offering, key=lambda r: (r.offer.prices_per_gib[tier], str(r.address)))


def _wait_until_up(
    node: NodeSession, opened: OpenedChannel, timeout_s: float, say: Callable[[str], None]
) -> tuple[TunnelsInfo, TunnelInfo]:
    """Follows the channel's tunnel until it is up, telling each step once: confirming
    (pending, then blocks deep), connecting (waiting for the relay); the caller tells "up"."""
    from pacata.rpc import RpcNotFound

    channel = opened.channel_id.hex()
    deadline = time.monotonic() + timeout_s
    told = ""
    while True:
        listing = node.tunnels()
        tunnel = listing.tunnel(opened.channel_id)
        if tunnel is None:
            try:
                found = node.client.transaction(opened.txid)
            except RpcNotFound:
                raise CommandError(
                    f"the node knows neither channel {channel} nor its opening {opened.txid.hex()}"
                ) from None
            if found.status in ("evicted", "replaced"):
                raise CommandError(
                    f"the opening of channel {channel} left the mempool unmined "
                    f"({found.status}: {found.reason})"
                )
            state, step = "confirming", "confirming: the opening waits for a block"
            if found.confirmed:  # the node has yet to follow its block
                step = f"confirming: the opening is in block {found.block_height}"
        elif tunnel.state == "up":
            return listing, tunnel
        elif tunnel.state == "ended":
            raise CommandError(
                f"channel {channel} ended before its tunnel came up (it expired or was used "
                "up or left, or its relay retired its offer)"
            )
        elif tunnel.state == "confirming":
            state = "confirming"
            step = f"confirming: {tunnel.confirmations} of {listing.confirmations} blocks deep"
        elif tunnel.state == "connecting":
            at = f" at {tunnel.endpoint}" if tunnel.endpoint else ""
            state, step = "connecting", f"connecting: waiting for the relay{at} to answer"
        else:
            state = step = tunnel.state
        if step != told:
            say(step)
            told = step
        if time.monotonic() >= deadline:
            raise CommandError(
                f"channel {channel} is not up after {timeout_s:g} s (still {state}); it stays "
                f"open: `pacata-vpn status` follows it, `pacata-vpn disconnect {channel}` "
                "leaves it"
            )
        time.sleep(POLL_S)


def _declare_connect(parser: argparse.ArgumentParser) -> None:
    relay = parser.add_argument(
        "relay",
        metavar="RELAY",
        nargs="?",
        type=checked(address),
        help="the relay's pac1 account",
    )
    completes(relay, Completion.RELAY)
    declare_channel_terms(parser, blocks_default=None)
    parser.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait until the tunnel is up (default), or return once the channel is opened",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=checked(timeout),
        default=DEFAULT_WAIT_S,
        help=f"stop waiting after this long; the channel stays open (default {DEFAULT_WAIT_S:g})",
    )


# -- disconnect -----------------------------------------------------------------------------


def _run_disconnect(session: Session, arguments: argparse.Namespace) -> int:
    node = session.node()
    listing = node.tunnels()
    channel_id = _channel_to_leave(listing, arguments.channel)
    left = node.signed(lambda admin: admin.disconnect(channel_id))
    if arguments.json:
        print_json(left)
        return 0
    print(
        f"disconnected channel {channel_id.hex()}: its tunnel is down; the node closes the "
        f"channel and claims its refund from height {left.close_height}"
    )
    return 0


def _channel_to_leave(listing: TunnelsInfo, reference: str | None) -> bytes:
    """The channel `reference` names (its id, or the first digits of one of the node's), or
    without one, the node's one tunnel as a client that is up or connecting."""
    if reference is not None and len(reference) == 64:
        return bytes.fromhex(reference)  # the node says whether it pays such a channel
    if reference is not None:
        matches = [t for t in listing.tunnels if t.channel_id.hex().startswith(reference)]
        if not matches:
            raise CommandError(f"no channel of the node's account starts with {reference}")
        if len(matches) > 1:
            raise UsageError(f"{reference} starts {len(matches)} channels: give more digits")
        return matches[0].channel_id
    live = [t for t in listing.tunnels if t.role == "client" and t.state in ("up", "connecting")]
    if not live:
        raise CommandError(
            "no tunnel of this node as a client is up or connecting: name the channel "
            "(`pacata-vpn status` lists them)"
        )
    if len(live) > 1:
        names = ", ".join(f"{short_id(t.channel_id)} ({t.state})" for t in live)
        raise UsageError(f"{len(live)} tunnels are up or connecting, name one: {names}")
    return live[0].channel_id


def _declare_disconnect(parser: argparse.ArgumentParser) -> None:
    channel = parser.add_argument(
        "channel",
        metavar="CHANNEL_ID",
        nargs="?",
        type=checked(channel_reference),
        help="the channel's id, or its first 8 or more hex digits",
    )
    completes(channel, Completion.NODE_CHANNEL)


# -- status ---------------------------------------------------------------------------------


def _run_status(session: Session, arguments: argparse.Namespace) -> int:
    node = session.node()
    status = node.client.status()
    listing: TunnelsInfo | None
    try:
        listing = node.tunnels()
    except CommandError:  # no VPN side: the node's part still says something
        listing = None
    survey = session.wallets().survey()
    balances = balances_of(node.client, survey.wallets)
    if arguments.json:
        document = _status_document(node.url, status, listing)
        document["wallets"] = balances
        document["damaged_wallets"] = survey.damaged
        print_json(document)
        return 0
    from rich.table import Table

    out = console()
    if status.syncing:
        target = max(status.sync.target_height, status.height)
        sync = f"syncing ({status.height} of {target})"
    else:
        sync = "in sync"
    out.print(
        f"node    {node.url}: {status.chain_id} at height {status.height}, "
        f"{status.peers} peers, {sync}"
    )
    print_balances(out, balances, survey.damaged)
    if listing is None:
        out.print("vpn     not running (start pacatad with --vpn or --relay)")
        return 0
    out.print(
        f"vpn     {listing.interface}, overlay address {listing.overlay_address}, account "
        f"{listing.account}; a channel counts {listing.confirmations} blocks deep"
    )
    if status.vpn is not None:
        vpn = status.vpn
        out.print(
            f"        key {vpn.public_key.hex()}, port {vpn.listen_port}, {vpn.peers} peers, "
            f"received {byte_count(vpn.rx_bytes)}, sent {byte_count(vpn.tx_bytes)}"
        )
    if not listing.tunnels:
        out.print("no channels: `pacata-vpn connect RELAY` opens one")
        return 0
    tunnels = Table(title="Tunnels", title_justify="left")
    for name in ("channel", "role", "with", "tier", "state", "carried", "expires at"):
        tunnels.add_column(name, justify="right" if name in ("carried", "tier") else "left")
    payments = Table(title="Payments (PAC)", title_justify="left")
    payments.add_column("channel")
    for name in ("deposit", "paid", "receipted", "acknowledged", "left"):
        payments.add_column(name, justify="right")
    for tunnel in listing.tunnels:
        other = tunnel.relay if tunnel.role == "client" else tunnel.client
        ahead = tunnel.expiry_height - status.height
        expires = f"{tunnel.expiry_height} (in {ahead})" if ahead > 0 else f"{tunnel.expiry_height}"
        tunnels.add_row(
            short_id(tunnel.channel_id),
            tunnel.role,
            f"{'relay' if tunnel.role == 'client' else 'client'} {short_address(other)}",
            str(tunnel.tier),
            tunnel.state,
            byte_count(tunnel.counted_bytes),
            expires,
        )
        payments.add_row(
            short_id(tunnel.channel_id),
            pac_text(tunnel.deposit),
            pac_text(tunnel.paid),
            optional_pac(tunnel.receipted),
            optional_pac(tunnel.acknowledged),
            pac_text(tunnel.deposit_left),
        )
    out.print(tunnels)
    out.print(payments)
    return 0


def _status_document(url: str, status: Any, listing: TunnelsInfo | None) -> dict[str, Any]:
    node = {
        "url": url,
        "chain_id": status.chain_id,
        "height": status.height,
        "peers": status.peers,
        "syncing": status.syncing,
        "sync": status.sync,
    }
    if listing is None:
        return {"node": node, "vpn": None, "tunnels": []}
    vpn: dict[str, Any] = {
        "interface": listing.interface,
        "overlay_address": listing.overlay_address,
        "account": listing.account,
        "confirmations": listing.confirmations,
    }
    if status.vpn is not None:
        vpn.update(jsonable(status.vpn))
    tunnels = [
        {**jsonable(tunnel), "deposit_left": tunnel.deposit_left} for tunnel in listing.tunnels
    ]
    return {"node": node, "vpn": vpn, "tunnels": tunnels}


COMMANDS = (
    Command(
        ("connect",),
        "open a paid channel to a relay through the node and wait for its tunnel",
        "Has the node open a payment channel from its account to RELAY (CHANNEL_OPEN, signed "
        "by the node), then follows it until its tunnel is up: confirming (the opening is not "
        "yet deep enough), connecting (waiting for the relay), up. Without RELAY, the cheapest "
        "registered relay offering the tier is chosen.",
        (
            f"pacata-vpn connect {EXAMPLE_RELAY} --deposit 5",
            "pacata-vpn connect --tier 1 --deposit 2.5 --no-wait --json",
        ),
        _declare_connect,
        _run_connect,
        sends=True,
    ),
    Command(
        ("disconnect",),
        "stop using a channel this node pays: its tunnel goes now, its refund later",
        "Has the node stop using the channel CHANNEL_ID (its 64 hex digits, or the first 8 or "
        "more of one of the node's channels): the tunnel goes at once, and the node closes the "
        "channel and claims the refund of what was not paid once it has expired and the "
        "relay's grace has passed. Without CHANNEL_ID: the node's one tunnel as a client that "
        "is up or connecting.",
        ("pacata-vpn disconnect", "pacata-vpn disconnect 3f2a9c04e1b7 --json"),
        _declare_disconnect,
        _run_disconnect,
    ),
    Command(
        ("status",),
        "the node, its sync, your wallets' balances, its VPN interface and its tunnels",
        "The node (chain, height, peers, sync), the balance of each account of your wallets, "
        "the node's WireGuard interface and overlay address, and each channel of its account, "
        "as client or relay: its state, what it carried, its deposit, what is paid on chain, "
        "receipted and acknowledged, what is left, and when it expires. Amounts in PAC (base "
        "units with --json).",
        ("pacata-vpn status", "pacata-vpn status --json --node 127.0.0.1:9750"),
        no_arguments,
        _run_status,
        wallets=True,
    ),
)
