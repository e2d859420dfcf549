"""Where the wallet files live, and the rules of that directory (docs/wallet.md §The directory).

- The directory is `$PACATA_WALLET_DIR` when set (it must be absolute), else
  `$XDG_DATA_HOME/pacata/wallets`, or `~/.local/share/pacata/wallets` when `XDG_DATA_HOME` is
  unset, empty or relative (`pacata.xdg`, the node's rule too), so the wallets sit beside the
  chains' data directories. Wallets are not per chain: an address is
  the same on every network.
- Writers make the directory with mode 0700 when it is missing. A directory found open to the
  group or others is used as it is, with a warning: it may be shared on purpose (an explicit
  `$PACATA_WALLET_DIR`), and the files in it are 0600 with their secrets sealed, so changing a
  directory's mode behind the user's back would be the surprise, not the protection.
- Writers hold an exclusive `flock` on the directory for a read-modify-write, so two processes
  adding accounts to one wallet do not lose one. The lock is taken on the directory itself: it
  adds no file, and it is released when the process dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pacata.wallet.errors import WalletError
from pacata.xdg import xdg_home

WALLET_DIR_VARIABLE = "PACATA_WALLET_DIR"
ADDRESS_BOOK_FILE = "address-book.json"
DIRECTORY_MODE = 0o700

log = logging.getLogger("pacata.wallet")


def default_wallet_dir(environ: Mapping[str, str], home: Path) -> Path:
    """`$PACATA_WALLET_DIR`, or `$XDG_DATA_HOME/pacata/wallets`, or
    `~/.local/share/pacata/wallets`; `WalletError` if `$PACATA_WALLET_DIR` is relative."""
    chosen = environ.get(WALLET_DIR_VARIABLE, "")
    if chosen:
        if not Path(chosen).is_absolute():
            raise WalletError(f"{WALLET_DIR_VARIABLE} must be an absolute path, not {chosen!r}")
        return Path(chosen)
    return xdg_home("data", environ, home) / "pacata" / "wallets"


# The paths already warned about: a process (the shell reads the wallets every few seconds)
# says it once.
_warned: set[Path] = set()


def warn_once(path: Path, message: str) -> None:
    """Log `message` about `path`, once per process."""
    if path not in _warned:
        _warned.add(path)
        log.warning("%s", message)


def warn_if_shared(directory: Path) -> None:
    """Log a warning (once) when `directory` is open to its group or to others."""
    try:
        mode = directory.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        warn_once(
            directory,
            f"the wallet directory {directory} is accessible to other users "
            f"(mode {stat.S_IMODE(mode):o}); chmod 700 it",
        )


def make_private_directory(directory: Path) -> None:
    """Make `directory` (and its parents) if missing, itself with mode 0700; `WalletError`
    if it cannot be made."""
    if directory.is_dir():
        return
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(directory, DIRECTORY_MODE)
        except FileExistsError:
            return  # made meanwhile by another process, or not a directory (locking says so)
        # mkdir's mode passes through the umask: an odd one (0o200) must not weaken nor break it.
        os.chmod(directory, DIRECTORY_MODE)
    except OSError as exc:
        raise WalletError(f"cannot make the wallet directory {directory}: {exc.strerror}") from None


@contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on `directory` for a read-modify-write; `WalletError` if it
    cannot be opened. Not reentrant: a process holding it must not take it again."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise WalletError(f"cannot open the wallet directory {directory}: {exc.strerror}") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # which releases the lock
