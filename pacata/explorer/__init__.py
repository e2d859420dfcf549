"""The block explorer that `pacatad` serves at `/` (docs/explorer.md): server-rendered pages
of the chain, the bandwidth market, the epochs and the network, with live updates.

It reads the node through `ExplorerSource` (in-process; pacata/node/explorer_plugin.py
implements it) and imports only `chain`, `rpc` and the shared modules, never `node`, `p2p` or
`vpn` (import-linter's layers contract).
"""

from pacata.explorer.app import Explorer
from pacata.explorer.source import ExplorerSource, PeerView

__all__ = ["Explorer", "ExplorerSource", "PeerView"]
