"""The node's clock: the one place where Pacata reads the wall clock.

`pacata.chain` takes `now` as an argument and never reads a clock; the node asks a `Clock` for
it. Times are integer Unix milliseconds, like block timestamps. Tests drive the node with a
`ManualClock` that implements the same protocol and moves only when told.
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


class ManualClock:
    """A clock that moves only when told: for tests and simulations of the node.

    `sleep_until_ms` waits until `advance_to` (or `advance`) moves the time to its deadline;
    the sleepers whose deadline has come are woken in deadline order.
    """

    def __init__(self, now_ms: int) -> None:
        self._now_ms = now_ms
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        return self._now_ms

    async def sleep_until_ms(self, deadline_ms: int) -> None:
        if deadline_ms <= self._now_ms:
            await asyncio.sleep(0)
            return
        wakeup: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((deadline_ms, wakeup))
        await wakeup

    @property
    def next_deadline_ms(self) -> int | None:
        """The earliest deadline a task is sleeping until, if any."""
        pending = [deadline for deadline, wakeup in self._sleepers if not wakeup.done()]
        return min(pending, default=None)

    async def advance_to(self, now_ms: int) -> None:
        """Sets the time and lets every task whose deadline came run until it waits again."""
        if now_ms < self._now_ms:
            raise ValueError("a manual clock does not go back")
        self._now_ms = now_ms
        due = sorted((entry for entry in self._sleepers if entry[0] <= now_ms), key=lambda e: e[0])
        self._sleepers = [entry for entry in self._sleepers if entry[0] > now_ms]
        for _, wakeup in due:
            if not wakeup.done():
                wakeup.set_result(None)
        # Woken tasks run in the order they were woken, before this coroutine resumes.
        for _ in range(3):
            await asyncio.sleep(0)

    async def advance(self, milliseconds: int) -> None:
        await self.advance_to(self._now_ms + milliseconds)
