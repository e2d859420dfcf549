"""An in-memory network of WireGuard devices on the manual clock, for tests built on the core.

Like trio's `testing` package, this is public so that the tests of code built on the core (the
userspace tunnel, the relay) can drive devices the way `tests/vpn` does. Nothing here sleeps or
opens a socket: time moves only when the test calls `advance` or `run_until`, and datagrams move
only when it calls `flush` or `deliver` (or takes them with `take`). Randomness comes from one
seeded `random.Random`, so a run is reproducible.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from pacata.testing.clock import ManualClock
from pacata.vpn.wireguard.device import Device
from pacata.vpn.wireguard.events import Address, Event, PacketReceived
from pacata.vpn.wireguard.parameters import DEFAULT_PARAMETERS, ProtocolParameters


def ipv4_packet(payload: bytes, source: str = "10.0.0.1", destination: str = "10.0.0.2") -> bytes:
    """A minimal IPv4 packet (no options, checksum left zero: the core does not look at it)."""
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(payload),
        0,
        0,
        64,
        17,
        0,
        bytes(int(part) for part in source.split(".")),
        bytes(int(part) for part in destination.split(".")),
    )
    return header + payload


def ipv6_packet(payload: bytes) -> bytes:
    """A minimal IPv6 packet from :: to ::1."""
    header = struct.pack("!IHBB16s16s", 6 << 28, len(payload), 17, 64, bytes(16), bytes(15) + b"\1")
    return header + payload


@dataclass
class Node:
    """A device at an address, and the events it produced so far."""

    name: str
    device: Device
    address: Address
    events: list[Event] = field(default_factory=list)
    # Datagrams the fast path produced, in order with those the device queued before them.
    outbox: list[tuple[bytes, Address]] = field(default_factory=list)

    @property
    def public_key(self) -> bytes:
        return self.device.public_key

    def packets(self) -> list[bytes]:
        """The inner packets received so far."""
        return [event.packet for event in self.events if isinstance(event, PacketReceived)]

    def events_of(self, kind: type) -> list[Event]:
        return [event for event in self.events if isinstance(event, kind)]


@dataclass
class Transmission:
    """One datagram on the wire, and when it was taken from its sender."""

    sender: Node
    source: Address
    destination: Address
    datagram: bytes
    time: float = 0.0


class Testbed:
    """Devices wired through a perfect in-memory network, deterministic given the seed."""

    __test__ = False
    # With the fast path, `send` and `deliver` try the device's transport fast path first
    # (`seal_packet`, `open_packet`), as the userspace engine does for lone packets. Tests of
    # the core run under both settings (tests/vpn/conftest.py).
    fast_path_default = False

    def __init__(
        self,
        parameters: ProtocolParameters = DEFAULT_PARAMETERS,
        seed: int = 7,
        *,
        fast_path: bool | None = None,
    ) -> None:
        self.fast_path = self.fast_path_default if fast_path is None else fast_path
        self.parameters = parameters
        self.clock = ManualClock()
        self.random = random.Random(seed)
        self.nodes: dict[Address, Node] = {}
        self.not_wireguard: list[tuple[Node, bytes]] = []

    def add_node(self, name: str, address: Address, *, private_key: bytes | None = None) -> Node:
        key = private_key if private_key is not None else self.random.randbytes(32)
        device = Device(
            key,
            parameters=self.parameters,
            random_bytes=self.random.randbytes,
            random_fraction=self.random.random,
        )
        node = Node(name, device, address)
        self.nodes[address] = node
        return node

    def pair(
        self, *, preshared_key: bytes | None = None, persistent_keepalive: float | None = None
    ) -> tuple[Node, Node]:
        """Two nodes, each the other's peer, each knowing the other's endpoint."""
        alice = self.add_node("alice", ("192.0.2.1", 51820))
        bob = self.add_node("bob", ("198.51.100.2", 51820))
        alice.device.add_peer(
            bob.public_key,
            preshared_key=preshared_key,
            endpoint=bob.address,
            persistent_keepalive=persistent_keepalive,
        )
        bob.device.add_peer(
            alice.public_key,
            preshared_key=preshared_key,
            endpoint=alice.address,
            persistent_keepalive=persistent_keepalive,
        )
        return alice, bob

    def move(self, node: Node, address: Address) -> None:
        """`node` now sends from (and is reachable at) `address`, as after a NAT rebinding."""
        del self.nodes[node.address]
        node.address = address
        self.nodes[address] = node

    # -- driving ------------------------------------------------------------------------------

    def send(self, node: Node, peer: Node, packet: bytes) -> None:
        device = node.device
        if self.fast_path:
            sealed = device.seal_packet(peer.public_key, packet, self.clock.now)
            if sealed is not None:
                node.outbox += device.datagrams_to_send()
                node.outbox.append(sealed)
                return
        device.send_packet(peer.public_key, packet, self.clock.now, self.clock.wall)
        self._collect_events(node)

    def take(self, node: Node) -> list[Transmission]:
        """The datagrams `node` wants to send, removed from it and not delivered."""
        outgoing = node.outbox + node.device.datagrams_to_send()
        node.outbox = []
        return [
            Transmission(node, node.address, destination, datagram, self.clock.now)
            for datagram, destination in outgoing
        ]

    def deliver(self, transmission: Transmission, *, source: Address | None = None) -> bool:
        """Hands one datagram to the node at its destination; returns what the device said."""
        receiver = self.nodes.get(transmission.destination)
        if receiver is None:
            return False
        origin = transmission.source if source is None else source
        if self.fast_path:
            opened = receiver.device.open_packet(transmission.datagram, origin, self.clock.now)
            if opened is not None:
                peer, packet = opened
                if packet:
                    receiver.events.append(PacketReceived(peer, packet))
                return True
        accepted = receiver.device.receive_datagram(
            transmission.datagram, origin, self.clock.now, self.clock.wall
        )
        self._collect_events(receiver)
        return accepted

    def flush(self, *, max_rounds: int = 50) -> list[Transmission]:
        """Delivers datagrams until the network is quiet; returns everything delivered."""
        delivered: list[Transmission] = []
        for _ in range(max_rounds):
            pending = [item for node in list(self.nodes.values()) for item in self.take(node)]
            if not pending:
                return delivered
            for transmission in pending:
                self.deliver(transmission)
                delivered.append(transmission)
        raise RuntimeError(f"the network did not settle in {max_rounds} rounds")

    def drain(self) -> list[Transmission]:
        """Discards every datagram waiting to be sent (a network outage)."""
        return [item for node in self.nodes.values() for item in self.take(node)]

    def next_timer(self) -> float | None:
        deadlines = [
            deadline
            for node in self.nodes.values()
            if (deadline := node.device.get_timer()) is not None
        ]
        return min(deadlines) if deadlines else None

    def run_until(self, when: float, *, deliver: bool = True) -> list[Transmission]:
        """Advances the clock to `when`, firing every timer on the way (in order) and, unless
        `deliver` is false, delivering what they send. Returns what went on the wire."""
        wire: list[Transmission] = []
        while (deadline := self.next_timer()) is not None and deadline <= when:
            self.clock.now = max(self.clock.now, deadline)
            for node in list(self.nodes.values()):
                timer = node.device.get_timer()
                if timer is not None and timer <= self.clock.now:
                    node.device.handle_timer(self.clock.now, self.clock.wall)
                    self._collect_events(node)
            wire.extend(self.flush() if deliver else self.drain())
        self.clock.now = max(self.clock.now, when)
        return wire

    def advance(self, seconds: float, *, deliver: bool = True) -> list[Transmission]:
        return self.run_until(self.clock.now + seconds, deliver=deliver)

    def _collect_events(self, node: Node) -> None:
        while (event := node.device.next_event()) is not None:
            node.events.append(event)
