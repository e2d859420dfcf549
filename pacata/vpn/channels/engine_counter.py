"""One of the WireGuard engine's cumulative byte counters, as a meter reads it.

The engine's counters of a peer start at zero when the peer is added; a peer removed and added
again (a client dropped, then restored) starts over. `EngineCounter` carries the count over such
resets: a reading below the last one is taken as a reset, and counting goes on from what was
seen before it. Both sides' meters read the engine this way (the relay's `RelayChannel`, the
client's payments in the node).
"""

from __future__ import annotations


class EngineCounter:
    __slots__ = ("_before_reset", "_last")

    def __init__(self) -> None:
        self._before_reset = 0
        self._last = 0

    def update(self, value: int) -> None:
        """A new reading of the engine's counter."""
        if value < 0:
            raise ValueError("a byte counter is not negative")
        if value < self._last:
            self._before_reset += self._last
        self._last = value

    @property
    def total(self) -> int:
        """Every byte counted, over the resets."""
        return self._before_reset + self._last
