"""Tunnel benchmark: TCP throughput (iperf3) and ping RTT over a veth, wireguard-go, and ours.

One pair of network namespaces joined by a veth (pacata/testing/netns_lab.py); in the same run:

- `veth`: the bare underlay;
- `wireguard_go`: wireguard-go on both sides, configured with `wg`;
- `pacata`: our userspace engine (`pacata-vpn wg-userspace`) on both sides, all offloads on;
- with `--variants`, our engine with each batching/offload step turned off, and the two mixed
  pairs (ours → wireguard-go and back), to show what each step gives.

    sudo .venv/bin/python benchmarks/tunnel.py [--quick] [--variants] [--json FILE]

Prints a table; `--json FILE` writes one flat object (`veth_mbps`, `wireguard_go_mbps`,
`pacata_mbps`, `*_rtt_ms` (median ping), `*_cpu_s_per_gb`, ...). The default run does 3
interleaved rounds of 10 s per iperf3 run and reports medians (about 3 minutes); `--quick` does
one round of 3 s runs and 50 pings, under a minute.
Needs root, iproute2, wireguard-go, wireguard-tools, iperf3 and ping.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass

from pacata.testing.netns_lab import OVERLAY, UNDERLAY, NamespaceLab, missing_requirements
from pacata.testing.proc_stats import cpu_seconds


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    sides: tuple[str, str] | None  # None: the bare veth
    extra: tuple[str, ...] = ()


MAIN = [
    Scenario("veth", "bare veth", None),
    Scenario("wireguard_go", "wireguard-go ↔ wireguard-go", ("wireguard-go", "wireguard-go")),
    Scenario("pacata", "pacata ↔ pacata (all offloads)", ("pacata", "pacata")),
]
VARIANTS = [
    Scenario(
        "pacata_two_threads",
        "pacata, a thread per direction",
        ("pacata", "pacata"),
        ("--data-threads", "2"),
    ),
    Scenario(
        "pacata_no_tso",
        "pacata, no TUN TSO (kernel segments)",
        ("pacata", "pacata"),
        ("--no-tun-tso",),
    ),
    Scenario(
        "pacata_no_gso_gro",
        "pacata, no UDP GSO/GRO",
        ("pacata", "pacata"),
        ("--no-udp-gso", "--no-udp-gro"),
    ),
    Scenario(
        "pacata_plain",
        "pacata, no offload at all",
        ("pacata", "pacata"),
        ("--no-tun-offload", "--no-udp-gso", "--no-udp-gro"),
    ),
    Scenario("pacata_to_wireguard_go", "pacata → wireguard-go", ("pacata", "wireguard-go")),
    Scenario("wireguard_go_to_pacata", "wireguard-go → pacata", ("wireguard-go", "pacata")),
]


@dataclass(frozen=True)
class Measurement:
    mbps: float
    rtt_ms: float  # median of the pings (robust to the scheduling noise of a shared machine)
    rtt_average_ms: float
    rtt_busy_ms: float  # median at 1000 pings/s
    # CPU time of both tunnel daemons per gigabyte carried (0 for the bare veth).
    cpu_seconds_per_gb: float


def measure(lab: NamespaceLab, scenario: Scenario, seconds: float, pings: int) -> Measurement:
    """Throughput from side 0 to side 1, ping RTT from side 0, and the daemons' CPU cost."""
    ends = None
    if scenario.sides is None:
        target = UNDERLAY[1]
    else:
        ends = lab.tunnel(*scenario.sides, extra=scenario.extra)
        target = OVERLAY[1]
    try:
        warm_up = lab.ping(0, target, count=3, interval=0.2)
        if warm_up.received == 0:
            raise RuntimeError(f"{scenario.label}: no ping answered")
        ping = lab.ping(0, target, count=pings, interval=0.01)
        # At 1000 pings a second the code path stays in the CPU caches between packets.
        busy = lab.ping(0, target, count=pings * 4, interval=0.001)
        pids = [end.process.pid for end in ends or () if end.process is not None]
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        mbps = lab.iperf3(1, target, seconds=seconds)
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
    finally:
        if ends is not None:
            for end in ends:
                lab.stop_end(end)
    gigabytes = mbps * seconds / 8000
    return Measurement(
        mbps,
        ping.median_ms,
        ping.average_ms,
        busy.median_ms,
        cpu / gigabytes if pids and gigabytes else 0.0,
    )


