"""The userspace backend: a TUN interface, our engine on it, and optionally its `wg` socket.

`UserspaceTunnel` is what `open_tunnel` returns when the kernel has no WireGuard, and what the
`pacata-vpn wg-userspace` daemon runs. It owns three things and releases them in reverse order
on `close`: the TUN device (closing it deletes the interface), the engine's threads and socket,
and the configuration socket if one was asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pacata.vpn.backend import BackendKind
from pacata.vpn.config import InterfaceChange, InterfaceStatus
from pacata.vpn.io import links
from pacata.vpn.io.engine import DEFAULT_MTU, EngineOptions, UserspaceEngine
from pacata.vpn.io.tun import TunDevice, open_tun
from pacata.vpn.io.uapi_server import SOCKET_DIRECTORY, UapiServer


class UserspaceTunnel:
    """A WireGuard interface served by this process."""

    def __init__(
        self, tun: TunDevice, engine: UserspaceEngine, server: UapiServer | None = None
    ) -> None:
        self.tun = tun
        self.engine = engine
        self.server = server

    @classmethod
    def create(
        cls,
        name: str,
        *,
        mtu: int | None = None,
        options: EngineOptions | None = None,
        offload: bool = True,
        tso: bool = True,
        serve_uapi: bool = False,
        socket_directory: Path = SOCKET_DIRECTORY,
        on_closed: Callable[[], None] | None = None,
        port: int = 0,
    ) -> UserspaceTunnel:
        """Creates the TUN interface `name` (MTU 1420 unless told), starts the engine (its
        socket on UDP `port`; 0: any free port) and, with `serve_uapi`, the configuration
        socket. Everything created is released on failure."""
        options = options or EngineOptions(mtu=mtu or DEFAULT_MTU)
        tun = open_tun(name, offload=offload, tso=tso)
        engine: UserspaceEngine | None = None
        server: UapiServer | None = None
        try:
            links.set_mtu(tun.name, mtu or options.mtu)
            engine = UserspaceEngine(tun, options=options, on_closed=on_closed, port=port)
            if serve_uapi:
                server = UapiServer(tun.name, engine, directory=socket_directory)
                server.start()
            engine.start()
        except BaseException:
            if server is not None:
                server.close()
            if engine is not None:
                engine.close()
            tun.close()
            raise
        return cls(tun, engine, server)

    @property
    def name(self) -> str:
        return self.tun.name

    @property
    def kind(self) -> BackendKind:
        return "userspace"

    def apply(self, change: InterfaceChange) -> None:
        self.engine.apply(change)

    def status(self) -> InterfaceStatus:
        return self.engine.status()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.engine.close()
        self.tun.close()
