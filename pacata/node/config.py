"""pacatad's configuration: command-line flags, an optional TOML file, and the defaults.

Rules (docs/operations.md §Configuration):
- Precedence: a flag given on the command line wins over the config file, which wins over the
  built-in default. The choice of network (`--devnet`, `--network`, `--genesis`) is one setting:
  any of the three on the command line replaces the file's choice; `--bootnode` flags replace
  the file's `bootnodes` list.
- The file is TOML, validated by a marshmallow schema: an unknown key or a bad value is a
  `ConfigError` that names the file and the key (`config.toml: rpc: not HOST:PORT (…)`).
  Relative paths in the file are relative to the file's directory.
- A flag error is a `ConfigError` too (never an exit from inside the parser), so the caller
  decides how to report it.
- The data directory defaults to `$XDG_DATA_HOME/pacata/<chain id>`, or
  `~/.local/share/pacata/<chain id>` when XDG_DATA_HOME is unset, empty or relative (the XDG
  base directory spec ignores a relative value).

Nothing here opens the store or a socket; loading a config reads only the config file.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from pacata import __version__
from pacata.chain.genesis import Genesis, load_genesis, shipped_genesis
from pacata.documents import load_toml_file
from pacata.errors import DocumentError, PacataError
from pacata.json_fields import ParsedText, StrictBoolean, describe_validation_errors
from pacata.node.hostport import HostPort
from pacata.p2p.peers import PeerLimits
from pacata.rpc.cookie import default_data_dir
from pacata.vpn.io.tun import check_interface_name

DEFAULT_RPC_PORT = 9740
DEFAULT_P2P_PORT = 9741
DEFAULT_RPC = HostPort("127.0.0.1", DEFAULT_RPC_PORT)
DEFAULT_LISTEN = HostPort("0.0.0.0", DEFAULT_P2P_PORT)
# The devnet's keys are public: its peer port is for this machine unless `--listen` says so.
DEVNET_LISTEN = HostPort("127.0.0.1", DEFAULT_P2P_PORT)
DEFAULT_MAX_OUTBOUND = PeerLimits().max_outbound
MAX_OUTBOUND_LIMIT = 64
LOG_LEVELS = ("debug", "info", "warning", "error")
DEVNET = "devnet"
DEFAULT_VPN_INTERFACE = "pacata0"
DEFAULT_VPN_CONFIRMATIONS = 2
MAX_VPN_CONFIRMATIONS = 1_000
# A shipped network's name is also a file name inside the package: no path separators.
_NETWORK_NAME = validate.Regexp(r"[a-z0-9][a-z0-9.-]{0,31}\Z", error="not a network name")


class ConfigError(PacataError):
    """The flags or the config file ask for something impossible; the message says what."""


class DataDirError(ConfigError):
    """The data directory cannot be used: not a directory, not writable, its database locked by
    another process, or holding something other than this chain's database."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Every setting of a node, after flags, file and defaults are merged."""

    devnet: bool = False
    network: str | None = None
    genesis_file: Path | None = None
    datadir: Path | None = None
    listen: HostPort = DEFAULT_LISTEN
    rpc: HostPort = DEFAULT_RPC
    bootnodes: tuple[HostPort, ...] = ()
    max_outbound: int = DEFAULT_MAX_OUTBOUND
    produce: bool | None = None  # None: produce on the devnet only
    log_level: str = "info"
    config_file: Path | None = None
    # The VPN side: the userspace WireGuard engine on the node's UDP port, serving the TUN
    # interface `vpn_interface` (needs CAP_NET_ADMIN).
    vpn: bool = False
    vpn_interface: str = DEFAULT_VPN_INTERFACE
    # How deep a CHANNEL_OPEN must be before its tunnel is admitted (relay) or brought up (client).
    vpn_confirmations: int = DEFAULT_VPN_CONFIRMATIONS
    # A relay admits clients that opened channels to its account (and turns the VPN side on).
    relay: bool = False
    # The address index (account history, channels by client and relay) in the data directory.
    address_index: bool = True

    @property
    def runs_vpn(self) -> bool:
        return self.vpn or self.relay

    @property
    def produces(self) -> bool:
        """Whether the node starts producing: `--produce/--no-produce`, else only the devnet."""
        return self.devnet if self.produce is None else self.produce

    @property
    def network_name(self) -> str | None:
        """The shipped network chosen, if any (`devnet` for `--devnet`)."""
        return DEVNET if self.devnet else self.network

    def load_genesis(self) -> Genesis:
        """The chosen chain's genesis; `InvalidGenesis` if the file is bad."""
        if self.genesis_file is not None:
            return load_genesis(self.genesis_file)
        name = self.network_name
        if name is None:
            raise ConfigError(
                "no network chosen: use --devnet, --network NAME or --genesis FILE "
                "(or devnet, network or genesis in the config file)"
            )
        return shipped_genesis(name)

    def data_dir(
        self, chain_id: str, environ: Mapping[str, str] | None = None, home: Path | None = None
    ) -> Path:
        """`--datadir` if given, else the XDG default for `chain_id`."""
        if self.datadir is not None:
            return self.datadir
        return default_data_dir(
            chain_id, os.environ if environ is None else environ, home or Path.home()
        )


