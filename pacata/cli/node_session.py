"""The user's node as the commands reach it (docs/operations.md §Paid tunnels from the command
line): a client of its HTTP API for what they read, and one that carries the admin token of the
`.cookie` in its data directory for what the node signs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pacata.cli.errors import CommandError

if TYPE_CHECKING:
    from pacata.rpc import SyncNodeClient, TunnelsInfo

T = TypeVar("T")


class NodeSession:
    """The user's node as the commands reach it: a client for what they read, and one that
    carries the admin token for what the node signs, read from the `.cookie` of its data
    directory when first needed (`--datadir`, else the node's default for its chain id)."""

    def __init__(self, url: str, datadir: Path | None) -> None:
        from pacata.rpc import SyncNodeClient

        self.url = url
        self.datadir = datadir
        self.client = SyncNodeClient(url)
        self._admin: SyncNodeClient | None = None

    def close(self) -> None:
        self.client.close()
        if self._admin is not None:
            self._admin.close()

    def admin(self) -> SyncNodeClient:
        from pacata.rpc import SyncNodeClient

        if self._admin is None:
            self._admin = SyncNodeClient(self.url, token=self._token())
        return self._admin

    def cookie_path(self) -> Path:
        from pacata.rpc.cookie import COOKIE_FILE, default_data_dir

        datadir = self.datadir
        if datadir is None:
            datadir = default_data_dir(self.client.status().chain_id, os.environ, Path.home())
        return datadir / COOKIE_FILE

    def _token(self) -> str:
        from pacata.rpc.cookie import read_cookie

        path = self.cookie_path()
        try:
            return read_cookie(path.parent)
        except FileNotFoundError:
            raise CommandError(
                f"no admin cookie at {path}: does the node at {self.url} run with that data "
                "directory? (give it with --datadir DIR)"
            ) from None
        except (OSError, ValueError) as error:
            why = error.strerror if isinstance(error, OSError) else str(error)
            raise CommandError(f"cannot read the admin cookie {path}: {why}") from None

    def tunnels(self) -> TunnelsInfo:
        """The node's tunnels; `CommandError` if it runs no VPN side (the route's only 404).
        Every command of the VPN side asks this first, so that is said clearly."""
        from pacata.rpc import RpcNotFound

        try:
            return self.client.tunnels()
        except RpcNotFound:
            raise CommandError(
                f"the node at {self.url} runs no VPN side (start pacatad with --vpn or --relay)"
            ) from None

    def signed(self, call: Callable[[SyncNodeClient], T]) -> T:
        """`call` on the client with the token: a VPN call the node signs."""
        from pacata.rpc import RpcUnauthorized

        admin = self.admin()
        try:
            return call(admin)
        except RpcUnauthorized:
            raise CommandError(
                f"the node at {self.url} refused the token of {self.cookie_path()}: is that "
                "its data directory? (give it with --datadir DIR)"
            ) from None
