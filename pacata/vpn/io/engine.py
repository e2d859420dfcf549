"""The userspace WireGuard engine: TUN ↔ one UDP socket, driven by the sans-I/O `Device`.

The protocol itself is `pacata.vpn.wireguard.Device`; this module moves packets:

- *outbound* (TUN → UDP): reads what the TUN has ready (TCP super-packets are cut into
  segments, `offload.py`), finds each packet's peer by the longest allowed-IPs prefix of its
  destination, hands each peer its batch (`Device.send_packets`) and puts the datagrams on the
  socket, many per system call with UDP GSO;
- *inbound* (UDP → TUN): takes what the socket has ready (UDP GRO), gives WireGuard's datagrams
  to the device (the device finds the session by receiver index), checks the inner source
  address of every decrypted packet against the sending peer's allowed IPs (cryptokey routing)
  and writes what passes to the TUN, runs of TCP segments coalesced into one write; datagrams
  that are not WireGuard messages go to the dispatch hook (`set_datagram_handler`), for the
  node's other protocols sharing the socket (DHT, STUN, probes);
- *timers*: a thread sleeps on a condition until the device's next deadline (or until a
  data-path thread moves it earlier) and runs `Device.handle_timer`.

By default one thread runs both directions (`EngineOptions.data_threads = 1`), polling the TUN
and the socket together; with 2, each direction has its own thread. Either way, a wake-up first
takes one read from each ready descriptor (`_forward_from_tun`, `_forward_from_udp`): the lone
packet of interactive traffic goes through the device's fast path with nothing built around it,
and a descriptor is read in batches only while its reads come back full.

Rules:

- The device is not thread-safe: every call into it holds `_lock`, and nothing blocking happens
  under it (reads, writes and sends are outside). The AEAD of `cryptography` releases the GIL, so
  with a thread per direction the two directions' encryption overlaps.
- Nothing a remote host sends can stop the engine: the device drops and counts bad datagrams,
  inner packets that fail cryptokey routing are dropped and counted in `drops`, and a failure of
  the dispatch hook is logged, not raised.
- The configuration (private key, port, fwmark, peers and their allowed IPs, limits) is applied
  with `apply(InterfaceChange)` and read with `status()`, the same calls as the kernel backend;
  the UAPI server (`uapi_server.py`) is a thin layer over those two. What an interface is —
  key, peers, routes, limits, the `Device` — is `InterfaceState` (`vpn/interface_state.py`,
  sans-I/O), held under `_lock`; this module keeps the socket's part (port, fwmark).
- The interface going away (its TUN read fails) stops the engine and calls `on_closed`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pacata.vpn.config import (
    InterfaceChange,
    InterfaceStatus,
)
from pacata.vpn.interface_state import InterfaceState
from pacata.vpn.io.tun import TunDevice
from pacata.vpn.io.udp import UdpPort, split_segments
from pacata.vpn.offload import (
    EMPTY_VIRTIO_NET_HEADER,
    VIRTIO_NET_HEADER_SIZE,
    OffloadError,
    coalesce_for_writing,
    split_for_sending,
)
from pacata.vpn.rate_limit import PeerLimit
from pacata.vpn.uapi import ConfigurationError
from pacata.vpn.wireguard import (
    DEFAULT_PARAMETERS,
    Device,
    HandshakeCompleted,
    PacketReceived,
    ProtocolParameters,
)
from pacata.vpn.wireguard.events import Address, Event

logger = logging.getLogger(__name__)

DEFAULT_MTU = 1420
_READ_SIZE = 65535 + 64
_READS_PER_BATCH = 64
SMALL_READ = 512
"""After a read shorter than this (a ping, an ACK), poll before reading again."""
_POLL_ERRORS = select.POLLERR | select.POLLHUP | select.POLLNVAL
_HANDSHAKE_TYPES = (b"\x01", b"\x02")
_NO_OFFLOAD_FLAGS = b"\x00\x00"
"""The first two bytes of a virtio-net header (flags, GSO type) of a packet read as it is."""

DatagramHandler = Callable[[bytes, Address], None]
# A transport message around a packet: type, receiver index, counter (16) and the tag (16).
SEALING_OVERHEAD = 32


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Switches for the data path's batching and offloads (each can be turned off, as the
    benchmark does to measure it and as a kill switch for kernels with GSO bugs)."""

    udp_gso: bool = True
    udp_gro: bool = True
    read_batch: int = _READS_PER_BATCH
    # 1: one thread moves both directions (lower round-trip latency: no GIL hand-over);
    # 2: a thread per direction (their AEAD work overlaps).
    data_threads: int = 1
    parameters: ProtocolParameters = DEFAULT_PARAMETERS
    mtu: int = DEFAULT_MTU
    # Handshake messages a second past which the device demands cookies (see `_watch_load`).
    under_load_handshakes_per_second: int = 512


