"""`pacatad`, the Pacata full node: the composition root that wires the ledger to I/O.

Everything here may read the wall clock, open sockets, touch files and run asyncio; nothing
below it (`pacata.chain`) may. The service owns the chain, the mempool and the node's tasks;
the daemon builds it from a configuration, serves the HTTP API and shuts it down cleanly.
Operations are described in docs/operations.md, the HTTP API in docs/api.md.
"""

from pacata.node.config import ConfigError, NodeConfig, load_config
from pacata.node.hostport import HostPort
from pacata.node.service import NodeService

__all__ = ["ConfigError", "HostPort", "NodeConfig", "NodeService", "load_config"]
