"""An in-memory network of `PeerNetwork` engines on real chains, driven by a manual clock.

Each `MemoryNode` holds a real `Chain` (MemoryStore) and `Mempool` behind a `ChainLedger`;
`MemoryNetwork.connect` joins two nodes as if by TLS (made-up certificate hashes that agree),
and `settle` carries bytes between them until nothing moves. No socket, no wall clock: tests
of gossip, sync and bans run in milliseconds and the same way every time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pacata.chain.chain import Chain
from pacata.chain.genesis import Genesis
from pacata.chain.hashing import sha256
from pacata.chain.keys import PrivateKey
from pacata.chain.kvstore import MemoryStore
from pacata.chain.mempool import Mempool
from pacata.p2p.chain_ledger import ChainLedger
from pacata.p2p.gossip import PeerId
from pacata.p2p.messages import TlsBinding
from pacata.p2p.network import NetworkConfig, PeerNetwork
from pacata.p2p.peers import DialAddress
from pacata.p2p.records import Endpoint, NodeRecord, Transport
from pacata.testing.timer_rule import check_timer_sleeps

FAR_FUTURE_MS = 2**62  # the ledgers' clock: no block is ever from the future here
LISTEN_PORT = 9741


@dataclass
class MemoryNode:
    index: int
    key: PrivateKey
    chain: Chain
    mempool: Mempool
    ledger: ChainLedger
    network: PeerNetwork

    @property
    def host(self) -> str:
        return f"10.0.0.{self.index}"


@dataclass
class MemoryNetwork:
    genesis: Genesis
    now: float = 0.0
    nodes: list[MemoryNode] = field(default_factory=list)
    links: dict[tuple[int, PeerId], tuple[int, PeerId]] = field(default_factory=dict)

    def add_node(
        self, config_changes: dict[str, object] | None = None, *, advertise: bool = False
    ) -> MemoryNode:
        """A new node; with `advertise`, its record names its TCP address (`LISTEN_PORT` at
        its host), so that peers learn it and may dial it (`take_dials`)."""
        index = len(self.nodes) + 1
        key = PrivateKey(sha256(f"memory node {index}".encode()))
        chain = Chain(MemoryStore(), self.genesis)
        mempool = Mempool(chain)
        ledger = ChainLedger(chain, mempool, lambda: FAR_FUTURE_MS)
        endpoints = (Endpoint(Transport.TCP, f"10.0.0.{index}", LISTEN_PORT),) if advertise else ()
        record = NodeRecord.create(key, 1, endpoints, bytes(32))
        config = NetworkConfig(key, record, **(config_changes or {}))  # type: ignore[arg-type]
        node = MemoryNode(index, key, chain, mempool, ledger, PeerNetwork(ledger, config))
        self.nodes.append(node)
        return node

    def connect(self, dialer: MemoryNode, listener: MemoryNode) -> tuple[PeerId, PeerId]:
        out_id = dialer.network.new_peer_id()
        in_id = listener.network.new_peer_id()
        self.links[(dialer.index, out_id)] = (listener.index, in_id)
        self.links[(listener.index, in_id)] = (dialer.index, out_id)
        cert_dialer = sha256(f"cert {dialer.index} {out_id}".encode())
        cert_listener = sha256(f"cert {listener.index} {in_id}".encode())
        address = DialAddress(listener.host, LISTEN_PORT)
        dialer.network.connection_made(
            out_id, address, address, TlsBinding(cert_dialer, cert_listener), self.now
        )
        listener.network.connection_made(
            in_id,
            DialAddress(dialer.host, 40000 + out_id),
            None,
            TlsBinding(cert_listener, cert_dialer),
            self.now,
        )
        self.settle()
        return out_id, in_id

    def disconnect(self, node: MemoryNode, peer: PeerId) -> None:
        """The link breaks under both ends (no Disconnect message)."""
        other_index, other_peer = self.links.pop((node.index, peer))
        self.links.pop((other_index, other_peer), None)
        node.network.connection_lost(peer, self.now)
        self.nodes[other_index - 1].network.connection_lost(other_peer, self.now)
        self.settle()

    def settle(self, max_rounds: int = 100_000) -> int:
        """Carries bytes until nothing moves; returns how many deliveries it made."""
        deliveries = 0
        for _ in range(max_rounds):
            moved = False
            for node in self.nodes:
                for peer, data in node.network.take_transmissions():
                    target = self.links.get((node.index, peer))
                    if target is not None:
                        moved = True
                        deliveries += 1
                        self.nodes[target[0] - 1].network.receive_data(target[1], data, self.now)
                for peer in node.network.take_closed():
                    target = self.links.pop((node.index, peer), None)
                    if target is not None:
                        moved = True
                        self.links.pop(target, None)
                        self.nodes[target[0] - 1].network.connection_lost(target[1], self.now)
            if not moved:
                return deliveries
        raise AssertionError("the in-memory network did not settle")

    def take_dials(self) -> None:
        """Carries out the dials the nodes ask for, until they ask for none (a connection
        teaches new addresses): a node's address connects to it, any other fails at once."""
        dialed = True
        while dialed:
            dialed = False
            for node in self.nodes:
                for address in node.network.take_dials(self.now):
                    dialed = True
                    target = next(
                        (n for n in self.nodes if address == DialAddress(n.host, LISTEN_PORT)),
                        None,
                    )
                    if target is None:
                        node.network.dial_failed(address, self.now)
                    else:
                        self.connect(node, target)

    def advance(self, seconds: float) -> None:
        """Moves the clock, firing every timer that falls due, in order, as the asyncio
        adapter does (timers, then what they send, then their dials).

        Raises `AssertionError` when a node's timer is still at or before the clock once it
        ran: a deadline that stays in the past is a busy loop in a real node."""
        end = self.now + seconds
        while True:
            due = [
                (timer, node)
                for node in self.nodes
                if (timer := node.network.get_timer()) is not None and timer <= end
            ]
            if not due:
                break
            timer, node = min(due, key=lambda item: item[0])
            self.now = max(self.now, timer)
            node.network.handle_timer(self.now)
            self.settle()
            self.take_dials()
            check_timer_sleeps(f"node {node.index}", self.now, node.network.get_timer())
        self.now = end
