"""The one manual clock of Pacata's tests and simulations: time moves only when told.

Pacata's code takes time three ways, and this clock answers all three from one reading, so a
test that drives several parts at once keeps them agreeing:

- `now`: monotonic seconds (a float), what the sans-I/O cores take, as in
  `device.handle_timer(clock.now, clock.wall)`;
- `wall`: Unix seconds, for what carries a date (WireGuard's TAI64N timestamps);
- `now_ms()` and `sleep_until_ms()`: the node's `Clock` protocol (`pacata/node/clock.py`),
  integer Unix milliseconds, with asyncio tasks that sleep until a deadline.

Rules:

- Time never goes back: a move into the past raises `ValueError`.
- `now` is kept as it was set, so a core's deadline set as the time compares equal to it; the
  milliseconds are counted from the start, so a time given in milliseconds reads back exactly.
- A move wakes every sleeper whose deadline has come, in deadline order. The async moves
  (`advance_ms`, `advance_to_ms`) then let the woken tasks run until they wait again before
  returning; the plain ones (`advance`, setting `now`) only wake them, for tests without a loop.
"""

from __future__ import annotations

import asyncio

# The wall clock when `now` is 0, unless a test says otherwise: a date in 2023.
WALL_CLOCK_AT_ZERO = 1_700_000_000.0


class ManualClock:
    """Monotonic seconds, wall seconds and wall milliseconds, moved together by hand."""

    def __init__(self, now: float = 100.0, *, wall_ms: int | None = None) -> None:
        self._now = now
        self._start = now
        # The wall clock at the start, in milliseconds (exact: `now_ms` counts from it).
        self._wall_ms_at_start = (
            round((WALL_CLOCK_AT_ZERO + now) * 1000) if wall_ms is None else wall_ms
        )
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []

    # -- the sans-I/O cores' time -----------------------------------------------------------

    @property
    def now(self) -> float:
        """Monotonic seconds."""
        return self._now

    @now.setter
    def now(self, value: float) -> None:
        self._move_to(value)

    @property
    def wall(self) -> float:
        """Unix seconds."""
        return self._wall_ms_at_start / 1000 + (self._now - self._start)

    def advance(self, seconds: float) -> None:
        """Moves the time on by `seconds`, waking the sleepers that are due (they run once the
        caller awaits)."""
        if seconds < 0:
            raise ValueError("a manual clock does not go back")
        self._move_to(self._now + seconds)

    # -- the node's Clock protocol ------------------------------------------------------------

    def now_ms(self) -> int:
        """Unix milliseconds."""
        return self._wall_ms_at_start + round((self._now - self._start) * 1000)

    async def sleep_until_ms(self, deadline_ms: int) -> None:
        """Returns once the clock has been moved to `deadline_ms` (at once if it is there)."""
        if deadline_ms <= self.now_ms():
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

    async def advance_to_ms(self, now_ms: int) -> None:
        """Sets the time and lets every task whose deadline came run until it waits again."""
        if now_ms < self.now_ms():
            raise ValueError("a manual clock does not go back")
        self._move_to(self._start + (now_ms - self._wall_ms_at_start) / 1000)
        # Woken tasks run in the order they were woken, before this coroutine resumes.
        for _ in range(3):
            await asyncio.sleep(0)

    async def advance_ms(self, milliseconds: int) -> None:
        await self.advance_to_ms(self.now_ms() + milliseconds)

    # -- moving -------------------------------------------------------------------------------

    def _move_to(self, now: float) -> None:
        if now < self._now:
            raise ValueError("a manual clock does not go back")
        self._now = now
        if not self._sleepers:
            return
        now_ms = self.now_ms()
        due = sorted((entry for entry in self._sleepers if entry[0] <= now_ms), key=lambda e: e[0])
        if not due:
            return
        self._sleepers = [entry for entry in self._sleepers if entry[0] > now_ms]
        for _, wakeup in due:
            if not wakeup.done():
                wakeup.set_result(None)
