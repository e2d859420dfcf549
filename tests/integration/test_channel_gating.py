"""The chain gates the tunnels: real `pacatad`s, a relay and a client, in two namespaces.

The relay (namespace A, `--relay`, also the producer) registers its offer on chain through its
node's API (`POST /api/vpn/relay`); the client
(namespace B, `--vpn`) opens a channel to it through its own node's API. Before the channel
exists, a WireGuard peer in B that knows the relay's key and endpoint gets no answer to its
handshakes; once the `CHANNEL_OPEN` is deep enough, the relay admits the client's tunnel key
with its overlay address, the client adds the relay from its offer, and the client pings the
relay's overlay address through the tunnel. Every wait polls a condition with a deadline; the
namespaces, interfaces and processes are removed in `finally`.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.params import UNITS_PER_PAC
from pacata.testing.netns_lab import (
    UNDERLAY,
    WIREGUARD_PORT,
    NamespaceLab,
    missing_requirements,
)
from pacata.testing.node_process import (
    NodeProcess,
    write_account_key,
    write_producer_key,
    write_test_genesis,
)
from pacata.vpn.io.uapi_server import SOCKET_DIRECTORY, socket_path
from pacata.vpn.overlay import overlay_address

pytestmark = [pytest.mark.slow, pytest.mark.root]

PORT = 19_751
RPC_PORT = 19_750
CHAIN_ID = "pacata-gating-1"
PRICE_PER_GIB = 2 * UNITS_PER_PAC
CONFIRMATIONS = 2


def tunnels(node: NodeProcess) -> list[dict[str, Any]]:
    return list(node.get("/api/vpn/tunnels")["tunnels"])


def test_a_channel_on_chain_opens_the_tunnel_and_nothing_else_does(tmp_path: Path) -> None:
    missing = missing_requirements()
    if missing is not None:
        pytest.skip(missing)
    genesis = write_test_genesis(
        tmp_path / "genesis.json",
        chain_id=CHAIN_ID,
        timestamp_ms=time.time_ns() // 1_000_000 - 5_000,
    )
    relay_account, client_account = devnet_key(1), devnet_key(2)
    with NamespaceLab() as lab:
        relay_ns, client_ns = lab.namespaces
        interfaces = (f"pw{lab.tag}a", f"pw{lab.tag}b")
        lab.sockets += [socket_path(name, SOCKET_DIRECTORY) for name in interfaces]
        started: list[NodeProcess] = []

        def start(side: int, name: str, *extra: str) -> NodeProcess:
            datadir = tmp_path / name
            write_account_key(datadir, relay_account if side == 0 else client_account)
            if side == 0:
                write_producer_key(datadir, 0)
            node = NodeProcess(
                name,
                genesis=genesis,
                datadir=datadir,
                listen=f"{UNDERLAY[side]}:{PORT}",
                rpc_host=lab.reach(side),
                rpc_port=RPC_PORT,
                produce=side == 0,
                log_dir=tmp_path,
                wrapper=["ip", "netns", "exec", lab.namespaces[side]],
                extra=[
                    "--vpn-interface", interfaces[side],
                    "--vpn-confirmations", str(CONFIRMATIONS),
                    *extra,
                ],
            )  # fmt: skip
            started.append(node)
            return node

        try:
            relay = start(0, "relay", "--relay")
            client = start(1, "client", "--vpn", "--bootnode", f"{UNDERLAY[0]}:{PORT}")
            relay.wait_ready()
            client.wait_ready()
            relay_key = bytes.fromhex(relay.status()["vpn"]["public_key"])
            client_key = bytes.fromhex(client.status()["vpn"]["public_key"])
            assert relay.status()["vpn"]["peers"] == 0

            offered = relay.admin(
                "/api/vpn/relay", {"action": "register", "prices_per_gib": [PRICE_PER_GIB]}
            )
            assert offered.get("status") == "pending", offered
            # The endpoint defaults to the node record's: its --listen address.
            assert offered["endpoints"] == [f"{UNDERLAY[0]}:{PORT}"]
            assert offered["relay"] == str(relay_account.address)
            registered = offered["txid"]
            client.wait_for("the relay's registration", lambda: client.confirmed(registered))

            # No channel: a stranger that knows the relay's key and port gets no handshake.
            stranger = lab.start(1, "wireguard-go")
            lab.wg(
                stranger,
                "set", stranger.interface,
                "private-key", lab.key_file(stranger),
                "listen-port", str(WIREGUARD_PORT),
                "peer", base64.b64encode(relay_key).decode(),
                "endpoint", f"{UNDERLAY[0]}:{PORT}",
                "allowed-ips", f"{overlay_address(relay_key)}/128",
            )  # fmt: skip
            own = f"{overlay_address(stranger.public_key)}/128"
            lab.run(client_ns, "ip", "-6", "addr", "add", own, "dev", stranger.interface, "nodad")
            lab.run(client_ns, "ip", "-6", "route", "add", f"{overlay_address(relay_key)}/128",
                    "dev", stranger.interface)  # fmt: skip
            refused = lab.ping(1, str(overlay_address(relay_key)), count=3, interval=0.3)
            assert refused.received == 0
            handshakes = lab.wg(stranger, "show", stranger.interface, "latest-handshakes")
            assert handshakes.split()[1] == "0"
            lab.stop_end(stranger)

            opened = client.admin(
                "/api/vpn/channels",
                {"relay": str(relay_account.address), "deposit": 5 * UNITS_PER_PAC, "blocks": 500},
            )
            assert opened.get("status") == "pending", opened
            channel_id = opened["channel_id"]
            assert [t["state"] for t in tunnels(client)] in ([], ["confirming"])

            def up(node: NodeProcess) -> dict[str, Any] | None:
                found = [t for t in tunnels(node) if t["channel_id"] == channel_id]
                return found[0] if found and found[0]["state"] == "up" else None

            at_relay = relay.wait_for("the client admitted", lambda: up(relay))
            at_client = client.wait_for("the relay added", lambda: up(client))
            assert at_relay["role"] == "relay" and at_client["role"] == "client"
            assert at_relay["confirmations"] >= CONFIRMATIONS
            assert bytes.fromhex(at_relay["peer"]) == client_key
            assert at_relay["peer_address"] == str(overlay_address(client_key))
            assert bytes.fromhex(at_client["peer"]) == relay_key
            assert at_client["endpoint"] == f"{UNDERLAY[0]}:{PORT}"

            dump = lab.run(relay_ns, "wg", "show", interfaces[0], "allowed-ips").split()
            assert dump == [
                base64.b64encode(client_key).decode(),
                f"{overlay_address(client_key)}/128",
            ]

            ping = lab.ping(1, str(overlay_address(relay_key)), count=5, interval=0.2)
            assert ping.received >= 4, ping
            assert json.dumps(relay.status()["vpn"]["peers"]) == "1"
        except AssertionError:
            for node in started:
                print(f"--- {node.name}\n{node.log_text()[-5000:]}")
            raise
        finally:
            for node in started:
                node.close()
