"""The sync's progress lines for a log that is not a terminal (sans-I/O: the caller passes
the time and the progress).

Rules:
- A sync is measured from the first moment it is seen running: every `interval` seconds a line
  gives the height, the target, the blocks downloaded and the rate over that interval; the
  first line's rate too is over a real interval, never a made-up zero.
- A sync that starts `announce_behind` blocks or more behind says so at once; when a sync that
  logged a line ends, one line says so, with the rate over the whole sync. A short sync (a block
  or two behind) logs nothing: the blocks' own lines speak for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pacata.p2p.sync import SyncProgress


@dataclass(slots=True)
class _Mark:
    time: float
    downloaded: int


class SyncLog:
    def __init__(self, interval: float, announce_behind: int = 32) -> None:
        self.interval = interval
        self.announce_behind = announce_behind
        self._start: _Mark | None = None
        self._last: _Mark | None = None
        self._logged = False

    def observe(self, now: float, progress: SyncProgress, height: int) -> str | None:
        """The line to log now, if any."""
        if progress.syncing:
            if self._start is None or self._last is None:
                self._start = self._last = _Mark(now, progress.downloaded)
                if progress.target_height - height < self.announce_behind:
                    return None
                self._logged = True
                return f"sync: started at height {height}, {progress.target_height} to reach"
            elapsed = now - self._last.time
            if elapsed < self.interval:
                return None
            rate = (progress.downloaded - self._last.downloaded) / elapsed
            self._last = _Mark(now, progress.downloaded)
            self._logged = True
            return (
                f"sync: height {height} of {progress.target_height} "
                f"({progress.downloaded} blocks downloaded, {rate:.0f} blocks/s)"
            )
        start, logged = self._start, self._logged
        self._start = self._last = None
        self._logged = False
        if start is None or not logged:
            return None
        elapsed = max(now - start.time, 1e-9)
        blocks = progress.downloaded - start.downloaded
        return (
            f"sync: done at height {height}: {blocks} blocks in {elapsed:.1f} s "
            f"({blocks / elapsed:.0f} blocks/s)"
        )
