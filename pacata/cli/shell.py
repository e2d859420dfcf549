"""`pacata-vpn shell`: the cmd2 wallet shell (DESIGN.md §8), built from the same command table
as the command line, so a command behaves the same in both.

Each first word of the table (`wallet`, `channel`, `status`, …) is a shell command whose cmd2
parser `fill_parser` builds from the commands under it; an argument's `Completion` kind becomes
a choices provider here (wallet names, the address book's names and the wallets' addresses,
relays on the chain, the wallets' channel ids, paths). The shell's own `--node`, `--datadir` and
`--wallet-dir` are every command's defaults.

A watcher thread reads the node every `WATCH_S` seconds — its height and sync, the wallets'
balances, and their newest transactions — for the status line at the bottom of the screen and
for an alert above the prompt when a payment arrives. The prompt only reads what the watcher
last saw, so drawing it never waits for the node. History persists in `--history-file`.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import cmd2
from cmd2 import Choices, Cmd2ArgumentParser

from pacata.chain.keys import Address
from pacata.cli.amounts import pac_text
from pacata.cli.arguments import COMPLETION_ATTRIBUTE, Completion
from pacata.cli.output import short_address
from pacata.cli.session import TerminalPrompter
from pacata.cli.table import Command, execute, fill_parser

WATCH_S = 2.0
REFRESH_S = 1.0  # how often the status line is drawn again from what the watcher saw
HISTORY_FILE = "shell-history"
MAX_COMPLETED_CHANNELS = 100


def default_history_file(environ: os._Environ[str] | dict[str, str], home: Path) -> Path:
    """`$XDG_STATE_HOME/pacata/shell-history`, or `~/.local/state/pacata/shell-history`."""
    xdg = environ.get("XDG_STATE_HOME", "")
    root = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "state"
    return root / "pacata" / HISTORY_FILE


class Watcher:
    """What the node last said: height, sync, balances; and the payments it has not told."""

    def __init__(self, shell: WalletShell) -> None:
        self.shell = shell
        self.line = "node: not reached yet"
        self._seen: set[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pacata-shell-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        from pacata.rpc import SyncNodeClient

        with SyncNodeClient(self.shell.options.node, timeout_s=WATCH_S * 2) as client:
            while True:
                self.look(client)
                if self._stop.wait(WATCH_S):
                    return

    def look(self, client: Any) -> None:
        from pacata.cli.balances import balances_of
        from pacata.errors import PacataError

        try:
            status = client.status()
            store = self.shell.store()
            wallets = store.wallets() if store.directory.is_dir() else []
            balances = balances_of(client, wallets)
            arrived = self._arrivals(client, [b.address for b in balances])
        except (PacataError, OSError) as error:
            self.line = f"node {self.shell.options.node}: {error}"
            return
        sync = "syncing" if status.syncing else "in sync"
        total = sum(b.balance for b in balances)
        self.line = (
            f"{status.chain_id} · height {status.height} · {sync} · {status.peers} peers · "
            f"{pac_text(total)} PAC in {len(balances)} accounts"
        )
        for message in arrived:
            self.shell.add_alert(msg=message)

    def _arrivals(self, client: Any, addresses: Sequence[Address]) -> list[str]:
        """The confirmed payments to `addresses` not seen before (none at the first look: the
        shell alerts on what arrives while it runs)."""
        from pacata.chain.transactions import Transfer

        seen = set() if self._seen is None else self._seen
        messages = []
        for address in addresses:
            page = client.address_transactions(address, limit=10)
            for item in page.transactions:
                tx = item.transaction
                if item.status != "confirmed" or item.txid in seen:
                    continue
                seen.add(item.txid)
                if (
                    self._seen is not None
                    and isinstance(tx.payload, Transfer)
                    and tx.payload.recipient == address
                ):
                    messages.append(
                        f"received {pac_text(tx.payload.amount)} PAC from "
                        f"{short_address(tx.sender_address)} to {short_address(address)} in "
                        f"block {item.height}"
                    )
        self._seen = seen
        return messages


class WalletShell(cmd2.Cmd):
    """The shell; its `do_*` commands are added by `shell_class` from the command table."""

    def __init__(self, options: argparse.Namespace) -> None:
        history = options.history_file or default_history_file(os.environ, Path.home())
        history.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(
            persistent_history_file=str(history),
            enable_bottom_toolbar=True,
            refresh_interval=REFRESH_S,
            allow_cli_args=False,
            include_py=False,
            include_ipy=False,
        )
        self.intro = "Pacata wallet shell: `help` lists the commands, Tab completes, Ctrl-D leaves."
        self.prompt = "pacata> "
        self.options = options
        self.prompter = TerminalPrompter()
        self.watcher = Watcher(self)
        self.register_preloop_hook(self.watcher.start)
        self.register_postloop_hook(self.watcher.stop)
        for name in (
            "edit",
            "macro",
            "run_pyscript",
            "run_script",
            "shell",
            "_relative_run_script",
        ):
            if hasattr(cmd2.Cmd, f"do_{name}"):
                self.hidden_commands.append(name)

    def get_bottom_toolbar(self) -> Any:
        return self.watcher.line

    def store(self) -> Any:
        from pacata.wallet import WalletStore, default_wallet_dir

        directory = self.options.wallet_dir or default_wallet_dir(os.environ, Path.home())
        return WalletStore(directory)

    def run_parsed(self, arguments: argparse.Namespace) -> None:
        self.last_result = execute(arguments, self.prompter)

    # -- completion -------------------------------------------------------------------------

    def wallet_names(self) -> Choices:
        store = self.store()
        return Choices.from_values(store.names() if store.directory.is_dir() else [])

    def contact_names(self) -> Choices:
        return Choices.from_values(self._address_book().entries())

    def recipients(self) -> Choices:
        store = self.store()
        values: list[str] = list(self._address_book().entries())
        for info in store.wallets() if store.directory.is_dir() else []:
            values.append(info.name)
            values.extend(str(entry.address) for entry in info.accounts)
        return Choices.from_values(values)

    def relays(self) -> Choices:
        from pacata.rpc import SyncNodeClient

        with SyncNodeClient(self.options.node) as client:
            return Choices.from_values(str(relay.address) for relay in client.relays())

    def channels(self) -> Choices:
        from pacata.rpc import SyncNodeClient

        store = self.store()
        ids: list[str] = []
        with SyncNodeClient(self.options.node) as client:
            for info in store.wallets() if store.directory.is_dir() else []:
                for entry in info.accounts:
                    page = client.address_channels(entry.address, limit=MAX_COMPLETED_CHANNELS)
                    ids.extend(channel.channel_id.hex() for channel in page.channels)
        return Choices.from_values(ids)

    def _address_book(self) -> Any:
        from pacata.wallet import ADDRESS_BOOK_FILE, AddressBook

        return AddressBook(self.store().directory / ADDRESS_BOOK_FILE)


_PROVIDERS: dict[Completion, Callable[[WalletShell], Choices]] = {
    Completion.WALLET: WalletShell.wallet_names,
    Completion.CONTACT: WalletShell.contact_names,
    Completion.RECIPIENT: WalletShell.recipients,
    Completion.RELAY: WalletShell.relays,
    Completion.CHANNEL: WalletShell.channels,
}


def _attach_completion(parser: argparse.ArgumentParser) -> None:
    """Gives every argument that carries a `Completion` kind its provider, subparsers too."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _attach_completion(child)
            continue
        kind = getattr(action, COMPLETION_ATTRIBUTE, None)
        if kind is Completion.PATH:
            action.set_completer(cmd2.Cmd.path_complete)  # type: ignore[attr-defined]
        elif kind is not None:
            action.set_choices_provider(_PROVIDERS[kind])  # type: ignore[attr-defined]


