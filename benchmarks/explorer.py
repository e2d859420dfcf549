"""Block explorer benchmark: requests per second and p99 latency of the explorer's home, block
and account pages on a chain of 10,000 blocks, next to a bare aiohttp handler served by the
same kind of server, in the same process, in the same run (the reference).

The chain (`ChainFactory`, in LevelDB): blocks that fund `ACCOUNTS` new accounts from the
devnet's, then blocks of `TRANSFERS_PER_BLOCK` transactions, mostly transfers between random
ones of them (so each has about a hundred entries of history), with `RELAYS` relays registered
among them and a payment channel opened every `CHANNEL_EVERY` blocks, settled by its relay 10
blocks later and closed by its client once it may be.

The server is a process of its own that builds the node as `pacatad` composes it
(pacata/node/daemon.py): a `NodeService` on the chain's LevelDB with the address index plugin
(its LevelDB under the data directory) and the explorer plugin with its page store
(`<datadir>/indexes/explorer`; `--no-page-store`: without one), the node's HTTP app
(`create_app`) under `web.AppRunner` with the daemon's server settings and no access log, on
127.0.0.1. It says it is ready once the index and the page store have caught up with the chain
(the first start on a new chain fills both: `fill_s`). The same process and event loop serve,
on a second port, the reference: a `web.Application` whose one handler returns a small HTML
page (`BARE_PAGE`).

The load generator runs in this process, a separate one, so that the server's event loop does
nothing but serve: `--connections` keep-alive HTTP/1.1 connections (an asyncio `Protocol`
each, no stream layer), each sending its next request as soon as the last answer is read (by
its Content-Length). With two cores or more the server is pinned to one and the generator to
the other (`os.sched_setaffinity`); `--no-pin` leaves them to the scheduler. The generator
costs far less per request than the server (its CPU share is in the table); that the server is
the bottleneck shows as its CPU share near 100 %. A phase runs `--seconds`, or until its pages
run out; its rate is its answers over the time from its first request to its last answer, a
latency the time from writing a request to having read its answer. The server's CPU time per
request (/proc: user and system, so the kernel's work on its sockets too) gives a second
ratio, the reference's over the page's: the ratio of the rates the server could sustain, which
holds even when another tenant of the machine takes part of the server's core.

A round starts a server with empty caches and warms it up on pages no phase asks for (500
blocks, 50 accounts, the home page: templates compiled, the stores' tables opened, the heap
grown, as in a node that has served a while), then measures the reference and, after it, each
page's phase followed by the reference again. A page's ratio is its rate over the mean of the
reference's two phases around it, so a host whose speed drifts moves both. Figures are medians
over the rounds. The phases:
- `home`: the home page, again and again;
- `block` (cold): every main-chain height once, in a random order: no page is asked for twice,
  so none comes from the explorer's memory (the honest case for random blocks);
- `block_warm`: 100 random heights again and again;
- `account` (cold): the first page of every busy account once, in a random order (the honest
  case: an account page is kept for one tip only, and a live tip moves every second);
- `account_warm`: 50 busy accounts again and again.

    .venv/bin/python benchmarks/explorer.py [--quick] [--json FILE] [--connections N]

`--quick`: 1,000 blocks, one round of 1-second phases. `--datadir DIR` builds the chain there
once and reuses it; `--phases` picks some; `--profile PHASE` prints a cProfile of the server
during that phase. Results: docs/BENCHMARKS.md §Block explorer.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pacata.chain.chain import Chain
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import PrivateKey
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.receipts import Receipt
from pacata.chain.transactions import (
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    RelayOffer,
    RelayRegister,
    Transaction,
)
from pacata.chain.transitions import channel_id_of
from pacata.testing.ledger import ChainFactory
from pacata.testing.proc_stats import cpu_seconds, rss_mib

ACCOUNTS = 2_000
TRANSFERS_PER_BLOCK = 10
FUNDING_PER_BLOCK = 250
RELAYS = 8
CHANNEL_EVERY = 20
CHANNEL_BLOCKS = 40
WARM_BLOCKS = 100
WARM_ACCOUNTS = 50
BARE_PAGE = (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Bare</title></head>'
    "<body><main><h1>Bare handler</h1><p>The reference page.</p></main></body></html>\n"
)
PHASES = ("home", "block", "block_warm", "account", "account_warm")
ADMIN_TOKEN = "b" * 64


# -- the chain -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Channel:
    client: PrivateKey
    relay: PrivateKey
    open_tx: Transaction
    settle_at: int
    close_at: int

    @property
    def channel_id(self) -> bytes:
        return channel_id_of(self.client.public_key, self.open_tx.nonce)


def build_chain(path: Path, blocks: int) -> list[str]:
    """Builds the chain into `path`; returns the busy accounts' addresses (not the relays)."""
    store = LevelDBStore(path, sync=False)
    chain = Chain(store, shipped_genesis("devnet"))
    factory = ChainFactory(chain, seed=17)
    rng = factory.random
    accounts = [factory.new_key() for _ in range(ACCOUNTS)]
    funders = factory.funded
    for start in range(0, ACCOUNTS, FUNDING_PER_BLOCK):
        factory.next_block(
            factory.transfer(funders[i % len(funders)], key.address, UNITS_PER_PAC)
            for i, key in enumerate(accounts[start : start + FUNDING_PER_BLOCK], start)
        )
    relays, clients = accounts[:RELAYS], accounts[RELAYS:]
    offer = RelayOffer(bytes(32), ("203.0.113.7:51820",), (100_000, 400_000), (0, 10_000_000))
    factory.next_block(factory.sign(relay, RelayRegister(offer)) for relay in relays)
    channels: list[_Channel] = []
    while chain.height < blocks:
        height = chain.height + 1
        txs: list[Transaction] = []
        for channel in [c for c in channels if c.settle_at == height]:
            receipt = Receipt(chain.params.chain_id, channel.channel_id, 5 << 20, 20_000)
            txs.append(factory.sign(channel.relay, ChannelSettle(receipt.signed(channel.client))))
        for channel in [c for c in channels if c.close_at == height]:
            txs.append(factory.sign(channel.client, ChannelClose(channel.channel_id)))
            channels.remove(channel)
        if height % CHANNEL_EVERY == 0:
            client, relay = rng.choice(clients), rng.choice(relays)
            expiry = height + CHANNEL_BLOCKS
            payload = ChannelOpen(relay.address, 100_000, rng.randrange(2), bytes(32), expiry)
            open_tx = factory.sign(client, payload)
            txs.append(open_tx)
            closable = chain.params.channel_closable_height(expiry)
            channels.append(_Channel(client, relay, open_tx, height + 10, closable))
        while len(txs) < TRANSFERS_PER_BLOCK:
            sender, recipient = rng.choice(accounts), rng.choice(accounts)
            if recipient is not sender:
                txs.append(factory.transfer(sender, recipient.address, rng.randint(1, 10_000)))
        factory.next_block(txs)
        if height % 1_000 == 0:
            print(f"  built {height:,} blocks", file=sys.stderr, flush=True)
    store.close()
    return [str(key.address) for key in clients]


