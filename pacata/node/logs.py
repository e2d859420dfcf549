"""The node's log: one line per event that a person can read, on standard error.

Format: `2026-11-24 23:20:15.123 INFO    chain     block 12 3fa2c1d04b5e produced: 1 tx, 4.2 ms`
— local time with milliseconds, level, component, message. The component is the logger's name
without `pacata.node.` (`chain`, `producer`, `api`, `daemon`, ...); loggers of other libraries
show their full name. Each block connected to the chain is one `chain` line with its height,
hash prefix, how it came (produced, imported), its transaction count and its import time.

What others cause (a bad request, a bad peer message) is logged through a `RateLimitFilter`:
at most `burst` lines per `interval_s` for each kind of offence, the next line admitted saying
how many were held back, so that no client can fill the disk by repeating itself.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(component)-9s %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_OWN_PREFIX = "pacata.node."


class ComponentFormatter(logging.Formatter):
    """Adds `component`: the logger's name without the `pacata.node.` prefix."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT, DATE_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        record.component = record.name.removeprefix(_OWN_PREFIX)
        return super().format(record)


def configure_logging(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Sends every log record at `level` or above to `stream` (standard error) in our format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(ComponentFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler


@dataclass(slots=True)
class _Window:
    start: float
    lines: int = 0
    held_back: int = 0


class LogRateLimiter:
    """Decides which lines of each kind to write: the first `burst` of every `interval_s`.

    Fixed windows per kind, opened by the kind's first line. `now` is the caller's (a record's
    creation time), so the limiter reads no clock; a clock that steps back opens a new window.
    """

    def __init__(self, burst: int = 5, interval_s: float = 60.0, max_kinds: int = 256) -> None:
        self.burst = burst
        self.interval_s = interval_s
        self.max_kinds = max_kinds
        self._windows: dict[str, _Window] = {}

    def admit(self, kind: str, now: float) -> int | None:
        """None if this line is held back; else how many of its kind were since the last one
        written."""
        window = self._windows.get(kind)
        if window is None or not window.start <= now < window.start + self.interval_s:
            held_back = window.held_back if window is not None else 0
            if window is None and len(self._windows) >= self.max_kinds:
                self._forget_closed(now)
            window = self._windows[kind] = _Window(now, held_back=held_back)
        if window.lines >= self.burst:
            window.held_back += 1
            return None
        window.lines += 1
        held_back, window.held_back = window.held_back, 0
        return held_back

    def _forget_closed(self, now: float) -> None:
        # The kinds are few (exception classes, message templates); this bounds them anyway.
        for kind, window in list(self._windows.items()):
            if now >= window.start + self.interval_s or len(self._windows) >= self.max_kinds:
                del self._windows[kind]


class RateLimitFilter(logging.Filter):
    """A logger's filter that passes a record only if its kind is within the limiter's rate, and
    adds to the message how many of its kind were held back before it."""

    def __init__(
        self, limiter: LogRateLimiter, kind: Callable[[logging.LogRecord], str] | None = None
    ) -> None:
        super().__init__()
        self.limiter = limiter
        self.kind = kind or _message_template

    def filter(self, record: logging.LogRecord) -> bool:
        held_back = self.limiter.admit(self.kind(record), record.created)
        if held_back is None:
            return False
        self.reshape(record)
        if held_back:
            record.msg = f"{record.getMessage()} ({held_back} more like this not logged)"
            record.args = None
        return True

    def reshape(self, record: logging.LogRecord) -> None:
        """Changes a record that will be written (its kind is known by then); nothing here."""


def _message_template(record: logging.LogRecord) -> str:
    return str(record.msg)
