"""`pacata-vpn wg-userspace [-f] IFACE`: our engine as a stand-alone daemon, like wireguard-go.

It creates the TUN interface IFACE and its configuration socket
`/var/run/wireguard/IFACE.sock`, then waits to be configured by `wg` (or by the node through the
same socket). Without `-f` it detaches: the command returns once the interface and the socket
exist (or fails with the reason), and a child in its own session serves them, as wireguard-go
does.

Rules: SIGTERM and SIGINT stop it; so does the interface being deleted (`ip link del IFACE`).
Either way it removes the socket and the interface before exiting. The fork happens before any
thread is started.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from pacata.vpn.io.engine import EngineOptions
from pacata.vpn.io.uapi_server import SOCKET_DIRECTORY
from pacata.vpn.io.userspace import UserspaceTunnel

logger = logging.getLogger(__name__)

_READY = b"ready\n"


def run_wg_userspace(
    interface: str,
    *,
    foreground: bool,
    options: EngineOptions | None = None,
    offload: bool = True,
    tso: bool = True,
    socket_directory: Path = SOCKET_DIRECTORY,
) -> int:
    """Runs the daemon; returns the process exit status (for the command line)."""
    if foreground:
        return _serve(interface, options, offload, tso, socket_directory, ready_fd=None)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        os.setsid()
        _detach_standard_streams()
        status = 1
        try:
            status = _serve(interface, options, offload, tso, socket_directory, ready_fd=write_end)
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as report:
        message = report.read()
    if message == _READY:
        return 0
    reason = message.decode("utf-8", "replace").strip() or "the daemon exited during start-up"
    print(f"pacata-vpn wg-userspace: {reason}", file=sys.stderr)
    return 1


def _detach_standard_streams() -> None:
    keep_logs = bool(os.environ.get("LOG_LEVEL"))
    null = os.open(os.devnull, os.O_RDWR)
    targets = (0,) if keep_logs else (0, 1, 2)
    for fd in targets:
        os.dup2(null, fd)
    os.close(null)


def _serve(
    interface: str,
    options: EngineOptions | None,
    offload: bool,
    tso: bool,
    socket_directory: Path,
    *,
    ready_fd: int | None,
) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        tunnel = UserspaceTunnel.create(
            interface,
            options=options,
            offload=offload,
            tso=tso,
            serve_uapi=True,
            socket_directory=socket_directory,
            on_closed=stop.set,
        )
    except Exception as error:
        reason = f"cannot start {interface}: {error}"
        logger.error("%s", reason)
        if ready_fd is not None:
            os.write(ready_fd, reason.encode())
            os.close(ready_fd)
        else:
            print(f"pacata-vpn wg-userspace: {reason}", file=sys.stderr)
        return 1
    logger.info(
        "%s is up; configuration socket %s", tunnel.name, tunnel.server and tunnel.server.path
    )
    if ready_fd is not None:
        os.write(ready_fd, _READY)
        os.close(ready_fd)
    try:
        stop.wait()  # a signal handler or the engine sets it
    finally:
        tunnel.close()
        logger.info("%s stopped", interface)
    return 0
