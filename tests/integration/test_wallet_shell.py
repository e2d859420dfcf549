"""`pacata-vpn shell` driven as a person drives it: in a real terminal (tmux), keys sent with
`send-keys` and the screen read with `capture-pane`, against a real `pacatad --devnet`
(issue 16's second Must-show line): Tab completes commands and wallet names, a send asks for
confirmation and the passphrase on the terminal, the status line shows the height and the
balance, an alert tells a payment arrived, and history survives a restart.

Every wait polls the screen with a deadline; the tmux server (its own socket) and the node
are ended whatever happens.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pacata.chain.devnet import devnet_key
from pacata.testing.cli_runner import CliRunner
from pacata.testing.node_process import NodeProcess

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (apt install tmux)"),
]

DEADLINE_S = 30.0
FAUCET = 6


class Terminal:
    """One tmux window on a server of its own."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *arguments: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *arguments],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return done.stdout

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-s", "shell", "-x", "200", "-y", "50", command)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "shell", *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "shell", "-l", text)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "shell")

    def wait_for(self, text: str, deadline_s: float = DEADLINE_S) -> str:
        """The screen once it shows `text` (tmux drops the spaces that end a line, so the
        ones that end `text` are not looked for)."""
        text = text.rstrip()
        deadline = time.monotonic() + deadline_s
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not on the screen within {deadline_s} s:\n{screen}")
            time.sleep(0.1)

    def running(self) -> bool:
        return (
            subprocess.run(
                ["tmux", "-L", self.socket, "has-session", "-t", "shell"],
                capture_output=True,
                check=False,
            ).returncode
            == 0
        )

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    screen = Terminal(f"pacata-test-{tmp_path.name}")
    try:
        yield screen
    finally:
        screen.close()


def _shell_command(cli: CliRunner) -> str:
    environment = " ".join(f"{k}={shlex.quote(v)}" for k, v in cli.environment.items())
    return f"env -i {environment} {shlex.join(cli.command('shell', *cli.node()))}"


def test_the_shell_as_a_person_uses_it(
    devnet: NodeProcess, terminal: Terminal, tmp_path: Path
) -> None:
    cli = CliRunner(tmp_path / "home", devnet.base, passphrase="typed at the prompt")
    cli.json("wallet", "import", "faucet", "--devnet-account", str(FAUCET), *cli.secret())
    cli.json("wallet", "create", "alice", *cli.secret())
    terminal.start(_shell_command(cli))
    terminal.wait_for("pacata> ")

    # The status line: the node's height and sync, the wallets' balance.
    terminal.wait_for("· height ")
    assert "in sync" in terminal.screen()

    # Tab completes a command, a subcommand and a wallet's name.
    terminal.type("wal")
    terminal.keys("Tab")
    terminal.wait_for("pacata> wallet ")
    terminal.type("se")
    terminal.keys("Tab")
    terminal.wait_for("pacata> wallet send ")
    terminal.type("alice 1.5 --wallet fau")
    terminal.keys("Tab")
    terminal.wait_for("pacata> wallet send alice 1.5 --wallet faucet ")

    # The send: shown, confirmed, the passphrase typed; then the payment's alert.
    terminal.keys("Enter")
    screen = terminal.wait_for("[y/N]")
    assert "send 1.50000000 PAC to pac1" in screen and "fee" in screen
    terminal.type("y")
    terminal.keys("Enter")
    terminal.wait_for("passphrase of wallet 'faucet':")
    terminal.type("typed at the prompt")
    terminal.keys("Enter")
    terminal.wait_for("sent: txid ")
    alice = cli.json("wallet", "show", "alice")["accounts"][0]["address"]
    terminal.wait_for(f"received 1.50000000 PAC from {str(devnet_key(FAUCET).address)[:10]}")
    assert devnet.get(f"/api/accounts/{alice}")["balance"] == 150_000_000

    # History across a restart: the send is the shell's last command the next time.
    terminal.type("quit")
    terminal.keys("Enter")
    deadline = time.monotonic() + DEADLINE_S
    while terminal.running():
        assert time.monotonic() < deadline, "the shell did not end on quit"
        time.sleep(0.1)
    terminal.start(_shell_command(cli))
    terminal.wait_for("pacata> ")
    terminal.keys("Up")
    terminal.wait_for("pacata> quit")
    terminal.keys("Up")
    terminal.wait_for("pacata> wallet send alice 1.5 --wallet faucet")
