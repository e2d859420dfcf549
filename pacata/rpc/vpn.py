"""The VPN plugin's part of the API (docs/api.md §VPN): its schemas and routes.

Served by a node that runs its VPN side (`pacatad --vpn` or `--relay`); the command line and
the shell call them through the client. Amounts are integers in base units (1 PAC = 10^8).
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from pacata.chain.transactions import MAX_ENDPOINT_SIZE, MAX_ENDPOINTS, MAX_TIERS
from pacata.json_fields import HexBytes
from pacata.rpc.routes import Parameter, Route
from pacata.rpc.schemas import address_field, nested

_BAD = (400, "a malformed body, or a transaction the mempool refuses (the reason says which)")


_U64 = validate.Range(0, 2**64 - 1)


class RelayOfferRequestSchema(Schema):
    action = fields.String(
        required=True,
        validate=validate.OneOf(["register", "update", "retire"]),
        metadata={"description": "register a new offer, replace it, or withdraw it"},
    )
    endpoints = fields.List(
        fields.String(validate=validate.Length(1, MAX_ENDPOINT_SIZE)),
        validate=validate.Length(1, MAX_ENDPOINTS),
        metadata={"description": "HOST:PORT clients reach; default: the node's UDP endpoints"},
    )
    prices_per_gib = fields.List(
        fields.Integer(strict=True, validate=_U64),
        validate=validate.Length(1, MAX_TIERS),
        metadata={"description": "base units per GiB, one per tier (register and update)"},
    )
    rate_limits = fields.List(
        fields.Integer(strict=True, validate=_U64),
        validate=validate.Length(1, MAX_TIERS),
        metadata={"description": "bytes per second per tier, 0: unlimited (default: all 0)"},
    )


class SubmittedOfferSchema(Schema):
    txid = HexBytes()
    action = fields.String()
    relay = address_field()
    endpoints = fields.List(fields.String())
    status = fields.String(metadata={"enum": ["pending"]})


class OpenChannelRequestSchema(Schema):
    relay = address_field(required=True, metadata={"description": "the relay's pac1 account"})
    tier = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, MAX_TIERS - 1))
    deposit = fields.Integer(
        strict=True,
        required=True,
        validate=validate.Range(1, 2**64 - 1),
        metadata={"description": "base units locked in the channel"},
    )
    blocks = fields.Integer(
        strict=True,
        load_default=10_000,
        validate=validate.Range(1, 2**32),
        metadata={"description": "the channel expires this many blocks after the tip"},
    )


class OpenedChannelSchema(Schema):
    txid = HexBytes()
    channel_id = HexBytes()
    expiry_height = fields.Integer()
    status = fields.String(metadata={"enum": ["pending"]})


class DisconnectedSchema(Schema):
    channel_id = HexBytes()
    status = fields.String(metadata={"enum": ["disconnected"]})
    close_height = fields.Integer(
        metadata={"description": "from this height the node closes it and claims the refund"}
    )


class TunnelSchema(Schema):
    channel_id = HexBytes()
    role = fields.String(
        metadata={"enum": ["relay", "client"], "description": "this node's side of the channel"}
    )
    relay = address_field()
    client = address_field()
    tier = fields.Integer()
    deposit = fields.Integer()
    paid = fields.Integer()
    open_height = fields.Integer()
    expiry_height = fields.Integer()
    confirmations = fields.Integer(metadata={"description": "blocks deep its opening is"})
    state = fields.String(
        metadata={
            "enum": ["confirming", "connecting", "up", "replaced", "disconnected", "ended"],
            "description": "connecting: deep enough, waiting for the relay's acknowledgement; "
            "up: its WireGuard peer is configured; replaced: a newer channel of the same "
            "client and relay holds the peer; disconnected: this node stopped using it",
        }
    )
    receipted = fields.Integer(
        allow_none=True,
        metadata={"description": "the newest receipt's amount: signed (client), stored (relay)"},
    )
    acknowledged = fields.Integer(
        allow_none=True,
        metadata={"description": "what the relay acknowledged storing, durably"},
    )
    counted_bytes = fields.Integer(
        allow_none=True, metadata={"description": "bytes carried, by this node's own meter"}
    )
    peer = HexBytes(allow_none=True, metadata={"description": "the WireGuard peer's key"})
    peer_address = fields.String(allow_none=True, metadata={"description": "its overlay address"})
    endpoint = fields.String(allow_none=True, metadata={"description": "HOST:PORT, client side"})


class TunnelsSchema(Schema):
    account = address_field(metadata={"description": "the account that pays and earns"})
    interface = fields.String()
    overlay_address = fields.String(metadata={"description": "this node's address in tunnels"})
    confirmations = fields.Integer(metadata={"description": "depth a channel needs"})
    tunnels = fields.List(nested(TunnelSchema))


RELAY_OFFER = Route(
    "vpn_relay_offer",
    "POST",
    "/api/vpn/relay",
    "Register, update or retire this node's relay offer (signed by its account)",
    SubmittedOfferSchema,
    status=202,
    request=RelayOfferRequestSchema,
    errors=(_BAD,),
    admin=True,
)
OPEN_CHANNEL = Route(
    "vpn_open_channel",
    "POST",
    "/api/vpn/channels",
    "Open a payment channel to a relay, paid by this node's account",
    OpenedChannelSchema,
    status=202,
    request=OpenChannelRequestSchema,
    errors=(_BAD,),
    admin=True,
)
DISCONNECT = Route(
    "vpn_disconnect",
    "POST",
    "/api/vpn/channels/{channel_id}/disconnect",
    "Stop using a channel this node pays: its tunnel goes now, its refund is claimed later",
    DisconnectedSchema,
    status=202,
    parameters=(Parameter("channel_id", "path", "the channel's id (64 hex digits)"),),
    errors=((400, "not a channel id"), (404, "this node pays no such channel")),
    admin=True,
)
LIST_TUNNELS = Route(
    "vpn_list_tunnels",
    "GET",
    "/api/vpn/tunnels",
    "The channels of this node's account, as relay and as client, and their tunnels",
    TunnelsSchema,
)

VPN_ROUTES: tuple[Route, ...] = (RELAY_OFFER, OPEN_CHANNEL, DISCONNECT, LIST_TUNNELS)
