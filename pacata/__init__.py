"""Pacata Mesh VPN: a proof-of-bandwidth ledger with a paid, decentralized WireGuard mesh VPN."""

__version__ = "0.1.0"
