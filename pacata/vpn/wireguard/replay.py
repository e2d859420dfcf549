"""The transport counter replay filter (whitepaper §5.4.6, RFC 6479 bitmap).

Rules:

- A counter is accepted once. The filter remembers the highest counter accepted and a window of
  `WINDOW_SIZE` = 8128 counters below it (a ring of 128 words of 64 bits, one word of which is
  always being recycled, hence 8192 - 64); a counter more than `WINDOW_SIZE` below the highest
  is refused as too old, whether or not it was seen.
- Counters at or beyond `reject_after_messages` (REJECT_AFTER_MESSAGES = 2**64 - 2**13 - 1 by
  default) are always refused: a key never authenticates that many messages.
- The caller updates the filter only after the packet has been authenticated, so that forged
  packets cannot move the window. `seen_or_too_old` is a read-only pre-check.
- Advancing the window clears only the words it passes over, at most all 128 of them, so each
  call costs O(1) whatever the jump.
"""

from __future__ import annotations

REJECT_AFTER_MESSAGES = (1 << 64) - (1 << 13) - 1

_WORD_BITS = 64
_WORD_SHIFT = 6
_WORD_COUNT = 128  # 8192 bits
_WORD_MASK = _WORD_COUNT - 1
_BIT_MASK = _WORD_BITS - 1
WINDOW_SIZE = _WORD_COUNT * _WORD_BITS - _WORD_BITS  # 8128


class ReplayWindow:
    """Accepts each counter at most once, within a sliding window below the highest seen."""

    __slots__ = ("_bitmap", "_highest", "_reject_after")

    def __init__(self, reject_after_messages: int = REJECT_AFTER_MESSAGES) -> None:
        self._bitmap = [0] * _WORD_COUNT
        self._highest = -1
        self._reject_after = reject_after_messages

    @property
    def highest(self) -> int:
        """The highest counter accepted so far, or -1."""
        return self._highest

    def seen_or_too_old(self, counter: int) -> bool:
        """Whether `accept` would refuse `counter`, without changing the filter."""
        if counter >= self._reject_after or counter < 0:
            return True
        if counter > self._highest:
            return False
        if counter + WINDOW_SIZE < self._highest:
            return True
        word = self._bitmap[(counter >> _WORD_SHIFT) & _WORD_MASK]
        return bool(word >> (counter & _BIT_MASK) & 1)

    def accept(self, counter: int) -> bool:
        """Records `counter` and returns True, or returns False if it is a replay or too old."""
        if counter >= self._reject_after or counter < 0:
            return False
        bitmap = self._bitmap
        highest = self._highest
        word_index = counter >> _WORD_SHIFT
        if counter > highest:
            # Clear the words between the old highest word (exclusive) and the new one.
            current_word = highest >> _WORD_SHIFT if highest >= 0 else -1
            steps = min(word_index - current_word, _WORD_COUNT)
            for offset in range(1, steps + 1):
                bitmap[(word_index - steps + offset) & _WORD_MASK] = 0
            self._highest = counter
        elif counter + WINDOW_SIZE < highest:
            return False
        slot = word_index & _WORD_MASK
        bit = 1 << (counter & _BIT_MASK)
        word = bitmap[slot]
        if word & bit:
            return False
        bitmap[slot] = word | bit
        return True
