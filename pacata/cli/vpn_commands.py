"""`pacata-vpn`: the VPN plugin's command line.

One subcommand per job, each an argparse subparser with a `run` function that returns the exit
status, so that more subcommands can join without touching the others:

    pacata-vpn wg-userspace [-f] IFACE      our WireGuard engine as a daemon, configured by `wg`
    pacata-vpn connect [RELAY]              open a paid channel and wait for its tunnel
    pacata-vpn disconnect [CHANNEL_ID]      stop using a channel this node pays
    pacata-vpn status                       the node, its VPN interface and its tunnels
    pacata-vpn relay register|update|retire this node's relay offer
    pacata-vpn relay list                   the relays registered on the chain

The paid-tunnel commands talk to the user's own node only, through its HTTP API (`pacata.rpc`,
docs/api.md §VPN): `--node URL` finds it, and what the node signs for them (an offer, a
channel, a disconnection) carries the token of the `.cookie` in its data directory, `--datadir`
or else the node's default for the chain it runs (docs/operations.md §Paid tunnels from the
command line).

Rules: `main` returns the exit status instead of exiting (tests call it): 0 done; 1 the node
refused, failed or could not be reached (one line: its reason); 2 a usage error (one line),
found before anything is sent. Never a traceback. Amounts are read and shown in PAC with at
most 8 decimals, exactly (integers of base units inside, never floats); `--json` prints one
JSON document on standard output, with amounts in base units as the API has them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias, TypeVar

from pacata.chain.keys import Address
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.transactions import MAX_ENDPOINTS, MAX_TIERS
from pacata.errors import DecodeError, PacataError

if TYPE_CHECKING:
    from rich.console import Console

    from pacata.rpc import OpenedChannel, RelayInfo, SyncNodeClient, TunnelInfo, TunnelsInfo

Runner = Callable[[argparse.Namespace], int]
T = TypeVar("T")
# An IPv4 host must take 576-byte datagrams (RFC 791); a TUN interface takes at most 65535.
MIN_MTU, MAX_MTU = 576, 65_535
DEFAULT_NODE = "http://127.0.0.1:9740"
PAC_DECIMALS = len(str(UNITS_PER_PAC)) - 1  # UNITS_PER_PAC is 10**8
MAX_AMOUNT = 2**64 - 1  # base units: the API's bound on a deposit or a price
MAX_BLOCKS = 2**32
DEFAULT_DEPOSIT = "1"  # PAC
DEFAULT_WAIT_S = 300.0
POLL_S = 0.5  # between two looks at the tunnels while `connect` waits
ID_PREFIX = 12  # hex digits of a channel id that tables show; `disconnect` takes 8 or more
MIN_ID_PREFIX = 8
UNWRAPPED_WIDTH = 1_000  # columns of rich's tables when standard output is no terminal
EXAMPLE_RELAY = "pac1cull862tywd8ymzr7g2kekgn8agqylc4kr4yw4"


class CommandError(PacataError):
    """The command cannot do what was asked: one line on standard error, exit status 1."""

    status = 1


class UsageError(CommandError):
    """The command line asks for something impossible: exit status 2, nothing sent."""

    status = 2


class OneLineParser(argparse.ArgumentParser):
    """argparse, its usage errors one line (`prog: error: …`) rather than usage and error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class ExamplesFormatter(argparse.HelpFormatter):
    """argparse's help, the description wrapped but the epilog's examples kept line by line."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


Subcommands: TypeAlias = "argparse._SubParsersAction[OneLineParser]"


def _parameter_override(text: str) -> tuple[str, float]:
    name, separator, value = text.partition("=")
    from pacata.vpn.wireguard import ProtocolParameters

    fields = {field.name for field in dataclasses.fields(ProtocolParameters)}
    if not separator or name not in fields:
        raise argparse.ArgumentTypeError(
            f"expected NAME=VALUE with NAME one of {', '.join(sorted(fields))}"
        )
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None


def _interface_name(text: str) -> str:
    from pacata.vpn.io.tun import check_interface_name

    try:
        return check_interface_name(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _mtu(text: str) -> int:
    if not text.isdigit() or not MIN_MTU <= int(text) <= MAX_MTU:
        raise argparse.ArgumentTypeError(f"not a number within {MIN_MTU}-{MAX_MTU}: {text!r}")
    return int(text)


def _run_wg_userspace(arguments: argparse.Namespace) -> int:
    from pacata.vpn.io.daemon import run_wg_userspace
    from pacata.vpn.io.engine import EngineOptions
    from pacata.vpn.wireguard import ProtocolParameters

    overrides: dict[str, float | int] = {}
    integer_fields = {
        field.name for field in dataclasses.fields(ProtocolParameters) if field.type in ("int", int)
    }
    for name, value in arguments.protocol_parameter:
        overrides[name] = int(value) if name in integer_fields else value
    try:
        parameters = ProtocolParameters(**overrides)  # type: ignore[arg-type]
    except ValueError as error:
        print(f"pacata-vpn wg-userspace: {error}", file=sys.stderr)
        return 2
    options = EngineOptions(
        udp_gso=not arguments.no_udp_gso,
        udp_gro=not arguments.no_udp_gro,
        data_threads=arguments.data_threads,
        parameters=parameters,
        mtu=arguments.mtu,
    )
    return run_wg_userspace(
        arguments.interface,
        foreground=arguments.foreground,
        options=options,
        offload=not arguments.no_tun_offload,
        tso=not (arguments.no_tun_offload or arguments.no_tun_tso),
        socket_directory=arguments.socket_directory,
    )


def _add_wg_userspace(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "wg-userspace",
        help="run our userspace WireGuard engine on a new TUN interface, configured by `wg`",
        description=(
            "Creates the TUN interface IFACE and the configuration socket "
            "/var/run/wireguard/IFACE.sock, as `wireguard-go IFACE` does, then serves them "
            "until SIGTERM/SIGINT or until the interface is deleted."
        ),
    )
    parser.add_argument("interface", metavar="IFACE", type=_interface_name)
    parser.add_argument(
        "-f", "--foreground", action="store_true", help="stay in the foreground (do not fork)"
    )
    parser.add_argument(
        "--mtu", type=_mtu, default=1420, help=f"interface MTU, {MIN_MTU}-{MAX_MTU} (default 1420)"
    )
    parser.add_argument(
        "--socket-directory",
        type=Path,
        default=Path("/var/run/wireguard"),
        help="where to create IFACE.sock (default /var/run/wireguard)",
    )
    parser.add_argument(
        "--no-tun-offload", action="store_true", help="no IFF_VNET_HDR/TSO/coalescing on the TUN"
    )
    parser.add_argument(
        "--no-tun-tso", action="store_true", help="let the kernel segment TCP before the TUN"
    )
    parser.add_argument(
        "--data-threads",
        type=int,
        choices=(1, 2),
        default=1,
        help="1: one thread for both directions (default); 2: one per direction",
    )
    parser.add_argument("--no-udp-gso", action="store_true", help="send one datagram per call")
    parser.add_argument("--no-udp-gro", action="store_true", help="receive one datagram per call")
    parser.add_argument(
        "--protocol-parameter",
        metavar="NAME=VALUE",
        type=_parameter_override,
        action="append",
        default=[],
        help="override a WireGuard timer or limit (tests shorten rekey_after_time this way)",
    )
    parser.set_defaults(run=_run_wg_userspace)


# -- values read from the command line ------------------------------------------------------

_PAC = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def pac_to_units(text: str, *, allow_zero: bool = False) -> int:
    """`text`, an amount of PAC with at most 8 decimals ("5", "0.25"), in base units, exactly;
    `ValueError` with the reason for anything else (a negative, a 9th decimal, an exponent)."""
    match = _PAC.fullmatch(text)
    if match is None:
        if text.startswith("-"):
            raise ValueError(f"{text} is negative: an amount of PAC is positive")
        raise ValueError(f"{text!r} is not an amount of PAC (write it as 5 or 0.25)")
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > PAC_DECIMALS:
        raise ValueError(
            f"{text} has {len(fraction)} decimals: PAC has {PAC_DECIMALS} "
            f"(1 PAC = {UNITS_PER_PAC:,} base units)"
        )
    units = int(whole) * UNITS_PER_PAC + int(fraction.ljust(PAC_DECIMALS, "0"))
    if units == 0 and not allow_zero:
        raise ValueError(f"{text} is zero: the amount must be more than 0")
    if units > MAX_AMOUNT:
        raise ValueError(f"{text} PAC is more than the largest amount, {pac_text(MAX_AMOUNT)}")
    return units


def pac_text(units: int) -> str:
    """Base units as PAC with all 8 decimals: 250000000 → "2.50000000"."""
    whole, part = divmod(units, UNITS_PER_PAC)
    return f"{whole}.{part:0{PAC_DECIMALS}d}"


def _type_error(read: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse `type` that reports `read`'s `ValueError` as the argument's error."""

    def checked(text: str) -> Any:
        try:
            return read(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    checked.__name__ = read.__name__  # argparse names the type in some messages
    return checked


def _deposit(text: str) -> int:
    return pac_to_units(text)


def _price(text: str) -> int:
    return pac_to_units(text, allow_zero=True)


def _address(text: str) -> Address:
    try:
        return Address.from_string(text)
    except (DecodeError, ValueError) as error:
        raise ValueError(f"{text!r} is not a pac1 address ({error})") from None


def _bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    def read(text: str) -> int:
        if not re.fullmatch(r"[0-9]+", text) or not low <= int(text) <= high:
            raise ValueError(f"{what} is a whole number within {low}-{high}, not {text!r}")
        return int(text)

    read.__name__ = what
    return read


def _timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise ValueError(f"a timeout is a positive number of seconds, not {text!r}")
    return seconds


def _node_url(text: str) -> str:
    """`http://HOST:PORT` (or https, or with a path), or `HOST:PORT` for http."""
    from pacata.rpc.client import check_base_url

    try:
        return check_base_url(text if "://" in text else f"http://{text}")
    except ValueError:
        raise ValueError(f"{text!r} is not an http:// URL nor HOST:PORT") from None


def _endpoint(text: str) -> str:
    """`IP:PORT` or `[IPv6]:PORT`: clients dial the first such endpoint of an offer and
    resolve no names (pacata/vpn/channel_peers.py)."""
    from pacata.vpn.uapi import ConfigurationError, format_endpoint, parse_endpoint

    try:
        host, port = parse_endpoint(text)
    except ConfigurationError as error:
        raise ValueError(f"{error} (write IP:PORT or [IPv6]:PORT)") from None
    if port == 0:
        raise ValueError(f"endpoint {text!r} has port 0")
    return format_endpoint((host, port))


def _channel_reference(text: str) -> str:
    """A channel id (64 hex digits) or, to pick one of the node's channels, its first 8 or more."""
    lowered = text.lower()
    if not MIN_ID_PREFIX <= len(lowered) <= 64 or any(c not in "0123456789abcdef" for c in lowered):
        raise ValueError(
            f"{text!r} is not a channel id: 64 hex digits, or the first {MIN_ID_PREFIX} or more"
        )
    return lowered


# -- the user's node ------------------------------------------------------------------------


class NodeSession:
    """The user's node as the commands reach it: a client for what they read, and one that
    carries the admin token for what the node signs, read from the `.cookie` of its data
    directory when first needed (`--datadir`, else the node's default for its chain id)."""

    def __init__(self, url: str, datadir: Path | None) -> None:
        from pacata.rpc import SyncNodeClient

        self.url = url
        self.datadir = datadir
        self.client = SyncNodeClient(url)
        self._admin: SyncNodeClient | None = None

    def close(self) -> None:
        self.client.close()
        if self._admin is not None:
            self._admin.close()

    def admin(self) -> SyncNodeClient:
        from pacata.rpc import SyncNodeClient

        if self._admin is None:
            self._admin = SyncNodeClient(self.url, token=self._token())
        return self._admin

    def cookie_path(self) -> Path:
        from pacata.rpc.cookie import COOKIE_FILE, default_data_dir

        datadir = self.datadir
        if datadir is None:
            datadir = default_data_dir(self.client.status().chain_id, os.environ, Path.home())
        return datadir / COOKIE_FILE

    def _token(self) -> str:
        from pacata.rpc.cookie import read_cookie

        path = self.cookie_path()
        try:
            return read_cookie(path.parent)
        except FileNotFoundError:
            raise CommandError(
                f"no admin cookie at {path}: does the node at {self.url} run with that data "
                "directory? (give it with --datadir DIR)"
            ) from None
        except (OSError, ValueError) as error:
            why = error.strerror if isinstance(error, OSError) else str(error)
            raise CommandError(f"cannot read the admin cookie {path}: {why}") from None

    def tunnels(self) -> TunnelsInfo:
        """The node's tunnels; `CommandError` if it runs no VPN side (the route's only 404).
        Every command of the VPN side asks this first, so that is said clearly."""
        from pacata.rpc import RpcNotFound

        try:
            return self.client.tunnels()
        except RpcNotFound:
            raise CommandError(
                f"the node at {self.url} runs no VPN side (start pacatad with --vpn or --relay)"
            ) from None

    def signed(self, call: Callable[[SyncNodeClient], T]) -> T:
        """`call` on the client with the token: a VPN call the node signs."""
        from pacata.rpc import RpcUnauthorized

        admin = self.admin()
        try:
            return call(admin)
        except RpcUnauthorized:
            raise CommandError(
                f"the node at {self.url} refused the token of {self.cookie_path()}: is that "
                "its data directory? (give it with --datadir DIR)"
            ) from None


NodeJob = Callable[[argparse.Namespace, NodeSession], int]


def _talking_to_node(job: NodeJob) -> Runner:
    """`job` run with the node of `--node`, its failures made one line and an exit status."""

    def run(arguments: argparse.Namespace) -> int:
        from pacata.rpc import InvalidResponse, NodeUnreachable, RpcError

        node = NodeSession(arguments.node, arguments.datadir)
        try:
            return job(arguments, node)
        except CommandError as error:
            message, status = str(error), error.status
        except RpcError as error:
            message, status = error.reason, 1
        except NodeUnreachable as error:
            message, status = str(error), 1
        except InvalidResponse as error:
            message, status = f"the node's answer is not what the API promises: {error}", 1
        except KeyboardInterrupt:
            message, status = "interrupted", 130
        finally:
            node.close()
        print(f"{arguments.prog}: {message}", file=sys.stderr)
        return status

    return run


# -- what the commands print ----------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """`value` as JSON has it in the API: bytes in hex, addresses `pac1…`, amounts integers."""
    if isinstance(value, Address):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _print_json(document: Any) -> None:
    print(json.dumps(_jsonable(document), indent=2))


def _console() -> Console:
    """Rich on standard output; at the terminal's width, and for a pipe or a file at its
    tables' own width (rich would take 80 columns and fold addresses)."""
    from rich.console import Console

    width = None if sys.stdout.isatty() else UNWRAPPED_WIDTH
    return Console(file=sys.stdout, highlight=False, width=width)


def _short_id(channel_id: bytes) -> str:
    return channel_id.hex()[:ID_PREFIX]


def _short_address(address: Address) -> str:
    text = str(address)
    return f"{text[:10]}…{text[-6:]}"


def _optional_pac(units: int | None) -> str:
    return "-" if units is None else pac_text(units)


def _byte_count(count: int | None) -> str:
    """A byte count for a person: "512 B", "1.5 MiB"."""
    if count is None:
        return "-"
    if count < 1024:
        return f"{count} B"
    value, units = count / 1024, ["KiB", "MiB", "GiB", "TiB"]
    while value >= 1024 and len(units) > 1:
        value, units = value / 1024, units[1:]
    return f"{value:.1f} {units[0]}"


def _rate(bytes_per_s: int) -> str:
    return "unlimited" if bytes_per_s == 0 else f"{bytes_per_s:,} B/s"


def _tiers(prices: Sequence[int], rate_limits: Sequence[int]) -> list[str]:
    return [
        f"tier {tier}: {pac_text(price)} PAC/GiB, {_rate(limit)}"
        for tier, (price, limit) in enumerate(zip(prices, rate_limits, strict=False))
    ]


# -- connect --------------------------------------------------------------------------------


def _run_connect(arguments: argparse.Namespace, node: NodeSession) -> int:
    say = _progress(arguments)
    listing = node.tunnels()
    relay: Address | None = arguments.relay
    if relay is None:
        chosen = _cheapest_relay(node, arguments.tier, listing.account)
        relay = chosen.address
        say(
            f"no relay named: {relay}, the cheapest offering tier {arguments.tier} "
            f"({pac_text(chosen.offer.prices_per_gib[arguments.tier])} PAC/GiB)"
        )
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
            _print_json(summary)
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
        _print_json(summary)
        return 0
    at = f" at {tunnel.endpoint}" if tunnel.endpoint else ""
    print(f"up: channel {channel} through relay {relay}{at}")
    print(f"  this node  {listing.overlay_address}  ({listing.interface})")
    print(f"  relay      {tunnel.peer_address or '-'}")
    return 0


def _progress(arguments: argparse.Namespace) -> Callable[[str], None]:
    """Where a command tells how it goes: standard output, but nowhere with `--json` (whose
    standard output is the one JSON document)."""
    if arguments.json:
        return lambda line: None
    return lambda line: print(line, flush=True)


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


def _add_connect(subcommands: Subcommands, common: OneLineParser) -> None:
    parser = subcommands.add_parser(
        "connect",
        parents=[common],
        help="open a paid channel to a relay through the node and wait for its tunnel",
        description=(
            "Has the node open a payment channel from its account to RELAY (CHANNEL_OPEN, "
            "signed by the node), then follows it until its tunnel is up: confirming (the "
            "opening is not yet deep enough), connecting (waiting for the relay), up. Without "
            "RELAY, the cheapest registered relay offering the tier is chosen."
        ),
        epilog=(
            "examples:\n"
            f"  pacata-vpn connect {EXAMPLE_RELAY} --deposit 5\n"
            "  pacata-vpn connect --tier 1 --deposit 2.5 --no-wait --json"
        ),
        formatter_class=ExamplesFormatter,
    )
    parser.add_argument(
        "relay",
        metavar="RELAY",
        nargs="?",
        type=_type_error(_address),
        help="the relay's pac1 account",
    )
    parser.add_argument(
        "--tier",
        type=_type_error(_bounded_int(0, MAX_TIERS - 1, "a tier")),
        default=0,
        help="the tier of the relay's offer (default 0)",
    )
    parser.add_argument(
        "--deposit",
        metavar="AMOUNT",
        type=_type_error(_deposit),
        default=pac_to_units(DEFAULT_DEPOSIT),
        help=f"PAC locked in the channel, at most 8 decimals (default {DEFAULT_DEPOSIT})",
    )
    parser.add_argument(
        "--blocks",
        metavar="N",
        type=_type_error(_bounded_int(1, MAX_BLOCKS, "a number of blocks")),
        help="the channel expires N blocks after the tip (default: the node's, 10000)",
    )
    parser.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait until the tunnel is up (default), or return once the channel is opened",
    )
    parser.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_type_error(_timeout),
        default=DEFAULT_WAIT_S,
        help=f"stop waiting after this long; the channel stays open (default {DEFAULT_WAIT_S:g})",
    )
    parser.set_defaults(run=_talking_to_node(_run_connect), prog=parser.prog)


