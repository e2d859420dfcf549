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

Channels (docs/paid-tunnels.md §Gating): the chain is the control plane. The node's account
(`account.key`) pays for its tunnels and, with `--relay`, earns for the ones it carries.
`ChannelPeers` (pacata/vpn/channel_peers.py) follows the channels of that account — fed the
changed channel records of every block, and every record again after a reorganisation — and
after each block the plan it makes is applied to the engine: a relay admits a client's tunnel
key once its `CHANNEL_OPEN` is `--vpn-confirmations` deep and removes it when the channel
expires, is used up, closes or is reorganised away; a client adds its relay's key and endpoint
from the relay's offer. A key with no channel is no peer, and the engine answers no handshake
of an unknown key. The interface carries the node's overlay address (pacata/vpn/overlay.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from pacata.chain.keys import Address
from pacata.chain.transactions import RelayOffer
from pacata.node.config import NodeConfig
from pacata.node.endpoints import Endpoint
from pacata.node.key_files import load_or_create_account_key
from pacata.node.metrics import Gauge, MetricsRegistry
from pacata.node.peering import PeeringPlugin
from pacata.node.plugins import (
    BlockConnected,
    BlockDisconnected,
    NodeEvent,
    NodePlugin,
    PluginError,
    PluginHost,
)
from pacata.node.vpn_api import VpnApi
from pacata.node.vpn_chain import (
    AccountTransactions,
    changed_channel_ids,
    channel_of,
    channel_records,
    relay_of,
)
from pacata.rpc.results import VpnInfo
from pacata.vpn.channel_peers import ChannelPeers, PeerPlan
from pacata.vpn.config import InterfaceChange, InterfaceStatus, PeerChange
from pacata.vpn.io.engine import UserspaceEngine
from pacata.vpn.io.links import configure_link
from pacata.vpn.io.userspace import UserspaceTunnel
from pacata.vpn.overlay import overlay_interface

log = logging.getLogger("pacata.node.vpn")

OWNER = "pacatad"
# A client keeps the NAT mapping to its relay open, as `wg`'s usual 25 s does.
CLIENT_KEEPALIVE_S = 25


class VpnPlugin(NodePlugin):
    name = "vpn"

    def __init__(self, peering: PeeringPlugin, config: NodeConfig, datadir: Path) -> None:
        self.peering = peering
        self.service = peering.service
        self.interface = config.vpn_interface
        self.relay = config.relay
        account = load_or_create_account_key(datadir)
        self.account = AccountTransactions(self.service, account)
        self.channels = ChannelPeers(
            account.address, account.public_key, confirmations=config.vpn_confirmations
        )
        self.tunnel: UserspaceTunnel | None = None
        self._closed = asyncio.Event()
        self._resync = True

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
        address = overlay_interface(self.peering.wireguard_key)
        await asyncio.to_thread(configure_link, tunnel.name, addresses=[address], up=True)
        log.info(
            "VPN interface %s up on UDP port %d, overlay address %s, account %s%s",
            tunnel.name,
            tunnel.engine.listen_port,
            address.ip,
            self.account.address,
            " (relay)" if self.relay else "",
        )
        self._follow_chain()
        self.host.add_task(self._watch(), "vpn")

    async def _watch(self) -> None:
        await self._closed.wait()
        raise PluginError(f"the VPN interface {self.interface} went away")

    async def stop(self) -> None:
        if self.tunnel is not None:
            tunnel, self.tunnel = self.tunnel, None
            await asyncio.to_thread(tunnel.close)
            log.info("VPN interface %s closed", self.interface)

    # -- the chain as the control plane ---------------------------------------------------------

    def on_event(self, event: NodeEvent) -> None:
        if isinstance(event, BlockDisconnected):
            self._resync = True
            return
        if not isinstance(event, BlockConnected):
            return
        if event.changed_keys is None:
            self._resync = True
        elif not self._resync:
            chain = self.service.chain
            for channel_id in changed_channel_ids(event.changed_keys):
                self.channels.observe(channel_id, channel_of(chain, channel_id))
        if self.tunnel is not None:
            self._follow_chain()

    def _follow_chain(self) -> None:
        chain = self.service.chain
        if self._resync:
            self.channels.resync(channel_records(chain))
            self._resync = False
        self._apply(self.channels.plan(chain.height, self._offer_of))

    def _offer_of(self, relay: Address) -> RelayOffer | None:
        record = relay_of(self.service.chain, relay)
        return None if record is None else record.offer

    def _apply(self, plan: PeerPlan) -> None:
        if not plan or self.tunnel is None:
            return
        changes = [PeerChange(key, remove=True) for key in plan.remove]
        for peer in plan.add:
            changes.append(
                PeerChange(
                    peer.public_key,
                    endpoint=peer.endpoint,
                    persistent_keepalive=CLIENT_KEEPALIVE_S if peer.role == "client" else None,
                    replace_allowed_ips=True,
                    allowed_ips=peer.allowed_ips,
                )
            )
        self.tunnel.apply(InterfaceChange(peers=tuple(changes)))
        for peer in plan.add:
            log.info(
                "tunnel up: channel %s, %s %s",
                peer.channel_id.hex()[:16],
                "client" if peer.role == "relay" else "relay",
                peer.allowed_ips[0].network_address,
            )
        for key in plan.remove:
            log.info("tunnel down: peer %s", key.hex()[:16])

    def endpoints(self) -> tuple[Endpoint, ...]:
        api = VpnApi(
            self.service,
            self.account,
            self.channels,
            interface=self.interface,
            wireguard_key=self.peering.wireguard_key,
        )
        return api.endpoints()

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
