"""Figures of the Kademlia DHT: lookup success, hops and traffic against the number of nodes.

Runs `pacata.testing.simulations.dht` (the real `DhtNode`, k = 16, α = 3, on an in-memory network
with 10-120 ms latency and 1% loss) for each size: the nodes join through three seeds and
publish a record under their id, then lookups of live nodes' records run while 10% of the nodes
leave and as many join. Prints one row per size (lookup success, mean and 95th percentile hops,
bytes sent per node over the run and per second, the simulation's own run time) and
`--json FILE` writes the figures as a flat JSON object (`n500_success_rate`, ...).
`--quick` runs 125, 250 and 500 nodes with two minutes of churn (under a minute).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from pacata.testing.simulations.dht import (
    SimulationPlan,
    SimulationReport,
    quick_plan,
    run_simulation,
)

FULL_SIZES = (125, 250, 500, 1000)
QUICK_SIZES = (125, 250, 500)
COLUMNS = (
    ("nodes", 6),
    ("lookups", 8),
    ("success", 8),
    ("mean hops", 10),
    ("p95 hops", 9),
    ("queries", 8),
    ("KiB/node", 9),
    ("B/s/node", 9),
    ("seconds", 8),
)


def _row(report: SimulationReport) -> str:
    cells = (
        f"{report.nodes}",
        f"{report.lookups}",
        f"{100 * report.success_rate:.1f}%",
        f"{report.mean_hops:.2f}",
        f"{report.p95_hops:.0f}",
        f"{report.mean_queries:.1f}",
        f"{report.bytes_per_node / 1024:.0f}",
        f"{report.bytes_per_node_per_second:.0f}",
        f"{report.wall_seconds:.1f}",
    )
    return " ".join(cell.rjust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True))


def _figures(report: SimulationReport) -> dict[str, float | int]:
    prefix = f"n{report.nodes}_"
    return {
        prefix + "lookups": report.lookups,
        prefix + "success_rate": report.success_rate,
        prefix + "mean_hops": report.mean_hops,
        prefix + "p95_hops": report.p95_hops,
        prefix + "max_hops": report.max_hops,
        prefix + "mean_queries": report.mean_queries,
        prefix + "departed": report.departed,
        prefix + "joined": report.joined,
        prefix + "bytes_per_node": round(report.bytes_per_node),
        prefix + "bytes_per_node_per_second": round(report.bytes_per_node_per_second, 1),
        prefix + "oversize_datagrams": report.oversize_datagrams,
        prefix + "simulated_seconds": round(report.simulated_seconds, 1),
        prefix + "wall_seconds": round(report.wall_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="125-500 nodes, 2 minutes of churn")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="node counts to run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)

    print(" ".join(name.rjust(width) for name, width in COLUMNS))
    figures: dict[str, float | int] = {}
    for nodes in sizes:
        if args.quick:
            plan = quick_plan(nodes, seed=args.seed)
        else:
            plan = replace(SimulationPlan(), nodes=nodes, seed=args.seed)
        report = run_simulation(plan)
        print(_row(report), flush=True)
        figures.update(_figures(report))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