# -- disconnect -----------------------------------------------------------------------------


def _run_disconnect(arguments: argparse.Namespace, node: NodeSession) -> int:
    listing = node.tunnels()
    channel_id = _channel_to_leave(listing, arguments.channel)
    left = node.signed(lambda admin: admin.disconnect(channel_id))
    if arguments.json:
        _print_json(left)
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
        names = ", ".join(f"{_short_id(t.channel_id)} ({t.state})" for t in live)
        raise UsageError(f"{len(live)} tunnels are up or connecting, name one: {names}")
    return live[0].channel_id


def _add_disconnect(subcommands: Subcommands, common: OneLineParser) -> None:
    parser = subcommands.add_parser(
        "disconnect",
        parents=[common],
        help="stop using a channel this node pays: its tunnel goes now, its refund later",
        description=(
            "Has the node stop using the channel CHANNEL_ID (its 64 hex digits, or the first 8 "
            "or more of one of the node's channels): the tunnel goes at once, and the node "
            "closes the channel and claims the refund of what was not paid once it has expired "
            "and the relay's grace has passed. Without CHANNEL_ID: the node's one tunnel as a "
            "client that is up or connecting."
        ),
        epilog="examples:\n  pacata-vpn disconnect\n  pacata-vpn disconnect 3f2a9c04e1b7 --json",
        formatter_class=ExamplesFormatter,
    )
    parser.add_argument(
        "channel",
        metavar="CHANNEL_ID",
        nargs="?",
        type=_type_error(_channel_reference),
        help="the channel's id, or its first 8 or more hex digits",
    )
    parser.set_defaults(run=_talking_to_node(_run_disconnect), prog=parser.prog)