# -- the config file ----------------------------------------------------------------------


class _PathField(fields.String):
    def _deserialize(  # type: ignore[override]
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> Path:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not text:
            raise ValidationError("must not be empty")
        return Path(text).expanduser()


def _host_port(*, allow_port_zero: bool = False) -> ParsedText:
    """`HOST:PORT` (`[IPv6]:PORT` for IPv6); port 0 ("any free port") only if allowed."""
    parse = partial(HostPort.parse, allow_port_zero=allow_port_zero)
    return ParsedText(HostPort, parse, what="HOST:PORT")


def _checked_interface_name(name: str) -> str:
    try:
        return check_interface_name(name)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class _VpnSchema(Schema):
    error_messages = {"type": "must be a table ([vpn])"}  # noqa: RUF012 (marshmallow's API)

    enabled = StrictBoolean()
    interface = fields.String(validate=_checked_interface_name)
    confirmations = fields.Integer(strict=True, validate=validate.Range(1, MAX_VPN_CONFIRMATIONS))


class _RelaySchema(Schema):
    error_messages = {"type": "must be a table ([relay])"}  # noqa: RUF012 (marshmallow's API)

    enabled = StrictBoolean()


class _ConfigFileSchema(Schema):
    devnet = StrictBoolean()
    network = fields.String(validate=_NETWORK_NAME)
    genesis = _PathField()
    datadir = _PathField()
    listen = _host_port(allow_port_zero=True)
    rpc = _host_port(allow_port_zero=True)
    bootnodes = fields.List(_host_port())
    max_outbound = fields.Integer(strict=True, validate=validate.Range(0, MAX_OUTBOUND_LIMIT))
    produce = StrictBoolean()
    log_level = fields.String(validate=validate.OneOf(LOG_LEVELS))
    address_index = StrictBoolean()
    vpn = fields.Nested(_VpnSchema)
    relay = fields.Nested(_RelaySchema)

    @validates_schema
    def _one_network(self, data: dict[str, Any], **kwargs: Any) -> None:
        chosen: list[str] = [key for key in ("network", "genesis") if key in data]
        if data.get("devnet"):
            chosen.insert(0, "devnet")
        if len(chosen) > 1:
            raise ValidationError(f"choose one of {' and '.join(chosen)}", chosen[0])


def read_config_file(path: Path) -> dict[str, Any]:
    """The validated settings of a TOML config file, keyed like the file."""
    try:
        document = load_toml_file(path, "config file")
    except DocumentError as exc:
        raise ConfigError(str(exc)) from None
    try:
        values: dict[str, Any] = _ConfigFileSchema().load(document)
    except ValidationError as exc:
        lines = describe_validation_errors(exc.messages)
        raise ConfigError("; ".join(f"{path}: {line}" for line in lines)) from None
    for key in ("genesis", "datadir"):
        if key in values and not values[key].is_absolute():
            values[key] = path.parent / values[key]
    return values


# -- the command line ---------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def _flag_host_port(allow_port_zero: bool) -> Any:
    def parse(text: str) -> HostPort:
        try:
            return HostPort.parse(text, allow_port_zero=allow_port_zero)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def _flag_network(text: str) -> str:
    try:
        _NETWORK_NAME(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"not a network name: {text!r}") from None
    return text


def _flag_max_outbound(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,3}", text) or int(text) > MAX_OUTBOUND_LIMIT:
        raise argparse.ArgumentTypeError(f"not a number within 0-{MAX_OUTBOUND_LIMIT}: {text!r}")
    return int(text)


def _flag_interface(text: str) -> str:
    try:
        return check_interface_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _flag_confirmations(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_VPN_CONFIRMATIONS:
        raise argparse.ArgumentTypeError(f"not a number within 1-{MAX_VPN_CONFIRMATIONS}: {text!r}")
    return int(text)


def _flag_path(text: str) -> Path:
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    return Path(text).expanduser().absolute()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pacatad",
        description="The Pacata full node: ledger, block production and the HTTP API.",
        epilog="Flags override the config file. See docs/operations.md.",
    )
    chain = parser.add_mutually_exclusive_group()
    chain.add_argument(
        "--devnet",
        action="store_const",
        const=True,
        help="run the single-producer devnet with its well-known keys (DEVNET ONLY)",
    )
    chain.add_argument("--network", type=_flag_network, help="a shipped network, e.g. devnet")
    chain.add_argument("--genesis", type=_flag_path, metavar="FILE", help="a genesis JSON file")
    parser.add_argument("--datadir", type=_flag_path, metavar="DIR", help="data directory")
    parser.add_argument("--config", type=_flag_path, metavar="FILE", help="TOML config file")
    parser.add_argument(
        "--listen",
        type=_flag_host_port(True),
        metavar="HOST:PORT",
        help=f"peer-to-peer address, TCP and UDP (default {DEFAULT_LISTEN}; {DEVNET_LISTEN} "
        "for --devnet)",
    )
    parser.add_argument(
        "--rpc",
        type=_flag_host_port(True),
        metavar="HOST:PORT",
        help=f"HTTP API address (default {DEFAULT_RPC})",
    )
    parser.add_argument(
        "--bootnode",
        type=_flag_host_port(False),
        action="append",
        metavar="HOST:PORT",
        dest="bootnodes",
        help="a peer to start from (repeatable)",
    )
    parser.add_argument(
        "--max-outbound",
        type=_flag_max_outbound,
        metavar="N",
        help=f"peers to dial at most (default {DEFAULT_MAX_OUTBOUND}; 0 only accepts peers)",
    )
    parser.add_argument(
        "--produce",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="make blocks (default: on for --devnet, off otherwise)",
    )
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="default info")
    parser.add_argument(
        "--address-index",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep the address index: account history and channels in the API (default on)",
    )
    vpn = parser.add_argument_group("VPN")
    vpn.add_argument(
        "--vpn",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the WireGuard side on the node's UDP port (needs CAP_NET_ADMIN; default off)",
    )
    vpn.add_argument(
        "--vpn-interface",
        type=_flag_interface,
        metavar="IFACE",
        help=f"the VPN's TUN interface (default {DEFAULT_VPN_INTERFACE})",
    )
    vpn.add_argument(
        "--vpn-confirmations",
        type=_flag_confirmations,
        metavar="N",
        help="blocks deep a channel's opening must be before its tunnel runs "
        f"(default {DEFAULT_VPN_CONFIRMATIONS})",
    )
    vpn.add_argument(
        "--relay",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="be a relay: admit the clients whose channels to this node's account are open "
        "(turns --vpn on)",
    )
    parser.add_argument("--version", action="version", version=f"pacatad {__version__}")
    return parser


