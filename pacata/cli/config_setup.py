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
passphrase and a confirmation; an `account.key` holding another key, whose PAC stays with it,
is replaced only with `--replace-account-key`, and kept beside it (`account.key.TIME.bak`).
Nothing is written before every question is answered and every check has passed; the config
is written first, and put back if the key then cannot be written.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacata.chain.keys import Address
from pacata.cli.arguments import Completion, checked, completes, endpoint
from pacata.cli.errors import CommandError, UsageError
from pacata.cli.output import print_json
from pacata.cli.sending import declare_account
from pacata.cli.session import Session
from pacata.cli.table import Command
from pacata.xdg import xdg_home

CONFIG_NAME = "pacatad.toml"
SYSTEM_CONFIG = Path("/etc/pacata") / CONFIG_NAME
DEFAULT_NETWORK = "devnet"
DEFAULT_RPC = "127.0.0.1:9740"
DEFAULT_LISTEN = "0.0.0.0:9741"
DEVNET_LISTEN = "127.0.0.1:9741"
ACCOUNT_KEY_FILE = "account.key"  # the name pacata/node/key_files.py reads
LOG_LEVELS = ("debug", "info", "warning", "error")


def default_config_path(environ: Mapping[str, str], home: Path) -> Path:
    """Root's node reads /etc/pacata/pacatad.toml (the systemd unit's); a user's,
    `$XDG_CONFIG_HOME/pacata/pacatad.toml` (`~/.config/…`)."""
    if os.geteuid() == 0:
        return SYSTEM_CONFIG
    return xdg_home("config", environ, home) / "pacata" / CONFIG_NAME


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
    declare_account(parser, "becomes the node's")
    parser.add_argument(
        "--non-interactive",
        action="store_true",
        help="ask nothing: flags, else the defaults",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing config file")
    parser.add_argument(
        "--replace-account-key",
        action="store_true",
        help="replace the node's existing account.key (kept as account.key.TIME.bak)",
    )


def _run(session: Session, arguments: argparse.Namespace) -> int:
    path: Path = arguments.config or default_config_path(os.environ, Path.home())
    if path.exists() and not arguments.force:
        raise CommandError(f"{path} exists: add --force to replace it")
    ask = _Wizard(session, interactive=not arguments.non_interactive and not arguments.json)
    network = ask.text("network", arguments.network, DEFAULT_NETWORK, checked(_network))
    document = _settings(ask, arguments, network)
    import tomli_w

    text = tomli_w.dumps(document)
    account = None
    if arguments.wallet is not None:
        datadir = Path(document["datadir"]) if "datadir" in document else _default_datadir(network)
        account = _NodeAccount.chosen(session, arguments, datadir)
    out = sys.stderr if arguments.json else sys.stdout
    if not arguments.json or session.will_ask():
        print(f"{path}:", file=out)
        print("".join(f"  {line}\n" for line in text.splitlines()), end="", file=out, flush=True)
    if account is not None:
        account.confirm(session)
    session.confirm(f"write {path}?")
    secret = None if account is None else account.unlock(session)
    # Every question is answered and every check passed: only now is anything written, the
    # config first, then the key; if the key cannot be written, the config is put back.
    previous = path.read_bytes() if path.exists() else None
    _write(path, text.encode(), 0o644)
    key_path = None
    if account is not None and secret is not None:
        try:
            key_path = account.write(secret)
        except CommandError:
            if previous is None:
                path.unlink(missing_ok=True)
            else:
                _write(path, previous, 0o644)
            raise
    if arguments.json:
        print_json({"config": str(path), "settings": document, "account_key": key_path})
        return 0
    print(f"wrote {path}")
    if key_path is not None:
        print(f"wrote {key_path}: the node's account is now {arguments.wallet}/{arguments.account}")
    print(f"start the node: pacatad --config {path}   (or: systemctl start pacata-vpn)")
    return 0


def _settings(ask: _Wizard, arguments: argparse.Namespace, network: str) -> dict[str, Any]:
    """The config file's settings: each flag given, else the wizard's answer or default."""
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
    return document


def _write(path: Path, data: bytes, mode: int) -> None:
    from pacata.documents import write_file_atomically

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file_atomically(path, data, mode=mode)
    except OSError as error:
        raise CommandError(f"cannot write {path}: {error.strerror}") from None


@dataclass(frozen=True, slots=True)
class _NodeAccount:
    """A wallet's account about to become the node's: where its key goes, and what it
    replaces (an `account.key` holding another key, whose PAC stays with that key)."""

    wallet: str
    index: int
    address: Address
    key_path: Path
    replaced: Address | None

    @classmethod
    def chosen(cls, session: Session, arguments: argparse.Namespace, datadir: Path) -> _NodeAccount:
        info = session.wallets().read(arguments.wallet)
        entry = info.account(arguments.account)
        key_path = datadir / ACCOUNT_KEY_FILE
        replaced = _address_in(key_path)
        if replaced not in (None, entry.address) and not arguments.replace_account_key:
            raise CommandError(
                f"{key_path} holds the key of {replaced}, the node's account now (its PAC "
                "stays with that key): add --replace-account-key to replace it, a copy is "
                "kept beside it"
            )
        return cls(info.name, entry.index, entry.address, key_path, replaced)

    def confirm(self, session: Session) -> None:
        replacing = "" if self.replaced in (None, self.address) else f" instead of {self.replaced}"
        session.confirm(
            f"make {self.wallet}/{self.index} ({self.address}) the node's account{replacing}? "
            f"Its key is then stored unencrypted in {self.key_path}"
        )

    def unlock(self, session: Session) -> bytes:
        unlocked = session.wallets().unlock(self.wallet, session.passphrase(self.wallet))
        return unlocked.key(self.index).secret

    def write(self, secret: bytes) -> str:
        if self.replaced is not None and self.replaced != self.address:
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            backup = self.key_path.with_name(f"{ACCOUNT_KEY_FILE}.{stamp}.bak")
            _write(backup, self.key_path.read_bytes(), 0o600)
        try:
            self.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise CommandError(f"cannot make {self.key_path.parent}: {error.strerror}") from None
        _write(self.key_path, (secret.hex() + "\n").encode(), 0o600)
        return str(self.key_path)


def _address_in(key_path: Path) -> Address | None:
    """The address of the key in an existing `account.key` (None if there is none); an
    unreadable one is an error: it may be a key the user needs."""
    from pacata.chain.keys import PrivateKey

    try:
        text = key_path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {key_path}: {error}") from None
    try:
        return PrivateKey(bytes.fromhex(text)).address
    except ValueError:
        raise CommandError(f"{key_path} holds no account key: move it away first") from None


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
        wallets=True,
        secret=True,
        confirms=True,
    ),
)
