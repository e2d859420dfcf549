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
from dataclasses import replace
from pathlib import Path

from pacata.chain.keys import Address
from pacata.chain.transactions import RelayOffer
from pacata.errors import PacataError
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
from pacata.node.vpn_payments import (
    BUSY_BYTES,
    BUSY_HOLD_S,
    BUSY_METER_INTERVAL_S,
    METER_INTERVAL_S,
    ClientPayments,
    RelayPayments,
    Terms,
)
from pacata.p2p.extensions import ExtensionPeer, SubProtocol
from pacata.p2p.peers import DialAddress
from pacata.rpc.results import VpnInfo
from pacata.vpn.channel_peers import ChannelPeers, PeerPlan, PlannedPeer
from pacata.vpn.channels import (
    MAX_MESSAGE_BYTES,
    SUBPROTOCOL_NAME,
    ReceiptAck,
    ReceiptMessage,
    ReceiptOffer,
    Verdict,
    decode_message,
)
from pacata.vpn.config import InterfaceChange, InterfaceStatus, PeerChange
from pacata.vpn.io.engine import UserspaceEngine
from pacata.vpn.io.links import configure_link
from pacata.vpn.io.receipt_store import ReceiptStore
from pacata.vpn.io.userspace import UserspaceTunnel
from pacata.vpn.overlay import overlay_interface
from pacata.vpn.rate_limit import PeerLimit

log = logging.getLogger("pacata.node.vpn")

OWNER = "pacatad"
# The relay's receipts and settles, and the client's own receipts: a LevelDB, synced writes.
RECEIPTS_DIRECTORY = "receipts"
# A client keeps the NAT mapping to its relay open, as `wg`'s usual 25 s does.
CLIENT_KEEPALIVE_S = 25