# -- the server (a process of its own) -------------------------------------------------------


async def _serve(datadir: Path, page_store: bool) -> None:
    """The node and the reference on 127.0.0.1; prints `ready BARE_PORT NODE_PORT FILL_S` once
    the index and the page store have caught up. Each line on stdin: `profile` starts a
    cProfile, `report` prints it to stderr; stdin closed: stop."""
    from aiohttp import web

    from pacata.chain.mempool import Mempool
    from pacata.node.address_index_plugin import ADDRESS_INDEX_DIRECTORY, AddressIndexPlugin
    from pacata.node.api import create_app
    from pacata.node.clock import SystemClock
    from pacata.node.explorer_plugin import EXPLORER_PAGES_DIRECTORY, ExplorerPlugin
    from pacata.node.http_log import SERVER_SETTINGS
    from pacata.node.service import NodeService

    chain = Chain(LevelDBStore(datadir / "chain"), shipped_genesis("devnet"))
    service = NodeService(chain, Mempool(chain), SystemClock())
    index = AddressIndexPlugin(service, datadir / ADDRESS_INDEX_DIRECTORY)
    service.add_plugin(index)
    pages_path = datadir / EXPLORER_PAGES_DIRECTORY if page_store else None
    explorer = ExplorerPlugin(service, pages_path=pages_path)
    service.add_plugin(explorer)
    node = web.AppRunner(create_app(service, ADMIN_TOKEN), access_log=None, **SERVER_SETTINGS)

    async def bare_handler(request: web.Request) -> web.Response:
        return web.Response(text=BARE_PAGE, content_type="text/html")

    bare_app = web.Application()
    bare_app.router.add_get("/", bare_handler)
    bare = web.AppRunner(bare_app, access_log=None, **SERVER_SETTINGS)
    stop = asyncio.Event()
    profiler = cProfile.Profile()

    def command() -> None:
        line = sys.stdin.readline().strip()
        if line == "profile":
            profiler.enable()
        elif line == "report":
            profiler.disable()
            for order in ("tottime", "cumtime"):
                pstats.Stats(profiler, stream=sys.stderr).sort_stats(order).print_stats(40)
        elif not line:
            stop.set()

    asyncio.get_running_loop().add_reader(sys.stdin.fileno(), command)
    try:
        started = time.perf_counter()
        await service.start()
        while index.catching_up or explorer.catching_up:
            await asyncio.sleep(0.01)
        fill_s = time.perf_counter() - started
        ports = []
        for runner in (bare, node):
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            ports.append(runner.addresses[0][1])
        print(f"ready {ports[0]} {ports[1]} {fill_s:.3f}", flush=True)
        await stop.wait()
    finally:
        await service.stop()
        await node.cleanup()
        await bare.cleanup()
        chain.kv.close()


