"""Every command of `pacata-vpn`, in the order `--help` lists them: the one table the command
line and the shell are both built from."""

from __future__ import annotations

import argparse

from pacata.cli import (
    channel_commands,
    config_setup,
    contacts_commands,
    payment_commands,
    relay_commands,
    shell_command,
    stake_commands,
    vpn_commands,
    wallet_commands,
    wg_userspace,
)
from pacata.cli.session import Session
from pacata.cli.table import Command


def _run_shell(session: Session, arguments: argparse.Namespace) -> int:
    from pacata.cli.shell import shell_class

    shell = shell_class(COMMANDS, arguments)(arguments)
    return int(shell.cmdloop() or 0)


COMMANDS: tuple[Command, ...] = (
    *wallet_commands.COMMANDS,
    *payment_commands.COMMANDS,
    *contacts_commands.COMMANDS,
    *vpn_commands.COMMANDS,
    *channel_commands.COMMANDS,
    *stake_commands.COMMANDS,
    *relay_commands.COMMANDS,
    *config_setup.COMMANDS,
    shell_command.shell_command(_run_shell),
    *wg_userspace.COMMANDS,
)
