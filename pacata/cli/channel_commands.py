"""`pacata-vpn channel list|open|topup|close`: the payment channels of the wallets' accounts,
signed by the wallet (CHANNEL_OPEN, CHANNEL_TOPUP, CHANNEL_CLOSE). `connect` opens one paid by
the node's own account instead, and its tunnel with it.

A channel is named by its id (64 hex digits) or the first 8 or more digits of one of the
wallets' channels; the account that signs a top-up or a close is the channel's client, found
among the wallets.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from pacata.chain.transactions import (
    X25519_KEY_SIZE,
    ChannelClose,
    ChannelOpen,
    ChannelTopup,
)
from pacata.cli.amounts import pac_text
from pacata.cli.arguments import (
    Completion,
    address,
    amount,
    channel_reference,
    checked,
    completes,
    hex_bytes,
)
from pacata.cli.channel_terms import NODE_DEFAULT_BLOCKS, declare_channel_terms
from pacata.cli.errors import CommandError, UsageError
from pacata.cli.output import console, print_json, short_address, short_id
from pacata.cli.sending import (
    Signer,
    chosen_signer,
    declare_sending,
    declare_signer,
    send,
    signer_of,
)
from pacata.cli.session import Session
from pacata.cli.table import EXAMPLE_RELAY, Command

if TYPE_CHECKING:
    from pacata.chain.transactions import Transaction
    from pacata.rpc import ChannelInfo

DEFAULT_BLOCKS = NODE_DEFAULT_BLOCKS
MAX_LISTED = 100


def wallet_channels(session: Session, wallet: str | None = None) -> list[ChannelInfo]:
    """The channels of every account of the wallets (or of `wallet`), as client or relay."""
    store = session.wallets()
    if wallet is not None:
        wallets = [store.read(wallet)]
    else:
        wallets = store.wallets() if store.directory.is_dir() else []
    client = session.node().client
    found: dict[bytes, ChannelInfo] = {}
    for info in wallets:
        for entry in info.accounts:
            page = client.address_channels(entry.address, limit=MAX_LISTED)
            for channel in page.channels:
                found.setdefault(channel.channel_id, channel)
    return sorted(found.values(), key=lambda c: (c.status != "open", -c.open_height))


# -- list -----------------------------------------------------------------------------------


def _declare_list(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument("-w", "--wallet", metavar="NAME", help="one wallet (default: all)"),
        Completion.WALLET,
    )


def _run_list(session: Session, arguments: argparse.Namespace) -> int:
    channels = wallet_channels(session, arguments.wallet)
    if arguments.json:
        print_json({"channels": channels})
        return 0
    if not channels:
        print("no channel of your wallets' accounts: `pacata-vpn channel open RELAY` opens one")
        return 0
    from rich.table import Table

    table = Table(title="Channels of your accounts (PAC)", title_justify="left")
    for name in ("channel", "client", "relay", "tier", "status", "deposit", "paid", "expires"):
        table.add_column(name, justify="right" if name in ("deposit", "paid", "tier") else "left")
    for channel in channels:
        open_ = channel.status == "open"
        table.add_row(
            short_id(channel.channel_id),
            short_address(channel.client),
            short_address(channel.relay),
            str(channel.tier),
            channel.status,
            pac_text(channel.deposit) if open_ and channel.deposit is not None else "-",
            pac_text(channel.paid) if open_ and channel.paid is not None else "-",
            str(channel.expiry_height) if channel.expiry_height is not None else "-",
        )
    console().print(table)
    return 0


# -- open -----------------------------------------------------------------------------------


def _declare_open(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument(
            "relay", metavar="RELAY", type=checked(address), help="the relay's pac1 account"
        ),
        Completion.RELAY,
    )
    declare_channel_terms(parser, blocks_default=DEFAULT_BLOCKS)
    parser.add_argument(
        "--tunnel-key",
        metavar="HEX",
        type=checked(hex_bytes(X25519_KEY_SIZE, "a WireGuard public key")),
        help="the WireGuard key the relay admits (default: your node's interface key)",
    )
    declare_signer(parser)
    declare_sending(parser)


def _run_open(session: Session, arguments: argparse.Namespace) -> int:
    from pacata.rpc.routes import MAX_RELAY_LIST

    signer = chosen_signer(session, arguments)
    client = session.node().client
    offers = {relay.address: relay for relay in client.relays(MAX_RELAY_LIST)}
    relay = offers.get(arguments.relay)
    if relay is None:
        raise CommandError(f"{arguments.relay} is not a registered relay (`pacata-vpn relay list`)")
    if arguments.tier >= len(relay.offer.prices_per_gib):
        raise UsageError(
            f"relay {arguments.relay} offers tiers 0-{len(relay.offer.prices_per_gib) - 1}, "
            f"not {arguments.tier}"
        )
    status = client.status()
    key: bytes | None = arguments.tunnel_key
    if key is None:
        if status.vpn is None:
            raise UsageError(
                "your node runs no VPN side to take its WireGuard key from: give --tunnel-key "
                "HEX, or start pacatad with --vpn"
            )
        key = status.vpn.public_key
    expiry = status.height + arguments.blocks
    payload = ChannelOpen(arguments.relay, arguments.deposit, arguments.tier, key, expiry)
    price = relay.offer.prices_per_gib[arguments.tier]
    summary = (
        f"open a channel to {arguments.relay} with {pac_text(arguments.deposit)} PAC at tier "
        f"{arguments.tier}"
    )
    details = [
        ("relay", str(arguments.relay)),
        ("deposit", f"{pac_text(arguments.deposit)} PAC"),
        ("tier", f"{arguments.tier} ({pac_text(price)} PAC/GiB)"),
        ("expires", f"at height {expiry}"),
        ("tunnel key", key.hex()),
    ]
    return send(
        session, arguments, signer, payload, summary, details=details, outcome=_opened_channel
    )


def _opened_channel(tx: Transaction) -> dict[str, Any]:
    from pacata.chain.transitions import channel_id_of

    return {"channel_id": channel_id_of(tx.sender, tx.nonce).hex()}


# -- topup and close ------------------------------------------------------------------------


def _channel(session: Session, reference: str) -> ChannelInfo:
    """The channel `reference` names: a whole id, or the start of one of the wallets'."""
    if len(reference) == 64:
        return session.node().client.channel(bytes.fromhex(reference))
    matches = [c for c in wallet_channels(session) if c.channel_id.hex().startswith(reference)]
    if not matches:
        raise CommandError(f"no channel of your wallets' accounts starts with {reference}")
    if len(matches) > 1:
        raise UsageError(f"{reference} starts {len(matches)} channels: give more digits")
    return matches[0]


