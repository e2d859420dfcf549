"""The node's peer-to-peer plugin: identity, the network engine on TLS, and sync progress.

`PeeringPlugin` is a `NodePlugin` (pacata/node/plugins.py). Start-up: the node's keys
(`node.key` and `wireguard.key` in the data directory, made at the first start:
pacata/node/key_files.py), a signed node record (endpoints: the `--listen` address for TCP and
the same port for UDP; the WireGuard public key), the `PeerNetwork` over the service's chain and
mempool, the TLS transport listening on `--listen` and dialing the
genesis file's `bootnodes` and every `--bootnode` (at most `--max-outbound` at once). The UDP
port with the same number (STUN and the DHT) is the discovery plugin's
(`pacata/node/discovery_plugin.py`), which hears of every peer this one connects to
(`network.peer_listeners`) and of every record it signs (`record_listeners`).

Rules:
- Blocks from peers go through `NodeService.import_block` (logged, counted, the mempool
  follows) with the node's clock; blocks this node produces and transactions submitted over the
  API are announced as they happen (`BlockConnected` with `produced`, `TransactionAdmitted`
  with `local`).
- Sync progress: a rich progress bar while syncing when standard error is a terminal,
  otherwise a log line every `PROGRESS_LOG_INTERVAL_S`.
- The record's sequence number is the wall-clock millisecond when it was signed, so a restart
  needs no stored counter and still supersedes the records of earlier runs; a record signed
  again while running takes one more than the last when the clock has not moved on.
- The record is signed again when its endpoints change: when `--listen` port 0 picked a port,
  and when STUN finds a reflexive address that none of its UDP endpoints names (it is added as
  a third endpoint, `record_endpoints`). The new record goes into the hellos of later
  connections and to the `record_listeners` (the DHT publishes it).
- It reports `peers`, `syncing`, `sync` and `node_id` in the status, the peer and sync gauges
  in the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pacata.chain.blocks import Block
from pacata.chain.chain import ChainUpdate
from pacata.chain.genesis import Genesis
from pacata.chain.transactions import Transaction
from pacata.node.config import ConfigError, NodeConfig
from pacata.node.hostport import HostPort
from pacata.node.key_files import load_or_create_node_key, load_or_create_wireguard_key
from pacata.node.metrics import Gauge, MetricsRegistry
from pacata.node.plugins import (
    BlockConnected,
    NodeEvent,
    NodePlugin,
    PluginError,
    PluginHost,
    TransactionAdmitted,
)
from pacata.node.service import NodeService
from pacata.node.sync_log import SyncLog
from pacata.p2p.aio import ListenAddress, PeerTransport
from pacata.p2p.chain_ledger import ChainLedger
from pacata.p2p.network import NetworkConfig, PeerNetwork
from pacata.p2p.peers import DialAddress, PeerLimits
from pacata.p2p.records import MAX_HOST_BYTES, Endpoint, NodeRecord, Transport
from pacata.p2p.udp_address import Address, normalize_address
from pacata.rpc.results import SyncProgress
from pacata.vpn.wireguard import x25519_public_key

PROGRESS_LOG_INTERVAL_S = 5.0
PROGRESS_REFRESH_S = 0.5

log = logging.getLogger("pacata.node.p2p")


class ServiceLedger(ChainLedger):
    """The service's chain and mempool; imports go through the service (logs, metrics)."""

    def __init__(self, service: NodeService) -> None:
        super().__init__(service.chain, service.mempool, service.clock.now_ms)
        self.service = service

    def import_block(self, block: Block, encoded: bytes) -> ChainUpdate:
        return self.service.import_block(block, encoded)

    def import_blocks(self, blocks: Iterable[tuple[Block, bytes | None]]) -> Iterator[ChainUpdate]:
        return self.service.import_blocks(blocks)

    def add_transaction(self, tx: Transaction) -> None:
        self.service.accept_relayed_transaction(tx)


def bootnode_addresses(genesis: Genesis, config: NodeConfig) -> list[DialAddress]:
    addresses = [DialAddress(b.host, b.port) for b in config.bootnodes]
    for text in genesis.bootnodes:
        try:
            parsed = HostPort.parse(text)
        except ValueError as exc:
            log.warning("ignoring the genesis file's bootnode %r: %s", text, exc)
            continue
        addresses.append(DialAddress(parsed.host, parsed.port))
    return addresses


def record_endpoints(
    host: str, port: int, reflexive: Address | None = None
) -> tuple[Endpoint, ...]:
    """The endpoints of the node's record: TCP and UDP on the `--listen` host and port, and UDP
    at the reflexive address when that is another address."""
    endpoints = (Endpoint(Transport.TCP, host, port), Endpoint(Transport.UDP, host, port))
    if reflexive is None:
        return endpoints
    try:
        listening = normalize_address(host, port)
    except ValueError:  # a host name: not comparable with an IP address
        listening = None
    if reflexive == listening:
        return endpoints
    return (*endpoints, Endpoint(Transport.UDP, *reflexive))


