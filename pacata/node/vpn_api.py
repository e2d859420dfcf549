"""The VPN plugin's API routes (pacata/rpc/vpn.py): open a channel, list the tunnels.

`POST /api/vpn/relay` (administrative) signs the relay's `RELAY_REGISTER`, `RELAY_UPDATE` or
`RELAY_RETIRE` with the node's account key; the offer's WireGuard key is the node's, and its
endpoints default to the node record's UDP endpoints that name an address (its `--listen` host,
its reflexive address). `POST /api/vpn/channels` (administrative) signs a `CHANNEL_OPEN`
with the node's account key — the tunnel key it admits is this node's WireGuard key — and
submits it. The mempool's rules apply to both (a refusal is a 400 with the reason). The tunnel
comes up by itself once the opening is deep enough (pacata/node/vpn_plugin.py).
`GET /api/vpn/tunnels` lists the account's channels in both roles with their state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from pacata.chain.hashing import HASH_SIZE
from pacata.chain.keys import Address
from pacata.chain.state import Channel
from pacata.chain.transactions import (
    ChannelOpen,
    Payload,
    RelayOffer,
    RelayRegister,
    RelayRetire,
    RelayUpdate,
)
from pacata.chain.transitions import channel_id_of
from pacata.errors import NotFound
from pacata.node.endpoints import BadRequest, Endpoint, bind_handlers, json_body, json_response
from pacata.node.service import NodeService
from pacata.node.vpn_chain import AccountTransactions
from pacata.p2p.records import NodeRecord, Transport
from pacata.rpc.vpn import (
    DISCONNECT,
    LIST_TUNNELS,
    OPEN_CHANNEL,
    RELAY_OFFER,
    VPN_ROUTES,
    DisconnectedSchema,
    OpenChannelRequestSchema,
    OpenedChannelSchema,
    RelayOfferRequestSchema,
    SubmittedOfferSchema,
    TunnelsSchema,
)
from pacata.vpn.channel_peers import ChannelPeers, PlannedPeer
from pacata.vpn.overlay import overlay_address


class ChannelNotFound(NotFound):
    """No channel of this node's account has that id."""


