"""The asyncio adapter of the peer network: TLS sockets, the clock and the timer.

`PeerTransport` listens and dials with TLS 1.3 (`pacata.p2p.tls`), feeds every byte into the
sans-I/O `PeerNetwork` with `loop.time()` as `now`, writes what it returns, closes what it
closes, dials what it asks for, and keeps one `loop.call_at` armed at its next timer. Nothing
here decides anything about the protocol.

Rules:
- Everything runs on the event loop's thread, like the chain and the mempool.
- Backpressure: while a peer's socket buffer is over asyncio's high-water mark we stop
  reading from it, so a peer that does not read its answers gets no more served.
- A refused inbound connection (banned host, no room) is aborted at once, before any message.
- A dial that fails (refused, unreachable, TLS error, `dial_timeout`) is reported to the
  network, which backs off.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass

from pacata.p2p.gossip import PeerId
from pacata.p2p.messages import TlsBinding
from pacata.p2p.network import PeerNetwork
from pacata.p2p.peers import DialAddress
from pacata.p2p.tls import TlsIdentity, certificate_hash

log = logging.getLogger("pacata.p2p")

TLS_HANDSHAKE_TIMEOUT_S = 10.0
DIAL_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class ListenAddress:
    host: str
    port: int


class _PeerProtocol(asyncio.Protocol):
    def __init__(self, owner: PeerTransport, dialed: DialAddress | None) -> None:
        self.owner = owner
        self.dialed = dialed
        self.peer: PeerId | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.owner.connection_made(self, transport)

    def data_received(self, data: bytes) -> None:
        if self.peer is not None:
            self.owner.data_received(self.peer, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.owner.connection_lost(self.peer)

    def pause_writing(self) -> None:
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


class PeerTransport:
    def __init__(self, network: PeerNetwork, identity: TlsIdentity | None = None) -> None:
        self.network = network
        self.identity = identity or TlsIdentity.generate()
        self._server_context = self.identity.server_context()
        self._client_context = self.identity.client_context()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._protocols: dict[PeerId, _PeerProtocol] = {}
        self._dials: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._stopping = False
        self.listen_port: int | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        return self.loop.time()

    async def start(self, listen: ListenAddress | None) -> None:
        """Listens on `listen` (port 0: any free port, then `listen_port` says which)."""
        if listen is not None:
            self._server = await self.loop.create_server(
                lambda: _PeerProtocol(self, None),
                listen.host,
                listen.port,
                ssl=self._server_context,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S,
            )
            sockets = self._server.sockets
            self.listen_port = int(sockets[0].getsockname()[1]) if sockets else listen.port
        self.flush()

    async def stop(self) -> None:
        """Says goodbye to every peer, stops listening and dialing."""
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        self.network.shutdown(self.now())
        self._write_out()
        for task in list(self._dials):
            task.cancel()
        await asyncio.gather(*self._dials, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for protocol in list(self._protocols.values()):
            if protocol.transport is not None:
                protocol.transport.close()
        self._protocols.clear()

    # -- from the protocols ---------------------------------------------------------------

    def connection_made(self, protocol: _PeerProtocol, transport: asyncio.Transport) -> None:
        now = self.now()
        peername = transport.get_extra_info("peername")
        host, port = str(peername[0]), int(peername[1])
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        peer_certificate = None if ssl_object is None else ssl_object.getpeercert(True)
        if self._stopping or peer_certificate is None:
            transport.abort()
            if protocol.dialed is not None and not self._stopping:
                self.network.dial_failed(protocol.dialed, now)
            return
        if protocol.dialed is None and not self.network.accepts(host, now):
            log.debug("refusing a connection from %s", host)
            transport.abort()
            return
        peer = self.network.new_peer_id()
        protocol.peer = peer
        self._protocols[peer] = protocol
        binding = TlsBinding(self.identity.certificate_hash, certificate_hash(peer_certificate))
        self.network.connection_made(peer, DialAddress(host, port), protocol.dialed, binding, now)
        self.flush()

    def data_received(self, peer: PeerId, data: bytes) -> None:
        self.network.receive_data(peer, data, self.now())
        self.flush()

    def connection_lost(self, peer: PeerId) -> None:
        self._protocols.pop(peer, None)
        self.network.connection_lost(peer, self.now())
        self.flush()

    # -- to the network -------------------------------------------------------------------

    def _write_out(self) -> None:
        for peer, data in self.network.take_transmissions():
            protocol = self._protocols.get(peer)
            if protocol is not None and protocol.transport is not None:
                protocol.transport.write(data)
        for peer in self.network.take_closed():
            protocol = self._protocols.pop(peer, None)
            if protocol is not None and protocol.transport is not None:
                protocol.transport.close()

    def flush(self) -> None:
        """Sends what the network has to send, starts its dials, re-arms its timer."""
        self._write_out()
        if self._stopping:
            return
        now = self.now()
        for address in self.network.take_dials(now):
            task = self.loop.create_task(self._dial(address), name=f"dial {address}")
            self._dials.add(task)
            task.add_done_callback(self._dials.discard)
        self._arm_timer()

    def _arm_timer(self) -> None:
        deadline = self.network.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.network.handle_timer(self.now())
        self.flush()

    async def _dial(self, address: DialAddress) -> None:
        try:
            await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: _PeerProtocol(self, address),
                    address.host,
                    address.port,
                    ssl=self._client_context,
                    server_hostname="",
                    ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT_S,
                ),
                DIAL_TIMEOUT_S,
            )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            log.debug("dialing %s failed: %s", address, exc)
            if not self._stopping:
                self.network.dial_failed(address, self.now())
                self.flush()
