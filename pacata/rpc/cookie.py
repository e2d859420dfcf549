"""Where a client on the node's machine finds the node's admin token (docs/operations.md §Data
directory, §The admin cookie): the file `.cookie` in the node's data directory, which is
`--datadir` or else `$XDG_DATA_HOME/pacata/<chain id>` (`~/.local/share/pacata/<chain id>` when
`XDG_DATA_HOME` is unset, empty or not absolute).

The node writes the file at every start and removes it at a clean stop (pacata/node/cookie.py);
this is the reading side, for the command line and the wallet, which may not import the node.
The node takes `default_data_dir` and `COOKIE_FILE` from here, so both sides name the same
file (tests/rpc/test_cookie.py checks a token the node wrote is the one read here).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pacata.xdg import xdg_home

COOKIE_FILE = ".cookie"
MAX_COOKIE_BYTES = 1024  # a token is 64 hex digits; anything much larger is not a cookie


def default_data_dir(chain_id: str, environ: Mapping[str, str], home: Path) -> Path:
    """`$XDG_DATA_HOME/pacata/<chain_id>`, or `~/.local/share/pacata/<chain_id>`."""
    return xdg_home("data", environ, home) / "pacata" / chain_id


def read_cookie(datadir: Path) -> str:
    """The token in `datadir/.cookie`. `OSError` if it cannot be read (`FileNotFoundError`:
    no node runs with that data directory), `ValueError` if it holds no token."""
    with (datadir / COOKIE_FILE).open("rb") as stream:
        raw = stream.read(MAX_COOKIE_BYTES + 1)
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if len(raw) > MAX_COOKIE_BYTES or not token or any(c.isspace() for c in token):
        raise ValueError("it holds no token")
    return token
