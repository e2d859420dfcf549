"""Test support for Pacata and for code built on it: chains of real signed blocks, fast."""

from pacata.testing.ledger import ChainFactory, devnet_chain

__all__ = ["ChainFactory", "devnet_chain"]
