"""The VPN plugin's API routes (pacata/rpc/vpn.py): open a channel, list the tunnels.

`POST /api/vpn/channels` (administrative) signs a `CHANNEL_OPEN` with the node's account key —
the tunnel key it admits is this node's WireGuard key — and submits it; the mempool's rules
apply (a refusal is a 400 with the reason). The tunnel comes up by itself once the opening is
deep enough (pacata/node/vpn_plugin.py). `GET /api/vpn/tunnels` lists the account's channels in
both roles with their state.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pacata.chain.keys import Address
from pacata.chain.state import Channel
from pacata.chain.transactions import ChannelOpen
from pacata.chain.transitions import channel_id_of
from pacata.node.endpoints import Endpoint, bind_handlers, json_body, json_response
from pacata.node.service import NodeService
from pacata.node.vpn_chain import AccountTransactions
from pacata.rpc.vpn import (
    LIST_TUNNELS,
    OPEN_CHANNEL,
    VPN_ROUTES,
    OpenChannelRequestSchema,
    OpenedChannelSchema,
    TunnelsSchema,
)
from pacata.vpn.channel_peers import ChannelPeers, PlannedPeer
from pacata.vpn.overlay import overlay_address


class VpnApi:
    def __init__(
        self,
        service: NodeService,
        account: AccountTransactions,
        channels: ChannelPeers,
        *,
        interface: str,
        wireguard_key: bytes,
    ) -> None:
        self.service = service
        self.account = account
        self.channels = channels
        self.interface = interface
        self.wireguard_key = wireguard_key

    def endpoints(self) -> tuple[Endpoint, ...]:
        return bind_handlers(
            VPN_ROUTES, {OPEN_CHANNEL: self.open_channel, LIST_TUNNELS: self.list_tunnels}
        )

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
        if peer is not None:
            state = "up"
        elif depth < self.channels.confirmations and height < channel.expiry_height:
            state = "confirming"
        else:
            state = "ended"
        return {
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


def _host_port(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
