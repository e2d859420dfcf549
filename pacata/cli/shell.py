"""`pacata-vpn shell`: the cmd2 wallet shell (DESIGN.md §8), built from the same command table
as the command line, so a command behaves the same in both.

Each first word of the table (`wallet`, `channel`, `status`, …) is a shell command whose cmd2
parser `fill_parser` builds from the commands under it; an argument's `Completion` kind becomes
a choices provider here (wallet names, the address book's names and the wallets' addresses,
relays on the chain, the wallets' channel ids, paths). The shell's own `--node`, `--datadir` and
`--wallet-dir` are every command's defaults.

A watcher thread reads the node every `WATCH_S` seconds — its height and sync, and when the
tip has moved, the wallets' balances and their newest transactions — for the status line at
the bottom of the screen and for an alert above the prompt when a payment arrives. The prompt
only reads what the watcher last saw, so drawing it never waits for the node. History persists
in `--history-file`.
"""

from __future__ import annotations

import argparse
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cmd2
from cmd2 import Choices, Cmd2ArgumentParser

from pacata.chain.keys import Address
from pacata.chain.transactions import Transfer
from pacata.cli.amounts import pac_text
from pacata.cli.arguments import COMPLETION_ATTRIBUTE, Completion
from pacata.cli.errors import CommandError
from pacata.cli.output import short_address
from pacata.cli.payment_alerts import PaymentAlerts
from pacata.cli.session import TerminalPrompter
from pacata.cli.table import Command, execute, fill_parser
from pacata.xdg import xdg_home

if TYPE_CHECKING:
    from pacata.cli.balances import AccountBalance
    from pacata.rpc import SyncNodeClient
    from pacata.wallet import AddressBook

WATCH_S = 2.0
ALERT_PAGE = 25
MAX_ALERT_PAGES = 4  # a burst of more than 100 payments in one look is told in part
# cmd2's commands a wallet shell does not offer: `set` (it can turn tracebacks on), scripts,
# the system shell, aliases and macros.
DISABLED = ("set", "alias", "macro", "edit", "run_pyscript", "run_script", "shell")
REFRESH_S = 1.0  # how often the status line is drawn again from what the watcher saw
HISTORY_FILE = "shell-history"
MAX_COMPLETED_CHANNELS = 100


def default_history_file(environ: Mapping[str, str], home: Path) -> Path:
    """`$XDG_STATE_HOME/pacata/shell-history`, or `~/.local/state/pacata/shell-history`."""
    return xdg_home("state", environ, home) / "pacata" / HISTORY_FILE


class Watcher:
    """What the node last said: height, sync, balances; and the payments not yet told."""

    def __init__(self, shell: WalletShell) -> None:
        self.shell = shell
        self.line = "node: not reached yet"
        self.alerts = PaymentAlerts()
        self._read_at: tuple[bytes, tuple[Address, ...]] | None = None  # (tip, accounts)
        self._balances: list[AccountBalance] = []
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

    def look(self, client: SyncNodeClient) -> None:
        from pacata.cli.balances import balances_of
        from pacata.errors import PacataError

        try:
            status = client.status()
            survey = self.shell.store.survey()
            addresses = tuple(e.address for info in survey.wallets for e in info.accounts)
            told: list[str] = []
            # Confirmed balances and payments change only with the tip: read them again only
            # when it moved or the wallets' accounts changed.
            if (status.tip, addresses) != self._read_at:
                balances = balances_of(client, survey.wallets)
                told = [m for b in balances for m in self._payments(client, b.address)]
                self._balances, self._read_at = balances, (status.tip, addresses)
            balances = self._balances
        except (PacataError, OSError) as error:
            self.line = f"node {self.shell.options.node}: {error}"
            return
        sync = "syncing" if status.syncing else "in sync"
        total = sum(b.balance for b in balances)
        damaged = f" · {len(survey.damaged)} damaged wallet files" if survey.damaged else ""
        self.line = (
            f"{status.chain_id} · height {status.height} · {sync} · {status.peers} peers · "
            f"{pac_text(total)} PAC in {len(balances)} accounts{damaged}"
        )
        for message in told:
            self.shell.add_alert(msg=message)

    def _payments(self, client: SyncNodeClient, address: Address) -> list[str]:
        page = client.address_transactions(address, limit=ALERT_PAGE)
        items = list(page.transactions)
        pages = 1
        while (
            page.next_cursor is not None
            and pages < MAX_ALERT_PAGES
            and self.alerts.wants_older(address, page.transactions)
        ):
            page = client.address_transactions(address, limit=ALERT_PAGE, cursor=page.next_cursor)
            items.extend(page.transactions)
            pages += 1
        return [
            f"received {pac_text(item.transaction.payload.amount)} PAC from "
            f"{short_address(item.transaction.sender_address)} to {short_address(address)} in "
            f"block {item.height}"
            for item in self.alerts.arrived(address, items)
            if isinstance(item.transaction.payload, Transfer)
        ]