# -- status ---------------------------------------------------------------------------------


def _run_status(arguments: argparse.Namespace, node: NodeSession) -> int:
    status = node.client.status()
    listing: TunnelsInfo | None
    try:
        listing = node.tunnels()
    except CommandError:  # no VPN side: the node's part still says something
        listing = None
    if arguments.json:
        _print_json(_status_document(node.url, status, listing))
        return 0
    from rich.table import Table

    console = _console()
    sync = "syncing" if status.syncing else "in sync"
    console.print(
        f"node    {node.url}: {status.chain_id} at height {status.height}, "
        f"{status.peers} peers, {sync}"
    )
    if listing is None:
        console.print("vpn     not running (start pacatad with --vpn or --relay)")
        return 0
    console.print(
        f"vpn     {listing.interface}, overlay address {listing.overlay_address}, account "
        f"{listing.account}; a channel counts {listing.confirmations} blocks deep"
    )
    if status.vpn is not None:
        vpn = status.vpn
        console.print(
            f"        key {vpn.public_key.hex()}, port {vpn.listen_port}, {vpn.peers} peers, "
            f"received {_byte_count(vpn.rx_bytes)}, sent {_byte_count(vpn.tx_bytes)}"
        )
    if not listing.tunnels:
        console.print("no channels: `pacata-vpn connect RELAY` opens one")
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
            _short_id(tunnel.channel_id),
            tunnel.role,
            f"{'relay' if tunnel.role == 'client' else 'client'} {_short_address(other)}",
            str(tunnel.tier),
            tunnel.state,
            _byte_count(tunnel.counted_bytes),
            expires,
        )
        payments.add_row(
            _short_id(tunnel.channel_id),
            pac_text(tunnel.deposit),
            pac_text(tunnel.paid),
            _optional_pac(tunnel.receipted),
            _optional_pac(tunnel.acknowledged),
            pac_text(tunnel.deposit_left),
        )
    console.print(tunnels)
    console.print(payments)
    return 0


