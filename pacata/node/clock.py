"""The node's clock: the one place where Pacata reads the wall clock.

`pacata.chain` takes `now` as an argument and never reads a clock; the node asks a `Clock` for
it. Times are integer Unix milliseconds, like block timestamps. Tests drive the node with
`pacata.testing.clock.ManualClock`, which implements the same protocol and moves only when told.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """The current Unix time in milliseconds."""

    async def sleep_until_ms(self, deadline_ms: int) -> None:
        """Returns once `now_ms()` has reached `deadline_ms` (at once if it already has)."""


class SystemClock:
    """The wall clock (`time.time_ns`) and asyncio's timers."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep_until_ms(self, deadline_ms: int) -> None:
        # asyncio's timers run on the monotonic clock, which can drift from the wall clock:
        # sleep again until the wall clock, too, says the deadline has passed.
        while (remaining := deadline_ms - self.now_ms()) > 0:
            await asyncio.sleep(remaining / 1000)
