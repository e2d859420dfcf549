"""The paid-tunnel commands of `pacata-vpn` (pacata/cli/vpn_commands.py, relay_commands.py)
against a real node API: the VPN plugin's API (`VpnApi`) of `NodeService`s on an in-memory
chain, served by `create_app` on real ports by aiohttp on a thread of its own, and the commands
run in-process (`main` returns the status). Two nodes share the chain: a relay (devnet
account 1) and a client (account 2).

No tunnel comes up by itself here (there is no VPN side): the client's API moves its tunnels
one step each time they are listed while `stepping` is on — the opening is mined, it gets deep
enough and its relay is planned as a peer (connecting), the relay answers (up) — which is what
a real node's tunnels go through over blocks."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

import pacata.cli.vpn_commands
from pacata.chain.devnet import devnet_key
from pacata.chain.keys import Address
from pacata.chain.mempool import Mempool
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.transactions import ChannelOpen, RelayOffer, RelayRegister
from pacata.cli.amounts import MAX_AMOUNT, pac_text, pac_to_units
from pacata.cli.main import main
from pacata.node.api import create_app
from pacata.node.cookie import AdminCookie
from pacata.node.endpoints import Endpoint
from pacata.node.plugins import NodePlugin
from pacata.node.service import NodeService
from pacata.node.vpn_api import VpnApi
from pacata.node.vpn_chain import AccountTransactions, channel_records, relay_of
from pacata.p2p.records import Endpoint as RecordEndpoint
from pacata.p2p.records import NodeRecord, Transport
from pacata.testing import ChainFactory
from pacata.testing.clock import ManualClock
from pacata.testing.node_process import free_port
from pacata.vpn.channel_peers import ChannelPeers
from pacata.vpn.overlay import overlay_address

RELAY, CLIENT, OTHER_RELAY = devnet_key(1), devnet_key(2), devnet_key(3)
RELAY_WIREGUARD_KEY = bytes(range(32))
CLIENT_WIREGUARD_KEY = bytes(range(1, 33))
CONFIRMATIONS = 2
T = TypeVar("T")


# The commands that have the node sign a transaction ask first; these tests answer with --yes
# (test_a_node_signed_command_asks_first checks the question).
SIGNED_BY_NODE = {("connect",), ("relay", "register"), ("relay", "update"), ("relay", "retire")}


def _confirmed(arguments: tuple[str, ...]) -> list[str]:
    signed = arguments[:1] in SIGNED_BY_NODE or arguments[:2] in SIGNED_BY_NODE
    return ["--yes"] if signed and "--dry-run" not in arguments else []


class ApiServer:
    """aiohttp apps on real ports, served by an event loop on a thread of its own; `run`
    calls a function on that thread (where the services live)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runners: list[web.AppRunner] = []

    def serve(self, service: NodeService, token: str) -> str:
        async def start() -> str:
            runner = web.AppRunner(create_app(service, token))
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.runners.append(runner)
            host, port = runner.addresses[0][:2]
            return f"http://{host}:{port}"

        return asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=10)

    def run(self, function: Callable[[], T]) -> T:
        async def call() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=10)

    def close(self) -> None:
        async def stop() -> None:
            for runner in self.runners:
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


class ApiOnly(NodePlugin):
    name = "vpn-api"

    def __init__(self, api: VpnApi) -> None:
        self.api = api

    def endpoints(self) -> tuple[Endpoint, ...]:
        return self.api.endpoints()


class SteppingApi(VpnApi):
    """The client's API; while `stepping`, each listing of the tunnels first moves them one
    step on: an opening is seen pending once, then mined (one block deep: confirming), then
    a block later its relay is planned as a peer awaiting its answer (connecting), then the
    relay answers (up)."""

    stepping = False
    factory: ChainFactory
    seen_pending: set[bytes]

    async def list_tunnels(self, request: web.Request) -> web.StreamResponse:
        if self.stepping:
            self.step()
        return await super().list_tunnels(request)

    def step(self) -> None:
        awaiting = self.awaiting
        assert isinstance(awaiting, dict)
        chain = self.service.chain
        openings = [
            tx for tx in self.service.mempool.transactions() if isinstance(tx.payload, ChannelOpen)
        ]
        planned = {peer.channel_id for peer in self.channels.applied.values()}
        if any(tx.txid not in self.seen_pending for tx in openings):
            self.seen_pending.update(tx.txid for tx in openings)
            return
        if openings:
            mine(self.service, self.factory, openings)
        elif awaiting:
            awaiting.clear()
        elif set(self.channels.channels) - planned:
            mine(self.service, self.factory, [])
        else:
            return
        self.channels.resync(channel_records(chain))
        plan = self.channels.plan(chain.height, lambda address: offer_of(chain, address))
        for peer in plan.add:
            awaiting[peer.public_key] = peer


