"""What a process has used so far, from /proc: for the benchmarks that measure daemons.

before = cpu_seconds(pid)            # user + system time, every thread
tree = cpu_seconds_of_tree([pid])    # the same, with every descendant process
rss_mib(pid)                         # resident memory now
"""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 on), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _seconds(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far, all its threads."""
    fields = _stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(f"no process {pid}")
    return _seconds(fields)


def cpu_seconds_of_tree(pids: list[int]) -> float:
    """User + system CPU time so far of processes `pids` and their descendants (a node's
    signature verifier is a child process of its own). This kernel has no
    /proc/PID/task/TID/children: the tree comes from every process's parent."""
    stats = {
        int(entry.name): fields
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None
    }
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    total, pending = 0.0, list(pids)
    while pending:
        pid = pending.pop()
        fields = stats.get(pid)
        if fields is not None:
            total += _seconds(fields)
        pending += children.get(pid, [])
    return total


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` now, in MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ProcessLookupError(f"no VmRSS for process {pid}")
