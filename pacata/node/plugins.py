"""What a plugin of the node is, and the chain events it hears (docs/architecture.md).

`NodeService` owns the chain, the mempool and the production loop; everything else a node does
(its peer network, its UDP port, the VPN, the explorer) is a `NodePlugin` added with
`NodeService.add_plugin` before the service starts.

Rules:
- `register` runs once, when the plugin is added: it keeps the host and adds its metrics.
  `start` runs when the service starts, in the order the plugins were added; a plugin that
  cannot start raises `PluginError` with the reason (the node then does not start). `stop` runs
  in the reverse order, after the service's tasks are cancelled, also for a plugin whose
  `start` failed or never ran: it must be safe then.
- Events come on the event loop's thread, in chain order: for a reorganisation, every
  `BlockDisconnected` (tip first) before the `BlockConnected`s. `on_event` must not block nor
  call back into the service's ways into the ledger; an exception from it is logged and stops
  the node, as a failed task does.
- `status_fields` contributes fields of `GET /api/status` (names of the fields of
  `pacata.rpc.results.StatusInfo`); `endpoints` contributes API routes, which the router and
  the OpenAPI document both take. `mount` adds what a plugin serves outside `/api` and
  `/metrics` (the explorer's pages) to the node's HTTP app, with its own middleware for their
  errors; the API's JSON errors then keep to the API's paths.
- A plugin starts tasks with `host.add_task`: they end with the service.
"""

from __future__ import annotations

from collections.abc import Collection, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pacata.chain.blocks import Block
from pacata.chain.transactions import Transaction
from pacata.errors import PacataError

if TYPE_CHECKING:
    from aiohttp import web

    from pacata.node.endpoints import Endpoint
    from pacata.node.metrics import MetricsRegistry


class PluginHost(Protocol):
    """What a plugin may ask of the node that hosts it (`NodeService`)."""

    def add_task(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Runs `work` until the node stops; its failure stops the node."""
        ...


class PluginError(PacataError):
    """A plugin could not start; the message says why."""


@dataclass(frozen=True, slots=True)
class BlockConnected:
    """A block became part of the main chain: made here (`produced`) or imported."""

    block: Block
    produced: bool
    # The state keys it changed, when known (None: connected by a reorganisation).
    changed_keys: Collection[bytes] | None = None


@dataclass(frozen=True, slots=True)
class BlockDisconnected:
    """A block left the main chain (a reorganisation)."""

    block: Block


@dataclass(frozen=True, slots=True)
class TransactionAdmitted:
    """A transaction entered the mempool: from this node's API (`local`) or from a peer."""

    txid: bytes
    tx: Transaction
    local: bool


NodeEvent = BlockConnected | BlockDisconnected | TransactionAdmitted


class NodePlugin:
    """A capability of the node; every hook has a do-nothing default."""

    name: ClassVar[str] = "plugin"

    def register(self, host: PluginHost, metrics: MetricsRegistry) -> None:
        """Called once by `NodeService.add_plugin`."""

    async def start(self) -> None:
        """Starts the plugin; `PluginError` if it cannot."""

    async def stop(self) -> None:
        """Stops the plugin; safe when `start` failed or never ran."""

    def on_event(self, event: NodeEvent) -> None:
        """A chain or mempool event (see the module rules)."""

    def status_fields(self) -> Mapping[str, object]:
        """Fields of the status (`StatusInfo`) this plugin reports."""
        return {}

    def endpoints(self) -> tuple[Endpoint, ...]:
        """API routes this plugin serves."""
        return ()

    def mount(self, app: web.Application) -> bool:
        """Adds routes outside `/api` and `/metrics` to the node's HTTP app (before it starts);
        True if it did (see the module rules)."""
        return False

    @property
    def syncing(self) -> bool:
        """True while the plugin is catching the chain up (the node logs blocks quieter)."""
        return False
