"""The one manual clock (pacata/testing/clock.py): its three readings move together, exactly,
never back, and sleepers wake in deadline order."""

from __future__ import annotations

import asyncio

import pytest

from pacata.testing.clock import WALL_CLOCK_AT_ZERO, ManualClock


def test_the_three_readings_move_together() -> None:
    clock = ManualClock()
    assert clock.now == 100.0
    assert clock.wall == WALL_CLOCK_AT_ZERO + 100.0
    start_ms = clock.now_ms()
    clock.advance(1.5)
    assert clock.now == 101.5
    assert clock.wall == WALL_CLOCK_AT_ZERO + 101.5
    assert clock.now_ms() == start_ms + 1_500


def test_a_time_set_reads_back_as_set() -> None:
    # A core's deadline set as the time must compare equal to it, or a timer never fires.
    clock = ManualClock(0.0)
    deadline = 0.1 + 0.2
    clock.now = deadline
    assert clock.now == deadline
    wall_clock = ManualClock(wall_ms=1_723_456_789_123)
    for _ in range(1_000):
        asyncio.run(wall_clock.advance_ms(7))
    assert wall_clock.now_ms() == 1_723_456_789_123 + 7_000


def test_time_never_goes_back() -> None:
    clock = ManualClock(wall_ms=10_000)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-0.001)
    with pytest.raises(ValueError, match="does not go back"):
        clock.now = clock.now - 1
    with pytest.raises(ValueError, match="does not go back"):
        asyncio.run(clock.advance_to_ms(9_999))


def test_sleepers_wake_in_deadline_order_when_the_clock_reaches_them() -> None:
    async def scenario() -> list[str]:
        clock = ManualClock(wall_ms=1_000)
        woken: list[str] = []

        async def sleeper(name: str, deadline_ms: int) -> None:
            await clock.sleep_until_ms(deadline_ms)
            woken.append(name)

        tasks = [
            asyncio.create_task(sleeper("late", 1_300)),
            asyncio.create_task(sleeper("early", 1_100)),
            asyncio.create_task(sleeper("now", 1_000)),
        ]
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert woken == ["now"]
        assert clock.next_deadline_ms == 1_100
        await clock.advance_ms(50)
        assert woken == ["now"]
        clock.advance(0.3)  # the plain move wakes them; they run at the next await
        await asyncio.gather(*tasks)
        assert clock.next_deadline_ms is None
        return woken

    assert asyncio.run(scenario()) == ["now", "early", "late"]
