"""The DHT at scale: 500 simulated nodes with churn find each other's records, in O(log n) hops.

The simulation (`pacata.testing.simulations.dht`) runs the real `DhtNode` on an in-memory network
with 10-120 ms latency, 1% loss, and 10% of the nodes leaving and as many joining while lookups
run. Its figures for more sizes are in docs/BENCHMARKS.md (`benchmarks/dht_simulation.py`).
"""

from __future__ import annotations

import math

import pytest

from pacata.testing.simulations.dht import SimulationReport, quick_plan, run_simulation


@pytest.fixture(scope="module")
def reports() -> dict[int, SimulationReport]:
    return {nodes: run_simulation(quick_plan(nodes)) for nodes in (125, 500)}


def test_lookups_succeed_at_500_nodes_with_churn(reports: dict[int, SimulationReport]) -> None:
    report = reports[500]
    assert report.departed == report.joined == 50
    assert report.lookups >= 250
    assert report.success_rate >= 0.99, report


def test_hops_grow_like_log_n(reports: dict[int, SimulationReport]) -> None:
    small, large = reports[125], reports[500]
    assert small.success_rate >= 0.99, small
    # Four times the nodes: the table of a node covers a smaller share of the network, and a
    # lookup needs at most a round or so more.
    assert large.mean_hops - small.mean_hops <= 1.0, (small, large)
    for nodes, report in reports.items():
        assert report.mean_hops >= 0.9  # a value is rarely already at the asker
        assert report.mean_hops <= 0.5 * math.log2(nodes), report
        assert report.p95_hops <= math.log2(nodes), report


def test_datagrams_stay_small_and_traffic_bounded(reports: dict[int, SimulationReport]) -> None:
    for report in reports.values():
        assert report.oversize_datagrams == 0
        # Joining (a lookup of our own id, bucket refreshes, a put) and two minutes of
        # lookups, republishing and replication: a few hundred bytes a second per node.
        assert report.bytes_per_node_per_second < 2_000, report


def test_a_run_is_a_function_of_its_seed() -> None:
    first = run_simulation(quick_plan(40, seed=9))
    second = run_simulation(quick_plan(40, seed=9))
    fields = ("lookups", "succeeded", "mean_hops", "bytes_per_node", "datagrams_lost")
    assert [getattr(first, f) for f in fields] == [getattr(second, f) for f in fields]
