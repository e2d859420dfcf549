"""The node's HTTP API seen from outside the node (docs/api.md): its marshmallow schemas
(`schemas`), its route table (`routes`), the OpenAPI document (`openapi`) and a typed client
(`client`, with its results in `results`). It uses the ledger (`pacata.chain`) and the shared
modules only, so that the wallet, the command line and the explorer can use it too; the node
serves the routes (`pacata.node.api`).

The client's names are re-exported here: `from pacata.rpc import SyncNodeClient`.
"""

from pacata.rpc.client import (
    InvalidResponse,
    NodeClient,
    NodeUnreachable,
    RpcBadRequest,
    RpcConflict,
    RpcError,
    RpcNotFound,
    RpcUnauthorized,
    RpcUnavailable,
    SyncNodeClient,
)
from pacata.rpc.results import (
    AccountInfo,
    AccountProof,
    DhtCounts,
    StatusInfo,
    SubmitResult,
    SyncProgress,
    TransactionInfo,
    Unbonding,
    VpnInfo,
)

__all__ = [
    "AccountInfo",
    "AccountProof",
    "DhtCounts",
    "InvalidResponse",
    "NodeClient",
    "NodeUnreachable",
    "RpcBadRequest",
    "RpcConflict",
    "RpcError",
    "RpcNotFound",
    "RpcUnauthorized",
    "RpcUnavailable",
    "StatusInfo",
    "SubmitResult",
    "SyncNodeClient",
    "SyncProgress",
    "TransactionInfo",
    "Unbonding",
    "VpnInfo",
]