def _status_document(url: str, status: Any, listing: TunnelsInfo | None) -> dict[str, Any]:
    node = {
        "url": url,
        "chain_id": status.chain_id,
        "height": status.height,
        "peers": status.peers,
        "syncing": status.syncing,
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
        vpn.update(_jsonable(status.vpn))
    tunnels = [
        {**_jsonable(tunnel), "deposit_left": tunnel.deposit_left} for tunnel in listing.tunnels
    ]
    return {"node": node, "vpn": vpn, "tunnels": tunnels}


def _add_status(subcommands: Subcommands, common: OneLineParser) -> None:
    parser = subcommands.add_parser(
        "status",
        parents=[common],
        help="the node, its VPN interface and its tunnels",
        description=(
            "The node (chain, height, peers, sync), its WireGuard interface and overlay "
            "address, and each channel of its account, as client or relay: its state, what it "
            "carried, its deposit, what is paid on chain, receipted and acknowledged, what is "
            "left, and when it expires. Amounts in PAC (base units with --json)."
        ),
        epilog="examples:\n  pacata-vpn status\n  pacata-vpn status --json --node 127.0.0.1:9750",
        formatter_class=ExamplesFormatter,
    )
    parser.set_defaults(run=_talking_to_node(_run_status), prog=parser.prog)


# -- relay ----------------------------------------------------------------------------------


def _run_relay_offer(arguments: argparse.Namespace, node: NodeSession) -> int:
    action = arguments.action
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
    node.tunnels()
    sent = node.signed(lambda admin: admin.relay_offer(action, prices, limits, endpoints))
    limits = limits or [0] * len(prices)
    if arguments.json:
        _print_json({**_jsonable(sent), "prices_per_gib": prices, "rate_limits": limits})
        return 0
    print(f"relay {action} sent (txid {sent.txid.hex()}, {sent.status}): {sent.relay} offers")
    for line in _tiers(prices, limits):
        print(f"  {line}")
    print(f"  at {', '.join(sent.endpoints)}")
    print("It takes effect once a block holds it (`pacata-vpn relay list` shows the chain's).")
    return 0


def _run_relay_retire(arguments: argparse.Namespace, node: NodeSession) -> int:
    node.tunnels()
    sent = node.signed(lambda admin: admin.relay_offer("retire"))
    if arguments.json:
        _print_json(sent)
        return 0
    print(
        f"relay retire sent (txid {sent.txid.hex()}, {sent.status}): once a block holds it, "
        f"{sent.relay} offers nothing, and its clients' tunnels end"
    )
    return 0


def _run_relay_list(arguments: argparse.Namespace, node: NodeSession) -> int:
    from pacata.rpc.routes import MAX_RELAY_LIST

    relays = node.client.relays(MAX_RELAY_LIST)
    if arguments.json:
        _print_json({"count": len(relays), "relays": relays})
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
            "\n".join(_tiers(offer.prices_per_gib, offer.rate_limits)),
            "\n".join(offer.endpoints),
        )
    _console().print(table)
    return 0


