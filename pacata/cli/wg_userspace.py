"""`pacata-vpn wg-userspace IFACE`: our userspace WireGuard engine alone, as a daemon
configured by the stock `wg`, like `wireguard-go IFACE` (docs/wireguard.md)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from pacata.cli.session import Session
from pacata.cli.table import Command

MIN_MTU, MAX_MTU = 576, 65_535


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


def _run(session: Session, arguments: argparse.Namespace) -> int:
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


def _declare(parser: argparse.ArgumentParser) -> None:
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


COMMANDS = (
    Command(
        ("wg-userspace",),
        "run our userspace WireGuard engine on a new TUN interface, configured by `wg`",
        "Creates the TUN interface IFACE and the configuration socket "
        "/var/run/wireguard/IFACE.sock, as `wireguard-go IFACE` does, then serves them until "
        "SIGTERM/SIGINT or until the interface is deleted.",
        ("pacata-vpn wg-userspace -f wg0", "pacata-vpn wg-userspace --mtu 1380 wg1"),
        _declare,
        _run,
        node=False,
        shell=False,
        json=False,
    ),
)
