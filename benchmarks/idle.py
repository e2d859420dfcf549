"""Idle benchmark: the CPU and memory that real `pacatad` nodes use when nothing happens.

A producer and four followers run on loopback. Each follower dials the producer and the
follower started before it, so every node holds inbound links, and all but the producer
outbound ones too. Once every node is ready and has a peer, each is left alone for
`--seconds` (60 by default, 15 with `--quick`): the producer makes its block every slot,
nothing else happens. The CPU time each process used over that window (user + system, from
/proc) is the figure; the goal is under 1 % of a core per node. A deadline that stays in the
past — a timer firing back to back — shows here as a node near 100 %.

In the same window, where this runs as root with the WireGuard tools, the other daemons idle
too: `pacata-vpn wg-userspace` with a tunnel to `wireguard-go` (two network namespaces; one
ping sets up the session, then nothing), wireguard-go's own figure beside it as the reference;
and a paid tunnel's relay and client (`pacatad --relay`, `pacatad --vpn`, with their own
producer: pacata/testing/paid_lab.py) holding an open channel whose tunnel carried one ping.

    .venv/bin/python benchmarks/idle.py [--quick] [--json FILE] [--seconds S]

Results: docs/BENCHMARKS.md §Idle.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pacata.node.vpn_payments import BUSY_HOLD_S
from pacata.testing.netns_lab import LabError, NamespaceLab, missing_requirements
from pacata.testing.node_process import (
    NodeProcess,
    free_port,
    write_producer_key,
    write_test_genesis,
)
from pacata.testing.paid_lab import PaidTunnelLab
from pacata.testing.proc_stats import cpu_seconds, rss_mib

CHAIN_ID = "pacata-idle-bench-1"
FOLLOWERS = 4
GOAL_PERCENT = 1.0


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


def settle(nodes: list[NodeProcess]) -> None:
    """Waits until every node is ready, has a peer and holds the producer's height."""
    for node in nodes:
        node.wait_ready()
    for node in nodes:
        node.wait_for("a peer", lambda node=node: node.status()["peers"] >= 1 or None)
    height = nodes[0].status()["height"]
    for node in nodes[1:]:
        node.wait_for(
            "the producer's height", lambda node=node: node.status()["height"] >= height or None
        )


def tunnel_daemons(lab: NamespaceLab) -> dict[str, int]:
    """A tunnel from our userspace engine to wireguard-go, used once: name -> pid."""
    ours, reference = lab.tunnel("pacata", "wireguard-go")
    if lab.ping(0, reference.overlay, count=2).received == 0:
        raise LabError("no answer through the tunnel")
    assert ours.process is not None and reference.process is not None
    return {"wg-userspace": ours.process.pid, "wireguard-go": reference.process.pid}


def paid_tunnel_daemons(paid: PaidTunnelLab) -> dict[str, int]:
    """A relay and a client with an open channel, used once: name -> pid."""
    paid.register_relay([10**8])
    channel = paid.open_channel(deposit=10**8, blocks=10_000)
    paid.wait_up(channel)
    if paid.lab.ping(1, paid.relay_overlay, count=2).received == 0:
        raise LabError("no answer through the paid tunnel")
    # A meter stays quick for BUSY_HOLD_S after its bytes last moved: idle starts after that.
    seen: dict[str, float | int | None] = {"counted": None, "since": time.monotonic()}

    def quiet() -> bool:
        tunnel = paid.tunnel(paid.client, channel)
        counted = None if tunnel is None else tunnel["counted_bytes"]
        if counted != seen["counted"]:
            seen["counted"], seen["since"] = counted, time.monotonic()
        return time.monotonic() - float(seen["since"] or 0) > BUSY_HOLD_S

    paid.client.wait_for("the paid tunnel quiet", quiet)
    return {"vpn-relay": paid.relay.process.pid, "vpn-client": paid.client.process.pid}


def measure(pids: dict[str, int], seconds: float) -> dict[str, tuple[float, float]]:
    """Name -> (% of a core, RSS in MiB) over `seconds` of nothing happening."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    started = time.monotonic()
    time.sleep(seconds)  # the benchmark's subject: nothing happening for this long
    elapsed = time.monotonic() - started
    return {
        name: (100 * (cpu_seconds(pid) - before[name]) / elapsed, rss_mib(pid))
        for name, pid in pids.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="15 s idle instead of 60 s")
    parser.add_argument("--seconds", type=float, help="how long to idle")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    seconds = args.seconds or (15.0 if args.quick else 60.0)

    lacking = None if os.geteuid() == 0 else "not root"
    lacking = lacking or missing_requirements()
    lab_context = NamespaceLab() if lacking is None else contextlib.nullcontext(None)
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pacata-idle-")))
        lab = stack.enter_context(lab_context)
        paid = None
        if lacking is None:
            (root / "paid").mkdir()
            paid = stack.enter_context(PaidTunnelLab(root / "paid", chain_id="pacata-idle-paid"))
        genesis = write_test_genesis(
            root / "genesis.json", chain_id=CHAIN_ID, timestamp_ms=int(time.time() * 1000)
        )
        nodes = start_nodes(root, genesis)
        try:
            settle(nodes)
            pids = {node.name: node.process.pid for node in nodes}
            if lab is not None:
                pids |= tunnel_daemons(lab)
            if paid is not None:
                pids |= paid_tunnel_daemons(paid)
            figures = measure(pids, seconds)
            statuses = {node.name: node.status() for node in nodes}
        finally:
            for node in nodes:
                node.stop()
                node.close()

    print(f"idle for {seconds:.0f} s: a producer and {FOLLOWERS} followers on loopback")
    print(f"{'daemon':<14} {'CPU %':>8} {'RSS MiB':>8} {'peers':>6} {'height':>7}")
    for name, (cpu, rss) in figures.items():
        status = statuses.get(name)
        peers, height = ("", "") if status is None else (status["peers"], status["height"])
        print(f"{name:<14} {cpu:>8.2f} {rss:>8.1f} {peers:>6} {height:>7}")
    if lacking is not None:
        print(f"(wg-userspace not measured: {lacking})")
    ours = [cpu for name, (cpu, _) in figures.items() if name != "wireguard-go"]
    worst = max(ours)
    verdict = "within" if worst < GOAL_PERCENT else "OVER"
    print(f"busiest of ours: {worst:.2f} % of a core ({verdict} the goal of {GOAL_PERCENT} %)")

    if args.json is not None:
        flat: dict[str, float] = {
            "idle_seconds": seconds,
            "idle_cpu_percent_max": worst,
            "idle_rss_mib_max": max(rss for name, (_, rss) in figures.items() if name in statuses),
        }
        for name, (cpu, rss) in figures.items():
            key = name.replace("-", "_")
            flat[f"{key}_cpu_percent"] = cpu
            flat[f"{key}_rss_mib"] = rss
        args.json.write_text(json.dumps(flat, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
