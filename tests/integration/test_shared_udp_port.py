"""One UDP port of a running `pacatad --vpn` serves STUN, the DHT and WireGuard at once.

The node runs in namespace A (pacata/testing/netns_lab.py) with its VPN side on: the userspace
WireGuard engine owns the node's UDP port and hands the datagrams that are not WireGuard's to
the STUN and DHT cores. From namespace B, strangers reach that one port:

- a standard STUN client (coturn's `turnutils_stunclient`, RFC 5389) learns its reflexive
  address;
- a DHT client with a key of its own (`python -m pacata.testing.dht_lookup`) joins through the
  node and finds the node's signed record, whose WireGuard key is the interface's;
- `wireguard-go`, configured with the stock `wg` tool, handshakes with the node's interface
  and pings across the tunnel.

The node's interface is configured with `wg` as a wireguard-go one would be, except for its key
and port, which the node pins (a change is refused). Every wait polls a condition with a
deadline; the namespaces, the interfaces and every process are removed in `finally`.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pacata.testing.netns_lab import (
    OVERLAY,
    UNDERLAY,
    WIREGUARD_PORT,
    LabError,
    NamespaceLab,
    missing_requirements,
    wait_until,
)
from pacata.testing.node_process import NodeProcess, write_test_genesis
from pacata.vpn.io.uapi_server import SOCKET_DIRECTORY, socket_path

pytestmark = [pytest.mark.slow, pytest.mark.root]

NODE_PORT = 19_741
RPC_PORT = 19_740


def _requirements() -> str | None:
    missing = missing_requirements()
    if missing is None and shutil.which("turnutils_stunclient") is None:
        missing = "`turnutils_stunclient` (Debian coturn) is not installed"
    return missing


def test_stun_dht_and_wireguard_share_the_port_of_a_running_node(tmp_path: Path) -> None:
    missing = _requirements()
    if missing is not None:
        pytest.skip(missing)
    genesis = write_test_genesis(
        tmp_path / "genesis.json",
        chain_id="pacata-shared-port-1",
        timestamp_ms=time.time_ns() // 1_000_000 - 5_000,
    )
    with NamespaceLab() as lab:
        node_ns, stranger_ns = lab.namespaces
        interface = f"pw{lab.tag}a"
        lab.sockets.append(socket_path(interface, SOCKET_DIRECTORY))
        api_host = lab.reach(0)
        node = NodeProcess(
            "vpn-node",
            genesis=genesis,
            datadir=tmp_path / "node",
            listen=f"{UNDERLAY[0]}:{NODE_PORT}",
            rpc_host=api_host,
            rpc_port=RPC_PORT,
            log_dir=tmp_path,
            wrapper=["ip", "netns", "exec", node_ns],
            extra=["--vpn", "--vpn-interface", interface],
        )
        try:
            node.wait_ready()
            status = node.status()
            vpn = status["vpn"]
            assert vpn["interface"] == interface
            assert vpn["listen_port"] == NODE_PORT
            node_key = bytes.fromhex(vpn["public_key"])
            # The engine owns the port; `wg` sees the node's key and port, and may not move them.
            shown = lab.run(node_ns, "wg", "show", interface, "dump").split("\n")[0].split("\t")
            assert base64.b64decode(shown[1]) == node_key
            assert int(shown[2]) == NODE_PORT
            refused = subprocess.run(
                ["ip", "netns", "exec", node_ns, "wg", "set", interface, "listen-port", "5555"],
                capture_output=True,
                text=True,
                check=False,
            )
            assert refused.returncode != 0
            assert "Operation not permitted" in refused.stderr

            # STUN: a standard client in B learns the address the node sees it at.
            stun = subprocess.run(
                ["ip", "netns", "exec", stranger_ns,
                 "turnutils_stunclient", "-p", str(NODE_PORT), UNDERLAY[0]],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert stun.returncode == 0, stun.stdout + stun.stderr
            assert re.search(rf"UDP reflexive addr: {re.escape(UNDERLAY[1])}:\d+", stun.stdout)

            # DHT: a stranger joins through the node and finds the node's record by its id.
            lookup = subprocess.run(
                ["ip", "netns", "exec", stranger_ns, sys.executable,
                 "-m", "pacata.testing.dht_lookup", f"{UNDERLAY[0]}:{NODE_PORT}",
                 status["node_id"]],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert lookup.returncode == 0, lookup.stdout + lookup.stderr
            record = json.loads(lookup.stdout)["record"]
            assert record["node_id"] == status["node_id"]
            assert bytes.fromhex(record["wireguard_key"]) == node_key
            assert f"udp://{UNDERLAY[0]}:{NODE_PORT}" in record["endpoints"]

            # WireGuard: wireguard-go in B handshakes with the node's interface, and pings.
            peer = lab.start(1, "wireguard-go")
            lab.wg(
                peer,
                "set", peer.interface,
                "private-key", lab.key_file(peer),
                "listen-port", str(WIREGUARD_PORT),
                "peer", base64.b64encode(node_key).decode(),
                "endpoint", f"{UNDERLAY[0]}:{NODE_PORT}",
                "allowed-ips", f"{OVERLAY[0]}/32",
            )  # fmt: skip
            lab.run(
                node_ns, "wg", "set", interface,
                "peer", peer.public_key_base64, "allowed-ips", f"{OVERLAY[1]}/32",
            )  # fmt: skip
            lab.run(node_ns, "ip", "addr", "add", f"{OVERLAY[0]}/24", "dev", interface)
            ping = lab.ping(1, OVERLAY[0], count=5, interval=0.2)
            assert ping.received >= 4, ping

            handshake = lab.run(node_ns, "wg", "show", interface, "latest-handshakes").split()
            assert handshake[0] == peer.public_key_base64
            assert int(handshake[1]) > 0
            vpn = node.status()["vpn"]
            assert vpn["peers"] == 1 and vpn["rx_bytes"] > 0 and vpn["tx_bytes"] > 0
            # The other protocols still answer after WireGuard traffic went through.
            again = subprocess.run(
                ["ip", "netns", "exec", stranger_ns,
                 "turnutils_stunclient", "-p", str(NODE_PORT), UNDERLAY[0]],
                capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert again.returncode == 0, again.stdout + again.stderr

            # A clean stop removes the interface and its configuration socket.
            assert node.stop() == 0
            wait_until(
                lambda: interface not in lab.run(node_ns, "ip", "-br", "link"),
                10,
                "the interface to go",
            )
            assert not socket_path(interface, SOCKET_DIRECTORY).exists()
        except (AssertionError, LabError):
            print(node.log_text()[-6000:])
            raise
        finally:
            node.close()
