"""The node's UDP port under asyncio: one socket, the STUN and DHT cores, and a hook for the rest.

    endpoint = UdpEndpoint(stun=StunAgent(), dht=DhtNode(...))
    await endpoint.start("0.0.0.0", port)           # the same number as the TCP --listen port
    endpoint.set_datagram_handler(handler)          # WireGuard, hole-punching probes
    mapped = await endpoint.request_binding(peer)   # our reflexive address, as `peer` sees it
    event = await endpoint.find_value(key)          # DHT operations, awaited
    endpoint.close()

Rules (docs/p2p-udp.md §Dispatch):

- Every datagram goes to exactly one protocol, decided from its first bytes by
  `udp_demux.classify`: STUN and the DHT to their cores here, WireGuard and anything else to
  the registered handler (the VPN; probes). Without a handler they are dropped and counted.
- This module does the I/O only: the protocol cores are sans-I/O and get `loop.time()` as `now`;
  after each datagram or timer the endpoint sends what the cores queued, hands their events on
  and re-arms one `loop.call_at` timer at the earliest deadline either core asked for.
- A datagram never stops the endpoint: the cores drop and count bad input, and an exception
  that escapes a core or the handler anyway is logged and counted in `errors`.
- The socket can also be someone else's: `attach(send)` runs the same dispatch over a socket
  owned elsewhere (the userspace WireGuard engine's, which hands over the datagrams that are not
  WireGuard's through `receive_threadsafe`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Callable, Iterable

from pacata.errors import LocalProtocolError
from pacata.p2p.dht import BootstrapFinished, DhtEvent, DhtNode, LookupFinished, PutFinished
from pacata.p2p.stun import BindingFailed, BindingSucceeded, StunAgent, StunEvent
from pacata.p2p.udp_address import Address, normalize_address
from pacata.p2p.udp_demux import DatagramKind, classify

logger = logging.getLogger(__name__)

DatagramHandler = Callable[[bytes, Address], None]
"""`handler(data, source)`: a datagram that is neither STUN nor DHT. It must not block."""
DatagramSender = Callable[[bytes, Address], None]

_MAPPED_PREFIX = "::ffff:"


def _bind(host: str, port: int) -> socket.socket:
    """A UDP socket bound to (host, port); "::" makes it dual-stack."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6 and host == "::":
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: UdpEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.endpoint.receive(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for something we sent (port unreachable): the request times out.
        self.endpoint.errors["socket error"] += 1


class UdpEndpoint:
    """The node's UDP port: dispatch, timers and awaitable operations (see the module rules)."""

    def __init__(
        self,
        *,
        stun: StunAgent | None = None,
        dht: DhtNode | None = None,
        on_dht_event: Callable[[DhtEvent], None] | None = None,
        on_stun_event: Callable[[StunEvent], None] | None = None,
    ) -> None:
        self.stun = stun if stun is not None else StunAgent()
        self.dht = dht
        self.on_dht_event = on_dht_event
        self.on_stun_event = on_stun_event
        self.errors: Counter[str] = Counter()
        self.dispatched: Counter[str] = Counter()
        self._handler: DatagramHandler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._send: DatagramSender | None = None
        self._dual_stack = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None
        self._lookups: dict[int, asyncio.Future[DhtEvent]] = {}
        self._bootstraps: list[asyncio.Future[BootstrapFinished]] = []
        self._bindings: dict[bytes, asyncio.Future[StunEvent]] = {}

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        """Binds the socket (port 0: any free port) and starts dispatching."""
        if self._loop is not None:
            raise LocalProtocolError("the endpoint is already running")
        loop = asyncio.get_running_loop()
        sock = _bind(host, port)
        self._dual_stack = sock.family == socket.AF_INET6
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        except BaseException:
            sock.close()
            raise
        self._transport = transport
        self._loop = loop
        self._send = self._send_on_socket
        self._flush()

    def attach(self, send: DatagramSender) -> None:
        """Runs over a socket owned elsewhere: `send` puts a datagram on it, and the owner
        feeds every datagram that is not its own to `receive` (or `receive_threadsafe`)."""
        if self._loop is not None:
            raise LocalProtocolError("the endpoint is already running")
        self._loop = asyncio.get_running_loop()
        self._send = send
        self._flush()

    def close(self) -> None:
        """Closes the socket (when it is ours), stops the timer and cancels what is awaited."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        self._send = None
        self._loop = None
        for lookup in self._lookups.values():
            lookup.cancel()
        for bootstrap in self._bootstraps:
            bootstrap.cancel()
        for binding in self._bindings.values():
            binding.cancel()
        self._lookups.clear()
        self._bootstraps.clear()
        self._bindings.clear()

    @property
    def running(self) -> bool:
        return self._loop is not None

    @property
    def local_address(self) -> Address:
        """The address the socket is bound to (host as bound, the actual port)."""
        if self._transport is None:
            raise LocalProtocolError("the endpoint has no socket of its own")
        name = self._transport.get_extra_info("sockname")
        return (str(name[0]), int(name[1]))

    def set_datagram_handler(self, handler: DatagramHandler | None) -> None:
        """`handler(data, source)` receives every datagram that is neither STUN nor DHT."""
        self._handler = handler

    # -- datagrams ----------------------------------------------------------------------------

    def send_datagram(self, data: bytes, address: Address) -> None:
        """Sends a datagram of another protocol (the handler's) from the shared socket."""
        if self._send is None:
            raise LocalProtocolError("the endpoint is not running")
        self._send(data, address)

    def receive_threadsafe(self, data: bytes, source: Address) -> None:
        """`receive` from another thread (the WireGuard engine's inbound thread)."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self.receive, data, source)

    def receive(self, data: bytes, source: Address) -> None:
        """Dispatches one datagram from `source` (see the module rules)."""
        if self._loop is None:
            return
        try:
            source = normalize_address(*source)
        except ValueError:
            self.errors["bad source address"] += 1
            return
        now = self._loop.time()
        kind = classify(data)
        self.dispatched[kind.value] += 1
        try:
            if kind is DatagramKind.STUN:
                self.stun.receive_datagram(data, source, now)
            elif kind is DatagramKind.DHT:
                if self.dht is None:
                    self.errors["DHT datagram, no DHT"] += 1
                else:
                    self.dht.receive_datagram(data, source, now)
            elif self._handler is None:
                self.errors[f"{kind.value} datagram, no handler"] += 1
            else:
                self._handler(data, source)
        except Exception:  # the cores promise not to raise; never trust a promise
            logger.exception("a datagram from %s escaped its protocol's checks", source)
            self.errors["protocol error"] += 1
        self._flush()

    def _send_on_socket(self, data: bytes, address: Address) -> None:
        transport = self._transport
        if transport is None:
            return
        host, port = address
        if self._dual_stack and ":" not in host:
            host = _MAPPED_PREFIX + host
        try:
            transport.sendto(data, (host, port))
        except OSError:
            self.errors["send error"] += 1

    # -- the cores' output and timers ----------------------------------------------------------

    def _flush(self) -> None:
        """Sends what the cores queued, hands their events on and re-arms the timer."""
        send = self._send
        if send is None:
            return
        for data, address in self.stun.datagrams_to_send():
            send(data, address)
        stun_event = self.stun.next_event()
        while stun_event is not None:
            self._stun_event(stun_event)
            stun_event = self.stun.next_event()
        dht = self.dht
        deadline = self.stun.get_timer()
        if dht is not None:
            for data, address in dht.datagrams_to_send():
                send(data, address)
            dht_event = dht.next_event()
            while dht_event is not None:
                self._dht_event(dht_event)
                dht_event = dht.next_event()
            dht_deadline = dht.get_timer()
            if dht_deadline is not None and (deadline is None or dht_deadline < deadline):
                deadline = dht_deadline
        self._arm(deadline)

    def _arm(self, deadline: float | None) -> None:
        if deadline == self._timer_deadline and (deadline is None or self._timer is not None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline = deadline
        if deadline is not None and self._loop is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_deadline = None
        if self._loop is None:
            return
        now = self._loop.time()
        try:
            self.stun.handle_timer(now)
            if self.dht is not None:
                self.dht.handle_timer(now)
        except Exception:
            logger.exception("a protocol timer failed")
            self.errors["timer error"] += 1
        self._flush()

    def _stun_event(self, event: StunEvent) -> None:
        future = self._bindings.pop(event.transaction_id, None)
        if future is not None and not future.done():
            future.set_result(event)
        if self.on_stun_event is not None:
            self.on_stun_event(event)

    def _dht_event(self, event: DhtEvent) -> None:
        if isinstance(event, BootstrapFinished):
            waiting, self._bootstraps = self._bootstraps, []
            for bootstrap in waiting:
                if not bootstrap.done():
                    bootstrap.set_result(event)
        else:
            future = self._lookups.pop(event.lookup_id, None)
            if future is not None and not future.done():
                future.set_result(event)
        if self.on_dht_event is not None:
            self.on_dht_event(event)

    # -- awaitable operations -----------------------------------------------------------------

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise LocalProtocolError("the endpoint is not running")
        return self._loop

    def _require_dht(self) -> DhtNode:
        if self.dht is None:
            raise LocalProtocolError("this endpoint has no DHT")
        return self.dht

    async def request_binding(self, server: Address) -> StunEvent:
        """One STUN Binding transaction with `server` (RFC 5389 §7.2.1 retransmissions):
        `BindingSucceeded` with our mapped address, or `BindingFailed`."""
        loop = self._running_loop()
        future: asyncio.Future[StunEvent] = loop.create_future()
        transaction_id = self.stun.request_binding(normalize_address(*server), loop.time())
        self._bindings[transaction_id] = future
        self._flush()
        return await future

    async def discover_reflexive_address(
        self, servers: Iterable[Address], *, timeout: float | None = None
    ) -> Address | None:
        """Asks every server in `servers` at once and returns our address as most servers
        saw it (`StunAgent.reflexive_address`), or None if none of these answered.

        Without `timeout` it waits for every transaction to end (a silent server takes the
        full 39.5 s of retransmissions); with one it waits at most that long, and what comes
        later still counts towards the next call. A server that already has the most
        transactions outstanding (§7.2) is skipped."""
        loop = self._running_loop()
        tasks = [loop.create_task(self._binding_or_none(server)) for server in servers]
        if not tasks:
            return None
        try:
            done, _ = await asyncio.wait(tasks, timeout=timeout)
        finally:
            for task in tasks:
                task.cancel()  # a no-op for those done
        answered = [task.result() for task in done if not task.cancelled()]  # close() cancels
        if not any(isinstance(result, BindingSucceeded) for result in answered):
            return None
        return self.stun.reflexive_address()

    async def _binding_or_none(self, server: Address) -> StunEvent | None:
        try:
            return await self.request_binding(server)
        except LocalProtocolError:  # too many transactions outstanding to that server
            return None

    async def bootstrap(self, seeds: Iterable[Address]) -> BootstrapFinished:
        dht = self._require_dht()
        loop = self._running_loop()
        future: asyncio.Future[BootstrapFinished] = loop.create_future()
        self._bootstraps.append(future)
        dht.bootstrap(list(seeds), loop.time())
        self._flush()
        return await future

    async def _await_lookup(self, lookup_id: int) -> DhtEvent:
        loop = self._running_loop()
        future: asyncio.Future[DhtEvent] = loop.create_future()
        self._lookups[lookup_id] = future
        self._flush()  # the event may already be queued (a value held locally)
        return await future

    async def find_node(self, target: bytes) -> LookupFinished:
        dht = self._require_dht()
        event = await self._await_lookup(dht.find_node(target, self._running_loop().time()))
        assert isinstance(event, LookupFinished)
        return event

    async def find_value(self, key: bytes) -> LookupFinished:
        dht = self._require_dht()
        event = await self._await_lookup(dht.find_value(key, self._running_loop().time()))
        assert isinstance(event, LookupFinished)
        return event

    async def put(self, key: bytes, value: bytes) -> PutFinished:
        dht = self._require_dht()
        event = await self._await_lookup(dht.put(key, value, self._running_loop().time()))
        assert isinstance(event, PutFinished)
        return event


__all__ = [
    "BindingFailed",
    "BindingSucceeded",
    "DatagramHandler",
    "UdpEndpoint",
]