def offer_of(chain: Any, address: Address) -> RelayOffer | None:
    record = relay_of(chain, address)
    return None if record is None else record.offer


def mine(service: NodeService, factory: ChainFactory, transactions: list[Any]) -> None:
    service.import_block(factory.next_block(transactions, connect=False))


@dataclass
class Network:
    server: ApiServer
    factory: ChainFactory
    relay: NodeService
    client: NodeService
    client_api: SteppingApi
    relay_url: str
    client_url: str
    relay_dir: Path
    client_dir: Path

    def mine_relay(self) -> None:
        """A block with what the relay node's mempool holds."""
        self.server.run(lambda: mine(self.relay, self.factory, self.relay.mempool.transactions()))

    def at_relay(self, *arguments: str) -> list[str]:
        node = ["--node", self.relay_url, "--datadir", str(self.relay_dir)]
        return [*arguments, *_confirmed(arguments), *node]

    def at_client(self, *arguments: str) -> list[str]:
        node = ["--node", self.client_url, "--datadir", str(self.client_dir)]
        return [*arguments, *_confirmed(arguments), *node]

    def register_relay(self, capsys: pytest.CaptureFixture[str]) -> None:
        command = ["relay", "register", "--price", "0.2", "--price", "0.6"]
        assert run_json(self.at_relay(*command), capsys)["status"] == "pending"
        self.mine_relay()

    def client_mempool(self) -> list[Any]:
        return self.server.run(lambda: list(self.client.mempool.transactions()))


def node_service(factory: ChainFactory) -> NodeService:
    clock = ManualClock(wall_ms=factory.chain.tip.timestamp_ms + 3_600_000)
    return NodeService(factory.chain, Mempool(factory.chain), clock)


def meter_view(channel_id: bytes) -> dict[str, int]:
    """What the client's meter says of every channel: 1.5 PAC signed for, 1 acknowledged."""
    return {
        "receipted": UNITS_PER_PAC * 3 // 2,
        "acknowledged": UNITS_PER_PAC,
        "counted_bytes": 3 * 2**30,
    }


@pytest.fixture
def network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    monkeypatch.setattr(pacata.cli.vpn_commands, "POLL_S", 0.01)
    monkeypatch.setenv("PACATA_WALLET_DIR", str(tmp_path / "wallets"))
    factory = ChainFactory()
    server = ApiServer()
    relay = node_service(factory)
    record = NodeRecord.create(
        RELAY, 1, (RecordEndpoint(Transport.UDP, "192.0.2.1", 9741),), RELAY_WIREGUARD_KEY
    )
    relay.add_plugin(
        ApiOnly(
            VpnApi(
                relay,
                AccountTransactions(relay, RELAY),
                ChannelPeers(RELAY.address, RELAY.public_key, CONFIRMATIONS),
                interface="pacata0",
                wireguard_key=RELAY_WIREGUARD_KEY,
                record=lambda: record,
            )
        )
    )
    client = node_service(factory)
    client_api = SteppingApi(
        client,
        AccountTransactions(client, CLIENT),
        ChannelPeers(CLIENT.address, CLIENT.public_key, CONFIRMATIONS),
        interface="pacata1",
        wireguard_key=CLIENT_WIREGUARD_KEY,
        record=lambda: NodeRecord.create(CLIENT, 1, (), CLIENT_WIREGUARD_KEY),
        awaiting={},
        meter_view=meter_view,
    )
    client_api.factory = factory
    client_api.seen_pending = set()
    client.add_plugin(ApiOnly(client_api))
    relay_dir, client_dir = tmp_path / "relay", tmp_path / "client"
    relay_dir.mkdir()
    client_dir.mkdir()
    try:
        yield Network(
            server,
            factory,
            relay,
            client,
            client_api,
            server.serve(relay, AdminCookie.create(relay_dir).token),
            server.serve(client, AdminCookie.create(client_dir).token),
            relay_dir,
            client_dir,
        )
    finally:
        server.close()


