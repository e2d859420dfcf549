"""`pacata-vpn config setup`: writes the node's configuration file (docs/operations.md
§Configuration), by a wizard on a terminal or by flags for a script, and, if asked, makes a
wallet account the node's own (`account.key`): the one that pays for its tunnels and earns for
those it carries.

Rules: every question has a default that works (the devnet, the standard ports, the VPN side
on); a flag given answers its question, and with `--non-interactive` (or no terminal) every
unanswered question takes its default. The file is shown before it is written, written
atomically, and an existing one is replaced only with `--force`. The node's account key is a
hot key — the node signs receipts with it unattended, so it is stored unencrypted (mode 0600) in
the node's data directory, as a Lightning node's is — and is written only with the wallet's
passphrase and a confirmation; an `account.key` holding another key is replaced only with
`--force`, since PAC may sit on it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pacata.cli.arguments import Completion, bounded_int, checked, completes, endpoint
from pacata.cli.errors import CommandError, UsageError
from pacata.cli.output import print_json
from pacata.cli.session import Session
from pacata.cli.table import Command

CONFIG_NAME = "pacatad.toml"
SYSTEM_CONFIG = Path("/etc/pacata") / CONFIG_NAME
DEFAULT_NETWORK = "devnet"
DEFAULT_RPC = "127.0.0.1:9740"
DEFAULT_LISTEN = "0.0.0.0:9741"
DEVNET_LISTEN = "127.0.0.1:9741"
ACCOUNT_KEY_FILE = "account.key"  # the name pacata/node/key_files.py reads
LOG_LEVELS = ("debug", "info", "warning", "error")


def default_config_path(environ: dict[str, str] | os._Environ[str], home: Path) -> Path:
    """Root's node reads /etc/pacata/pacatad.toml (the systemd unit's); a user's,
    `$XDG_CONFIG_HOME/pacata/pacatad.toml` (`~/.config/…`)."""
    if os.geteuid() == 0:
        return SYSTEM_CONFIG
    xdg = environ.get("XDG_CONFIG_HOME", "")
    root = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return root / "pacata" / CONFIG_NAME


def _host_port(text: str) -> str:
    """HOST:PORT with a numeric host (the node's API and peer addresses)."""
    endpoint(text)  # the same rules as a relay's endpoint, port 0 refused
    return text


def _network(text: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,31}", text):
        raise ValueError(f"{text!r} is not a network name (devnet, or a shipped network's name)")
    return text


def _declare(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument(
            "--config",
            metavar="FILE",
            type=Path,
            help=f"where to write (default {SYSTEM_CONFIG} for root, else "
            f"~/.config/pacata/{CONFIG_NAME})",
        ),
        Completion.PATH,
    )
    parser.add_argument("--network", type=checked(_network), help="devnet (default) or a network")
    parser.add_argument("--datadir", metavar="DIR", type=Path, help="the node's data directory")
    parser.add_argument(
        "--rpc", metavar="HOST:PORT", type=checked(_host_port), help=f"API (default {DEFAULT_RPC})"
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        type=checked(_host_port),
        help=f"peer port (default {DEFAULT_LISTEN}; {DEVNET_LISTEN} on the devnet)",
    )
    parser.add_argument(
        "--bootnode",
        metavar="HOST:PORT",
        type=checked(_host_port),
        action="append",
        help="a peer to join through (repeat)",
    )
    for name, what in (
        ("vpn", "run the VPN side (a WireGuard interface; needs root)"),
        ("relay", "carry other users' tunnels for PAC"),
        ("produce", "produce blocks (devnet: on)"),
    ):
        parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, help=what)
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="default info")
    completes(
        parser.add_argument(
            "-w",
            "--wallet",
            metavar="NAME",
            help="make an account of this wallet the node's own (it pays for tunnels)",
        ),
        Completion.WALLET,
    )
    parser.add_argument(
        "--account",
        metavar="INDEX",
        type=checked(bounded_int(0, 2**31 - 1, "an account index")),
        default=0,
        help="the wallet's account (default 0)",
    )
    parser.add_argument("--wallet-dir", metavar="DIR", type=Path, help="where the wallets are")
    completes(
        parser.add_argument(
            "--passphrase-file", metavar="FILE", help="the wallet's passphrase, from a file"
        ),
        Completion.PATH,
    )
    parser.add_argument(
        "--non-interactive",
        action="store_true",
        help="ask nothing: flags, else the defaults",
    )
    parser.add_argument("-y", "--yes", action="store_true", help="write without asking")
    parser.add_argument("--force", action="store_true", help="replace an existing file or key")


