"""`pacata-vpn`'s entry point: the command line built from the command table.

`main` returns the exit status instead of exiting (tests call it); see `pacata.cli.table` for
what each status means."""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from collections.abc import Sequence

from pacata.cli.arguments import OneLineParser
from pacata.cli.commands import COMMANDS
from pacata.cli.session import TerminalPrompter
from pacata.cli.table import execute, fill_parser


def build_parser(
    parser_class: type[argparse.ArgumentParser] = OneLineParser,
) -> argparse.ArgumentParser:
    parser = parser_class(
        prog="pacata-vpn",
        description="Pacata Mesh VPN: your wallets, paid tunnels and relays, through your node",
        epilog="Each command has --help with examples. See docs/cli.md.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    fill_parser(parser, COMMANDS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    for stream in (sys.stdout, sys.stderr):  # a terminal without UTF-8 gets escapes, not a crash
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
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
    try:
        return execute(arguments, TerminalPrompter())
    except BrokenPipeError:  # `pacata-vpn … | head`: the reader left, as it may
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's flush at exit must not raise again
        return 1