def median_of(samples: list[Measurement]) -> Measurement:
    return Measurement(
        mbps=statistics.median(sample.mbps for sample in samples),
        rtt_ms=statistics.median(sample.rtt_ms for sample in samples),
        rtt_average_ms=statistics.median(sample.rtt_average_ms for sample in samples),
        rtt_busy_ms=statistics.median(sample.rtt_busy_ms for sample in samples),
        cpu_seconds_per_gb=statistics.median(sample.cpu_seconds_per_gb for sample in samples),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per throughput run, 50 pings")
    parser.add_argument("--variants", action="store_true", help="also each offload turned off")
    parser.add_argument("--seconds", type=float, default=None, help="iperf3 duration per run")
    parser.add_argument(
        "--rounds", type=int, default=None, help="repetitions, interleaved (default 1, 3 if full)"
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as one JSON object")
    arguments = parser.parse_args(argv)
    reason = missing_requirements()
    if reason is not None:
        print(f"tunnel benchmark: {reason}", file=sys.stderr)
        return 2
    seconds = arguments.seconds or (3.0 if arguments.quick else 10.0)
    pings = 50 if arguments.quick else 200
    arguments.rounds = arguments.rounds or (1 if arguments.quick else 3)
    scenarios = MAIN + (VARIANTS if arguments.variants else [])
    results: dict[str, float] = {
        "iperf3_seconds": seconds,
        "pings": pings,
        "rounds": arguments.rounds,
        # The machine may be shared: its load says how far to trust the figures.
        "load_average_before": os.getloadavg()[0],
    }
    started = time.monotonic()
    rows: list[tuple[str, Measurement]] = []
    samples: dict[str, list[Measurement]] = {scenario.key: [] for scenario in scenarios}
    with NamespaceLab() as lab:
        # Rounds interleave the scenarios, so that a burst of load from elsewhere on the
        # machine hits all of them rather than one; each figure is the median over rounds.
        for round_number in range(arguments.rounds):
            for scenario in scenarios:
                sample = measure(lab, scenario, seconds, pings)
                samples[scenario.key].append(sample)
                print(f"  round {round_number + 1} {scenario.label}: {sample}", file=sys.stderr)
        for scenario in scenarios:
            result = median_of(samples[scenario.key])
            results[f"{scenario.key}_mbps"] = round(result.mbps, 1)
            results[f"{scenario.key}_rtt_ms"] = round(result.rtt_ms, 3)
            results[f"{scenario.key}_rtt_average_ms"] = round(result.rtt_average_ms, 3)
            results[f"{scenario.key}_rtt_busy_ms"] = round(result.rtt_busy_ms, 3)
            if scenario.sides is not None:
                results[f"{scenario.key}_cpu_s_per_gb"] = round(result.cpu_seconds_per_gb, 2)
            rows.append((scenario.label, result))
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    results["load_average_after"] = os.getloadavg()[0]
    header = (
        f"{'path':<40} {'TCP Mbit/s':>11} {'RTT p50 ms':>11} {'RTT avg ms':>11}"
        f" {'RTT@1kpps':>10} {'CPU s/GB':>9}"
    )
    print("\n" + header)
    for label, result in rows:
        cpu = f"{result.cpu_seconds_per_gb:9.2f}" if result.cpu_seconds_per_gb else f"{'-':>9}"
        print(
            f"{label:<40} {result.mbps:>11.0f} {result.rtt_ms:>11.3f}"
            f" {result.rtt_average_ms:>11.3f} {result.rtt_busy_ms:>10.3f} {cpu}"
        )
    if arguments.json:
        with open(arguments.json, "w") as output:
            json.dump(results, output, indent=2)
            output.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
