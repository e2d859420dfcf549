"""The rule that a sans-I/O core's timer sleeps, and a driver for property tests of it.

The rule: once `handle_timer(now)` ran and its output was taken, a sans-I/O core reports no
deadline at or before `now` (`get_timer()` is None or later than `now`). A deadline left in the
past makes the event loop that re-arms the timer fire it back to back: a node burning a core
while idle.

A property test subclasses `TimerRuleDriver` for its core (or cores), draws a script from its
own events mixed with `clock_events`, and hands each event to `run_clock_event` first. The clock
events move the clock and fire a core's timer at its deadline, late (as a busy event loop would)
or at once, checking the rule each time; a core's index is drawn with them when there are
several cores, and a driver of one core is core 0.

hypothesis is a test-only dependency: it is imported by `clock_events` alone, so that this module
imports without it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = ["TimerRuleDriver", "check_timer_sleeps", "clock_events"]


def check_timer_sleeps(name: str, now: float, deadline: float | None) -> None:
    """Raises `AssertionError` when `deadline`, what the core `name` reports once its timer ran
    at `now`, is at or before `now`."""
    if deadline is not None and deadline <= now:
        raise AssertionError(f"{name}: its timer ran at {now} and is due again at {deadline}")


def clock_events(
    seconds: SearchStrategy[float], cores: int | None = None
) -> SearchStrategy[tuple[object, ...]]:
    """The clock events for `cores` cores (None: a single core, and the events name none):
    `("advance", seconds)`, `("timer at deadline"[, core])`, `("timer late"[, core], seconds)`
    and `("timer now"[, core])`."""
    from hypothesis import strategies as st

    core = () if cores is None else (st.integers(0, cores - 1),)
    return st.one_of(
        st.tuples(st.just("advance"), seconds),
        st.tuples(st.just("timer at deadline"), *core),
        st.tuples(st.just("timer late"), *core, seconds),
        st.tuples(st.just("timer now"), *core),
    )


class TimerRuleDriver(ABC):
    """Runs the clock events on one or more sans-I/O cores and checks the rule on each timer.

    A subclass says how to read a core's deadline and how to run its timer; it handles its own
    events where `run_clock_event` returns False.
    """

    now: float = 0.0

    @abstractmethod
    def deadline(self, core: int) -> float | None:
        """The core's `get_timer()`."""

    @abstractmethod
    def run_timer(self, core: int) -> None:
        """Calls the core's `handle_timer` at `self.now` and takes what it sends."""

    def core_name(self, core: int) -> str:
        """How a failure names the core."""
        return f"core {core}"

    def fire(self, core: int) -> None:
        """Runs the core's timer at `now` and checks that it sleeps."""
        self.run_timer(core)
        check_timer_sleeps(self.core_name(core), self.now, self.deadline(core))

    def fire_late(self, core: int, lateness: float) -> None:
        """Moves the clock `lateness` past the core's deadline (where it is not past already)
        and runs its timer; a core with no deadline is left alone."""
        if (deadline := self.deadline(core)) is not None:
            self.now = max(self.now, deadline + lateness)
            self.fire(core)

    def run_clock_event(self, event: tuple[object, ...]) -> bool:
        """Runs `event` if it is a clock event (see `clock_events`); False if it is not."""
        match event:
            case ("timer at deadline" | "timer now",) | ("timer late", float()):
                # A single core's events name no core: it is core 0.
                return self.run_clock_event((event[0], 0, *event[1:]))
            case ("advance", float(step)):
                self.now += step
            case ("timer at deadline", int(core)):
                self.fire_late(core, 0.0)
            case ("timer late", int(core), float(lateness)):
                self.fire_late(core, lateness)
            case ("timer now", int(core)):
                self.fire(core)
            case _:
                return False
        return True
