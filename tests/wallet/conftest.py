"""Fixtures of the wallet tests: a store with cheap scrypt costs (n = 2**10, 1 MiB: a few
milliseconds per unlock instead of ~0.4 s) and a snapshot of a directory tree, to show that a
failed operation changed nothing on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pacata.wallet import ScryptParams, WalletStore

Snapshot = dict[str, tuple[bytes | None, int, int]]


@pytest.fixture
def cheap_kdf() -> ScryptParams:
    return ScryptParams.fresh(n=2**10)


@pytest.fixture
def wallet_dir(tmp_path: Path) -> Path:
    return tmp_path / "wallets"


@pytest.fixture
def store(wallet_dir: Path, cheap_kdf: ScryptParams) -> WalletStore:
    return WalletStore(wallet_dir, cheap_kdf)


def _snapshot(root: Path) -> Snapshot:
    found: Snapshot = {}
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories + files:
            path = Path(directory, name)
            status = path.lstat()
            data = None if path.is_dir() else path.read_bytes()
            found[str(path.relative_to(root))] = (data, status.st_mtime_ns, status.st_mode)
    status = root.lstat()
    found["."] = (None, status.st_mtime_ns, status.st_mode)
    return found


@pytest.fixture
def snapshot() -> Callable[[Path], Snapshot]:
    """Every entry under a directory (hidden ones too) with its bytes (None for a directory),
    mtime in nanoseconds and mode."""
    return _snapshot
