"""The admin cookie: a random token in the data directory that administrative API calls need.

Like bitcoind's `.cookie`: whoever can read the node's data directory may administer it, and no
password is ever configured. Rules:
- A fresh token (32 random bytes, hex) is written at every start to `<datadir>/.cookie`,
  created with mode 0600 (never readable by others, whatever the umask); a stale file left by
  a crash is replaced.
- The file is removed at a clean shutdown, but only if it still holds this node's token.
- Clients send it as `Authorization: Bearer <token>`; the API compares in constant time.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Self

from pacata.rpc.cookie import COOKIE_FILE

TOKEN_BYTES = 32


class AdminCookie:
    def __init__(self, path: Path, token: str) -> None:
        self.path = path
        self.token = token

    @classmethod
    def create(cls, datadir: Path) -> Self:
        """Writes a new token to `datadir/.cookie` (mode 0600) and returns it."""
        path = datadir / COOKIE_FILE
        token = secrets.token_hex(TOKEN_BYTES)
        path.unlink(missing_ok=True)
        # O_EXCL: the file is ours from its creation, never a file or link someone put there.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as stream:
            stream.write(token + "\n")
        return cls(path, token)

    @staticmethod
    def read(datadir: Path) -> str:
        """The token of a running node, for a client that shares its data directory."""
        return (datadir / COOKIE_FILE).read_text(encoding="ascii").strip()

    def remove(self) -> None:
        """Deletes the file if it still holds this token (another node may have replaced it)."""
        try:
            if self.path.read_text(encoding="ascii").strip() == self.token:
                self.path.unlink()
        except FileNotFoundError:
            pass
