"""`pacata-vpn` run as a user runs it: a separate process with its own environment (a wallet
directory, XDG directories, a passphrase file), for end-to-end tests of the command line and
the shell against a real `pacatad`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COMMAND_DEADLINE_S = 120.0


@dataclass(frozen=True, slots=True)
class CliResult:
    status: int
    stdout: str
    stderr: str

    def document(self) -> Any:
        """The one JSON document on standard output (`AssertionError` if there is none)."""
        try:
            return json.loads(self.stdout)
        except json.JSONDecodeError as error:
            raise AssertionError(f"not one JSON document ({error}):\n{self.stdout}") from None


class CliRunner:
    """`pacata-vpn` with `home` as the user's home (wallets, history, config under it)."""

    def __init__(self, home: Path, node_url: str, passphrase: str = "correct horse 7") -> None:
        self.home = home
        self.node_url = node_url
        self.wallet_dir = home / ".local" / "share" / "pacata" / "wallets"
        self.passphrase_file = home / "passphrase.txt"
        home.mkdir(parents=True, exist_ok=True)
        self.passphrase_file.write_text(passphrase + "\n", encoding="utf-8")
        self.passphrase_file.chmod(0o600)

    @property
    def environment(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TERM")}
        return {
            **keep,
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_STATE_HOME": str(self.home / ".local" / "state"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def command(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "pacata.cli", *arguments]

    def run(
        self, *arguments: str, stdin: str = "", env: Mapping[str, str] | None = None
    ) -> CliResult:
        done = subprocess.run(
            self.command(*arguments),
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.environment, **(env or {})},
            timeout=COMMAND_DEADLINE_S,
            check=False,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    def ok(self, *arguments: str, stdin: str = "") -> CliResult:
        """`run`, which must succeed (`AssertionError` with its output if not)."""
        result = self.run(*arguments, stdin=stdin)
        if result.status != 0:
            raise AssertionError(
                f"pacata-vpn {' '.join(arguments)} exited {result.status}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def json(self, *arguments: str) -> Any:
        """The JSON document of a command that must succeed, run with `--json`."""
        return self.ok(*arguments, "--json").document()

    def node(self) -> tuple[str, ...]:
        return ("--node", self.node_url)

    def secret(self) -> tuple[str, ...]:
        return ("--passphrase-file", str(self.passphrase_file))
