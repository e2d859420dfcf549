"""What the explorer reads, and from whom: `ExplorerSource`, which the node implements
(pacata/node/explorer_plugin.py) over its service, in-process, without HTTP.

Rules:
- Everything here is read on the event loop's thread, without awaiting between reads, so one
  page describes one tip (as the API's handlers do).
- The chain, the mempool and the address index are the ledger's own objects (`chain` layer);
  what only the node knows (its status, its peers) comes as the API's `StatusInfo` and as the
  explorer's own `PeerView`, so the explorer never imports `node` or `p2p`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pacata.chain.address_index import AddressIndex
from pacata.chain.chain import Chain
from pacata.chain.mempool import Mempool
from pacata.rpc.results import StatusInfo


@dataclass(frozen=True, slots=True)
class PeerView:
    """A connected peer as the network page shows it."""

    node_id: bytes
    address: str
    inbound: bool
    tip_height: int
    connected_seconds: float
    score: float
    bytes_received: int
    bytes_sent: int


class ExplorerSource(Protocol):
    """The node, as the explorer reads it."""

    @property
    def chain(self) -> Chain: ...

    @property
    def mempool(self) -> Mempool: ...

    def status(self) -> StatusInfo:
        """The node's status, as `GET /api/status` gives it."""
        ...

    def peers(self) -> Sequence[PeerView]:
        """The connected peers (none when the node runs no peer network)."""
        ...

    def address_index(self) -> AddressIndex | None:
        """The address index once it is open and caught up; None without one."""
        ...