def _add_relay(subcommands: Subcommands, common: OneLineParser) -> None:
    relay = subcommands.add_parser(
        "relay",
        help="this node's relay offer; the relays on the chain",
        description="Register, update or retire this node's relay offer, or list the relays.",
        epilog=(
            "examples:\n"
            "  pacata-vpn relay register --price 0.2 --price 0.6 --rate-limit 12500000 "
            "--rate-limit 0\n"
            "  pacata-vpn relay list"
        ),
        formatter_class=ExamplesFormatter,
    )
    actions = relay.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, summary in (
        ("register", "offer this node as a relay (RELAY_REGISTER, signed by the node)"),
        ("update", "replace this node's offer (RELAY_UPDATE)"),
    ):
        parser = actions.add_parser(
            action,
            parents=[common],
            help=summary,
            description=(
                f"Has the node {summary}: one --price per tier, in PAC per GiB with at most 8 "
                "decimals, each tier's --rate-limit in bytes per second (0, the default: "
                "none), and the --endpoint IP:PORT clients dial (default: the node's own "
                "UDP endpoints). The WireGuard key offered is the node's. Run pacatad with "
                "--relay to admit the clients that open channels to it."
            ),
            epilog=(
                "example:\n"
                f"  pacata-vpn relay {action} --price 0.2 --price 0.6 --rate-limit 12500000 "
                "--rate-limit 0 --endpoint 203.0.113.7:9741"
            ),
            formatter_class=ExamplesFormatter,
        )
        parser.add_argument(
            "--price",
            metavar="PAC_PER_GIB",
            type=_type_error(_price),
            action="append",
            required=True,
            help="the price of a tier, in PAC per GiB (repeat: tier 0, tier 1, …)",
        )
        parser.add_argument(
            "--rate-limit",
            metavar="BYTES_PER_S",
            type=_type_error(_bounded_int(0, MAX_AMOUNT, "a rate limit")),
            action="append",
            default=[],
            help="a tier's rate limit in bytes per second, 0 for none (one per --price)",
        )
        parser.add_argument(
            "--endpoint",
            metavar="IP:PORT",
            type=_type_error(_endpoint),
            action="append",
            default=[],
            help=f"where clients dial the relay, [IPv6]:PORT for IPv6 (at most {MAX_ENDPOINTS})",
        )
        parser.set_defaults(run=_talking_to_node(_run_relay_offer), prog=parser.prog)
    retire = actions.add_parser(
        "retire",
        parents=[common],
        help="withdraw this node's offer (RELAY_RETIRE)",
        description=(
            "Has the node withdraw its relay offer: once a block holds it, no channel can be "
            "opened to it, and the tunnels of its clients end."
        ),
        epilog="example:\n  pacata-vpn relay retire --json",
        formatter_class=ExamplesFormatter,
    )
    retire.set_defaults(run=_talking_to_node(_run_relay_retire), prog=retire.prog)
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="the relays registered on the chain and their offers",
        description="The relays registered on the chain, in address order (the first 1000).",
        epilog="example:\n  pacata-vpn relay list --json",
        formatter_class=ExamplesFormatter,
    )
    listing.set_defaults(run=_talking_to_node(_run_relay_list), prog=listing.prog)