def _run(session: Session, arguments: argparse.Namespace) -> int:
    path: Path = arguments.config or default_config_path(os.environ, Path.home())
    if path.exists() and not arguments.force:
        raise CommandError(f"{path} exists: add --force to replace it")
    ask = _Wizard(session, interactive=not arguments.non_interactive and not arguments.json)
    network = ask.text("network", arguments.network, DEFAULT_NETWORK, checked(_network))
    devnet = network == DEFAULT_NETWORK
    document: dict[str, Any] = {"devnet": True} if devnet else {"network": network}
    datadir = ask.text("data directory (empty: the default)", arguments.datadir, None, Path)
    if datadir is not None:
        document["datadir"] = str(Path(datadir).expanduser().absolute())
    document["rpc"] = ask.text("API address", arguments.rpc, DEFAULT_RPC, checked(_host_port))
    listen_default = DEVNET_LISTEN if devnet else DEFAULT_LISTEN
    document["listen"] = ask.text(
        "peer address", arguments.listen, listen_default, checked(_host_port)
    )
    if arguments.bootnode:
        document["bootnodes"] = list(arguments.bootnode)
    elif not devnet:
        bootnodes = ask.text("bootnodes (comma-separated, empty: none)", None, "", str)
        document["bootnodes"] = [
            checked(_host_port)(b.strip()) for b in bootnodes.split(",") if b.strip()
        ]
    document["produce"] = ask.yes_no("produce blocks", arguments.produce, devnet)
    document["log_level"] = arguments.log_level or "info"
    vpn = ask.yes_no("run the VPN side", arguments.vpn, True)
    relay = ask.yes_no("carry others' tunnels as a relay", arguments.relay, False)
    document["vpn"] = {"enabled": vpn}
    document["relay"] = {"enabled": relay}
    import tomli_w

    text = tomli_w.dumps(document)
    if not arguments.json:
        print(f"{path}:")
        print("".join(f"  {line}\n" for line in text.splitlines()), end="")
    session.confirm(f"write {path}?")
    key_path = None
    if arguments.wallet is not None:
        key_path = _write_account_key(session, arguments, document, network)
    from pacata.documents import write_file_atomically

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, text.encode(), mode=0o644)
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}") from None
    if arguments.json:
        print_json({"config": str(path), "settings": document, "account_key": key_path})
        return 0
    print(f"wrote {path}")
    if key_path is not None:
        print(f"wrote {key_path}: the node's account is now {arguments.wallet}/{arguments.account}")
    print(f"start the node: pacatad --config {path}   (or: systemctl start pacata-vpn)")
    return 0


def _write_account_key(
    session: Session, arguments: argparse.Namespace, document: dict[str, Any], network: str
) -> str:
    from pacata.documents import write_file_atomically

    store = session.wallets()
    info = store.read(arguments.wallet)
    entry = info.account(arguments.account)
    datadir = Path(document["datadir"]) if "datadir" in document else _default_datadir(network)
    key_path = datadir / ACCOUNT_KEY_FILE
    if key_path.exists() and not arguments.force:
        raise CommandError(
            f"{key_path} exists: the node already has an account, whose PAC stays with it; "
            "add --force to replace it"
        )
    session.confirm(
        f"make {info.name}/{entry.index} ({entry.address}) the node's account? Its key is "
        f"then stored unencrypted in {key_path}"
    )
    unlocked = store.unlock(info.name, session.passphrase(info.name))
    secret = unlocked.key(entry.index).secret
    try:
        datadir.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_file_atomically(key_path, (secret.hex() + "\n").encode(), mode=0o600)
    except OSError as error:
        raise CommandError(f"cannot write {key_path}: {error.strerror}") from None
    return str(key_path)


def _default_datadir(network: str) -> Path:
    from pacata.chain.genesis import shipped_genesis
    from pacata.rpc.cookie import default_data_dir

    try:
        chain_id = shipped_genesis(network).chain_id
    except Exception as error:  # an unknown network: the node would refuse it too
        raise UsageError(f"no shipped network {network!r}: {error}") from None
    return default_data_dir(chain_id, os.environ, Path.home())


class _Wizard:
    """Asks each question not answered by a flag, offering the default; or, not interactive,
    takes the flag's value or the default."""

    def __init__(self, session: Session, *, interactive: bool) -> None:
        self.session = session
        self.interactive = interactive and session.prompter.interactive()

    def text(self, question: str, given: Any, default: Any, read: Callable[[str], Any]) -> Any:
        if given is not None or not self.interactive:
            return given if given is not None else default
        while True:
            shown = "" if default in (None, "") else f" [{default}]"
            answer = self.session.prompter.line(f"{question}{shown}: ").strip()
            if not answer:
                return default
            try:
                return read(answer)
            except (ValueError, argparse.ArgumentTypeError) as error:
                print(f"  {error}")

    def yes_no(self, question: str, given: bool | None, default: bool) -> bool:
        if given is not None or not self.interactive:
            return given if given is not None else default
        answer = self.session.prompter.line(f"{question}? [{'Y/n' if default else 'y/N'}] ")
        answer = answer.strip().lower()
        return default if not answer else answer in ("y", "yes")


COMMANDS = (
    Command(
        ("config", "setup"),
        "write the node's configuration (a wizard, or flags for scripts)",
        "Asks for the network, the data directory, the API and peer addresses, whether to run "
        "the VPN side, relay and produce, offering working defaults, then writes the node's "
        "TOML config file; flags answer questions, --non-interactive takes the defaults for "
        "the rest. With --wallet, an account of that wallet becomes the node's own.",
        (
            "pacata-vpn config setup",
            "pacata-vpn config setup --non-interactive --network devnet --vpn --yes",
            "pacata-vpn config setup --wallet alice --passphrase-file pass.txt --yes",
        ),
        _declare,
        _run,
        node=False,
    ),
)
