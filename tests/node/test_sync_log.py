"""The sync's log lines give a real rate, from the first line on."""

from __future__ import annotations

from pacata.node.sync_log import SyncLog
from pacata.p2p.sync import SyncProgress


def _progress(syncing: bool, downloaded: int) -> SyncProgress:
    return SyncProgress(syncing, 5_000, downloaded, None)


def test_the_first_line_measures_the_rate_since_the_sync_began() -> None:
    lines = SyncLog(interval=5.0)
    started = lines.observe(100.0, _progress(True, 0), 0)  # the sync is seen: the start
    assert started == "sync: started at height 0, 5000 to reach"
    assert lines.observe(104.0, _progress(True, 800), 800) is None
    first = lines.observe(105.0, _progress(True, 1_000), 1_000)
    assert first == "sync: height 1000 of 5000 (1000 blocks downloaded, 200 blocks/s)"
    second = lines.observe(115.0, _progress(True, 4_000), 4_000)
    assert second == "sync: height 4000 of 5000 (4000 blocks downloaded, 300 blocks/s)"
    done = lines.observe(120.0, _progress(False, 5_000), 5_000)
    assert done == "sync: done at height 5000: 5000 blocks in 20.0 s (250 blocks/s)"


def test_a_short_sync_logs_nothing_and_the_next_one_starts_afresh() -> None:
    lines = SyncLog(interval=5.0)
    assert lines.observe(0.0, _progress(True, 0), 4_998) is None  # two blocks behind
    assert lines.observe(1.0, _progress(False, 2), 5_000) is None
    assert lines.observe(50.0, _progress(True, 2), 4_990) is None
    line = lines.observe(60.0, _progress(True, 502), 502)
    assert line is not None and line.endswith("(502 blocks downloaded, 50 blocks/s)")