def load_config(argv: Sequence[str]) -> NodeConfig:
    """Merges the flags in `argv` over the config file they name over the defaults."""
    flags = build_parser().parse_args(list(argv))
    file_values: dict[str, Any] = {}
    if flags.config is not None:
        file_values = read_config_file(flags.config)

    config = NodeConfig(config_file=flags.config)
    if flags.devnet or flags.network is not None or flags.genesis is not None:
        config = replace(
            config,
            devnet=bool(flags.devnet),
            network=flags.network,
            genesis_file=flags.genesis,
        )
    else:
        config = replace(
            config,
            devnet=file_values.get("devnet", False),
            network=file_values.get("network"),
            genesis_file=file_values.get("genesis"),
        )

    file_vpn: dict[str, Any] = file_values.get("vpn", {})
    file_relay: dict[str, Any] = file_values.get("relay", {})

    def setting(flag: Any, key: str, default: Any, table: dict[str, Any] = file_values) -> Any:
        if flag is not None:
            return flag
        return table.get(key, default)

    return replace(
        config,
        datadir=setting(flags.datadir, "datadir", None),
        listen=setting(flags.listen, "listen", DEVNET_LISTEN if config.devnet else DEFAULT_LISTEN),
        rpc=setting(flags.rpc, "rpc", DEFAULT_RPC),
        bootnodes=tuple(setting(flags.bootnodes, "bootnodes", ())),
        max_outbound=setting(flags.max_outbound, "max_outbound", DEFAULT_MAX_OUTBOUND),
        produce=setting(flags.produce, "produce", None),
        log_level=setting(flags.log_level, "log_level", "info"),
        address_index=setting(flags.address_index, "address_index", True),
        vpn=setting(flags.vpn, "enabled", False, file_vpn),
        vpn_interface=setting(flags.vpn_interface, "interface", DEFAULT_VPN_INTERFACE, file_vpn),
        vpn_confirmations=setting(
            flags.vpn_confirmations, "confirmations", DEFAULT_VPN_CONFIRMATIONS, file_vpn
        ),
        relay=setting(flags.relay, "enabled", False, file_relay),
    )
