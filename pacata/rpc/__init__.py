"""The node's HTTP API seen from outside the node (docs/api.md): its marshmallow schemas
(`schemas`), its route table (`routes`), the OpenAPI document (`openapi`) and a typed client
(`client`, with its results in `results`), and where a client on the node's machine finds the
node's admin token (`cookie`). It uses the ledger (`pacata.chain`) and the shared
modules only, so that the wallet, the command line and the explorer can use it too; the node
serves the routes (`pacata.node.api`).

The client's names are re-exported here: `from pacata.rpc import SyncNodeClient`; so is the
ledger's `FeeEstimate`, which `fees()` returns.
"""

from pacata.chain.fee_estimate import FeeEstimate
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
    AddressTransaction,
    ChannelInfo,
    ChannelPage,
    DhtCounts,
    Disconnected,
    OpenedChannel,
    RelayInfo,
    StatusInfo,
    SubmitResult,
    SubmittedOffer,
    SyncProgress,
    TransactionInfo,
    TransactionPage,
    TunnelInfo,
    TunnelsInfo,
    Unbonding,
    VpnInfo,
)
from pacata.rpc.schemas import ChannelRole

__all__ = [
    "AccountInfo",
    "AccountProof",
    "AddressTransaction",
    "ChannelInfo",
    "ChannelPage",
    "ChannelRole",
    "DhtCounts",
    "Disconnected",
    "FeeEstimate",
    "InvalidResponse",
    "NodeClient",
    "NodeUnreachable",
    "OpenedChannel",
    "RelayInfo",
    "RpcBadRequest",
    "RpcConflict",
    "RpcError",
    "RpcNotFound",
    "RpcUnauthorized",
    "RpcUnavailable",
    "StatusInfo",
    "SubmitResult",
    "SubmittedOffer",
    "SyncNodeClient",
    "SyncProgress",
    "TransactionInfo",
    "TransactionPage",
    "TunnelInfo",
    "TunnelsInfo",
    "Unbonding",
    "VpnInfo",
]
