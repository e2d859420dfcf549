"""The node's log: one line per event that a person can read, on standard error.

Format: `2026-11-24 23:20:15.123 INFO    chain     block 12 3fa2c1d04b5e produced: 1 tx, 4.2 ms`
— local time with milliseconds, level, component, message. The component is the logger's name
without `pacata.node.` (`chain`, `producer`, `api`, `daemon`, ...); loggers of other libraries
show their full name. Each block connected to the chain is one `chain` line with its height,
hash prefix, how it came (produced, imported), its transaction count and its import time.
"""

from __future__ import annotations

import logging
import sys
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
