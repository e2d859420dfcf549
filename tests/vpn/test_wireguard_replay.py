"""The replay window (pacata/vpn/wireguard/replay.py): RFC 6479 bitmap of 8128 counters,
checked against a plain set-based model, and the REJECT_AFTER_MESSAGES ceiling."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pacata.vpn.wireguard.replay import REJECT_AFTER_MESSAGES, WINDOW_SIZE, ReplayWindow


class ModelWindow:
    """What the window promises, with no cleverness: remember everything."""

    def __init__(self, reject_after: int) -> None:
        self.seen: set[int] = set()
        self.highest = -1
        self.reject_after = reject_after

    def accept(self, counter: int) -> bool:
        if counter >= self.reject_after or counter in self.seen:
            return False
        if counter + WINDOW_SIZE < self.highest:
            return False
        self.seen.add(counter)
        self.highest = max(self.highest, counter)
        return True


def test_constants() -> None:
    assert WINDOW_SIZE == 8128
    assert REJECT_AFTER_MESSAGES == 2**64 - 2**13 - 1


def test_each_counter_once_in_any_order() -> None:
    window = ReplayWindow()
    assert [window.accept(counter) for counter in (5, 3, 4, 0, 1, 2)] == [True] * 6
    assert [window.accept(counter) for counter in range(6)] == [False] * 6
    assert window.highest == 5


def test_window_edge() -> None:
    window = ReplayWindow()
    assert window.accept(10_000)
    assert window.accept(10_000 - WINDOW_SIZE)
    assert not window.accept(10_000 - WINDOW_SIZE - 1)
    assert not window.seen_or_too_old(10_000 - WINDOW_SIZE + 1)
    assert window.seen_or_too_old(10_000 - WINDOW_SIZE)


def test_large_jump_clears_the_whole_ring() -> None:
    window = ReplayWindow()
    for counter in range(0, 8192, 7):
        assert window.accept(counter)
    jump = 1_000_000
    assert window.accept(jump)
    # Every counter in the window below the jump is fresh again: nothing stale survived.
    assert all(window.accept(counter) for counter in range(jump - WINDOW_SIZE, jump))


def test_reject_after_messages_is_a_hard_ceiling() -> None:
    window = ReplayWindow(reject_after_messages=100)
    assert window.accept(99)
    assert not window.accept(100)
    assert not window.accept(2**64 - 1)
    assert window.seen_or_too_old(100)
    default = ReplayWindow()
    assert default.accept(REJECT_AFTER_MESSAGES - 1)
    assert not default.accept(REJECT_AFTER_MESSAGES)


def test_seen_or_too_old_does_not_change_the_window() -> None:
    window = ReplayWindow()
    assert not window.seen_or_too_old(42)
    assert window.accept(42)
    assert window.seen_or_too_old(42)
    assert window.highest == 42


# Counters cluster near a moving front, with occasional long jumps, so that both the in-window
# bitmap and the clearing on advance are exercised.
steps = st.lists(
    st.one_of(
        st.integers(min_value=-200, max_value=200),
        st.integers(min_value=-9000, max_value=9000),
        st.integers(min_value=8000, max_value=20_000),
    ),
    max_size=300,
)


@settings(max_examples=200)
@given(steps, st.integers(min_value=0, max_value=30_000))
def test_matches_the_model(offsets: list[int], start: int) -> None:
    window, model = ReplayWindow(reject_after_messages=60_000), ModelWindow(60_000)
    position = start
    for offset in offsets:
        position = max(0, position + offset)
        assert window.seen_or_too_old(position) is not model_would_accept(model, position)
        assert window.accept(position) is model.accept(position)
        assert window.highest == model.highest


def model_would_accept(model: ModelWindow, counter: int) -> bool:
    if counter >= model.reject_after or counter in model.seen:
        return False
    return counter + WINDOW_SIZE >= model.highest
