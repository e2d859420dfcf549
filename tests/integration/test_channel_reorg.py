"""A reorganisation that takes a channel's opening away takes its tunnel away.

Two producers in two namespaces (pacata/testing/netns_lab.py); the one in A is also a relay
(`--relay`, one confirmation). While the link between them is cut, the relay's side mines a
client's `CHANNEL_OPEN` and the relay admits the client's tunnel key; side B mines a transfer
of the same client with the same nonce, and goes on producing while the relay stops. Joined
again, the relay takes B's longer chain: the opening is gone for good (its nonce is spent on the
winning chain), and the relay removes the WireGuard peer. Every wait polls a condition with a
deadline; the namespaces and processes are removed in `finally`.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.transactions import ChannelOpen, RelayOffer, RelayRegister, Transaction, Transfer
from pacata.testing.netns_lab import UNDERLAY, NamespaceLab, missing_requirements
from pacata.testing.node_process import (
    NodeProcess,
    write_account_key,
    write_producer_key,
    write_test_genesis,
)
from pacata.vpn.io.uapi_server import SOCKET_DIRECTORY, socket_path
from pacata.vpn.wireguard import x25519_public_key

pytestmark = [pytest.mark.slow, pytest.mark.root]

PORT = 19_761
RPC_PORT = 19_760
CHAIN_ID = "pacata-gating-reorg-1"
FEE = 1_000


def test_a_reorganisation_that_removes_the_opening_removes_the_peer(tmp_path: Path) -> None:
    missing = missing_requirements()
    if missing is not None:
        pytest.skip(missing)
    genesis = write_test_genesis(
        tmp_path / "genesis.json",
        chain_id=CHAIN_ID,
        timestamp_ms=time.time_ns() // 1_000_000 - 2_000,
        producers=2,
        active_slot_coeff_bps=10_000,
    )
    relay_account, client_account = devnet_key(2), devnet_key(3)
    tunnel_key = x25519_public_key(os.urandom(32))
    with NamespaceLab() as lab:
        interface = f"pw{lab.tag}a"
        lab.sockets.append(socket_path(interface, SOCKET_DIRECTORY))
        started: list[NodeProcess] = []

        def start(side: int, *extra: str) -> NodeProcess:
            name = "relay" if side == 0 else "other"
            datadir = tmp_path / name
            write_producer_key(datadir, side)
            node = NodeProcess(
                name,
                genesis=genesis,
                datadir=datadir,
                listen=f"{UNDERLAY[side]}:{PORT}",
                rpc_host=lab.reach(side),
                rpc_port=RPC_PORT,
                produce=True,
                log_dir=tmp_path,
                wrapper=["ip", "netns", "exec", lab.namespaces[side]],
                extra=extra,
            )
            started.append(node)
            return node

        def peers_of_relay() -> list[str]:
            return lab.run(lab.namespaces[0], "wg", "show", interface, "peers").split()

        try:
            write_account_key(tmp_path / "relay", relay_account)
            relay = start(0, "--relay", "--vpn-interface", interface, "--vpn-confirmations", "1")
            other = start(1, "--bootnode", f"{UNDERLAY[0]}:{PORT}")
            relay.wait_ready()
            other.wait_ready()
            relay_key = bytes.fromhex(relay.status()["vpn"]["public_key"])
            offer = RelayOffer(relay_key, (f"{UNDERLAY[0]}:{PORT}",), (UNITS_PER_PAC,), (0,))
            registered = relay.submit(
                Transaction(
                    CHAIN_ID, relay_account.public_key, 0, FEE, RelayRegister(offer)
                ).signed(relay_account)
            )
            other.wait_for("the registration on both sides", lambda: other.confirmed(registered))

            lab.run(lab.namespaces[0], "ip", "link", "set", f"pv{lab.tag}a", "down")
            nonce = 0
            opening = relay.submit(
                Transaction(
                    CHAIN_ID,
                    client_account.public_key,
                    nonce,
                    FEE,
                    ChannelOpen(
                        relay_account.address,
                        UNITS_PER_PAC,
                        0,
                        tunnel_key,
                        relay.status()["height"] + 500,
                    ),
                ).signed(client_account)
            )
            spent = other.submit(
                Transaction(
                    CHAIN_ID,
                    client_account.public_key,
                    nonce,
                    FEE,
                    Transfer(devnet_key(4).address, UNITS_PER_PAC),
                ).signed(client_account)
            )
            relay.wait_for(
                "the opening mined on the relay's side", lambda: relay.confirmed(opening)
            )
            admitted = base64.b64encode(tunnel_key).decode()
            relay.wait_for("the client admitted", lambda: admitted in peers_of_relay())
            other.wait_for("the transfer mined on the other side", lambda: other.confirmed(spent))

            relay.admin("/api/admin/produce", {"producing": False})
            lead = relay.status()["height"] + 3
            other.wait_for("the other side ahead", lambda: other.status()["height"] >= lead)
            lab.run(lab.namespaces[0], "ip", "link", "set", f"pv{lab.tag}a", "up")

            relay.wait_for(
                "the other side's chain", lambda: relay.confirmed(spent), deadline_s=60.0
            )
            relay.wait_for("the peer removed", lambda: admitted not in peers_of_relay())
            assert not relay.confirmed(opening)
            assert relay.get("/api/vpn/tunnels")["tunnels"] == []
        except AssertionError:
            for node in started:
                print(f"--- {node.name}\n{node.log_text()[-5000:]}")
            raise
        finally:
            for node in started:
                node.close()
