"""A paid-tunnel network in two namespaces: a producer, a relay and a client, real `pacatad`s.

    with PaidTunnelLab(tmp_path) as paid:
        paid.register_relay([price_per_gib])
        channel_id = paid.open_channel(deposit=2 * UNITS_PER_PAC, blocks=40)
        paid.wait_up(channel_id)
        paid.lab.transfer(1, paid.relay_overlay, 100_000_000)

Namespace A (`lab.namespaces[0]`) holds the producer (devnet producer key 0, producing) and the
relay (`--relay`, its account devnet key 1); namespace B the client (`--vpn`, its account devnet
key 2), which reaches both over the veth (pacata/testing/netns_lab.py). Each node's API is on a
management link of its namespace. `tests/integration/test_paid_*.py` and
`benchmarks/paid_tunnel.py` use it. Every process is killed and every namespace deleted on
exit, whatever happened; every wait polls a condition with a deadline.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import load_genesis
from pacata.chain.params import ChainParams
from pacata.testing.netns_lab import UNDERLAY, WIREGUARD_PORT, NamespaceLab, WireGuardEnd
from pacata.testing.node_process import (
    NodeProcess,
    write_account_key,
    write_producer_key,
    write_test_genesis,
)
from pacata.vpn.io.uapi_server import SOCKET_DIRECTORY, socket_path
from pacata.vpn.overlay import overlay_address

PRODUCER_PORT, RELAY_PORT, CLIENT_PORT = 19_771, 19_772, 19_773
RPC_PORT = 19_770
RELAY_ACCOUNT, CLIENT_ACCOUNT = devnet_key(1), devnet_key(2)


class PaidTunnelLab:
    def __init__(
        self,
        directory: Path,
        *,
        chain_id: str = "pacata-paid-lab-1",
        genesis_params: dict[str, Any] | None = None,
        relay_flags: Sequence[str] = (),
        client_flags: Sequence[str] = (),
    ) -> None:
        self.directory = directory
        self.genesis = write_test_genesis(
            directory / "genesis.json",
            chain_id=chain_id,
            timestamp_ms=time.time_ns() // 1_000_000 - 2_000,
            **(genesis_params or {}),
        )
        self.params: ChainParams = load_genesis(self.genesis).params
        self.relay_flags = tuple(relay_flags)
        self.client_flags = tuple(client_flags)
        self.lab = NamespaceLab()
        self.nodes: list[NodeProcess] = []
        self.relay_address = str(RELAY_ACCOUNT.address)
        self.client_address = str(CLIENT_ACCOUNT.address)

    # -- life cycle ---------------------------------------------------------------------------

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def start(self) -> None:
        self.lab.open()
        self.interfaces = (f"pw{self.lab.tag}a", f"pw{self.lab.tag}b")
        self.lab.sockets += [socket_path(name, SOCKET_DIRECTORY) for name in self.interfaces]
        self.api_hosts = (self.lab.reach(0), self.lab.reach(1))
        write_producer_key(self.directory / "producer", 0)
        write_account_key(self.directory / "relay", RELAY_ACCOUNT)
        write_account_key(self.directory / "client", CLIENT_ACCOUNT)
        self.producer = self._start("producer", 0, PRODUCER_PORT, RPC_PORT)
        self.relay = self._start_relay()
        self.client = self._start(
            "client", 1, CLIENT_PORT, RPC_PORT,
            "--vpn", "--vpn-interface", self.interfaces[1], "--bootnode", self.bootnode,
            *self.client_flags,
        )  # fmt: skip
        for node in self.nodes:
            node.wait_ready()
        self.relay_key = bytes.fromhex(self.relay.status()["vpn"]["public_key"])
        self.relay_overlay = str(overlay_address(self.relay_key))

    @property
    def bootnode(self) -> str:
        return f"{UNDERLAY[0]}:{PRODUCER_PORT}"

    def _start_relay(self) -> NodeProcess:
        return self._start(
            "relay", 0, RELAY_PORT, RPC_PORT + 1,
            "--relay", "--vpn-interface", self.interfaces[0], "--bootnode", self.bootnode,
            *self.relay_flags,
        )  # fmt: skip

    def restart_relay(self, *, kill: bool) -> NodeProcess:
        """Stops the relay (SIGKILL with `kill`, else SIGTERM) and starts it again on the same
        data directory; waits until it is ready."""
        if kill:
            self.relay.close()
        else:
            self.relay.stop()
        self.nodes.remove(self.relay)
        self.relay = self._start_relay()
        self.relay.wait_ready()
        return self.relay

    def _start(self, name: str, side: int, port: int, rpc_port: int, *extra: str) -> NodeProcess:
        node = NodeProcess(
            name,
            genesis=self.genesis,
            datadir=self.directory / name,
            listen=f"{UNDERLAY[side]}:{port}",
            rpc_host=self.api_hosts[side],
            rpc_port=rpc_port,
            produce=name == "producer",
            log_dir=self.directory,
            wrapper=["ip", "netns", "exec", self.lab.namespaces[side]],
            extra=extra,
        )
        self.nodes.append(node)
        return node

    def close(self) -> None:
        for node in self.nodes:
            node.close()
        self.nodes.clear()
        self.lab.close()

    def logs(self) -> str:
        return "\n".join(f"--- {node.name}\n{node.log_text()[-6000:]}" for node in self.nodes)

    # -- the market ---------------------------------------------------------------------------

    def register_relay(self, prices: Sequence[int], rate_limits: Sequence[int] = ()) -> str:
        """Registers the relay's offer through its API; waits until the client's node has it."""
        body: dict[str, Any] = {"action": "register", "prices_per_gib": list(prices)}
        if rate_limits:
            body["rate_limits"] = list(rate_limits)
        offered = self.relay.admin("/api/vpn/relay", body)
        if offered.get("status") != "pending":
            raise AssertionError(f"the relay's offer was refused: {offered}")
        txid = str(offered["txid"])
        self.client.wait_for("the relay's offer", lambda: self.client.confirmed(txid))
        return txid

    def open_channel(self, *, deposit: int, blocks: int, tier: int = 0) -> str:
        """Opens a channel from the client's account through its API; its id."""
        opened = self.submit_channel_open(deposit=deposit, blocks=blocks, tier=tier)
        return str(opened["channel_id"])

    def submit_channel_open(self, *, deposit: int, blocks: int, tier: int = 0) -> dict[str, Any]:
        """Opens a channel from the client's account through its API; the API's whole answer
        (`txid`, `channel_id`, `expiry_height`, `status`)."""
        body = {"relay": self.relay_address, "deposit": deposit, "blocks": blocks, "tier": tier}
        opened = self.client.admin("/api/vpn/channels", body)
        if opened.get("status") != "pending":
            raise AssertionError(f"the channel's opening was refused: {opened}")
        return dict(opened)

    def tunnel(self, node: NodeProcess, channel_id: str) -> dict[str, Any] | None:
        """The channel as `node` lists it (`GET /api/vpn/tunnels`), or None."""
        for tunnel in node.get("/api/vpn/tunnels")["tunnels"]:
            if tunnel["channel_id"] == channel_id:
                return dict(tunnel)
        return None

    def is_up(self, node: NodeProcess, channel_id: str) -> bool:
        tunnel = self.tunnel(node, channel_id)
        return tunnel is not None and tunnel["state"] == "up"

    def wait_up(self, channel_id: str) -> None:
        self.relay.wait_for("the client admitted", lambda: self.is_up(self.relay, channel_id))
        self.client.wait_for("the relay added", lambda: self.is_up(self.client, channel_id))

    def stranger(self) -> WireGuardEnd:
        """A stock WireGuard peer (`wireguard-go`) in the client's namespace, configured with
        `wg` toward the relay (its key, endpoint and overlay address) as a client would be,
        with its own overlay address and a route to the relay's; no channel is opened."""
        lab = self.lab
        end = lab.start(1, "wireguard-go")
        lab.wg(
            end,
            "set", end.interface,
            "private-key", lab.key_file(end),
            "listen-port", str(WIREGUARD_PORT),
            "peer", base64.b64encode(self.relay_key).decode(),
            "endpoint", f"{UNDERLAY[0]}:{RELAY_PORT}",
            "allowed-ips", f"{self.relay_overlay}/128",
        )  # fmt: skip
        namespace = lab.namespaces[1]
        own = f"{overlay_address(end.public_key)}/128"
        lab.run(namespace, "ip", "-6", "addr", "add", own, "dev", end.interface, "nodad")
        route = f"{self.relay_overlay}/128"
        lab.run(namespace, "ip", "-6", "route", "add", route, "dev", end.interface)
        return end

    def relay_wg(self, *what: str) -> str:
        """`wg show` of the relay's interface (`what`: peers, transfer, allowed-ips, …)."""
        return self.lab.run(self.lab.namespaces[0], "wg", "show", self.interfaces[0], *what)

    def balance(self, address: str) -> tuple[int, int]:
        """(balance, nonce) of an account, as the producer sees it."""
        account = self.producer.get(f"/api/accounts/{address}")
        return int(account.get("balance", 0)), int(account.get("nonce", 0))
