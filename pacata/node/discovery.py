"""The node's UDP port in `pacatad`: STUN for everyone, the Kademlia DHT of node records, and
the node's reflexive address learned from its peers (docs/p2p-udp.md §In pacatad).

    discovery = NodeDiscovery(node_key, bootnodes, on_reflexive=record_gains_it)
    await discovery.start(host, port)                  # OSError if the port cannot be bound
    discovery.publish(record)                          # now, and whenever the record changes
    discovery.peer_connected(node_id, udp_address)     # from the TCP side, per handshake
    service.add_task(discovery.run(), "discovery")
    found = await discovery.find_record(node_id)       # FoundRecord or None
    discovery.close()

Rules:

- One `UdpEndpoint` on the `--listen` host with the TCP port's number. Its `DhtNode` signs
  with the node key and holds node records under node ids: `validate_record_value` (decodes,
  verifies, its node id is the key) and `newer_record_value` (`supersedes`) from
  `pacata/p2p/records.py`.
- Joining: a bootstrap from the bootnodes' UDP addresses (their host resolved, the same port
  number as their TCP address), then one from the peers the TCP side connects to that the
  routing table lacks. One bootstrap at a time: peers that connect meanwhile wait for the next
  round, in one batch. A round runs at once when there is news (a peer, a record), else every
  `ROUND_INTERVAL_S` (a round with nothing due sends nothing); a node whose table is empty
  starts over from the bootnodes every `REJOIN_INTERVAL_S`.
- Publishing: the node's record goes under its node id after the first bootstrap, again each
  time `publish` gives a new one, and again at a round that finds the routing table larger
  than at the last put while that put reached fewer than k nodes (a small network's first put
  reaches few, and a bootnode's reaches none); besides, the `DhtNode` republishes every
  30 min.
- Reflexive address: a STUN Binding to each bootnode at start and to each peer when it
  connects, and to the last `STUN_PEERS` peers every `STUN_INTERVAL_S`; each round waits at
  most `STUN_DEADLINE_S`, beside the joining and publishing. The reflexive address is the one
  most servers report (`StunAgent.reflexive_address`); a change is logged and handed to
  `on_reflexive`.
- `find_record` answers from the local store first (our own record, or a value held: 0
  hops), else runs an iterative lookup, waiting at most `LOOKUP_DEADLINE_S`.
- Nothing here stops the node: an operation the DHT refuses for now (too many lookups) is
  logged and retried at the next round; `run` ends only when it is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from pacata.chain.keys import PrivateKey
from pacata.errors import LocalProtocolError, PacataError
from pacata.node.hostport import HostPort
from pacata.p2p.dht import DhtConfig, DhtNode
from pacata.p2p.peers import DialAddress
from pacata.p2p.records import NodeRecord, newer_record_value, validate_record_value
from pacata.p2p.udp_address import Address, normalize_address
from pacata.p2p.udp_endpoint import DatagramSender, UdpEndpoint

ROUND_INTERVAL_S = 5.0
REJOIN_INTERVAL_S = 30.0
STUN_DEADLINE_S = 5.0
STUN_INTERVAL_S = 300.0
STUN_PEERS = 8
LOOKUP_DEADLINE_S = 10.0
MAX_REMEMBERED_PEERS = 64

log = logging.getLogger("pacata.node.p2p")


class DhtUnavailable(PacataError):
    """The node runs no DHT (its UDP port is not open), or it is too busy for another lookup."""


@dataclass(frozen=True, slots=True)
class FoundRecord:
    """A node record the DHT gave: verified, under its node id. `hops` is 0 for one held here."""

    record: NodeRecord
    hops: int
    queries: int

    @property
    def local(self) -> bool:
        return self.queries == 0


class NodeDiscovery:
    """The DHT and STUN on the node's UDP port (see the module rules)."""

    def __init__(
        self,
        key: PrivateKey,
        bootnodes: Sequence[DialAddress],
        *,
        on_reflexive: Callable[[Address], None],
        dht_config: DhtConfig | None = None,
    ) -> None:
        self.key = key
        self.bootnodes = tuple(bootnodes)
        self.on_reflexive = on_reflexive
        self.dht = DhtNode(
            key,
            validate=validate_record_value,
            newer=newer_record_value,
            config=dht_config,
        )
        self.udp = UdpEndpoint(dht=self.dht)
        self.reflexive_address: Address | None = None
        self._record: NodeRecord | None = None
        self._publish_due = False
        self._published_contacts = 0
        self._published_reach = 0
        self._joined = False
        self._local: Address | None = None
        self._bootnode_addresses: list[Address] = []
        self._seeds: dict[Address, bytes | None] = {}
        self._stun_servers: dict[Address, None] = {}
        self._peers: OrderedDict[bytes, Address] = OrderedDict()
        self._wake = asyncio.Event()

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> None:
        """Binds the UDP port; `OSError` if it cannot be bound."""
        await self.udp.start(host, port)
        self._set_local(*self.udp.local_address)

    def attach(self, send: DatagramSender, host: str, port: int) -> None:
        """Runs on a UDP port owned elsewhere (the VPN engine's), reached at (host, port):
        `send` puts a datagram on it, and its owner hands every datagram that is not its own
        to `self.udp.receive_threadsafe`."""
        self.udp.attach(send)
        self._set_local(host, port)

    def _set_local(self, host: str, port: int) -> None:
        try:
            self._local = normalize_address(host, port)
        except ValueError:
            self._local = None

    def close(self) -> None:
        self.udp.close()

    @property
    def node_id(self) -> bytes:
        return self.dht.node_id

    @property
    def contacts(self) -> int:
        """Nodes in the DHT's routing table."""
        return len(self.dht.table)

    @property
    def records(self) -> int:
        """Values the DHT holds here (ours included)."""
        return self.dht.record_count()

    # -- inputs -------------------------------------------------------------------------------

    def publish(self, record: NodeRecord) -> None:
        """Puts `record` (ours, newer than the last) under our node id at the next round."""
        if record.node_id != self.node_id:
            raise ValueError("the DHT publishes this node's own record only")
        self._record = record
        self._publish_due = True
        self._wake.set()

    def peer_connected(self, node_id: bytes, address: Address) -> None:
        """The TCP side connected to `node_id`, whose UDP port is `address`."""
        if node_id == self.node_id:
            return
        self._peers.pop(node_id, None)
        self._peers[node_id] = address
        while len(self._peers) > MAX_REMEMBERED_PEERS:
            self._peers.popitem(last=False)
        if node_id not in self.dht.table:
            self._seeds[address] = node_id
        self._stun_servers[address] = None
        self._wake.set()

    async def find_record(
        self, node_id: bytes, deadline_s: float = LOOKUP_DEADLINE_S
    ) -> FoundRecord | None:
        """The newest record of `node_id` this node holds, else the first valid one an
        iterative lookup finds within `deadline_s`; None if there is none."""
        if not self.udp.running:
            raise DhtUnavailable("the DHT is not running")
        if node_id == self.node_id and self._record is not None:
            return FoundRecord(self._record, 0, 0)  # ours: the newest there is
        try:
            found = await asyncio.wait_for(self.udp.find_value(node_id), deadline_s)
        except TimeoutError:
            return None
        except LocalProtocolError as exc:
            raise DhtUnavailable(f"the DHT is busy: {exc}") from None
        if found.value is None:
            return None
        # The DHT returned only what validate_record_value accepted: it decodes and verifies.
        return FoundRecord(NodeRecord.decode(found.value), found.hops, found.queries)

    # -- the task -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Joins, publishes and learns the reflexive address, then keeps at it (the rules)."""
        loop = asyncio.get_running_loop()
        self._bootnode_addresses = await self._resolve(self.bootnodes)
        for address in self._bootnode_addresses:
            self._seeds.setdefault(address, None)
            self._stun_servers[address] = None
        next_stun_round = loop.time() + STUN_INTERVAL_S
        next_rejoin = loop.time() + REJOIN_INTERVAL_S
        while True:
            await self._round()
            try:
                await asyncio.wait_for(self._wake.wait(), ROUND_INTERVAL_S)
            except TimeoutError:
                now = loop.time()
                if not self.contacts and now >= next_rejoin:
                    next_rejoin = now + REJOIN_INTERVAL_S
                    for address in self._bootnode_addresses:
                        self._seeds.setdefault(address, None)
                if now >= next_stun_round:
                    next_stun_round = now + STUN_INTERVAL_S
                    for address in list(self._peers.values())[-STUN_PEERS:]:
                        self._stun_servers[address] = None
            self._wake.clear()

    async def _round(self) -> None:
        seeds, self._seeds = self._seeds, {}
        servers, self._stun_servers = list(self._stun_servers), {}
        # STUN runs beside the rest: a silent server must not hold up joining and publishing.
        stun = asyncio.ensure_future(self._learn_reflexive(servers))
        try:
            await self._join(seeds)
            await self._publish_if_due()
            await stun
        finally:
            stun.cancel()  # done already, unless this task is being cancelled

    async def _join(self, seeds: dict[Address, bytes | None]) -> None:
        addresses = [
            address
            for address, node_id in seeds.items()
            if address != self._local and (node_id is None or node_id not in self.dht.table)
        ]
        if self._joined and not addresses:
            return
        before = self.contacts
        finished = await self.udp.bootstrap(addresses)
        self._joined = True
        if finished.contacts != before:
            log.info(
                "DHT: %d contact%s (joined through %d address%s)",
                finished.contacts,
                "" if finished.contacts == 1 else "s",
                len(addresses),
                "" if len(addresses) == 1 else "es",
            )

    async def _publish_if_due(self) -> None:
        record = self._record
        if record is None:
            return
        contacts = self.contacts
        grown = (
            contacts > self._published_contacts
            and self._published_reach < self.dht.config.bucket_size
        )
        if not self._publish_due and not grown:
            return
        try:
            finished = await self.udp.put(self.node_id, record.encode())
        except LocalProtocolError as exc:
            log.warning("DHT: cannot publish our record now (%s); next round", exc)
            return
        level = logging.INFO if self._publish_due else logging.DEBUG
        if self._record is record:  # else `publish` gave a newer one while this one went out
            self._publish_due = False
        self._published_contacts = contacts
        self._published_reach = finished.stored
        log.log(
            level,
            "DHT: published our node record (seq %d) at %d of %d nodes",
            record.seq,
            finished.stored,
            finished.contacted,
        )

    async def _learn_reflexive(self, servers: list[Address]) -> None:
        servers = [server for server in servers if server != self._local]
        if not servers:
            return
        await self.udp.discover_reflexive_address(servers, timeout=STUN_DEADLINE_S)
        mapped = self.udp.stun.reflexive_address()
        if mapped is None or mapped == self.reflexive_address:
            return
        log.info(
            "reflexive address %s (the address peers see our UDP port at; asked %s)",
            HostPort(*mapped),
            ", ".join(str(HostPort(*server)) for server in servers[:4])
            + (" …" if len(servers) > 4 else ""),
        )
        self.reflexive_address = mapped
        self.on_reflexive(mapped)

    async def _resolve(self, bootnodes: Iterable[DialAddress]) -> list[Address]:
        """The UDP addresses of the bootnodes: their host resolved (IPv4 only on an IPv4
        socket), the same port number."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET
        if self._local is not None and ":" in self._local[0]:
            family = socket.AF_UNSPEC
        resolved: list[Address] = []
        for bootnode in bootnodes:
            try:
                infos = await loop.getaddrinfo(
                    bootnode.host, bootnode.port, family=family, type=socket.SOCK_DGRAM
                )
                address = normalize_address(str(infos[0][4][0]), int(infos[0][4][1]))
            except (OSError, ValueError, IndexError) as exc:
                log.warning("bootnode %s has no UDP address: %s", bootnode, exc)
                continue
            if address not in resolved:
                resolved.append(address)
        return resolved
