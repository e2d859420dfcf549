"""The node's VPN side as a plugin: the userspace WireGuard engine on the node's one UDP port.

With `--vpn` (or `[vpn] enabled = true`), `pacatad` creates the TUN interface `--vpn-interface`
(default `pacata0`) and runs the userspace engine on it, bound to the UDP port of the node's
`--listen` address, the port its record advertises. The engine owns that socket, with its
batched, offloaded data path; the datagrams that are not WireGuard's (STUN, the DHT, probes)
it hands to the discovery plugin's endpoint (`shared_port`), which sends its own through the
engine's socket (docs/p2p-udp.md §In pacatad). A node without `--vpn` needs no TUN, no
capability and no root, and its discovery plugin binds the port itself.

Rules:
- It starts after the peering plugin (whose port and WireGuard key it uses) and before the
  discovery plugin. A TUN that cannot be created or a port that is taken is a `PluginError`
  (the node does not start): asked to run a VPN, the node does not run without one.
- The interface's private key is `wireguard.key` (the record's key) and its port is the node's;
  both are pinned (`wg set` cannot change them, EPERM). Everything else — peers, allowed IPs,
  addresses and routes on the interface — `wg` and `ip` may configure, as for wireguard-go;
  the configuration socket is `/var/run/wireguard/<interface>.sock`.
- The interface going away (`ip link del`) or an engine thread dying stops the node with a
  failure (exit status 1), so a supervisor restarts it; stopping the node closes the engine and
  deletes the interface.
- It reports `vpn` in the status and the interface's peers and bytes in the metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from pacata.node.config import NodeConfig
from pacata.node.metrics import Gauge, MetricsRegistry
from pacata.node.peering import PeeringPlugin
from pacata.node.plugins import NodePlugin, PluginError, PluginHost
from pacata.rpc.results import VpnInfo
from pacata.vpn.config import InterfaceChange, InterfaceStatus
from pacata.vpn.io.engine import UserspaceEngine
from pacata.vpn.io.links import configure_link
from pacata.vpn.io.userspace import UserspaceTunnel

log = logging.getLogger("pacata.node.vpn")

OWNER = "pacatad"


class VpnPlugin(NodePlugin):
    name = "vpn"

    def __init__(self, peering: PeeringPlugin, config: NodeConfig) -> None:
        self.peering = peering
        self.interface = config.vpn_interface
        self.tunnel: UserspaceTunnel | None = None
        self._closed = asyncio.Event()

    def register(self, host: PluginHost, metrics: MetricsRegistry) -> None:
        self.host = host
        metrics.add(
            Gauge(
                "pacata_vpn_peers",
                "WireGuard peers of the node's interface.",
                lambda: _peer_count(self._status()),
            )
        )
        metrics.add(
            Gauge(
                "pacata_vpn_rx_bytes",
                "Bytes received from every WireGuard peer.",
                lambda: _rx_bytes(self._status()),
            )
        )
        metrics.add(
            Gauge(
                "pacata_vpn_tx_bytes",
                "Bytes sent to every WireGuard peer.",
                lambda: _tx_bytes(self._status()),
            )
        )

    @property
    def shared_port(self) -> UserspaceEngine | None:
        """The engine that owns the node's UDP port, while it runs."""
        return None if self.tunnel is None else self.tunnel.engine

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        port = self.peering.port

        def interface_gone() -> None:  # on an engine thread
            loop.call_soon_threadsafe(self._closed.set)

        try:
            # In a thread: pyroute2 runs an event loop of its own, which it cannot in this one.
            tunnel = await asyncio.to_thread(
                UserspaceTunnel.create,
                self.interface,
                serve_uapi=True,
                port=port,
                on_closed=interface_gone,
            )
        except OSError as exc:
            raise PluginError(
                f"--vpn: cannot create interface {self.interface} on UDP port {port}: "
                f"{exc.strerror or exc} (the VPN side needs CAP_NET_ADMIN and a free port)"
            ) from None
        self.tunnel = tunnel
        tunnel.apply(InterfaceChange(private_key=self.peering.wireguard_secret))
        tunnel.engine.pin_identity(OWNER)
        await asyncio.to_thread(configure_link, tunnel.name, up=True)
        log.info(
            "VPN interface %s up on UDP port %d (configuration socket %s)",
            tunnel.name,
            tunnel.engine.listen_port,
            tunnel.server and tunnel.server.path,
        )
        self.host.add_task(self._watch(), "vpn")

    async def _watch(self) -> None:
        await self._closed.wait()
        raise PluginError(f"the VPN interface {self.interface} went away")

    async def stop(self) -> None:
        if self.tunnel is not None:
            tunnel, self.tunnel = self.tunnel, None
            await asyncio.to_thread(tunnel.close)
            log.info("VPN interface %s closed", self.interface)

    def status_fields(self) -> Mapping[str, object]:
        status = self._status()
        if status is None:
            return {}
        return {
            "vpn": VpnInfo(
                interface=self.interface,
                public_key=self.peering.wireguard_key,
                listen_port=status.listen_port,
                peers=_peer_count(status),
                rx_bytes=_rx_bytes(status),
                tx_bytes=_tx_bytes(status),
            )
        }

    def _status(self) -> InterfaceStatus | None:
        return None if self.tunnel is None else self.tunnel.status()


def _peer_count(status: InterfaceStatus | None) -> int:
    return 0 if status is None else len(status.peers)


def _rx_bytes(status: InterfaceStatus | None) -> int:
    return 0 if status is None else sum(peer.rx_bytes for peer in status.peers)


def _tx_bytes(status: InterfaceStatus | None) -> int:
    return 0 if status is None else sum(peer.tx_bytes for peer in status.peers)
