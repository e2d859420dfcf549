"""The node service: owns the chain, the mempool, the metrics and the node's background tasks,
and hosts the plugins that do the rest (`pacata/node/plugins.py`).

Every way into the ledger goes through here, so that each is logged, counted and told to the
plugins once: `submit_transaction` (the API), `accept_relayed_transaction` and `import_block(s)`
(peers), and the production loop. A plugin (the peer network, discovery, the VPN) is added with
`add_plugin`, hears every `NodeEvent`, and adds its tasks with `add_task`.

Rules:
- The chain, the mempool and the service are used from the event loop's thread only.
- A task that fails (anything but a cancellation) is logged with its traceback, recorded as the
  service's `failure`, and asks the node to shut down; the daemon then exits non-zero.
- `stop` cancels the tasks and waits for them; it does not close the store (the daemon owns
  it, since it opened it).
- Bad input (`DecodeError`, `MempoolRejected`, `InvalidBlock`...) is raised to the caller with
  its reason and changes nothing.
- `status` is the service's own fields plus those the plugins report (`status_fields`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any, TypeVar

from pacata import __version__
from pacata.chain.blocks import Block
from pacata.chain.chain import Chain, ChainUpdate
from pacata.chain.mempool import Mempool
from pacata.chain.production import ProducerKeys
from pacata.chain.transactions import Transaction
from pacata.errors import DecodeError, MempoolRejected, PacataError
from pacata.node.clock import Clock
from pacata.node.metrics import Counter, Gauge, Histogram, MetricsRegistry
from pacata.node.plugins import (
    BlockConnected,
    BlockDisconnected,
    NodeEvent,
    NodePlugin,
    PluginError,
    TransactionAdmitted,
)
from pacata.node.producer import ProductionLoop
from pacata.rpc.results import StatusInfo

P = TypeVar("P", bound=NodePlugin)

log = logging.getLogger("pacata.node.chain")
service_log = logging.getLogger("pacata.node.service")

IMPORT_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HASH_PREFIX_DIGITS = 12


class ProducerUnavailable(PacataError):
    """Production was asked for, but this node has no producer keys."""


class NodeService:
    def __init__(
        self,
        chain: Chain,
        mempool: Mempool,
        clock: Clock,
        *,
        producer_keys: ProducerKeys | None = None,
        produce: bool = False,
    ) -> None:
        if produce and producer_keys is None:
            raise ProducerUnavailable("producing needs producer keys")
        self.chain = chain
        self.mempool = mempool
        self.clock = clock
        self.shutdown_requested = asyncio.Event()
        self.failure: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._genesis_hash = chain.genesis_hash
        self.plugins: list[NodePlugin] = []
        self._started: list[NodePlugin] = []
        self._register_metrics()
        self.production: ProductionLoop | None = None
        if producer_keys is not None:
            self.production = ProductionLoop(
                chain, mempool, producer_keys, clock, self._record_produced, enabled=produce
            )

    def _register_metrics(self) -> None:
        registry = self.metrics = MetricsRegistry()
        registry.add(Gauge("pacata_chain_height", "Height of the chain's tip.", self._height))
        registry.add(
            Gauge("pacata_mempool_transactions", "Transactions in the mempool.", self._pool_count)
        )
        registry.add(
            Gauge(
                "pacata_mempool_bytes",
                "Encoded bytes of the mempool's transactions.",
                self._pool_bytes,
            )
        )
        registry.add(
            Gauge("pacata_producing", "1 while this node produces blocks.", self._producing)
        )
        self.blocks_produced = registry.add(
            Counter("pacata_blocks_produced_total", "Blocks this node made.")
        )
        self.blocks_imported = registry.add(
            Counter("pacata_blocks_imported_total", "Blocks connected to the chain, ours included.")
        )
        self.import_seconds = registry.add(
            Histogram(
                "pacata_block_import_seconds",
                "Time to build (ours) or validate, and store, one block.",
                IMPORT_SECONDS_BUCKETS,
            )
        )
        self.transactions_submitted = registry.add(
            Counter(
                "pacata_transactions_submitted_total",
                "Transactions submitted to this node, by result (accepted, rejected).",
            )
        )
        self.api_requests = registry.add(
            Counter("pacata_api_requests_total", "HTTP API requests, by status code class.")
        )

    def _height(self) -> float:
        return self.chain.height

    def _pool_count(self) -> float:
        return len(self.mempool)

    def _pool_bytes(self) -> float:
        return self.mempool.size_bytes

    def _producing(self) -> float:
        return 1 if self.producing else 0

    # -- plugins ---------------------------------------------------------------------------

    def add_plugin(self, plugin: NodePlugin) -> None:
        """Adds `plugin` (before `start`): it registers now and starts with the service."""
        plugin.register(self, self.metrics)
        self.plugins.append(plugin)

    def find_plugin(self, kind: type[P]) -> P | None:
        """The plugin of class `kind`, if this node runs one."""
        return next((p for p in self.plugins if isinstance(p, kind)), None)

    def _tell(self, event: NodeEvent) -> None:
        for plugin in self.plugins:
            try:
                plugin.on_event(event)
            except Exception as exc:
                self._failed(f"plugin {plugin.name}", exc)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts the plugins in order, then the production loop; a plugin's `PluginError`
        is raised (the plugins started before it are stopped by `stop`)."""
        for plugin in self.plugins:
            self._started.append(plugin)
            await plugin.start()
        if self.production is not None:
            self.add_task(self.production.run(), "producer")

    def add_task(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Runs `work` until `stop`; its failure stops the node."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._failed(f"task {task.get_name()}", error)

    def _failed(self, what: str, error: BaseException) -> None:
        if isinstance(error, PluginError):  # a plugin's own report: the reason, no traceback
            service_log.critical("%s failed: %s; stopping the node", what, error)
        else:
            service_log.critical("%s failed; stopping the node", what, exc_info=error)
        if self.failure is None:
            self.failure = error
        self.request_shutdown()

    def request_shutdown(self) -> None:
        self.shutdown_requested.set()

    async def stop(self) -> None:
        """Cancels the node's tasks and waits for them to end, then stops the plugins that
        were started, the last first."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        started, self._started = self._started, []
        for plugin in reversed(started):
            try:
                await plugin.stop()
            except Exception:
                service_log.exception("plugin %s failed to stop", plugin.name)

    # -- production -----------------------------------------------------------------------

    @property
    def producing(self) -> bool:
        return self.production is not None and self.production.enabled

    @property
    def can_produce(self) -> bool:
        return self.production is not None

    def set_producing(self, enabled: bool) -> None:
        if self.production is None:
            if enabled:
                raise ProducerUnavailable("this node has no producer keys")
            return
        if self.production.enabled != enabled:
            service_log.info("production switched %s", "on" if enabled else "off")
        self.production.enabled = enabled

    # -- the ways into the ledger -----------------------------------------------------------

    def submit_transaction(self, encoded: bytes) -> bytes:
        """Admits an encoded, signed transaction to the mempool and returns its id.

        Raises `DecodeError` (not a canonical transaction) or `MempoolRejected`, with the reason.
        """
        try:
            tx = Transaction.decode(encoded)
            txid = self.mempool.add(tx)
        except (DecodeError, MempoolRejected):
            self.transactions_submitted.inc(result="rejected")
            raise
        self.transactions_submitted.inc(result="accepted")
        service_log.debug("transaction %s accepted", txid.hex())
        self._tell(TransactionAdmitted(txid, tx, local=True))
        return txid

    def accept_relayed_transaction(self, tx: Transaction) -> bytes:
        """Admits a transaction a peer relayed; raises `MempoolRejected` with the reason."""
        txid = self.mempool.add(tx)
        service_log.debug("transaction %s relayed to us", txid.hex())
        self._tell(TransactionAdmitted(txid, tx, local=False))
        return txid

    def import_block(self, block: Block, encoded: bytes | None = None) -> ChainUpdate:
        """Imports a block from elsewhere, checked against the node's clock; raises
        `InvalidBlock`, `ConsensusError` (`BlockFromFuture`), `BlockNotFound` (unknown parent)
        with the reason."""
        started = time.perf_counter()
        update = self.chain.add_block(block, encoded, now_ms=self.clock.now_ms())
        self._imported(update, time.perf_counter() - started)
        return update

    def import_blocks(self, blocks: Iterable[tuple[Block, bytes | None]]) -> Iterator[ChainUpdate]:
        """`import_block` for a run of blocks (a sync), yielding each one's update; the next
        block's signatures are checked while the current one is written (`Chain.import_blocks`).
        The first block that raises ends the run with its exception."""
        started = time.perf_counter()
        for update in self.chain.import_blocks(blocks, now_ms=self.clock.now_ms()):
            now = time.perf_counter()
            self._imported(update, now - started)
            started = now
            yield update

    def _imported(self, update: ChainUpdate, seconds: float) -> None:
        self.mempool.apply_update(update)
        for disconnected in update.disconnected:
            log.warning(
                "block %d %s disconnected by a reorganisation",
                disconnected.height,
                disconnected.hash.hex()[:HASH_PREFIX_DIGITS],
            )
            self._tell(BlockDisconnected(disconnected))
        for connected in update.connected:
            self._record_block(connected, seconds / len(update.connected), "imported")
            self._tell(BlockConnected(connected, produced=False, changed_keys=update.changed_keys))

    def _record_produced(self, block: Block, seconds: float) -> None:
        self.blocks_produced.inc()
        self._record_block(block, seconds, "produced")
        self._tell(BlockConnected(block, produced=True))

    def _record_block(self, block: Block, seconds: float, how: str) -> None:
        self.blocks_imported.inc()
        self.import_seconds.observe(seconds)
        count = len(block.transactions)
        # While catching up, the sync progress (bar or periodic lines) speaks for the blocks: one
        # line per block would bury it. Debug level still has them.
        syncing = any(plugin.syncing for plugin in self.plugins)
        log.log(
            logging.DEBUG if syncing else logging.INFO,
            "block %d %s %s: %d tx%s, %.1f ms",
            block.height,
            block.hash.hex()[:HASH_PREFIX_DIGITS],
            how,
            count,
            "" if count == 1 else "s",
            seconds * 1000,
        )

    # -- reads ----------------------------------------------------------------------------

    def status(self) -> StatusInfo:
        tip = self.chain.tip
        producer = None
        if self.production is not None:
            producer = self.production.keys.account.address
        fields: dict[str, Any] = {}
        for plugin in self.plugins:
            fields.update(plugin.status_fields())
        return StatusInfo(
            chain_id=self.chain.params.chain_id,
            height=tip.height,
            tip=tip.hash,
            tip_slot=tip.slot,
            tip_timestamp_ms=tip.timestamp_ms,
            genesis=self._genesis_hash,
            mempool_size=len(self.mempool),
            mempool_bytes=self.mempool.size_bytes,
            producing=self.producing,
            producer=producer,
            version=__version__,
            time_ms=self.clock.now_ms(),
            **fields,
        )