class VpnApi:
    def __init__(
        self,
        service: NodeService,
        account: AccountTransactions,
        channels: ChannelPeers,
        *,
        interface: str,
        wireguard_key: bytes,
        record: Callable[[], NodeRecord],
        awaiting: Mapping[bytes, PlannedPeer] | None = None,
        meter_view: Callable[[bytes], Mapping[str, int]] | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.service = service
        self.account = account
        self.channels = channels
        self.interface = interface
        self.wireguard_key = wireguard_key
        self.record = record
        self.awaiting = awaiting if awaiting is not None else {}
        self.meter_view = meter_view
        self.on_change = on_change  # the peers must follow a change made here

    def endpoints(self) -> tuple[Endpoint, ...]:
        handlers = {
            RELAY_OFFER: self.relay_offer,
            OPEN_CHANNEL: self.open_channel,
            DISCONNECT: self.disconnect,
            LIST_TUNNELS: self.list_tunnels,
        }
        return bind_handlers(VPN_ROUTES, handlers)

    async def relay_offer(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request, RelayOfferRequestSchema)
        action = body["action"]
        endpoints: tuple[str, ...] = ()
        payload: Payload
        if action == "retire":
            payload = RelayRetire()
        else:
            prices = body.get("prices_per_gib")
            if prices is None:
                raise BadRequest("prices_per_gib: required to register or update an offer")
            limits = body.get("rate_limits", [0] * len(prices))
            if len(limits) != len(prices):
                raise BadRequest("rate_limits: one per tier, as many as prices_per_gib")
            endpoints = tuple(body.get("endpoints") or self._own_endpoints())
            offer = RelayOffer(self.wireguard_key, endpoints, tuple(prices), tuple(limits))
            payload = RelayRegister(offer) if action == "register" else RelayUpdate(offer)
        tx = self.account.submit(payload)
        submitted = {
            "txid": tx.txid,
            "action": action,
            "relay": self.account.address,
            "endpoints": list(endpoints),
            "status": "pending",
        }
        return json_response(SubmittedOfferSchema, submitted, status=202)

    def _own_endpoints(self) -> list[str]:
        found = [
            _host_port((endpoint.host, endpoint.port))
            for endpoint in self.record().endpoints
            if endpoint.transport is Transport.UDP and endpoint.host not in ("0.0.0.0", "::")
        ]
        if not found:
            raise BadRequest(
                "endpoints: this node knows no address clients can reach (it listens on "
                "every address and no peer has told it its reflexive one); give endpoints"
            )
        return found

    async def open_channel(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request, OpenChannelRequestSchema)
        expiry = self.service.chain.height + body["blocks"]
        tx = self.account.submit(
            ChannelOpen(
                relay=body["relay"],
                deposit=body["deposit"],
                tier=body["tier"],
                client_tunnel_key=self.wireguard_key,
                expiry_height=expiry,
            )
        )
        opened = {
            "txid": tx.txid,
            "channel_id": channel_id_of(tx.sender, tx.nonce),
            "expiry_height": expiry,
            "status": "pending",
        }
        return json_response(OpenedChannelSchema, opened, status=202)

    async def disconnect(self, request: web.Request) -> web.StreamResponse:
        text = request.match_info["channel_id"]
        try:
            channel_id = bytes.fromhex(text)
        except ValueError:
            channel_id = b""
        if len(channel_id) != HASH_SIZE:
            raise BadRequest("channel_id: not a channel id (64 hex digits)")
        channel = self.channels.channels.get(channel_id)
        if channel is None or self.channels.role_in(channel) != "client":
            raise ChannelNotFound(f"this node pays no channel {text}")
        self.channels.stop(channel_id)
        self.on_change()
        params = self.service.chain.params
        answer = {
            "channel_id": channel_id,
            "status": "disconnected",
            "close_height": params.channel_closable_height(channel.expiry_height),
        }
        return json_response(DisconnectedSchema, answer, status=202)

    async def list_tunnels(self, request: web.Request) -> web.StreamResponse:
        height = self.service.chain.height
        up = {peer.channel_id: peer for peer in self.channels.applied.values()}
        tunnels = [
            self._tunnel(channel_id, channel, height, up.get(channel_id))
            for channel_id, channel in sorted(self.channels.channels.items())
        ]
        view = {
            "account": self.account.address,
            "interface": self.interface,
            "overlay_address": str(overlay_address(self.wireguard_key)),
            "confirmations": self.channels.confirmations,
            "tunnels": tunnels,
        }
        return json_response(TunnelsSchema, view)

    def _tunnel(
        self, channel_id: bytes, channel: Channel, height: int, peer: PlannedPeer | None
    ) -> dict[str, Any]:
        endpoint = None if peer is None else peer.endpoint
        depth = max(0, height - channel.open_height + 1)
        if peer is not None and peer.public_key in self.awaiting:
            state = "connecting"
        elif peer is not None:
            state = "up"
        elif channel_id in self.channels.stopped:
            state = "disconnected"
        elif depth < self.channels.confirmations and height < channel.expiry_height:
            state = "confirming"
        elif self.channels.counts(channel, height) and self._replaced(channel):
            state = "replaced"
        else:
            state = "ended"
        view: Mapping[str, int] = {}
        if self.meter_view is not None:
            view = self.meter_view(channel_id)
        return {
            "receipted": view.get("receipted"),
            "acknowledged": view.get("acknowledged"),
            "counted_bytes": view.get("counted_bytes"),
            "channel_id": channel_id,
            "role": self.channels.role_in(channel),
            "relay": channel.relay,
            "client": Address.from_public_key(channel.client_public_key),
            "tier": channel.tier,
            "deposit": channel.deposit,
            "paid": channel.paid,
            "open_height": channel.open_height,
            "expiry_height": channel.expiry_height,
            "confirmations": depth,
            "state": state,
            "peer": None if peer is None else peer.public_key,
            "peer_address": None if peer is None else str(peer.allowed_ips[0].network_address),
            "endpoint": None if endpoint is None else _host_port(endpoint),
        }

    def _replaced(self, channel: Channel) -> bool:
        """Whether a newer channel of the same client and relay holds the one WireGuard peer."""
        return any(
            peer.channel.relay == channel.relay
            and peer.channel.client_public_key == channel.client_public_key
            for peer in self.channels.applied.values()
        )


def _host_port(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
