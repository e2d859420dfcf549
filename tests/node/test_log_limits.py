"""Rate-limited logging (pacata/node/logs.py): a few lines per kind and interval, and a count of
what was held back on the next line written; times are given, never read from a clock."""

from __future__ import annotations

import io
import logging

from pacata.node.logs import ComponentFormatter, LogRateLimiter, RateLimitFilter


def test_the_first_burst_of_each_interval_is_written() -> None:
    limiter = LogRateLimiter(burst=3, interval_s=60.0)
    assert [limiter.admit("bad line", 100.0 + i) for i in range(5)] == [0, 0, 0, None, None]
    # Other kinds have limits of their own.
    assert limiter.admit("bad header", 104.0) == 0
    # The next interval's first line says how many were held back.
    assert limiter.admit("bad line", 160.0) == 2
    assert limiter.admit("bad line", 161.0) == 0
    assert limiter.admit("bad line", 162.0) == 0
    assert limiter.admit("bad line", 163.0) is None


def test_a_clock_that_steps_back_opens_a_new_interval() -> None:
    limiter = LogRateLimiter(burst=1, interval_s=60.0)
    assert limiter.admit("k", 1_000.0) == 0
    assert limiter.admit("k", 1_001.0) is None
    assert limiter.admit("k", 10.0) == 1


def test_the_kinds_remembered_are_bounded() -> None:
    limiter = LogRateLimiter(burst=1, interval_s=60.0, max_kinds=4)
    assert limiter.admit("kind 0", 0.0) == 0
    assert limiter.admit("kind 0", 1.0) is None
    for index in range(1, 100):
        assert limiter.admit(f"kind {index}", 2.0) == 0
    # Forgotten to make room, held-back count and all.
    assert limiter.admit("kind 0", 3.0) == 0


def test_the_filter_drops_and_then_counts_lines() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("pacata.node.test-log-limits")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(ComponentFormatter())
    logger.addHandler(handler)
    logger.addFilter(RateLimitFilter(LogRateLimiter(burst=2, interval_s=60.0)))

    def warn(number: int, created: float) -> None:
        args = (number, "10.0.0.1")
        record = logger.makeRecord(logger.name, logging.WARNING, __file__, 0, MESSAGE, args, None)
        record.created = created
        logger.handle(record)

    try:
        for number in range(1_000):
            warn(number, 1_000.0 + number / 100)
        warn(1_000, 1_060.0)
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("bad request 0 from 10.0.0.1")
    assert lines[1].endswith("bad request 1 from 10.0.0.1")
    assert lines[2].endswith("bad request 1000 from 10.0.0.1 (998 more like this not logged)")


MESSAGE = "bad request %d from %s"