def _with_shell_defaults(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    """The shell's own options as the defaults of every command's same options (argparse's
    subparsers would put their own defaults over values given in a namespace)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _with_shell_defaults(child, defaults)
        elif action.dest in defaults and defaults[action.dest] is not None:
            action.default = defaults[action.dest]


def _word_parser(
    word: str, commands: Sequence[Command], defaults: dict[str, Any]
) -> Callable[[], Cmd2ArgumentParser]:
    def build() -> Cmd2ArgumentParser:
        only = commands[0] if len(commands) == 1 and len(commands[0].words) == 1 else None
        parser = Cmd2ArgumentParser(
            prog=word, description=only.description if only is not None else None
        )
        fill_parser(parser, commands, depth=1, formatter=None)
        _attach_completion(parser)
        _with_shell_defaults(parser, defaults)
        return parser

    return build


def shell_class(commands: Iterable[Command], options: argparse.Namespace) -> type[WalletShell]:
    """`WalletShell` with a `do_WORD` for each first word of `commands` offered in the shell,
    whose `--node`, `--datadir` and `--wallet-dir` default to the shell's `options`."""
    defaults = {name: getattr(options, name, None) for name in ("node", "datadir", "wallet_dir")}
    words: dict[str, list[Command]] = {}
    for command in commands:
        if command.shell:
            words.setdefault(command.words[0], []).append(command)
    namespace: dict[str, Any] = {}
    for word, below in words.items():

        def run(self: WalletShell, arguments: argparse.Namespace) -> None:
            self.run_parsed(arguments)

        # cmd2 finds a command's parser by the function's name.
        run.__name__, run.__qualname__ = f"do_{word}", f"PacataShell.do_{word}"
        run.__doc__ = below[0].summary if len(below) == 1 else None
        decorate = cmd2.with_argparser(_word_parser(word, below, defaults))
        namespace[f"do_{word}"] = decorate(run)
    return type("PacataShell", (WalletShell,), namespace)