@dataclass(slots=True)
class EngineCounters:
    """What the engine dropped outside the protocol core, by reason."""

    drops: Counter[str] = field(default_factory=Counter)
    handshakes: int = 0


class UserspaceEngine:
    """A WireGuard interface in userspace over a TUN device (or any packet descriptor)."""

    def __init__(
        self,
        tun: TunDevice,
        *,
        options: EngineOptions | None = None,
        on_closed: Callable[[], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        port: int = 0,
    ) -> None:
        self.options = options or EngineOptions()
        self.tun = tun
        self.counters = EngineCounters()
        self._on_closed = on_closed
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._lock = threading.RLock()
        self._timer_condition = threading.Condition()
        self._armed_deadline = float("inf")
        self._state = InterfaceState(tun.name, self.options.parameters, self.options.mtu)
        self._fwmark = 0
        self._udp = UdpPort(port, gso=self.options.udp_gso, gro=self.options.udp_gro)
        self._socket_changed = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._stop_signal = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._datagram_handler: DatagramHandler | None = None
        self._load_second = -1
        self._load_handshakes = 0
        self._stopping = False
        self._closed = False
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        os.set_blocking(self.tun.fd, False)
        loops: list[tuple[str, Callable[[], None]]] = [("timers", self._run_timers)]
        if self.options.data_threads == 1:
            loops.append(("data", self._run_both_directions))
        else:
            loops += [("outbound", self._run_outbound), ("inbound", self._run_inbound)]
        for name, target in loops:
            thread = threading.Thread(
                target=self._run_guarded,
                args=(target,),
                name=f"wg-{self.tun.name}-{name}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()

    def _run_guarded(self, loop: Callable[[], None]) -> None:
        """Runs one of the engine's loops; if it dies of a bug, the engine stops as a whole
        (and its owner is told, through `on_closed`) rather than limping on without it."""
        try:
            loop()
        except Exception:
            logger.exception("%s: engine thread failed; stopping", self.tun.name)
            self._interface_gone()

    def close(self) -> None:
        """Stops the threads and closes the socket (the TUN belongs to the caller)."""
        if self._closed:
            return
        self._closed = True
        self._request_stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
        self._udp.close()
        device = self._state.device
        logger.info(
            "%s closed; engine drops %s, socket drops %s, protocol drops %s, handshakes %d",
            self.tun.name,
            dict(self.counters.drops),
            dict(self._udp.drops),
            dict(device.drops) if device is not None else {},
            self.counters.handshakes,
        )
        os.close(self._socket_changed)
        os.close(self._stop_signal)

    def _request_stop(self) -> None:
        self._stopping = True
        os.eventfd_write(self._stop_signal, 1)
        with self._timer_condition:
            self._timer_condition.notify_all()

    def _interface_gone(self) -> None:
        logger.info("interface %s is gone; stopping", self.tun.name)
        self._request_stop()
        if self._on_closed is not None:
            self._on_closed()

    @property
    def stopped(self) -> bool:
        return self._stopping

    @property
    def listen_port(self) -> int:
        return self._udp.port

    # -- the dispatch hook: other protocols on the same socket --------------------------------

    def set_datagram_handler(self, handler: DatagramHandler | None) -> None:
        """`handler(data, source)` receives every datagram that is not a WireGuard message.
        It runs on the inbound thread: it must not block."""
        self._datagram_handler = handler

    def send_datagram(self, data: bytes, address: Address) -> None:
        """Sends a datagram of another protocol from the shared socket."""
        self._udp.send(data, address)

    # -- configuration ------------------------------------------------------------------------

    def pin_identity(self, owner: str) -> None:
        """From now on the private key and the port are `owner`'s: a change to either (from
        `wg set`, say) is refused with EPERM (`InterfaceState.pin`)."""
        with self._lock:
            self._state.pin(owner)

    def apply(self, change: InterfaceChange) -> None:
        """Applies a configuration change (see `pacata/vpn/config.py`); raises
        `ConfigurationError` (EADDRINUSE when the port is taken, EPERM for a pinned key or
        port)."""
        with self._lock:
            self._state.check_pinned(change, self._udp.port)
            if change.listen_port is not None and change.listen_port != self._udp.port:
                self._rebind(change.listen_port)
            if change.fwmark is not None:
                self._fwmark = change.fwmark
                self._udp.set_fwmark(change.fwmark)
            outgoing = self._state.apply(change, self._monotonic(), self._wall_clock())
            device = self._state.device
            if device is not None:
                self._take_events(device)
        self._udp.send_batch(outgoing)
        self._rearm_timer()

    def _rebind(self, port: int) -> None:
        try:
            replacement = UdpPort(
                port, fwmark=self._fwmark, gso=self.options.udp_gso, gro=self.options.udp_gro
            )
        except OSError as error:
            raise ConfigurationError(
                f"cannot listen on port {port}: {error.strerror}", error.errno or errno.EIO
            ) from None
        old, self._udp = self._udp, replacement
        os.eventfd_write(self._socket_changed, 1)
        old.close()

    def set_peer_limit(self, public_key: bytes, limit: PeerLimit) -> None:
        """Polices a peer's traffic at `limit.rate` bytes a second each way and orders its
        packets by `limit.priority` (pacata/vpn/rate_limit.py); `PeerLimit()` lifts both. The
        limit ends with the peer."""
        with self._lock:
            self._state.set_limit(public_key, limit, self._monotonic())

    def peer_limit(self, public_key: bytes) -> PeerLimit:
        return self._state.limits.get(public_key)

    def set_peer_budget(self, public_key: bytes, budget: int | None) -> None:
        """Caps what the peer may move: its counters (received + sent) may not pass `budget`
        (None: no cap); its rate limit and priority stay."""
        with self._lock:
            limit = replace(self._state.limits.get(public_key), budget=budget)
            self._state.set_limit(public_key, limit, self._monotonic())

    def peer_counters(self) -> dict[bytes, tuple[int, int]]:
        """Each peer's (received, sent) bytes: cheaper than `status()` for a meter."""
        with self._lock:
            return self._state.counters()

    def status(self) -> InterfaceStatus:
        with self._lock:
            return self._state.status(self._udp.port, self._fwmark)

    @property
    def device(self) -> Device | None:
        """The protocol core (for inspection: its `drops`); hold no reference across `apply`."""
        return self._state.device

    # -- events -------------------------------------------------------------------------------

    def _take_events(self, device: Device) -> list[bytes]:
        """Drains the device's events (under `_lock`); returns the inner packets that passed
        cryptokey routing, in order."""
        packets: list[bytes] = []
        while (event := device.next_event()) is not None:
            if type(event) is PacketReceived:
                if self._admitted(event.packet, event.peer):
                    packets.append(event.packet)
            else:
                self._on_event(event)
        return packets

    def _allowed(self, packet: bytes, peer: bytes) -> bool:
        """Cryptokey routing: whether `peer` may send from the inner packet's source address
        (a refusal is counted)."""
        source = packet[12:16] if packet[0] >> 4 == 4 else packet[8:24]
        if self._state.routes.lookup(source) == peer:
            return True
        self.counters.drops["source address not allowed for the peer"] += 1
        return False

    def _admitted(self, packet: bytes, peer: bytes) -> bool:
        """An inner packet from `peer` passes cryptokey routing and the peer's rate limit."""
        if not self._allowed(packet, peer):
            return False
        limits = self._state.limits
        if not limits:
            return True
        if not self._within_budget(peer):
            return False
        if limits.admit(peer, len(packet), self._monotonic(), outbound=False):
            return True
        self.counters.drops["over the peer's rate limit"] += 1
        return False

    def _within_limits(self, peer: bytes, packets: list[bytes]) -> list[bytes]:
        """The packets of an outbound batch to `peer` that its budget and rate let through;
        the budget is counted packet by packet, as the device will count them (each sealed
        packet is 32 bytes longer), so a batch never carries a peer past it."""
        room = self._budget_room(peer)
        kept: list[bytes] = []
        for packet in packets:
            if room is not None:
                size = len(packet) + SEALING_OVERHEAD
                if size > room:
                    self.counters.drops["over the peer's budget"] += 1
                    continue
                room -= size
            if self._state.limits.admit(peer, len(packet), self._monotonic(), outbound=True):
                kept.append(packet)
            else:
                self.counters.drops["over the peer's rate limit"] += 1
        return kept

    def _budget_room(self, peer: bytes) -> int | None:
        """Bytes the peer may still move under its budget (None: no budget)."""
        budget = self._state.limits.budget(peer)
        if budget is None:
            return None
        device = self._state.device
        core = None if device is None else device.peers.get(peer)
        return budget if core is None else max(0, budget - core.rx_bytes - core.tx_bytes)

    def _within_budget(self, peer: bytes) -> bool:
        budget = self._state.limits.budget(peer)
        if budget is None:
            return True
        device = self._state.device
        core = None if device is None else device.peers.get(peer)
        if core is None or core.rx_bytes + core.tx_bytes < budget:
            return True
        self.counters.drops["over the peer's budget"] += 1
        return False

    def _on_event(self, event: Event) -> None:
        if isinstance(event, HandshakeCompleted):
            self.counters.handshakes += 1
        logger.debug("%s", event)

    # -- timers -------------------------------------------------------------------------------

    def _rearm_timer(self) -> None:
        """Wakes the timer thread if the device's next deadline moved before the armed one."""
        with self._timer_condition:
            with self._lock:
                device = self._state.device
                deadline = device.get_timer() if device is not None else None
            if deadline is not None and deadline < self._armed_deadline:
                self._timer_condition.notify()

    def _run_timers(self) -> None:
        condition = self._timer_condition
        with condition:
            while not self._stopping:
                # While awake, "armed" is infinity: any data-path thread that moves a deadline
                # then takes the condition and re-checks once we are waiting again.
                self._armed_deadline = float("inf")
                outgoing: list[tuple[bytes, Address]] = []
                with self._lock:
                    device = self._state.device
                    deadline = device.get_timer() if device is not None else None
                    now = self._monotonic()
                    if device is not None and deadline is not None and deadline <= now:
                        device.handle_timer(now, self._wall_clock())
                        outgoing = device.datagrams_to_send()
                        self._take_events(device)
                        deadline = device.get_timer()
                if outgoing:
                    self._udp.send_batch(outgoing)
                self._armed_deadline = deadline if deadline is not None else float("inf")
                timeout = None if deadline is None else max(0.0, deadline - self._monotonic())
                condition.wait(timeout)

    # -- outbound: TUN → UDP ------------------------------------------------------------------

    def _forward_tun_batch(self) -> bool | None:
        """Sends what the TUN has ready (`_read_tun`); whether to read again before polling,
        None once the interface is gone."""
        result = self._read_tun()
        if result is None:
            return None
        packets, read_again = result
        if packets:
            self._send_inner_packets(packets)
        return read_again

    def _read_tun(self) -> tuple[list[bytes], bool] | None:
        """The packets the TUN has ready (up to `read_batch` reads), segmented, and whether to
        read again before polling; None once the interface is gone.

        Reading stops at the first empty read, and also after a small packet: interactive
        traffic then goes back to `poll` (which returns at once if more is queued) instead of
        paying an empty read, about 0.1 ms of a ping's round trip through two engines on the
        test machine; bulk traffic, in big reads, is drained as before."""
        fd = self.tun.fd
        split = self.tun.vnet_header
        packets: list[bytes] = []
        for _ in range(self.options.read_batch):
            try:
                data = os.read(fd, _READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return packets, False
            except OSError as error:
                self._tun_read_failed(error)
                return None
            if not data:  # end of file: a TUN never says that, a test's socket pair does
                return None
            if split:
                packets += self._segments(data)
            else:
                packets.append(data)
            if len(data) < SMALL_READ:
                return packets, False
        return packets, True

    def _tun_read_failed(self, error: OSError) -> None:
        # EBADFD: the interface was deleted; anything else is as final for us.
        if error.errno != errno.EBADFD:
            logger.error("reading %s failed: %s", self.tun.name, error)

    def _segments(self, data: bytes) -> list[bytes]:
        """The packets of a read with a virtio-net header (none, counted, if malformed)."""
        try:
            return split_for_sending(data)
        except OffloadError:
            self.counters.drops["malformed packet from the TUN"] += 1
            return []

    def _forward_from_tun(self) -> bool | None:
        """One TUN read after a wake-up, the way interactive traffic comes: a lone packet to a
        peer that the device's fast path takes (`Device.seal_packet`) goes out with no batch
        built; anything else takes the general path. Returns whether to read again before
        polling, None once the interface is gone."""
        try:
            data = os.read(self.tun.fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as error:
            self._tun_read_failed(error)
            return None
        if not data:
            return None
        read_again = len(data) >= SMALL_READ
        if not self.tun.vnet_header:
            packet = data
        elif data[:2] == _NO_OFFLOAD_FLAGS and len(data) > VIRTIO_NET_HEADER_SIZE:
            # (no checksum to finish, not a GSO packet)
            packet = data[VIRTIO_NET_HEADER_SIZE:]
        else:
            self._send_inner_packets(self._segments(data))
            return read_again
        peer = self._peer_for(packet)
        if peer is None or (self._state.limits and not self._within_limits(peer, [packet])):
            return read_again
        with self._lock:
            device = self._state.device
            sealed = None if device is None else device.seal_packet(peer, packet, self._monotonic())
            deadline = None if sealed is None or device is None else device.get_timer()
        if sealed is None:
            self._send_inner_packets([packet])
        else:
            self._udp.send(*sealed)
            if deadline is not None and deadline < self._armed_deadline:
                self._rearm_timer()
        return read_again

    def _run_outbound(self) -> None:
        """TUN → UDP, alone on its thread (`EngineOptions.data_threads == 2`)."""
        fd = self.tun.fd
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(self._stop_signal, select.POLLIN)
        read_again: bool | None = True
        while read_again is not None and not self._stopping:
            if read_again:
                read_again = self._forward_tun_batch()
                continue
            for ready_fd, events in poller.poll():
                if ready_fd == fd:
                    read_again = True if events & _POLL_ERRORS else self._forward_from_tun()
        if read_again is None:
            self._interface_gone()

    def _peer_for(self, packet: bytes) -> bytes | None:
        """The peer whose allowed IPs hold the packet's destination (a miss is counted)."""
        version = packet[0] >> 4
        if version == 4:
            destination = packet[16:20]
        elif version == 6:
            destination = packet[24:40]
        else:
            self.counters.drops["not an IP packet"] += 1
            return None
        peer = self._state.routes.lookup(destination)
        if peer is None:
            self.counters.drops["no peer for the destination"] += 1
        return peer

    def _send_inner_packets(self, packets: list[bytes]) -> None:
        batches: dict[bytes, list[bytes]] = {}
        for packet in packets:
            peer = self._peer_for(packet)
            if peer is None:
                continue
            batch = batches.get(peer)
            if batch is None:
                batches[peer] = [packet]
            else:
                batch.append(packet)
        if not batches:
            return
        order: list[bytes] | dict[bytes, list[bytes]] = batches
        if self._state.limits:  # higher tiers first; over-limit packets dropped
            order = self._state.limits.by_priority(batches)
            for peer in order:
                batches[peer] = self._within_limits(peer, batches[peer])
        with self._lock:
            device = self._state.device
            if device is None:
                self.counters.drops["no private key"] += len(packets)
                return
            now, wall = self._monotonic(), self._wall_clock()
            for peer in order:
                batch = batches[peer]
                if batch:
                    device.send_packets(peer, batch, now, wall)
            outgoing = device.datagrams_to_send()
            deadline = device.get_timer()
        self._udp.send_batch(outgoing)
        if deadline is not None and deadline < self._armed_deadline:
            self._rearm_timer()

    # -- inbound: UDP → TUN -------------------------------------------------------------------

    def _watch_socket(
        self, poller: select.poll, watched: tuple[UdpPort, int]
    ) -> tuple[UdpPort, int]:
        """The current socket and its descriptor, registered in `poller` in place of the
        `watched` one if a rebind replaced it. The old descriptor number is kept because the
        old socket is already closed (its `fileno()` is -1); left registered, it would make
        every poll return at once with POLLNVAL."""
        current = self._udp
        udp, fd = watched
        if udp is current:
            return watched
        with contextlib.suppress(KeyError):
            poller.unregister(fd)
        current_fd = current.fileno()
        poller.register(current_fd, select.POLLIN)
        return current, current_fd

    def _run_inbound(self) -> None:
        """UDP → TUN, alone on its thread (`EngineOptions.data_threads == 2`)."""
        watched = (self._udp, self._udp.fileno())
        poller = select.poll()
        poller.register(watched[1], select.POLLIN)
        poller.register(self._stop_signal, select.POLLIN)
        poller.register(self._socket_changed, select.POLLIN)
        read_again = True
        while not self._stopping:
            if watched[0] is not self._udp:
                watched = self._watch_socket(poller, watched)
            if read_again:
                datagrams, read_again = watched[0].receive_batch(self.options.read_batch)
                if datagrams:
                    self._receive_datagrams(datagrams)
                continue
            for ready_fd, _ in poller.poll():
                if ready_fd == self._socket_changed:
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(self._socket_changed)
                    read_again = True
                elif ready_fd != self._stop_signal:
                    read_again = self._forward_from_udp(watched[0]) or read_again

    def _run_both_directions(self) -> None:
        """TUN → UDP and UDP → TUN on one thread (`EngineOptions.data_threads == 1`): no GIL
        hand-over between directions, which is what a round trip pays for. A wake-up first
        takes one read from each ready descriptor (`_forward_from_tun`, `_forward_from_udp`:
        the lone packet of interactive traffic goes straight through); a descriptor is then
        read in batches only while its reads come back full, so that a wake-up costs at most
        one empty read, not one per descriptor per pass."""
        fd = self.tun.fd
        watched = (self._udp, self._udp.fileno())
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(watched[1], select.POLLIN)
        poller.register(self._stop_signal, select.POLLIN)
        poller.register(self._socket_changed, select.POLLIN)
        read_batch = self.options.read_batch
        tun_ready: bool | None = True
        udp_ready = True
        while tun_ready is not None and not self._stopping:
            if watched[0] is not self._udp:
                watched = self._watch_socket(poller, watched)
            if tun_ready:
                tun_ready = self._forward_tun_batch()
                if tun_ready is None:
                    break
            if udp_ready:
                datagrams, udp_ready = watched[0].receive_batch(read_batch)
                if datagrams:
                    self._receive_datagrams(datagrams)
            if tun_ready or udp_ready:
                continue
            for ready_fd, events in poller.poll():
                if ready_fd == fd:
                    tun_ready = True if events & _POLL_ERRORS else self._forward_from_tun()
                elif ready_fd == self._socket_changed:
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(self._socket_changed)
                    udp_ready = True
                elif ready_fd != self._stop_signal:
                    udp_ready = self._forward_from_udp(watched[0]) or udp_ready
        if tun_ready is None:
            self._interface_gone()

    def _forward_from_udp(self, udp: UdpPort) -> bool:
        """One socket read after a wake-up, the way interactive traffic comes: a lone transport
        message that the device's fast path takes (`Device.open_packet`) goes to the TUN with
        no batch built; anything else takes the general path. Returns whether to read again
        before polling."""
        received = udp.receive()
        if received is None:
            return False
        data, source, segment = received
        if segment and len(data) > segment:
            self._receive_datagrams(split_segments(data, source, segment))
            return True
        with self._lock:
            device = self._state.device
            opened = None if device is None else device.open_packet(data, source, self._monotonic())
            deadline = None if opened is None or device is None else device.get_timer()
        if opened is None:
            self._receive_datagrams([(data, source)])
        else:
            peer, packet = opened
            if packet and self._admitted(packet, peer):
                self._write_to_tun(
                    [EMPTY_VIRTIO_NET_HEADER + packet] if self.tun.vnet_header else [packet],
                    ready=True,
                )
            if deadline is not None and deadline < self._armed_deadline:
                self._rearm_timer()
        return len(data) >= SMALL_READ

    def _receive_datagrams(self, datagrams: list[tuple[bytes, Address]]) -> None:
        foreign: list[tuple[bytes, Address]] = []
        with self._lock:
            device = self._state.device
            if device is None:
                foreign = datagrams
                packets: list[bytes] = []
                outgoing: list[tuple[bytes, Address]] = []
                deadline = None
            else:
                now, wall = self._monotonic(), self._wall_clock()
                receive = device.receive_datagram
                self._watch_load(device, datagrams, now)
                for data, source in datagrams:
                    try:
                        if not receive(data, source, now, wall):
                            foreign.append((data, source))
                    except Exception:  # the core promises not to raise; never trust a promise
                        logger.exception("datagram from %s crashed the protocol core", source)
                        self.counters.drops["protocol core error"] += 1
                packets = self._take_events(device)
                outgoing = device.datagrams_to_send()
                deadline = device.get_timer()
        if outgoing:
            self._udp.send_batch(outgoing)
        if packets:
            self._write_to_tun(packets)
        if deadline is not None and deadline < self._armed_deadline:
            self._rearm_timer()
        handler = self._datagram_handler
        for data, source in foreign:
            if handler is None:
                self.counters.drops["not WireGuard, no handler"] += 1
                continue
            try:
                handler(data, source)
            except Exception:
                logger.exception("datagram handler failed on a datagram from %s", source)

    def _watch_load(
        self, device: Device, datagrams: list[tuple[bytes, Address]], now: float
    ) -> None:
        """Decides `device.under_load` (the owner's job, see docs/wireguard.md): handshake
        messages cost a Diffie-Hellman each, so past `under_load_handshakes_per_second` in
        the current second the device demands cookies (mac2) until a calmer second, as Linux
        does when its handshake queue is an eighth full."""
        second = int(now)
        if second != self._load_second:
            self._load_second = second
            self._load_handshakes = 0
            device.under_load = False
        handshakes = sum(1 for data, _ in datagrams if data[:1] in _HANDSHAKE_TYPES)
        if handshakes:
            self._load_handshakes += handshakes
            if self._load_handshakes > self.options.under_load_handshakes_per_second:
                device.under_load = True

    def _write_to_tun(self, packets: list[bytes], *, ready: bool = False) -> None:
        """Writes `packets` to the TUN (coalesced, with virtio-net headers, when the TUN
        takes them), or writes `packets` as they are when they are `ready`."""
        writes = packets if ready or not self.tun.vnet_header else coalesce_for_writing(packets)
        fd = self.tun.fd
        for data in writes:
            try:
                os.write(fd, data)
            except BlockingIOError:
                self.counters.drops["TUN queue full"] += 1
            except OSError as error:
                if error.errno in (errno.EBADFD, errno.EBADF, errno.EIO, errno.ENXIO):
                    self._interface_gone()
                    return
                self.counters.drops["TUN write error"] += 1