class Server:
    """The server process on `datadir`, pinned to `cpu` if given."""

    def __init__(self, datadir: Path, cpu: int | None, page_store: bool) -> None:
        command = [sys.executable, __file__, "--serve", str(datadir)]
        if cpu is not None:
            command += ["--cpu", str(cpu)]
        if not page_store:
            command.append("--no-page-store")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("ready "):
            self.close()
            raise RuntimeError(f"the server did not start: {line!r}")
        words = line.split()
        self.bare_port, self.node_port = int(words[1]), int(words[2])
        self.fill_s = float(words[3])

    def tell(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the load generator ----------------------------------------------------------------------


@dataclass(frozen=True)
class Phase:
    requests: int
    seconds: float
    latencies_ms: list[float]
    generator_cpu_s: float
    server_cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def server_cpu_us(self) -> float:
        return 1e6 * self.server_cpu_s / self.requests

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies_ms:
            raise RuntimeError("a phase without a single answer")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, reads its answer (by its Content-Length),
    sends the next, until the paths run out or the deadline passes."""

    def __init__(self, requests: Iterator[bytes], deadline: float, latencies: list[float]) -> None:
        self.requests = requests
        self.deadline = deadline
        self.latencies = latencies
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.answer_size: int | None = None
        self.sent_at = 0.0
        self.error: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        request = next(self.requests, None)  # shared: each request goes to one connection
        now = time.perf_counter()
        if request is None or now >= self.deadline:
            self.transport.close()
            return
        self.sent_at = now
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while True:
            if self.answer_size is None:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buffer[:end]).lower()
                if not head.startswith(b"http/1.1 200 "):
                    self.error = head.splitlines()[0].decode(errors="replace")
                    assert self.transport is not None
                    self.transport.close()
                    return
                at = head.index(b"content-length:") + len(b"content-length:")
                stop = head.find(b"\r\n", at)
                self.answer_size = end + 4 + int(head[at : stop if stop > 0 else len(head)])
            if len(buffer) < self.answer_size:
                return
            del buffer[: self.answer_size]
            self.answer_size = None
            self.latencies.append((time.perf_counter() - self.sent_at) * 1_000)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _load(
    port: int, paths: Iterator[str], connections: int, seconds: float
) -> tuple[list[float], float]:
    latencies: list[float] = []
    host = f"127.0.0.1:{port}"
    requests = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() for path in paths)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = started + seconds
    made = [
        await loop.create_connection(
            lambda: _Connection(requests, deadline, latencies), "127.0.0.1", port
        )
        for _ in range(connections)
    ]
    await asyncio.gather(*(protocol.closed for _, protocol in made))
    elapsed = time.perf_counter() - started
    for _, protocol in made:
        if protocol.error is not None:
            raise RuntimeError(f"an answer was not 200 OK: {protocol.error}")
    return latencies, elapsed


def run_phase(
    server: Server, port: int, paths: Iterator[str], connections: int, seconds: float
) -> Phase:
    cpu, server_cpu = time.process_time(), cpu_seconds(server.process.pid)
    latencies, elapsed = asyncio.run(_load(port, paths, connections, seconds))
    return Phase(
        len(latencies),
        elapsed,
        latencies,
        time.process_time() - cpu,
        cpu_seconds(server.process.pid) - server_cpu,
    )


def _cycle(items: Sequence[str]) -> Iterator[str]:
    while True:
        yield from items


@dataclass(frozen=True)
class Measured:
    """A page's phase and the reference's phases just before and after it."""

    page: Phase
    bare_before: Phase
    bare_after: Phase

    @property
    def ratio_to_bare(self) -> float:
        return self.page.rps / statistics.mean((self.bare_before.rps, self.bare_after.rps))

    @property
    def cpu_ratio_to_bare(self) -> float:
        """The reference's server CPU time per request over the page's: the ratio of their
        rates once the server is the bottleneck, whatever else held the core or the loop."""
        bare_us = statistics.mean((self.bare_before.server_cpu_us, self.bare_after.server_cpu_us))
        return bare_us / self.page.server_cpu_us


@dataclass(frozen=True)
class Round:
    bare: list[Phase]
    pages: dict[str, Measured]
    fill_s: float
    server_rss_mib: float
    server_anonymous_mib: float


def anonymous_mib(pid: int) -> float:
    """The process's own memory (RssAnon): its RSS without the files it maps, such as the
    stores' LevelDB tables, which the page cache holds and may drop."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no RssAnon for process {pid}")


def run_round(
    datadir: Path,
    blocks: int,
    accounts: list[str],
    *,
    phases: Sequence[str],
    seconds: float,
    connections: int,
    pin: bool,
    page_store: bool,
    rng: random.Random,
    profile: str | None = None,
) -> Round:
    """One round on a server of its own: each page's phase between two of the reference's."""
    server = Server(datadir, 0 if pin else None, page_store)
    try:
        heights = list(range(blocks + 1))
        rng.shuffle(heights)
        busy = list(accounts)
        rng.shuffle(busy)
        # Warmed up on pages no phase asks for: templates compiled, the stores' tables open,
        # the process's memory grown (as in a node that has served for a while).
        warm_up = ["/"] * 20
        warm_up += [f"/block/{heights.pop()}" for _ in range(min(500, blocks // 20))]
        warm_up += [f"/address/{busy.pop()}" for _ in range(min(50, len(busy) // 40))]
        run_phase(server, server.node_port, iter(warm_up), connections, 30.0)
        run_phase(server, server.bare_port, iter(["/"] * 2_000), connections, 30.0)
        plans = {
            "home": _cycle(["/"]),
            "block": (f"/block/{h}" for h in heights),
            "block_warm": _cycle([f"/block/{h}" for h in rng.sample(heights, WARM_BLOCKS)]),
            "account": (f"/address/{a}" for a in busy),
            "account_warm": _cycle([f"/address/{a}" for a in rng.sample(busy, WARM_ACCOUNTS)]),
        }
        bare = [run_phase(server, server.bare_port, _cycle(["/"]), connections, seconds)]
        pages = {}
        for name in phases:
            if name == profile:
                server.tell("profile")
            page = run_phase(server, server.node_port, plans[name], connections, seconds)
            if name == profile:
                server.tell("report")
            bare.append(run_phase(server, server.bare_port, _cycle(["/"]), connections, seconds))
            pages[name] = Measured(page, bare[-2], bare[-1])
        pid = server.process.pid
        return Round(bare, pages, server.fill_s, rss_mib(pid), anonymous_mib(pid))
    finally:
        server.close()


def directory_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir()) / (1 << 20) if path.exists() else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 blocks, one short round")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--rounds", type=int, help="rounds (3; --quick: 1)")
    parser.add_argument("--seconds", type=float, help="seconds a phase lasts at most (4; 1)")
    parser.add_argument("--blocks", type=int, help="chain length (10,000; --quick: 1,000)")
    parser.add_argument("--datadir", type=Path, help="build the chain into, or reuse, this")
    parser.add_argument("--no-pin", action="store_true", help="leave the cores to the scheduler")
    parser.add_argument("--no-page-store", action="store_true", help="the explorer without one")
    parser.add_argument("--phases", default=",".join(PHASES), help="some of " + ",".join(PHASES))
    parser.add_argument("--profile", choices=PHASES, help="a cProfile of the server in a phase")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    page_store = not args.no_page_store
    if args.serve is not None:
        if args.cpu is not None:
            os.sched_setaffinity(0, {args.cpu})
        asyncio.run(_serve(args.serve, page_store))
        return 0
    blocks = args.blocks or (1_000 if args.quick else 10_000)
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (1.0 if args.quick else 4.0)
    phases = [name for name in PHASES if name in args.phases.split(",")]
    pin = not args.no_pin and len(os.sched_getaffinity(0)) >= 2
    if pin:
        os.sched_setaffinity(0, {1})
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pacata-explorer-") as directory:
        datadir = args.datadir or Path(directory)
        built = datadir / "benchmark-chain.json"
        if not built.exists():
            started = time.perf_counter()
            accounts = build_chain(datadir / "chain", blocks)
            built.write_text(json.dumps({"blocks": blocks, "accounts": accounts}))
            print(f"  chain built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        made = json.loads(built.read_text())
        blocks, accounts = made["blocks"], made["accounts"]
        rng = random.Random(5)
        results = [
            run_round(
                datadir,
                blocks,
                accounts,
                phases=phases,
                seconds=seconds,
                connections=args.connections,
                pin=pin,
                page_store=page_store,
                rng=rng,
                profile=args.profile,
            )
            for _ in range(rounds)
        ]
        figures: dict[str, float] = {
            "blocks": float(blocks),
            "transactions_per_block": float(TRANSFERS_PER_BLOCK),
            "accounts": float(len(accounts)),
            "connections": float(args.connections),
            "rounds": float(rounds),
            "page_store": float(page_store),
            "fill_s": results[0].fill_s,
            "page_store_mib": directory_mib(datadir / "indexes" / "explorer"),
            "chain_mib": directory_mib(datadir / "chain"),
            "server_rss_mib": statistics.median(r.server_rss_mib for r in results),
            "server_anonymous_mib": statistics.median(r.server_anonymous_mib for r in results),
        }

    def add(name: str, runs: Sequence[Phase]) -> None:
        figures[f"{name}_rps"] = statistics.median(p.rps for p in runs)
        figures[f"{name}_p50_ms"] = statistics.median(p.percentile_ms(0.5) for p in runs)
        figures[f"{name}_p99_ms"] = statistics.median(p.percentile_ms(0.99) for p in runs)
        figures[f"{name}_requests"] = float(sum(p.requests for p in runs))
        figures[f"{name}_generator_cpu_percent"] = statistics.median(
            100 * p.generator_cpu_s / p.seconds for p in runs
        )
        figures[f"{name}_server_cpu_percent"] = statistics.median(
            100 * p.server_cpu_s / p.seconds for p in runs
        )
        figures[f"{name}_server_cpu_us"] = statistics.median(p.server_cpu_us for p in runs)

    add("bare", [p for r in results for p in r.bare])
    for name in phases:
        add(name, [r.pages[name].page for r in results])
        figures[f"{name}_ratio_to_bare"] = statistics.median(
            r.pages[name].ratio_to_bare for r in results
        )
        figures[f"{name}_cpu_ratio_to_bare"] = statistics.median(
            r.pages[name].cpu_ratio_to_bare for r in results
        )
    figures["load_before"] = load_before
    figures["load_after"] = os.getloadavg()[0]
    store = "with its page store" if page_store else "without a page store"
    print(
        f"block explorer, {store}: {blocks:,} blocks of {TRANSFERS_PER_BLOCK} transactions, "
        f"{args.connections} connections, median of {rounds} round(s)"
    )
    print(
        f"{'page':<14} {'req/s':>8} {'/ bare':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'server CPU':>11} {'µs/req':>8} {'/ bare':>7} {'gen CPU':>8}"
    )
    for name in ("bare", *phases):
        ratio = cpu_ratio = ""
        if name != "bare":
            ratio = f"{figures[f'{name}_ratio_to_bare']:.1%}"
            cpu_ratio = f"{figures[f'{name}_cpu_ratio_to_bare']:.1%}"
        print(
            f"{name:<14} {figures[f'{name}_rps']:>8,.0f} {ratio:>7} "
            f"{figures[f'{name}_p50_ms']:>7.2f} {figures[f'{name}_p99_ms']:>7.2f} "
            f"{figures[f'{name}_server_cpu_percent']:>10.0f}% "
            f"{figures[f'{name}_server_cpu_us']:>8.1f} {cpu_ratio:>7} "
            f"{figures[f'{name}_generator_cpu_percent']:>7.0f}%"
        )
    print(
        f"index and page store caught up in {figures['fill_s']:.1f} s at the first start; "
        f"page store {figures['page_store_mib']:.1f} MiB beside a chain of "
        f"{figures['chain_mib']:.1f} MiB; server RSS {figures['server_rss_mib']:.0f} MiB, "
        f"{figures['server_anonymous_mib']:.0f} MiB of it its own (not mapped files)"
    )
    print(f"load average before / after: {load_before:.2f} / {figures['load_after']:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
