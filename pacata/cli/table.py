"""The one command table of `pacata-vpn`, which both the command line and the cmd2 shell are
built from (DESIGN.md §8: no second implementation).

A `Command` is its words (`("wallet", "send")`), its help (a summary, a description, examples),
a function that declares its arguments on a parser, and a function that runs it with a
`Session`. `fill_parser` turns the commands under a prefix into argparse subparsers of any
parser class: `OneLineParser` for the command line, cmd2's parser for the shell. `execute`
runs a parsed command and turns every failure a user can cause into one line on standard error
and an exit status: 0 done, 1 refused or failed, 2 a usage error found before anything was sent,
130 interrupted. Never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pacata.cli.arguments import Completion, ExamplesFormatter, checked, completes, node_url
from pacata.cli.errors import CommandError
from pacata.cli.session import Prompter, Session
from pacata.errors import PacataError

DEFAULT_NODE = "http://127.0.0.1:9740"
EXAMPLE_RELAY = "pac1cull862tywd8ymzr7g2kekgn8agqylc4kr4yw4"
EXAMPLE_ADDRESS = "pac1trwm8udstmy9udq2ykpflcjtvmqdtlwhjgup9f"


@dataclass(frozen=True, slots=True)
class Command:
    words: tuple[str, ...]
    summary: str
    description: str
    examples: tuple[str, ...]
    declare: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Session, argparse.Namespace], int]
    node: bool = True  # takes --node and --datadir (all but the engine alone, wg-userspace)
    wallets: bool = False  # takes --wallet-dir
    secret: bool = False  # takes --passphrase-file
    confirms: bool = False  # takes --yes: it asks before it does something it cannot undo
    sends: bool = False  # takes --dry-run and --yes: it has a transaction signed and sent
    shell: bool = True  # offered in the shell too
    json: bool = True  # takes --json (all but the two that print no result: a daemon, a shell)


# The summaries of the words that group commands.
GROUPS = {
    "wallet": "your wallets: create, import, balances, send, history",
    "contacts": "the address book: names for addresses",
    "channel": "payment channels of your accounts: list, open, top up, close",
    "stake": "bond PAC as a block producer, or unbond it",
    "relay": "this node's relay offer; the relays on the chain",
    "config": "write the node's configuration",
}


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """The `declare` of a command that takes only the common options."""


def fill_parser(
    parser: argparse.ArgumentParser,
    commands: Sequence[Command],
    depth: int = 0,
    formatter: type[argparse.HelpFormatter] | None = ExamplesFormatter,
) -> None:
    """Declares on `parser` the commands of `commands` (all sharing their first `depth`
    words): the leaf's arguments if one command ends there, else a subparser per next word,
    whose help `formatter` lays out (None: the parser class's own)."""
    leaf = [c for c in commands if len(c.words) == depth]
    if leaf:
        _declare_leaf(parser, leaf[0])
        return
    words: dict[str, list[Command]] = {}
    for command in commands:
        words.setdefault(command.words[depth], []).append(command)
    choices = parser.add_subparsers(
        dest=f"word{depth}", required=True, metavar="COMMAND" if depth == 0 else "ACTION"
    )
    for word, below in words.items():
        only = below[0] if len(below) == 1 and len(below[0].words) == depth + 1 else None
        summary = only.summary if only is not None else GROUPS.get(word, "")
        settings: dict[str, Any] = {
            "help": summary,
            "description": only.description if only is not None else summary,
            "epilog": _examples(only.examples if only is not None else _all_examples(below)),
        }
        if formatter is not None:
            settings["formatter_class"] = formatter
        child = choices.add_parser(word, **settings)
        fill_parser(child, below, depth + 1, formatter)


def _all_examples(commands: Iterable[Command]) -> tuple[str, ...]:
    return tuple(c.examples[0] for c in commands if c.examples)


def _examples(examples: Sequence[str]) -> str | None:
    if not examples:
        return None
    title = "example:" if len(examples) == 1 else "examples:"
    return "\n".join([title, *(f"  {line}" for line in examples)])


def _declare_leaf(parser: argparse.ArgumentParser, command: Command) -> None:
    command.declare(parser)
    if command.wallets:
        parser.add_argument(
            "--wallet-dir",
            metavar="DIR",
            type=Path,
            help="where the wallets are (default $PACATA_WALLET_DIR, else "
            "~/.local/share/pacata/wallets)",
        )
    if command.secret:
        completes(
            parser.add_argument(
                "--passphrase-file",
                metavar="FILE",
                help="read the wallet's passphrase from the first line of FILE (- for standard "
                "input) instead of asking",
            ),
            Completion.PATH,
        )
    if command.sends:
        parser.add_argument(
            "--dry-run", action="store_true", help="show the transaction and its fee; send nothing"
        )
    if command.sends or command.confirms:
        parser.add_argument("-y", "--yes", action="store_true", help="do it without asking")
    if command.node:
        parser.add_argument(
            "--node",
            metavar="URL",
            type=checked(node_url),
            default=DEFAULT_NODE,
            help=f"the node's API, http://HOST:PORT or HOST:PORT (default {DEFAULT_NODE})",
        )
        parser.add_argument(
            "--datadir",
            metavar="DIR",
            type=Path,
            help="the node's data directory, where its .cookie and keys are (default: the "
            "node's default for its chain, ~/.local/share/pacata/CHAIN_ID)",
        )
    if command.json:
        parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(command=command, prog=parser.prog)


def execute(arguments: argparse.Namespace, prompter: Prompter) -> int:
    """Runs the command `arguments` were parsed for; its exit status."""
    from pacata.rpc import InvalidResponse, NodeUnreachable, RpcError

    command: Command = arguments.command
    session = Session(arguments, prompter)
    try:
        return command.run(session, arguments)
    except CommandError as error:
        message, status = str(error), error.status
    except RpcError as error:
        message, status = error.reason, 1
    except InvalidResponse as error:
        message, status = f"the node's answer is not what the API promises: {error}", 1
    except (NodeUnreachable, PacataError) as error:
        message, status = str(error), 1
    except (KeyboardInterrupt, EOFError):
        message, status = "interrupted: nothing more was sent", 130
    finally:
        session.close()
    print(f"{arguments.prog}: {message}", file=sys.stderr, flush=True)
    return status