def _open_channel_and_client(session: Session, reference: str) -> tuple[ChannelInfo, Signer]:
    """The open channel `reference` names, and its client's account, which alone signs a
    top-up or a close of it."""
    channel = _channel(session, reference)
    if channel.status != "open":
        raise CommandError(f"channel {channel.channel_id.hex()} is {channel.status}")
    return channel, signer_of(session, channel.client, f"channel {short_id(channel.channel_id)}")


def _declare_channel(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument(
            "channel",
            metavar="CHANNEL_ID",
            type=checked(channel_reference),
            help="the channel's id, or its first 8 or more hex digits",
        ),
        Completion.CHANNEL,
    )


def _declare_topup(parser: argparse.ArgumentParser) -> None:
    _declare_channel(parser)
    parser.add_argument(
        "amount", metavar="AMOUNT", type=checked(amount), help="PAC added to the deposit"
    )
    declare_sending(parser)


def _run_topup(session: Session, arguments: argparse.Namespace) -> int:
    channel, signer = _open_channel_and_client(session, arguments.channel)
    summary = f"add {pac_text(arguments.amount)} PAC to channel {channel.channel_id.hex()}"
    details = [
        ("channel", channel.channel_id.hex()),
        ("amount", f"{pac_text(arguments.amount)} PAC"),
    ]
    payload = ChannelTopup(channel.channel_id, arguments.amount)
    return send(session, arguments, signer, payload, summary, details=details)


def _declare_close(parser: argparse.ArgumentParser) -> None:
    _declare_channel(parser)
    declare_sending(parser)


def _run_close(session: Session, arguments: argparse.Namespace) -> int:
    channel, signer = _open_channel_and_client(session, arguments.channel)
    height = session.node().client.status().height
    if channel.closable_height is not None and height + 1 < channel.closable_height:
        raise CommandError(
            f"channel {short_id(channel.channel_id)} can be closed from block "
            f"{channel.closable_height} on (its expiry and the relay's grace to settle); the "
            f"tip is at {height}"
        )
    left = (
        None if channel.deposit is None or channel.paid is None else channel.deposit - channel.paid
    )
    summary = f"close channel {channel.channel_id.hex()} and take back what was not paid"
    details = [
        ("channel", channel.channel_id.hex()),
        ("refund", "-" if left is None else f"{pac_text(left)} PAC"),
    ]
    payload = ChannelClose(channel.channel_id)
    return send(session, arguments, signer, payload, summary, details=details)


COMMANDS = (
    Command(
        ("channel", "list"),
        "the channels of your wallets' accounts, as client and as relay",
        "Every channel whose client or relay is one of your wallets' accounts, open ones first: "
        "deposit, paid so far, expiry (from the node's address index).",
        ("pacata-vpn channel list", "pacata-vpn channel list --wallet alice --json"),
        _declare_list,
        _run_list,
        wallets=True,
    ),
    Command(
        ("channel", "open"),
        "open a payment channel from a wallet's account to a relay",
        "Signs a CHANNEL_OPEN from a wallet's account to RELAY, locking --deposit PAC until "
        "the channel expires --blocks after the tip. The relay admits --tunnel-key (default: "
        "your node's WireGuard key). `connect` does the same from the node's own account and "
        "waits for the tunnel.",
        (f"pacata-vpn channel open {EXAMPLE_RELAY} --deposit 5 --wallet alice",),
        _declare_open,
        _run_open,
        wallets=True,
        secret=True,
        sends=True,
    ),
    Command(
        ("channel", "topup"),
        "add PAC to an open channel's deposit",
        "Signs a CHANNEL_TOPUP of AMOUNT PAC to channel CHANNEL_ID, with the key of its client "
        "(one of your wallets' accounts).",
        ("pacata-vpn channel topup 3f2a9c04e1b7 2",),
        _declare_topup,
        _run_topup,
        wallets=True,
        secret=True,
        sends=True,
    ),
    Command(
        ("channel", "close"),
        "close an expired channel and take back what was not paid",
        "Signs a CHANNEL_CLOSE of channel CHANNEL_ID with the key of its client: once the "
        "channel has expired and the relay's grace to settle has passed, what was not paid "
        "comes back to the client.",
        ("pacata-vpn channel close 3f2a9c04e1b7 --yes --wait",),
        _declare_close,
        _run_close,
        wallets=True,
        secret=True,
        sends=True,
    ),
)