class VpnPlugin(NodePlugin):
    name = "vpn"

    def __init__(self, peering: PeeringPlugin, config: NodeConfig, datadir: Path) -> None:
        self.peering = peering
        self.service = peering.service
        self.interface = config.vpn_interface
        self.relay = config.relay
        self.datadir = datadir
        self.account_key = load_or_create_account_key(datadir)
        self.account = AccountTransactions(self.service, self.account_key)
        self.channels = ChannelPeers(
            self.account_key.address,
            self.account_key.public_key,
            confirmations=config.vpn_confirmations,
        )
        self.tunnel: UserspaceTunnel | None = None
        self.store: ReceiptStore | None = None
        self.relay_payments: RelayPayments | None = None
        self.client_payments: ClientPayments | None = None
        self.suspended: set[bytes] = set()  # clients dropped for not paying (relay)
        self._dialed: set[bytes] = set()
        # Relays whose channels count, not yet added: they have not acknowledged a receipt.
        self.awaiting_relay: dict[bytes, PlannedPeer] = {}
        self._last_endpoint: dict[bytes, tuple[str, int] | None] = {}
        self._closed = asyncio.Event()
        self._metering = asyncio.Event()
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
        try:
            self.store = ReceiptStore.open(self.datadir / RECEIPTS_DIRECTORY)
        except PacataError as exc:
            raise PluginError(f"cannot open the receipt store: {exc}") from None
        chain = self.service.chain
        self.relay_payments = RelayPayments(chain, self.account, self.store)
        self.client_payments = ClientPayments(chain, self.account, self.account_key, self.store)
        self.peering.network.extensions.register(
            SubProtocol(
                SUBPROTOCOL_NAME,
                decode_message,
                self._on_receipt_message,
                max_payload=MAX_MESSAGE_BYTES,
            )
        )
        self._follow_chain()
        self.relay_payments.settle_stored()
        self.host.add_task(self._watch(), "vpn")
        self.host.add_task(self._meter(), "vpn meters")

    async def _watch(self) -> None:
        await self._closed.wait()
        raise PluginError(f"the VPN interface {self.interface} went away")

    async def stop(self) -> None:
        if self.tunnel is not None:
            tunnel, self.tunnel = self.tunnel, None
            await asyncio.to_thread(tunnel.close)
            log.info("VPN interface %s closed", self.interface)
        if self.store is not None:
            self.store.close()
            self.store = None

    # -- metering and receipts ----------------------------------------------------------------

    async def _meter(self) -> None:
        """Feeds the meters: every `BUSY_METER_INTERVAL_S` while a paid tunnel has moved at
        least `BUSY_BYTES` in a tick within `BUSY_HOLD_S`, every `METER_INTERVAL_S` otherwise
        (keepalives and a keystroke are not traffic to pace), not at all without any.

        A client held at the relay's budget moves nothing until its next receipt is in, so
        "moved since the last tick" would put its meter to sleep exactly when the receipt is
        due (a TCP flow then waits out its retransmission timeout: 18-43 % of the bare
        engine's throughput, against 88 % with the meter kept awake; BENCHMARKS.md). A relay
        meter whose counters did not move and whose client is in good standing is skipped:
        it has nothing new to judge (1,000 idle channels cost a relay 7 % of a core before).
        """
        loop = asyncio.get_running_loop()
        last: dict[bytes, tuple[int, int]] = {}
        moved_at = -BUSY_HOLD_S
        while True:
            relay, client = self.relay_payments, self.client_payments
            if relay is None or client is None or self.tunnel is None:
                return
            if not relay.meters and not client.meters:
                self._metering.clear()
                await self._metering.wait()
                continue
            counters = self.tunnel.engine.peer_counters()
            now = loop.time()
            for channel_id in list(relay.meters):
                key = relay.peer_of[channel_id]
                quiet = counters.get(key) == last.get(key)
                if quiet and relay.in_good_standing(channel_id):
                    continue
                self._refresh(channel_id, counters, now)
            client.tick(counters, now, self._send_to_relay)
            for peer in self.awaiting_relay.values():
                client.greet(peer.channel_id, counters, now, self._send_to_relay)
            if any(_moved(counters, last, key) >= BUSY_BYTES for key in client.relay_of.values()):
                moved_at = now
            last = counters
            busy = now - moved_at < BUSY_HOLD_S
            await asyncio.sleep(BUSY_METER_INTERVAL_S if busy else METER_INTERVAL_S)

    def _refresh(
        self, channel_id: bytes, counters: Mapping[bytes, tuple[int, int]], now: float
    ) -> None:
        """A relay channel's budget and verdict, carried out in the engine."""
        relay, tunnel = self.relay_payments, self.tunnel
        if relay is None or tunnel is None or channel_id not in relay.meters:
            return
        key = relay.peer_of[channel_id]
        budget, verdict = relay.refresh(channel_id, counters.get(key), now)
        if budget is not None:
            tunnel.engine.set_peer_budget(key, budget)
        if verdict is not relay.verdicts[channel_id]:
            relay.verdicts[channel_id] = verdict
            self._enforce(channel_id, verdict, counters.get(key))

    def _enforce(
        self, channel_id: bytes, verdict: Verdict, counted: tuple[int, int] | None
    ) -> None:
        """Drops a client's peer, or brings it back (see vpn_payments)."""
        relay, tunnel = self.relay_payments, self.tunnel
        if relay is None or tunnel is None:
            return
        key = relay.peer_of[channel_id]
        # A throttle is the normal pacing of a fast client; a drop is news.
        level = logging.DEBUG if verdict is Verdict.THROTTLE else logging.INFO
        log.log(level, "channel %s: %s", channel_id.hex()[:16], verdict.value)
        if verdict is Verdict.DROP:
            if key not in self.suspended:
                self.suspended.add(key)
                self._last_endpoint[key] = self._endpoint_of(key)
                tunnel.apply(InterfaceChange(peers=(PeerChange(key, remove=True),)))
            return
        if key in self.suspended:
            self.suspended.discard(key)
            peer = self.channels.applied.get(key)
            if peer is not None:
                # Back: at its last endpoint, and we handshake first (a keepalive at once).
                change = replace(
                    _peer_change(peer),
                    endpoint=self._last_endpoint.pop(key, None),
                    persistent_keepalive=CLIENT_KEEPALIVE_S,
                )
                tunnel.apply(InterfaceChange(peers=(change,)))
                tunnel.engine.set_peer_limit(key, relay.terms[channel_id].limit)

    def _endpoint_of(self, key: bytes) -> tuple[str, int] | None:
        if self.tunnel is None:
            return None
        for peer in self.tunnel.status().peers:
            if peer.public_key == key:
                return peer.endpoint
        return None

    def _on_receipt_message(self, peer: ExtensionPeer, message: ReceiptMessage, now: float) -> None:
        relay, client = self.relay_payments, self.client_payments
        if relay is None or client is None:
            return
        if isinstance(message, ReceiptOffer):
            answer = relay.answer(message, asyncio.get_running_loop().time())
            peer.send(answer.encode_message())
            channel_id = message.receipt.channel_id
            if channel_id in relay.meters and self.tunnel is not None:
                # The budget moves with every receipt (it paces the client), not per tick.
                counters = self.tunnel.engine.peer_counters()
                self._refresh(channel_id, counters, asyncio.get_running_loop().time())
        else:
            client.on_message(message)
            if isinstance(message, ReceiptAck):
                self._relay_ready(message.channel_id)

    def _send_to_relay(self, relay_key: bytes, message: ReceiptMessage) -> bool:
        network = self.peering.network
        node_id = network.node_id_with_wireguard_key(relay_key)
        if node_id is None:
            peer = self.channels.applied.get(relay_key)
            if peer is not None and peer.endpoint is not None and relay_key not in self._dialed:
                self._dialed.add(relay_key)  # its offer's endpoint is its peer port too
                network.add_bootnode(DialAddress(*peer.endpoint))
                self.peering.transport.flush()
            return False
        sent = network.send_extension(node_id, SUBPROTOCOL_NAME, message.encode_message())
        self.peering.transport.flush()
        return sent

    # -- the chain as the control plane ---------------------------------------------------------

    def on_event(self, event: NodeEvent) -> None:
        if isinstance(event, BlockDisconnected):
            self._resync = True
            if self.relay_payments is not None:
                txids = {tx.txid for tx in event.block.transactions}
                self.relay_payments.on_disconnected(self.service.chain.height, txids)
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
            self._pay_and_settle(event)

    def _pay_and_settle(self, event: BlockConnected) -> None:
        relay, client = self.relay_payments, self.client_payments
        if relay is None or client is None:
            return
        chain = self.service.chain
        for channel_id, channel in self.channels.channels.items():
            relay.channel_changed(channel_id, channel)
            client.channel_changed(channel_id, channel)
        relay.on_block(chain.height, {tx.txid for tx in event.block.transactions})
        client.on_block(self.channels.channels, chain.height)

    def _follow_chain(self) -> None:
        chain = self.service.chain
        if self._resync:
            self.channels.resync(channel_records(chain))
            self._resync = False
        before = dict(self.channels.applied)
        plan = self.channels.plan(chain.height, self._offer_of)
        self._apply(plan)
        self._account_for(plan, before)

    def _account_for(self, plan: PeerPlan, before: Mapping[bytes, PlannedPeer]) -> None:
        """Starts and ends the meters of the channels the plan added and removed."""
        relay, client = self.relay_payments, self.client_payments
        if relay is None or client is None:
            return
        ended = [before[key] for key in plan.remove if key in before]
        ended += [before[p.public_key] for p in plan.add if p.public_key in before]
        for peer in ended:
            self.suspended.discard(peer.public_key)
            (relay if peer.role == "relay" else client).end(peer.channel_id)
        for peer in plan.add:
            terms = self._terms_of(peer)
            if terms is None:
                continue
            if peer.role == "relay":
                relay.admit(peer, terms)
                if peer.public_key in self.suspended and self.tunnel is not None:
                    self.suspended.discard(peer.public_key)  # a new meter judges it afresh
                    self.tunnel.apply(InterfaceChange(peers=(_peer_change(peer),)))
                if self.tunnel is not None:  # the tier's limit, and at once a budget
                    engine = self.tunnel.engine
                    engine.set_peer_limit(peer.public_key, terms.limit)
                    now = asyncio.get_running_loop().time()
                    self._refresh(peer.channel_id, engine.peer_counters(), now)
            else:
                client.admit(peer, terms)
        if relay.meters or client.meters:
            self._metering.set()

    def _terms_of(self, peer: PlannedPeer) -> Terms | None:
        offer = self._offer_of(peer.channel.relay)
        tier = peer.channel.tier
        if offer is None or tier >= len(offer.prices_per_gib):
            return None
        limit = PeerLimit(offer.rate_limits[tier], priority=tier)
        return Terms(offer.prices_per_gib[tier], limit)

    def _offer_of(self, relay: Address) -> RelayOffer | None:
        record = relay_of(self.service.chain, relay)
        return None if record is None else record.offer

    def _apply(self, plan: PeerPlan) -> None:
        if not plan or self.tunnel is None:
            return
        for key in plan.remove:
            self.awaiting_relay.pop(key, None)
        changes = [PeerChange(key, remove=True) for key in plan.remove]
        for peer in plan.add:
            if peer.role == "client":
                # The relay is added once it acknowledges our first receipt: then it has
                # admitted us, and our first handshake is answered (see the module rules).
                self.awaiting_relay[peer.public_key] = peer
                changes.append(PeerChange(peer.public_key, remove=True))
            elif peer.public_key not in self.suspended:
                changes.append(_peer_change(peer))
                self._log_up(peer)
        self.tunnel.apply(InterfaceChange(peers=tuple(changes)))
        for key in plan.remove:
            log.info("tunnel down: peer %s", key.hex()[:16])

    @staticmethod
    def _log_up(peer: PlannedPeer) -> None:
        log.info(
            "tunnel up: channel %s, %s %s",
            peer.channel_id.hex()[:16],
            "client" if peer.role == "relay" else "relay",
            peer.allowed_ips[0].network_address,
        )

    def _relay_ready(self, channel_id: bytes) -> None:
        """The relay acknowledged a receipt of the channel: it has admitted us; add it."""
        for key, peer in list(self.awaiting_relay.items()):
            if peer.channel_id == channel_id and self.tunnel is not None:
                del self.awaiting_relay[key]
                self.tunnel.apply(InterfaceChange(peers=(_peer_change(peer),)))
                self._log_up(peer)

    def endpoints(self) -> tuple[Endpoint, ...]:
        api = VpnApi(
            self.service,
            self.account,
            self.channels,
            interface=self.interface,
            wireguard_key=self.peering.wireguard_key,
            record=lambda: self.peering.record,
            awaiting=self.awaiting_relay,
            meter_view=self._meter_view,
            on_change=self._replan,
        )
        return api.endpoints()

    def _replan(self) -> None:
        if self.tunnel is not None:
            self._follow_chain()

    def _meter_view(self, channel_id: bytes) -> Mapping[str, int]:
        """What the meters know of a channel, for `GET /api/vpn/tunnels`."""
        relay, client = self.relay_payments, self.client_payments
        if relay is not None and channel_id in relay.meters:
            meter = relay.meters[channel_id]
            amount = 0 if meter.newest_receipt is None else meter.newest_receipt.cumulative_amount
            return {
                "receipted": amount,
                "acknowledged": amount,
                "counted_bytes": meter.billed_bytes,
            }
        if client is not None and channel_id in client.meters:
            mine = client.meters[channel_id]
            counted = client.counted(channel_id, {})
            return {
                "receipted": mine.paid_amount,
                "acknowledged": mine.acknowledged_amount,
                "counted_bytes": counted,
            }
        return {}

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


def _moved(
    counters: Mapping[bytes, tuple[int, int]], last: Mapping[bytes, tuple[int, int]], key: bytes
) -> int:
    """Bytes a peer moved between two readings of the engine's counters."""
    rx, tx = counters.get(key, (0, 0))
    before_rx, before_tx = last.get(key, (rx, tx))
    return max(0, rx - before_rx) + max(0, tx - before_tx)


def _peer_change(peer: PlannedPeer) -> PeerChange:
    """The engine's configuration of a peer the chain asks for."""
    return PeerChange(
        peer.public_key,
        endpoint=peer.endpoint,
        persistent_keepalive=CLIENT_KEEPALIVE_S if peer.role == "client" else None,
        replace_allowed_ips=True,
        allowed_ips=peer.allowed_ips,
    )


def _peer_count(status: InterfaceStatus | None) -> int:
    return 0 if status is None else len(status.peers)


def _rx_bytes(status: InterfaceStatus | None) -> int:
    return 0 if status is None else sum(peer.rx_bytes for peer in status.peers)


def _tx_bytes(status: InterfaceStatus | None) -> int:
    return 0 if status is None else sum(peer.tx_bytes for peer in status.peers)
