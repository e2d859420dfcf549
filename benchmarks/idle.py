"""Idle benchmark: the CPU and memory that real `pacatad` nodes use when nothing happens.

A producer and four followers run on loopback. Each follower dials the producer and the
follower started before it, so every node holds inbound links, and all but the producer
outbound ones too. Once every node is ready and has a peer, each is left alone for
`--seconds` (60 by default, 15 with `--quick`): the producer makes its block every slot,
nothing else happens. The CPU time each process used over that window (user + system, from
/proc) is the figure; the goal is under 1 % of a core per node. A deadline that stays in the
past — a timer firing back to back — shows here as a node near 100 %.

    .venv/bin/python benchmarks/idle.py [--quick] [--json FILE] [--seconds S]

Results: docs/BENCHMARKS.md §Idle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pacata.testing.node_process import (
    NodeProcess,
    free_port,
    write_producer_key,
    write_test_genesis,
)

CHAIN_ID = "pacata-idle-bench-1"
FOLLOWERS = 4
GOAL_PERCENT = 1.0
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_nodes(root: Path, genesis: Path) -> list[NodeProcess]:
    nodes: list[NodeProcess] = []
    producer_dir = root / "producer"
    write_producer_key(producer_dir, 0)
    producer_port = free_port()
    nodes.append(
        NodeProcess(
            "producer",
            genesis=genesis,
            datadir=producer_dir,
            listen=f"127.0.0.1:{producer_port}",
            produce=True,
            log_dir=root,
        )
    )
    ports = [producer_port]
    for index in range(1, FOLLOWERS + 1):
        port = free_port()
        bootnodes = [f"127.0.0.1:{ports[0]}"]
        if index > 1:
            bootnodes.append(f"127.0.0.1:{ports[-1]}")
        nodes.append(
            NodeProcess(
                f"follower-{index}",
                genesis=genesis,
                datadir=root / f"follower-{index}",
                listen=f"127.0.0.1:{port}",
                bootnodes=bootnodes,
                log_dir=root,
            )
        )
        ports.append(port)
    return nodes


def measure(nodes: list[NodeProcess], seconds: float) -> list[dict[str, float | str]]:
    for node in nodes:
        node.wait_ready()
    for node in nodes:
        node.wait_for("a peer", lambda node=node: node.status()["peers"] >= 1 or None)
    height = nodes[0].status()["height"]
    for node in nodes[1:]:
        node.wait_for(
            "the producer's height", lambda node=node: node.status()["height"] >= height or None
        )
    pids = [node.process.pid for node in nodes]
    before = [cpu_seconds(pid) for pid in pids]
    started = time.monotonic()
    time.sleep(seconds)  # the benchmark's subject: nothing happening for this long
    elapsed = time.monotonic() - started
    after = [cpu_seconds(pid) for pid in pids]
    rows: list[dict[str, float | str]] = []
    for node, pid, first, last in zip(nodes, pids, before, after, strict=True):
        status = node.status()
        rows.append(
            {
                "node": node.name,
                "cpu_percent": 100 * (last - first) / elapsed,
                "cpu_seconds": last - first,
                "rss_mib": rss_mib(pid),
                "peers": status["peers"],
                "height": status["height"],
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="15 s idle instead of 60 s")
    parser.add_argument("--seconds", type=float, help="how long to idle")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    seconds = args.seconds or (15.0 if args.quick else 60.0)

    with tempfile.TemporaryDirectory(prefix="pacata-idle-") as directory:
        root = Path(directory)
        genesis = write_test_genesis(
            root / "genesis.json", chain_id=CHAIN_ID, timestamp_ms=int(time.time() * 1000)
        )
        nodes = start_nodes(root, genesis)
        try:
            rows = measure(nodes, seconds)
        finally:
            for node in nodes:
                node.stop()
                node.close()

    print(f"idle for {seconds:.0f} s: a producer and {FOLLOWERS} followers on loopback")
    print(f"{'node':<12} {'CPU %':>8} {'CPU s':>8} {'RSS MiB':>8} {'peers':>6} {'height':>7}")
    for row in rows:
        print(
            f"{row['node']:<12} {row['cpu_percent']:>8.2f} {row['cpu_seconds']:>8.2f} "
            f"{row['rss_mib']:>8.1f} {row['peers']:>6} {row['height']:>7}"
        )
    worst = max(float(row["cpu_percent"]) for row in rows)
    verdict = "within" if worst < GOAL_PERCENT else "OVER"
    print(f"busiest node: {worst:.2f} % of a core ({verdict} the goal of {GOAL_PERCENT} %)")

    if args.json is not None:
        figures: dict[str, float] = {
            "idle_seconds": seconds,
            "idle_cpu_percent_max": worst,
            "idle_rss_mib_max": max(float(row["rss_mib"]) for row in rows),
        }
        for row in rows:
            name = str(row["node"]).replace("-", "_")
            figures[f"{name}_cpu_percent"] = float(row["cpu_percent"])
            figures[f"{name}_rss_mib"] = float(row["rss_mib"])
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