def _node_options() -> OneLineParser:
    """The options of every command that talks to the node."""
    common = OneLineParser(add_help=False)
    common.add_argument(
        "--node",
        metavar="URL",
        type=_type_error(_node_url),
        default=DEFAULT_NODE,
        help=f"the node's API, http://HOST:PORT or HOST:PORT (default {DEFAULT_NODE})",
    )
    common.add_argument(
        "--datadir",
        metavar="DIR",
        type=Path,
        help="the node's data directory, where its .cookie is (default: the node's default "
        "for its chain, ~/.local/share/pacata/CHAIN_ID)",
    )
    common.add_argument("--json", action="store_true", help="print one JSON document")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="pacata-vpn", description="Pacata's VPN plugin")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _node_options()
    _add_connect(subcommands, common)
    _add_disconnect(subcommands, common)
    _add_status(subcommands, common)
    _add_relay(subcommands, common)
    _add_wg_userspace(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exited:  # --help (0), or a usage error already written (2)
        return exited.code if isinstance(exited.code, int) else 2
    level = os.environ.get("LOG_LEVEL", "").upper()
    logging.basicConfig(
        level=logging.DEBUG
        if arguments.verbose > 1 or level == "DEBUG"
        else logging.INFO
        if arguments.verbose or level in ("INFO", "VERBOSE")
        else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    runner: Runner = arguments.run
    return runner(arguments)


if __name__ == "__main__":
    sys.exit(main())
