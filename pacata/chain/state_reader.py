"""The read side of the ledger state: what the store, the state cache and an overlay each offer.

It sits below all three, so that `state.py` (records and the overlay) and `state_cache.py` (the
decoded records in front of the store) name it without importing each other: the overlay knows
the cache, the cache knows only this protocol.
"""

from __future__ import annotations

from typing import Protocol


class StateReader(Protocol):
    def get_state(self, key: bytes) -> bytes | None:
        """The encoded record at state key `key`, or None."""
