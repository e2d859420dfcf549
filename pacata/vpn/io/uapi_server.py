"""The configuration socket of a userspace interface: `/var/run/wireguard/<iface>.sock`.

A Unix stream socket speaking the cross-platform configuration protocol (`pacata/vpn/uapi.py`),
so that `wg set`, `wg show`, `wg showconf` and `wg syncconf` work on our engine as they do on
wireguard-go. One thread accepts; each connection gets its own thread and may carry several
requests, as with wireguard-go.

Rules: the socket is accessible to its owner only (created under umask 077), in a directory of
mode 0755 (only root configures interfaces); a socket left behind by a dead process is
replaced, a live one is not (the interface is already served); `close` removes the socket file
only if it is still ours. A client's malformed request gets an `errno=` reply or a closed
connection, never an exception in the server; a silent client is dropped after
`CLIENT_TIMEOUT` seconds.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import stat
import threading
from io import BufferedIOBase
from pathlib import Path

from pacata.vpn.backend import TunnelConfiguration
from pacata.vpn.uapi import (
    GET,
    MAX_LINE,
    MAX_LINES,
    SET,
    ConfigurationError,
    errno_line,
    format_status,
    parse_set,
)

logger = logging.getLogger(__name__)

SOCKET_DIRECTORY = Path("/var/run/wireguard")
CLIENT_TIMEOUT = 30.0


class InterfaceInUse(OSError):
    """Another live process serves the configuration socket of this interface."""


def socket_path(interface: str, directory: Path = SOCKET_DIRECTORY) -> Path:
    return directory / f"{interface}.sock"


class UapiServer:
    """Serves one interface's configuration socket from background threads."""

    def __init__(
        self, interface: str, target: TunnelConfiguration, *, directory: Path = SOCKET_DIRECTORY
    ) -> None:
        self.path = socket_path(interface, directory)
        self._target = target
        self._listener: socket.socket | None = None
        self._inode: int | None = None
        self._stop_signal = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        if self.path.exists():
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink(missing_ok=True)  # left behind by a process that died
            else:
                raise InterfaceInUse(errno.EADDRINUSE, f"{self.path} is served by another process")
            finally:
                probe.close()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o077)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old_umask)
        listener.listen(16)
        self._inode = os.stat(self.path).st_ino
        self._listener = listener
        self._thread = threading.Thread(
            target=self._serve, name=f"uapi-{self.path.stem}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        os.eventfd_write(self._stop_signal, 1)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            try:
                info = os.stat(self.path)
                if stat.S_ISSOCK(info.st_mode) and info.st_ino == self._inode:
                    self.path.unlink()
            except FileNotFoundError:
                pass
        if self._stop_signal >= 0:
            os.close(self._stop_signal)
            self._stop_signal = -1

    def _serve(self) -> None:
        listener = self._listener
        assert listener is not None
        poller = select.poll()
        poller.register(listener.fileno(), select.POLLIN)
        poller.register(self._stop_signal, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._stop_signal in ready:
                return
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(
                target=self._handle, args=(connection,), name="uapi-client", daemon=True
            ).start()

    def _handle(self, connection: socket.socket) -> None:
        connection.settimeout(CLIENT_TIMEOUT)
        try:
            with connection, connection.makefile("rwb") as stream:
                while True:
                    operation = stream.readline(MAX_LINE + 1)
                    if not operation or not operation.endswith(b"\n"):
                        return
                    reply = self._answer(operation.decode("utf-8", "replace")[:-1], stream)
                    if reply is None:
                        return
                    stream.write(reply.encode())
                    stream.flush()
        except (OSError, TimeoutError):
            return

    def _answer(self, operation: str, stream: BufferedIOBase) -> str | None:
        lines: list[str] = []
        while True:
            line = stream.readline(MAX_LINE + 1)
            if not line or not line.endswith(b"\n"):
                return None
            if line == b"\n":
                break
            if len(lines) >= MAX_LINES:
                return None
            lines.append(line[:-1].decode("utf-8", "replace"))
        if operation == GET:
            if lines:
                return errno_line(errno.EINVAL)
            return format_status(self._target.status()) + errno_line(0)
        if operation == SET:
            try:
                self._target.apply(parse_set(lines))
            except ConfigurationError as error:
                logger.info("configuration refused: %s", error)
                return errno_line(error.code)
            except Exception:
                logger.exception("configuration failed")
                return errno_line(errno.EIO)
            return errno_line(0)
        logger.info("unknown configuration operation %r", operation)
        return None
