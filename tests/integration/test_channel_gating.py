"""The chain gates the tunnels: real `pacatad`s in two namespaces (pacata/testing/paid_lab.py).

The relay registers its offer on chain through its node's API (`POST /api/vpn/relay`); the
client opens a channel to it through its own node's API. Before the channel exists, a stock
WireGuard peer that knows the relay's key and endpoint gets no answer to its handshakes; once
the `CHANNEL_OPEN` is deep enough, the relay admits the client's tunnel key with its overlay
address alone, the client adds the relay from its offer, and the client pings the relay's
overlay address through the tunnel. Every wait polls a condition with a deadline; the
namespaces, interfaces and processes are removed whatever happens.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pacata.chain.params import UNITS_PER_PAC
from pacata.testing.netns_lab import UNDERLAY, missing_requirements
from pacata.testing.paid_lab import RELAY_PORT, PaidTunnelLab
from pacata.vpn.overlay import overlay_address

pytestmark = [pytest.mark.slow, pytest.mark.root]

PRICE_PER_GIB = 2 * UNITS_PER_PAC


def test_a_channel_on_chain_opens_the_tunnel_and_nothing_else_does(tmp_path: Path) -> None:
    missing = missing_requirements()
    if missing is not None:
        pytest.skip(missing)
    confirmations = ("--vpn-confirmations", "2")
    with PaidTunnelLab(
        tmp_path,
        chain_id="pacata-gating-1",
        relay_flags=confirmations,
        client_flags=confirmations,
    ) as paid:
        try:
            relay, client, lab = paid.relay, paid.client, paid.lab
            client_key = bytes.fromhex(client.status()["vpn"]["public_key"])
            assert relay.status()["vpn"]["peers"] == 0
            offered = relay.admin(
                "/api/vpn/relay", {"action": "register", "prices_per_gib": [PRICE_PER_GIB]}
            )
            assert offered.get("status") == "pending", offered
            # The endpoint defaults to the node record's: its --listen address.
            assert offered["endpoints"] == [f"{UNDERLAY[0]}:{RELAY_PORT}"]
            assert offered["relay"] == paid.relay_address
            client.wait_for("the relay's offer", lambda: client.confirmed(offered["txid"]))

            # No channel: a stranger that knows the relay's key and port gets no handshake.
            stranger = paid.stranger()
            refused = lab.ping(1, paid.relay_overlay, count=3, interval=0.3)
            assert refused.received == 0
            handshakes = lab.wg(stranger, "show", stranger.interface, "latest-handshakes")
            assert handshakes.split()[1] == "0"
            lab.stop_end(stranger)

            channel_id = paid.open_channel(deposit=5 * UNITS_PER_PAC, blocks=500)
            state = paid.tunnel(client, channel_id)
            assert state is None or state["state"] == "confirming"
            paid.wait_up(channel_id)
            at_relay = paid.tunnel(relay, channel_id)
            at_client = paid.tunnel(client, channel_id)
            assert at_relay is not None and at_client is not None
            assert at_relay["role"] == "relay" and at_client["role"] == "client"
            assert at_relay["confirmations"] >= 2
            assert bytes.fromhex(at_relay["peer"]) == client_key
            assert at_relay["peer_address"] == str(overlay_address(client_key))
            assert bytes.fromhex(at_client["peer"]) == paid.relay_key
            assert at_client["endpoint"] == f"{UNDERLAY[0]}:{RELAY_PORT}"
            admitted = [base64.b64encode(client_key).decode(), f"{overlay_address(client_key)}/128"]
            assert paid.relay_wg("allowed-ips").split() == admitted

            ping = lab.ping(1, paid.relay_overlay, count=5, interval=0.2)
            assert ping.received >= 4, ping
            assert relay.status()["vpn"]["peers"] == 1
        except AssertionError:
            print(paid.logs())
            raise