def run_json(arguments: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    """The JSON document a command printed, after checking it succeeded and said nothing else."""
    status = main([*arguments, "--json"])
    out, err = capsys.readouterr()
    assert (status, err) == (0, ""), err
    return json.loads(out)


def failed(status: int, capsys: pytest.CaptureFixture[str], code: int) -> str:
    """The one line a failed command wrote on standard error (nothing on standard output)."""
    out, err = capsys.readouterr()
    assert status == code, err
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# -- relay offers ---------------------------------------------------------------------------


def test_relay_register_update_and_retire(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    command = ["relay", "register", "--price", "0.2", "--price", "0.6"]
    command += ["--rate-limit", "0", "--rate-limit", "12500000"]
    status = main(network.at_relay(*command))
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert "relay register sent (txid " in out and str(RELAY.address) in out
    assert "tier 0: 0.20000000 PAC/GiB, unlimited" in out
    assert "tier 1: 0.60000000 PAC/GiB, 12,500,000 B/s" in out
    assert "at 192.0.2.1:9741" in out
    [tx] = network.server.run(lambda: list(network.relay.mempool.transactions()))
    assert isinstance(tx.payload, RelayRegister)
    offer = tx.payload.offer
    assert offer.prices_per_gib == (20_000_000, 60_000_000)
    assert offer.rate_limits == (0, 12_500_000)
    assert offer.wireguard_key == RELAY_WIREGUARD_KEY
    network.mine_relay()

    listed = run_json(network.at_client("relay", "list"), capsys)
    assert listed["count"] == 1
    [relay] = listed["relays"]
    assert relay["address"] == str(RELAY.address)
    assert relay["offer"]["prices_per_gib"] == [20_000_000, 60_000_000]
    assert relay["offer"]["wireguard_key"] == RELAY_WIREGUARD_KEY.hex()
    assert main(network.at_client("relay", "list")) == 0
    assert str(RELAY.address) in capsys.readouterr().out

    command = ["relay", "update", "--price", "0.1", "--endpoint", "[2001:db8::7]:51820"]
    updated = run_json(network.at_relay(*command), capsys)
    assert updated["action"] == "update" and updated["status"] == "pending"
    assert updated["endpoints"] == ["[2001:db8::7]:51820"]
    assert updated["prices_per_gib"] == [10_000_000] and updated["rate_limits"] == [0]
    network.mine_relay()

    retired = run_json(network.at_relay("relay", "retire"), capsys)
    assert retired["action"] == "retire" and retired["relay"] == str(RELAY.address)
    # A second one is the node's refusal (its mempool's reason): one line, exit 1.
    error = failed(main(network.at_relay("relay", "retire")), capsys, 1)
    assert error == (
        "pacata-vpn relay retire: this account is not a registered relay (after the sender's 1 "
        "pending transactions)\n"
    )


def test_the_nodes_refusal_is_one_line_and_exit_1(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    # The client's account is no relay: its mempool refuses an update (the node's reason).
    status = main(network.at_client("relay", "update", "--price", "1"))
    assert failed(status, capsys, 1).startswith("pacata-vpn relay update: ")
    network.register_relay(capsys)
    status = main(network.at_client("connect", str(CLIENT.address), "--no-wait"))
    error = failed(status, capsys, 1)
    assert error.startswith("pacata-vpn connect: ") and "not a registered relay" in error
    status = main(network.at_client("connect", str(RELAY.address), "--tier", "5"))
    assert "no tier 5" in failed(status, capsys, 1)
    status = main(network.at_client("connect", str(RELAY.address), "--deposit", "1000000000"))
    assert "balance" in failed(status, capsys, 1)
    assert network.client_mempool() == []


# -- connect --------------------------------------------------------------------------------


def test_connect_without_waiting(network: Network, capsys: pytest.CaptureFixture[str]) -> None:
    network.register_relay(capsys)
    command = ["connect", str(RELAY.address), "--deposit", "5", "--tier", "1", "--blocks", "500"]
    opened = run_json(network.at_client(*command, "--no-wait"), capsys)
    [tx] = network.client_mempool()
    payload = tx.payload
    assert isinstance(payload, ChannelOpen)
    assert (payload.relay, payload.deposit, payload.tier) == (RELAY.address, 5 * UNITS_PER_PAC, 1)
    assert payload.client_tunnel_key == CLIENT_WIREGUARD_KEY
    assert payload.expiry_height == network.factory.chain.height + 500
    assert opened == {
        "channel_id": opened["channel_id"],
        "txid": tx.txid.hex(),
        "relay": str(RELAY.address),
        "tier": 1,
        "deposit": 5 * UNITS_PER_PAC,
        "expiry_height": payload.expiry_height,
        "state": "pending",
        "interface": "pacata1",
        "overlay_address": str(overlay_address(CLIENT_WIREGUARD_KEY)),
        "peer_address": None,
        "endpoint": None,
    }
    assert len(bytes.fromhex(opened["channel_id"])) == 32

    status = main(network.at_client("connect", str(RELAY.address), "--no-wait"))
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert "opened channel " in out and "deposit 1.00000000 PAC" in out
    assert f"once the opening is {CONFIRMATIONS} blocks deep" in out


def test_connect_waits_until_the_tunnel_is_up(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    network.register_relay(capsys)
    network.client_api.stepping = True
    status = main(network.at_client("connect", str(RELAY.address), "--deposit", "2.5"))
    out, err = capsys.readouterr()
    assert (status, err) == (0, ""), err
    lines = out.splitlines()
    assert lines[0].startswith("opened channel ")
    channel = lines[0].split()[2]
    assert lines[1:4] == [
        "confirming: the opening waits for a block",
        f"confirming: 1 of {CONFIRMATIONS} blocks deep",
        "connecting: waiting for the relay at 192.0.2.1:9741 to answer",
    ]
    assert lines[4] == f"up: channel {channel} through relay {RELAY.address} at 192.0.2.1:9741"
    assert lines[5].split() == [
        "this",
        "node",
        str(overlay_address(CLIENT_WIREGUARD_KEY)),
        "(pacata1)",
    ]
    assert lines[6].split() == ["relay", str(overlay_address(RELAY_WIREGUARD_KEY))]


def test_connect_json_waits_silently(network: Network, capsys: pytest.CaptureFixture[str]) -> None:
    network.register_relay(capsys)
    network.client_api.stepping = True
    up = run_json(network.at_client("connect", str(RELAY.address)), capsys)
    assert up["state"] == "up" and up["endpoint"] == "192.0.2.1:9741"
    assert up["peer_address"] == str(overlay_address(RELAY_WIREGUARD_KEY))
    assert up["deposit"] == UNITS_PER_PAC


def test_connect_without_a_relay_takes_the_cheapest(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(network.at_client("connect", "--no-wait"))
    assert "no relay on the chain offers tier 0" in failed(status, capsys, 1)
    network.register_relay(capsys)  # 0.2 PAC/GiB at tier 0
    cheaper = RelayOffer(bytes(32), ("198.51.100.3:9741",), (10_000_000,), (0,))
    register = network.factory.sign(OTHER_RELAY, RelayRegister(cheaper))
    network.server.run(lambda: mine(network.relay, network.factory, [register]))

    status = main(network.at_client("connect", "--no-wait"))
    out, _ = capsys.readouterr()
    assert status == 0
    assert out.splitlines()[0] == (
        f"no relay named: {OTHER_RELAY.address}, the cheapest offering tier 0 (0.10000000 PAC/GiB)"
    )
    opened = run_json(network.at_client("connect", "--tier", "1", "--no-wait"), capsys)
    assert opened["relay"] == str(RELAY.address)  # the only one with a tier 1


def test_connect_gives_up_at_its_deadline(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    network.register_relay(capsys)
    status = main(network.at_client("connect", str(RELAY.address), "--timeout", "0.05"))
    out, err = capsys.readouterr()
    assert status == 1 and "Traceback" not in err and err.count("\n") == 1
    assert "is not up after 0.05 s (still confirming); it stays open" in err
    assert out.splitlines()[-1] == "confirming: the opening waits for a block"


# -- status and disconnect --------------------------------------------------------------------


def connected(network: Network, capsys: pytest.CaptureFixture[str]) -> str:
    """The id of a channel of the client whose tunnel is up."""
    network.register_relay(capsys)
    network.client_api.stepping = True
    up = run_json(network.at_client("connect", str(RELAY.address), "--deposit", "5"), capsys)
    network.client_api.stepping = False
    channel: str = up["channel_id"]
    return channel


def test_status_in_both_formats(network: Network, capsys: pytest.CaptureFixture[str]) -> None:
    channel = connected(network, capsys)
    document = run_json(network.at_client("status"), capsys)
    height = network.factory.chain.height
    assert document["node"] == {
        "url": network.client_url,
        "chain_id": "pacata-devnet-1",
        "height": height,
        "peers": 0,
        "syncing": False,
        "sync": {"target_height": 0, "downloaded": 0},
    }
    assert document["wallets"] == []
    assert document["vpn"] == {
        "interface": "pacata1",
        "overlay_address": str(overlay_address(CLIENT_WIREGUARD_KEY)),
        "account": str(CLIENT.address),
        "confirmations": CONFIRMATIONS,
    }
    [tunnel] = document["tunnels"]
    assert tunnel["channel_id"] == channel
    assert (tunnel["role"], tunnel["relay"], tunnel["state"]) == (
        "client",
        str(RELAY.address),
        "up",
    )
    assert (tunnel["deposit"], tunnel["paid"]) == (5 * UNITS_PER_PAC, 0)
    assert (tunnel["receipted"], tunnel["acknowledged"]) == (150_000_000, 100_000_000)
    assert tunnel["counted_bytes"] == 3 * 2**30
    assert tunnel["deposit_left"] == 350_000_000

    status = main(network.at_client("status"))
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert f"pacata-devnet-1 at height {height}, 0 peers, in sync" in out
    assert str(overlay_address(CLIENT_WIREGUARD_KEY)) in out and "pacata1" in out
    assert channel[:12] in out and "up" in out and "3.0 GiB" in out
    for amount in ("5.00000000", "0.00000000", "1.50000000", "1.00000000", "3.50000000"):
        assert amount in out
    expiry = tunnel["expiry_height"]
    assert f"{expiry} (in {expiry - height})" in out

    relay_status = run_json(network.at_relay("status"), capsys)
    assert relay_status["tunnels"] == []  # its channel peers were never told of the channel
    assert main(network.at_relay("status")) == 0
    assert "no channels" in capsys.readouterr().out


def test_disconnect(network: Network, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(network.at_client("disconnect"))
    assert "no tunnel of this node as a client is up or connecting" in failed(status, capsys, 1)
    channel = connected(network, capsys)
    status = main(network.at_client("disconnect", "00" * 32))
    assert "pays no channel" in failed(status, capsys, 1)
    status = main(network.at_client("disconnect", "ffffffff"))
    assert "no channel of the node's account starts with ffffffff" in failed(status, capsys, 1)

    left = run_json(network.at_client("disconnect"), capsys)
    grace = network.factory.chain.params.settlement_grace_blocks
    expiry = network.server.run(lambda: network.client_api.channels.channels)[
        bytes.fromhex(channel)
    ].expiry_height
    assert left == {
        "channel_id": channel,
        "status": "disconnected",
        "close_height": expiry + grace + 1,
    }
    assert bytes.fromhex(channel) in network.client_api.channels.stopped
    # By its first digits, in either case, as often as one likes.
    status = main(network.at_client("disconnect", channel[:8].upper()))
    out, _ = capsys.readouterr()
    assert status == 0
    assert out == (
        f"disconnected channel {channel}: its tunnel is down; the node closes the channel and "
        f"claims its refund from height {expiry + grace + 1}\n"
    )


def test_disconnect_without_an_id_wants_one_when_two_are_up(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    first = connected(network, capsys)
    offer = RelayOffer(bytes(32), ("198.51.100.3:9741",), (10_000_000,), (0,))
    register = network.factory.sign(OTHER_RELAY, RelayRegister(offer))
    network.server.run(lambda: mine(network.relay, network.factory, [register]))
    network.client_api.stepping = True
    second = run_json(network.at_client("connect", str(OTHER_RELAY.address)), capsys)
    network.client_api.stepping = False
    status = main(network.at_client("disconnect"))
    error = failed(status, capsys, 2)
    assert "2 tunnels are up or connecting, name one: " in error
    assert f"{first[:12]} (up)" in error and f"{second['channel_id'][:12]} (up)" in error
    assert network.client_api.channels.stopped == set()


# -- what is refused before anything is sent --------------------------------------------------

RELAY_TEXT = str(RELAY.address)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (["connect", RELAY_TEXT, "--deposit", "1.123456789"], "has 9 decimals: PAC has 8"),
        (["connect", RELAY_TEXT, "--deposit", "-1"], "-1 is negative"),
        (["connect", RELAY_TEXT, "--deposit", "0"], "0 is zero"),
        (["connect", RELAY_TEXT, "--deposit", "0.00000000"], "is zero"),
        (["connect", RELAY_TEXT, "--deposit", "1e3"], "is not an amount of PAC"),
        (["connect", RELAY_TEXT, "--deposit", "184467440738"], "more than the largest amount"),
        (["connect", "pac1nope"], "'pac1nope' is not a pac1 address"),
        (["connect", RELAY_TEXT[:-1] + "q"], "is not a pac1 address"),
        (["connect", RELAY_TEXT, "--tier", "8"], "a tier is a whole number within 0-7"),
        (["connect", RELAY_TEXT, "--blocks", "0"], "within 1-4294967296"),
        (["connect", RELAY_TEXT, "--timeout", "-1"], "a timeout is a positive number"),
        (["connect", RELAY_TEXT, "--node", "ftp://x"], "not an http:// URL nor HOST:PORT"),
        (["status", "--node", "http://"], "'http://' is not an http:// URL nor HOST:PORT"),
        (["status", "--node", "http://a:99999"], "not an http:// URL nor HOST:PORT"),
        (["status", "--node", "[::1"], "not an http:// URL nor HOST:PORT"),
        (["disconnect", "zz" * 32], "is not a channel id"),
        (["disconnect", "abc"], "is not a channel id"),
        (["relay", "register"], "the following arguments are required: --price"),
        (["relay", "register", "--price", "0.123456789"], "has 9 decimals"),
        (["relay", "register", "--price", "-0.5"], "is negative"),
        (["relay", "register", "--price", "1", "--rate-limit", "-1"], "a rate limit is"),
        (["relay", "register", "--price", "1", "--endpoint", "nohost"], "is not host:port"),
        (["relay", "register", "--price", "1", "--endpoint", "relay.example:9741"], "not an IP"),
        (["relay", "register", "--price", "1", "--endpoint", "192.0.2.1:99999"], "at most 65535"),
        (["relay", "register", "--price", "1", "--endpoint", "192.0.2.1:0"], "has port 0"),
        (
            ["relay", "register", "--price", "1", "--rate-limit", "1", "--rate-limit", "2"],
            "2 rate limits for 1 tiers",
        ),
        (["relay", "update", *["--price", "1"] * 9], "9 prices: a relay offers at most 8"),
        (["relay", "register", "--price", "1", *["--endpoint", "192.0.2.1:1"] * 9], "9 endpoints"),
        (["relay", "launch"], "invalid choice: 'launch'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    network: Network, command: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    error = failed(main(network.at_client(*command)), capsys, 2)
    assert reason in error, error
    assert error.startswith("pacata-vpn ")
    assert network.client_mempool() == []


def test_an_unreachable_node_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for command in (
        ["status"],
        ["status", "--json"],
        ["connect", RELAY_TEXT],
        ["disconnect"],
        ["relay", "list"],
        ["relay", "retire"],  # its cookie is where the node says, and it says nothing
    ):
        error = failed(main([*command, "--node", url]), capsys, 1)
        assert f": cannot reach the node at {url}: " in error, error


def test_a_node_without_its_vpn_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    service = node_service(ChainFactory())
    server = ApiServer()
    try:
        url = server.serve(service, AdminCookie.create(tmp_path).token)
        options = ["--node", url, "--datadir", str(tmp_path)]
        assert run_json(["status", *options], capsys)["vpn"] is None
        assert main(["status", *options]) == 0
        assert "not running (start pacatad with --vpn or --relay)" in capsys.readouterr().out
        for command in (["connect", RELAY_TEXT], ["disconnect"], ["relay", "retire"]):
            error = failed(main([*command, *options]), capsys, 1)
            assert f"the node at {url} runs no VPN side" in error
        assert run_json(["relay", "list", *options], capsys) == {"count": 0, "relays": []}
    finally:
        server.close()


def test_the_admin_cookie(
    network: Network,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    network.register_relay(capsys)
    command = ["relay", "retire", "--yes", "--node", network.relay_url]
    empty = tmp_path / "empty"
    empty.mkdir()
    error = failed(main([*command, "--datadir", str(empty)]), capsys, 1)
    assert f"no admin cookie at {empty / '.cookie'}: does the node at" in error
    (empty / ".cookie").write_text("f" * 64 + "\n")
    error = failed(main([*command, "--datadir", str(empty)]), capsys, 1)
    assert f"refused the token of {empty / '.cookie'}" in error
    # Without --datadir: the node's default for its chain id, as pacatad's.
    xdg = tmp_path / "xdg"
    default = xdg / "pacata" / "pacata-devnet-1"
    default.mkdir(parents=True)
    (default / ".cookie").write_text((network.relay_dir / ".cookie").read_text())
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    assert run_json(command, capsys)["action"] == "retire"
    assert network.server.run(lambda: list(network.relay.mempool.transactions()))


@pytest.mark.parametrize(
    "command",
    [
        ["connect"],
        ["disconnect"],
        ["status"],
        ["relay"],
        ["relay", "register"],
        ["relay", "update"],
        ["relay", "retire"],
        ["relay", "list"],
    ],
)
def test_every_command_has_help_with_an_example(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "example" in out and f"pacata-vpn {' '.join(command)}" in out
    if command != ["relay"]:
        assert "--json" in out and "--node URL" in out and "--datadir DIR" in out


# -- amounts --------------------------------------------------------------------------------


@given(st.integers(0, MAX_AMOUNT))
def test_amounts_in_pac_round_trip_exactly(units: int) -> None:
    text = pac_text(units)
    assert pac_to_units(text, allow_zero=True) == units
    assert len(text.partition(".")[2]) == 8


def test_amounts_in_pac() -> None:
    assert pac_to_units("5") == 5 * UNITS_PER_PAC
    assert pac_to_units("0.00000001") == 1
    assert pac_to_units("2.5") == 250_000_000
    assert pac_to_units("184467440737.09551615") == MAX_AMOUNT
    assert pac_to_units("0", allow_zero=True) == 0
    assert pac_text(1) == "0.00000001" and pac_text(250_000_000) == "2.50000000"
    for bad in ("", ".5", "5.", "1,5", "+1", " 1", "1e3", "NaN", "inf", "١"):
        with pytest.raises(ValueError, match="not an amount of PAC"):
            pac_to_units(bad)


def test_a_node_signed_command_asks_first(
    network: Network, capsys: pytest.CaptureFixture[str]
) -> None:
    network.register_relay(capsys)
    pending = network.server.run(lambda: len(network.client.mempool))
    # No terminal to ask on and no --yes: a usage error, and nothing is sent.
    base = ["connect", str(RELAY.address), "--deposit", "2", "--no-wait"]
    node = ["--node", network.client_url, "--datadir", str(network.client_dir)]
    error = failed(main([*base, *node]), capsys, 2)
    assert "add --yes" in error and "lock 2.00000000 PAC" in error
    preview = run_json([*base, "--dry-run", *node], capsys)
    assert preview == {
        "dry_run": True,
        "request": {
            "relay": str(RELAY.address),
            "tier": 0,
            "deposit": 200_000_000,
            "blocks": None,
            "account": str(CLIENT.address),
        },
    }
    offer = ["relay", "update", "--price", "0.3", "--dry-run"]
    assert run_json(network.at_relay(*offer), capsys)["request"]["prices_per_gib"] == [30_000_000]
    assert network.server.run(lambda: len(network.client.mempool)) == pending