class WalletShell(cmd2.Cmd):
    """The shell; its `do_*` commands are added by `shell_class` from the command table."""

    def __init__(self, options: argparse.Namespace) -> None:
        from pacata.wallet import WalletStore, default_wallet_dir

        history = options.history_file or default_history_file(os.environ, Path.home())
        _private_file(history)
        super().__init__(
            persistent_history_file=str(history),
            enable_bottom_toolbar=True,
            refresh_interval=REFRESH_S,
            allow_cli_args=False,
            allow_redirection=False,  # `wallet export > file` would leave a secret lying about
            include_py=False,
            include_ipy=False,
        )
        self.store = WalletStore(options.wallet_dir or default_wallet_dir(os.environ, Path.home()))
        for name in DISABLED:
            self.disable_command(name, f"{name} is not offered in the wallet shell")
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

    def get_bottom_toolbar(self) -> str:
        return self.watcher.line

    def run_parsed(self, arguments: argparse.Namespace) -> None:
        self.last_result = execute(arguments, self.prompter)

    # -- completion -------------------------------------------------------------------------

    def wallet_names(self) -> Choices:
        return Choices.from_values(self.store.names())

    def contact_names(self) -> Choices:
        return Choices.from_values(self._address_book().entries())

    def recipients(self) -> Choices:
        values: list[str] = list(self._address_book().entries())
        for info in self.store.survey().wallets:
            values.append(info.name)
            values.extend(str(entry.address) for entry in info.accounts)
        return Choices.from_values(values)

    def relays(self) -> Choices:
        return self._from_node(lambda client: [str(r.address) for r in client.relays()])

    def channels(self) -> Choices:
        def ids(client: SyncNodeClient) -> list[str]:
            found: list[str] = []
            for info in self.store.survey().wallets:
                for entry in info.accounts:
                    page = client.address_channels(entry.address, limit=MAX_COMPLETED_CHANNELS)
                    found.extend(channel.channel_id.hex() for channel in page.channels)
            return found

        return self._from_node(ids)

    def node_channels(self) -> Choices:
        return self._from_node(
            lambda client: [t.channel_id.hex() for t in client.tunnels().tunnels]
        )

    def _from_node(self, read: Callable[[SyncNodeClient], list[str]]) -> Choices:
        """Choices read from the node; none when it cannot say (Tab must not fail)."""
        from pacata.errors import PacataError
        from pacata.rpc import SyncNodeClient

        try:
            with SyncNodeClient(self.options.node, timeout_s=WATCH_S) as client:
                return Choices.from_values(read(client))
        except (PacataError, OSError):
            return Choices.from_values([])

    def _address_book(self) -> AddressBook:
        from pacata.wallet import ADDRESS_BOOK_FILE, AddressBook

        return AddressBook(self.store.directory / ADDRESS_BOOK_FILE)


def _private_file(path: Path) -> None:
    """Makes `path` (and its directory) if missing, readable by its owner only: the history
    holds addresses and amounts."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
    except OSError as error:
        raise CommandError(f"cannot use {path} for the shell's history: {error.strerror}") from None


_PROVIDERS: dict[Completion, Callable[[WalletShell], Choices]] = {
    Completion.WALLET: WalletShell.wallet_names,
    Completion.CONTACT: WalletShell.contact_names,
    Completion.RECIPIENT: WalletShell.recipients,
    Completion.RELAY: WalletShell.relays,
    Completion.CHANNEL: WalletShell.channels,
    Completion.NODE_CHANNEL: WalletShell.node_channels,
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
