"""`pacata-vpn`: the command line and the cmd2 wallet shell of Pacata (DESIGN.md §8).

One command table (`pacata.cli.commands`) serves both: `pacata-vpn COMMAND …` runs one command,
`pacata-vpn shell` offers them all at a prompt with completion and history. The commands talk
to the user's node only through its HTTP API (`pacata.rpc`), and sign with the user's wallets
(`pacata.wallet`).

Rules: never a traceback for a user's error, one line and an exit status (`pacata.cli.table`);
amounts in PAC with at most 8 decimals, exactly (`pacata.cli.amounts`); `--json` prints one
JSON document; secrets never come from the command line (`pacata.cli.session`).
"""

from pacata.cli.main import main

__all__ = ["main"]
