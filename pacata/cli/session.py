"""What a running command has at hand: the user's node, the wallets and the address book, and
a way to ask the user (a passphrase, a confirmation).

Rules: secrets never come from the command line (DESIGN.md §8): a passphrase is asked on the
terminal, or read from `--passphrase-file FILE` (`-`: the first line of standard input), as
bitcoin-cli's `-stdinwalletpassphrase` does. A command that must ask and has no terminal to ask
on is a usage error that says which option answers instead (`--passphrase-file`, `--yes`);
nothing is sent or written before that.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pacata.cli.errors import CommandError, UsageError
from pacata.cli.node_session import NodeSession

if TYPE_CHECKING:
    from pacata.wallet import AddressBook, WalletStore

MAX_PASSPHRASE_FILE_BYTES = 4096
MIN_NEW_PASSPHRASE = 8  # characters; the KDF slows guessing, it cannot save "1234"


class Prompter(Protocol):
    """How a command asks the user: the terminal for the command line, the shell's own."""

    def interactive(self) -> bool: ...

    def secret(self, prompt: str) -> str: ...

    def line(self, prompt: str) -> str: ...


class TerminalPrompter:
    """Asks on the terminal; a command run without one (a script, a pipe) cannot ask. The
    questions go to standard error (a passphrase's to the terminal itself), never to standard
    output, which may be the one JSON document of `--json`."""

    def interactive(self) -> bool:
        return sys.stdin.isatty()

    def secret(self, prompt: str) -> str:
        return getpass.getpass(prompt)

    def line(self, prompt: str) -> str:
        sys.stderr.write(prompt)
        sys.stderr.flush()
        answer = sys.stdin.readline()
        if not answer:
            raise EOFError
        return answer.rstrip("\n")


class Session:
    """One command's run: made from its parsed arguments, closed when it ends."""

    def __init__(self, arguments: argparse.Namespace, prompter: Prompter) -> None:
        self.arguments = arguments
        self.prompter = prompter
        self.json: bool = getattr(arguments, "json", False)
        self._node: NodeSession | None = None

    def close(self) -> None:
        if self._node is not None:
            self._node.close()

    # -- the node ---------------------------------------------------------------------------

    def node(self) -> NodeSession:
        if self._node is None:
            self._node = NodeSession(self.arguments.node, getattr(self.arguments, "datadir", None))
        return self._node

    # -- the wallets ------------------------------------------------------------------------

    @property
    def wallet_dir(self) -> Path:
        from pacata.wallet import default_wallet_dir

        given: Path | None = getattr(self.arguments, "wallet_dir", None)
        return given if given is not None else default_wallet_dir(os.environ, Path.home())

    def wallets(self) -> WalletStore:
        from pacata.wallet import WalletStore

        return WalletStore(self.wallet_dir)

    def address_book(self) -> AddressBook:
        from pacata.wallet import ADDRESS_BOOK_FILE, AddressBook

        return AddressBook(self.wallet_dir / ADDRESS_BOOK_FILE)

    # -- asking the user --------------------------------------------------------------------

    def passphrase(self, wallet: str, *, new: bool = False) -> str:
        """The passphrase of `wallet`: from `--passphrase-file`, else asked (twice for a new
        one, which must be at least `MIN_NEW_PASSPHRASE` characters)."""
        source: str | None = getattr(self.arguments, "passphrase_file", None)
        if source is not None:
            passphrase = read_secret_file(source, "passphrase")
        elif not self.prompter.interactive():
            raise UsageError(
                f"no terminal to ask the passphrase of wallet {wallet!r} on: give "
                "--passphrase-file FILE (- for standard input)"
            )
        else:
            passphrase = self.prompter.secret(f"passphrase of wallet {wallet!r}: ")
            if new:
                again = self.prompter.secret("the same passphrase again: ")
                if again != passphrase:
                    raise UsageError("the two passphrases differ; nothing was written")
        if new and len(passphrase) < MIN_NEW_PASSPHRASE:
            raise UsageError(
                f"a wallet's passphrase has at least {MIN_NEW_PASSPHRASE} characters; "
                "nothing was written"
            )
        if not passphrase:
            raise UsageError("the passphrase is empty")
        return passphrase

    def will_ask(self) -> bool:
        """Whether `confirm` will ask the user (not with `--yes`, nor without a terminal)."""
        return not getattr(self.arguments, "yes", False) and self.prompter.interactive()

    def confirm(self, question: str) -> None:
        """Returns if the user confirms (`--yes` does); `CommandError` if they decline."""
        if getattr(self.arguments, "yes", False):
            return
        if not self.prompter.interactive():
            raise UsageError(f"{question} — no terminal to confirm on: add --yes")
        answer = self.prompter.line(f"{question} [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            raise CommandError("not confirmed: nothing was done")


def read_secret_file(source: str, what: str) -> str:
    """The first line of file `source` (`-`: standard input), without its line end."""
    try:
        if source == "-":
            text = sys.stdin.readline(MAX_PASSPHRASE_FILE_BYTES)
        else:
            with open(source, "rb") as stream:
                raw = stream.read(MAX_PASSPHRASE_FILE_BYTES)
            text = raw.decode("utf-8")
    except OSError as error:
        raise UsageError(f"cannot read the {what} file {source}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"the {what} file {source} is not UTF-8 text") from None
    return text.splitlines()[0] if text.splitlines() else ""
