"""`pacata-vpn shell`: how the wallet shell is declared (`pacata.cli.commands` runs it with the
whole table; `pacata.cli.shell`, which imports cmd2, is imported only when the shell starts, so
other commands start fast)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from pacata.cli.arguments import Completion, completes
from pacata.cli.session import Session
from pacata.cli.table import Command


def _declare(parser: argparse.ArgumentParser) -> None:
    completes(
        parser.add_argument(
            "--history-file",
            metavar="FILE",
            type=Path,
            help="where the shell keeps its history (default ~/.local/state/pacata/shell-history)",
        ),
        Completion.PATH,
    )


def shell_command(run: Callable[[Session, argparse.Namespace], int]) -> Command:
    return Command(
        ("shell",),
        "the interactive wallet shell: every command, with completion and history",
        "An interactive shell offering the commands of pacata-vpn (but wg-userspace) with Tab "
        "completion of commands, wallet names, addresses, relays and channel ids, a status "
        "line with the node's height, sync and your balance, an alert when a payment arrives, "
        "and history kept across sessions. Its --node, --datadir and --wallet-dir are every "
        "command's defaults.",
        ("pacata-vpn shell", "pacata-vpn shell --node 127.0.0.1:9750 --wallet-dir ~/wallets"),
        _declare,
        run,
        wallets=True,
        shell=False,
        json=False,
    )
