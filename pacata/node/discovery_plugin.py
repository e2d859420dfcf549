"""The node's UDP port as a plugin: STUN and the DHT of node records (`NodeDiscovery`, on the
port number of the peer-to-peer plugin's TCP port; docs/p2p-udp.md §In pacatad).

Rules:
- It starts after the peering plugin (whose key, bootnodes, port and record it uses). A UDP port
  that cannot be bound is a warning, not a failure: the TCP side works without it, and the
  status and `GET /api/dht/records/…` say that no DHT runs.
- When the VPN plugin runs, the port is its engine's: this plugin binds nothing, sends through
  the engine's socket and gets from it every datagram that is not WireGuard's (the engine's
  inbound thread hands them over to the event loop). It starts after the VPN plugin and stops
  before it, taking its handler off the engine first.
- It publishes the node's record at start and every record the peering plugin signs later; it
  hears of every peer the TCP side connects to, and hands the reflexive address STUN finds to
  the peering plugin (which may sign a new record).
- It reports `reflexive_address` and `dht` in the status, the DHT gauges in the metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pacata.node.discovery import DhtUnavailable, FoundRecord, NodeDiscovery
from pacata.node.hostport import HostPort
from pacata.node.metrics import Gauge, MetricsRegistry
from pacata.node.peering import PeeringPlugin
from pacata.node.plugins import NodePlugin, PluginHost
from pacata.node.vpn_plugin import VpnPlugin
from pacata.p2p.network import PeerSession
from pacata.rpc.results import DhtCounts

log = logging.getLogger("pacata.node.p2p")


class DiscoveryPlugin(NodePlugin):
    name = "discovery"

    def __init__(self, peering: PeeringPlugin, vpn: VpnPlugin | None = None) -> None:
        self.peering = peering
        self.vpn = vpn
        self.discovery: NodeDiscovery | None = None  # while the UDP port is open

    def register(self, host: PluginHost, metrics: MetricsRegistry) -> None:
        self.host = host
        metrics.add(
            Gauge(
                "pacata_dht_contacts",
                "Nodes in the DHT's routing table.",
                lambda: self._dht_status().contacts,
            )
        )
        metrics.add(
            Gauge(
                "pacata_dht_records",
                "Values the DHT holds here.",
                lambda: self._dht_status().records,
            )
        )

    async def start(self) -> None:
        peering = self.peering
        discovery = NodeDiscovery(
            peering.key, peering.bootnodes, on_reflexive=peering.set_reflexive
        )
        engine = None if self.vpn is None else self.vpn.shared_port
        if engine is not None:
            discovery.attach(engine.send_datagram, peering.config.listen.host, peering.port)
            engine.set_datagram_handler(discovery.udp.receive_threadsafe)
        else:
            try:
                await discovery.start(peering.config.listen.host, peering.port)
            except OSError as exc:
                log.warning("no UDP port %d (STUN, DHT): %s", peering.port, exc.strerror)
                return
        self.discovery = discovery
        peering.network.peer_listeners.append(self._on_peer)
        peering.record_listeners.append(discovery.publish)
        discovery.publish(peering.record)
        self.host.add_task(discovery.run(), "discovery")

    async def stop(self) -> None:
        engine = None if self.vpn is None else self.vpn.shared_port
        if engine is not None:
            engine.set_datagram_handler(None)
        if self.discovery is not None:
            self.discovery.close()
            self.discovery = None

    async def find_record(self, node_id: bytes) -> FoundRecord | None:
        """The DHT's verified record of `node_id`; `DhtUnavailable` when no DHT runs."""
        if self.discovery is None:
            raise DhtUnavailable("this node runs no DHT (its UDP port is not open)")
        return await self.discovery.find_record(node_id)

    def status_fields(self) -> Mapping[str, object]:
        address = None if self.discovery is None else self.discovery.reflexive_address
        return {
            "reflexive_address": None if address is None else str(HostPort(*address)),
            "dht": self._dht_status(),
        }

    def _dht_status(self) -> DhtCounts:
        if self.discovery is None:
            return DhtCounts()
        return DhtCounts(self.discovery.contacts, self.discovery.records)

    def _on_peer(self, session: PeerSession) -> None:
        address = session.udp_address
        if self.discovery is not None and session.node_id is not None and address is not None:
            self.discovery.peer_connected(session.node_id, address)