class PeeringPlugin(NodePlugin):
    name = "peering"

    def __init__(
        self, service: NodeService, config: NodeConfig, genesis: Genesis, datadir: Path
    ) -> None:
        self.service = service
        self.config = config
        self.key = load_or_create_node_key(datadir)
        # The record advertises it whether or not this node runs its VPN side (the VPN plugin
        # serves its interface with it).
        self.wireguard_secret = load_or_create_wireguard_key(datadir)
        self.wireguard_key = x25519_public_key(self.wireguard_secret)
        listen = config.listen
        if len(listen.host.encode("utf-8")) > MAX_HOST_BYTES:
            raise ConfigError(
                f"--listen: a host of at most {MAX_HOST_BYTES} bytes goes into the node record"
            )
        self.record = NodeRecord.create(
            self.key,
            service.clock.now_ms(),
            record_endpoints(listen.host, listen.port) if listen.port else (),
            self.wireguard_key,
            relay=config.relay,
        )
        network_config = NetworkConfig(
            self.key, self.record, peers=PeerLimits(max_outbound=config.max_outbound)
        )
        self.network = PeerNetwork(ServiceLedger(service), network_config)
        self.bootnodes = bootnode_addresses(genesis, config)
        for address in self.bootnodes:
            self.network.add_bootnode(address)
        self.transport = PeerTransport(self.network)
        self.port = listen.port
        # Told of every record signed after the first (the DHT publishes it).
        self.record_listeners: list[Callable[[NodeRecord], None]] = []

    def register(self, host: PluginHost, metrics: MetricsRegistry) -> None:
        network = self.network
        metrics.add(Gauge("pacata_peers", "Connected peers.", lambda: network.peer_count))
        metrics.add(
            Gauge(
                "pacata_peers_banned",
                "Active bans (node ids and hosts).",
                lambda: len(network.peers.bans(time.monotonic())),
            )
        )
        metrics.add(
            Gauge(
                "pacata_sync_target_height",
                "Best height peers showed.",
                lambda: network.sync_progress().target_height,
            )
        )

    async def start(self) -> None:
        """Listens and starts dialing; `PluginError` if the address cannot be listened on."""
        listen = self.config.listen
        try:
            await self.transport.start(ListenAddress(listen.host, listen.port))
        except OSError as exc:
            raise PluginError(f"cannot listen for peers on {listen}: {exc.strerror}") from None
        port = self.transport.listen_port or listen.port
        self.port = port
        if port != listen.port:
            # --listen HOST:0 picked a port: the record names the real one.
            self._sign_record(record_endpoints(listen.host, port))
        log.info(
            "peer-to-peer on %s (node %s)",
            HostPort(listen.host, port),
            self.network.node_id.hex()[:16],
        )
        self.service.add_task(self._report_progress(), "sync progress")

    async def stop(self) -> None:
        await self.transport.stop()
        log.info("peer-to-peer closed")

    def on_event(self, event: NodeEvent) -> None:
        if isinstance(event, BlockConnected) and event.produced:
            self.network.chain_changed(self.transport.now())
            self.transport.flush()
        elif isinstance(event, TransactionAdmitted) and event.local:
            self.network.announce_transaction(event.txid, self.transport.now())
            self.transport.flush()

    @property
    def syncing(self) -> bool:
        return self.network.syncing

    def status_fields(self) -> Mapping[str, object]:
        progress = self.network.sync_progress()
        return {
            "peers": self.network.peer_count,
            "syncing": self.network.syncing,
            "sync": SyncProgress(progress.target_height, progress.downloaded),
            "node_id": self.network.node_id,
        }

    def set_reflexive(self, address: Address) -> None:
        """Our UDP port as peers see it (STUN): the record names it if none of its endpoints
        does."""
        endpoints = record_endpoints(self.config.listen.host, self.port, address)
        if endpoints != self.record.endpoints:
            log.info("node record: endpoints now %s", ", ".join(map(str, endpoints)))
            self._sign_record(endpoints)

    def _sign_record(self, endpoints: tuple[Endpoint, ...]) -> None:
        """Signs a record with `endpoints` and a higher sequence number, for the hellos to come
        and the listeners."""
        seq = max(self.service.clock.now_ms(), self.record.seq + 1)
        self.record = NodeRecord.create(
            self.key, seq, endpoints, self.wireguard_key, relay=self.config.relay
        )
        self.network.config = replace(self.network.config, record=self.record)
        for listener in self.record_listeners:
            listener(self.record)

    async def _report_progress(self) -> None:
        if sys.stderr.isatty():
            await self._progress_bar()
        else:
            await self._progress_lines()

    async def _progress_lines(self) -> None:
        loop = asyncio.get_running_loop()
        lines = SyncLog(PROGRESS_LOG_INTERVAL_S)
        while True:
            await asyncio.sleep(PROGRESS_REFRESH_S)
            line = lines.observe(
                loop.time(), self.network.sync_progress(), self.service.chain.height
            )
            if line is not None:
                log.info("%s", line)

    async def _progress_bar(self) -> None:
        console = Console(stderr=True)
        while True:
            await asyncio.sleep(PROGRESS_REFRESH_S)
            if not self.network.syncing:
                continue
            with Progress(
                TextColumn("sync"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            ) as bar:
                task = bar.add_task("sync", total=None)
                while self.network.syncing:
                    progress = self.network.sync_progress()
                    bar.update(
                        task, completed=self.service.chain.height, total=progress.target_height
                    )
                    await asyncio.sleep(PROGRESS_REFRESH_S)
            log.info("sync: done at height %d", self.service.chain.height)
