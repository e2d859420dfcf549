"""The failures of a command, as the user reads them: one line on standard error and an exit
status, never a traceback (DESIGN.md §8)."""

from __future__ import annotations

from pacata.errors import PacataError


class CommandError(PacataError):
    """The command cannot do what was asked: one line on standard error, exit status 1."""

    status = 1


class UsageError(CommandError):
    """The command line asks for something impossible: exit status 2, nothing sent."""

    status = 2
