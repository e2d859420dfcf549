"""The gossip simulation: 500 nodes with churn, the real engine and messages."""

from __future__ import annotations

from pacata.testing.simulations.gossip import SimulationParams, format_report, run_simulation


def test_gossip_reaches_99_percent_of_500_nodes_under_churn() -> None:
    report = run_simulation(SimulationParams(nodes=500, items=20, churn_fraction=0.02, seed=3))
    assert report.churn_events > 200
    assert report.min_reach >= 0.99, format_report(report)
    assert report.percentile("hops", 0.99) <= 8
    assert report.percentile("delays", 0.99) < 2.0
    assert report.bytes_per_node < 50_000


def test_the_same_seed_gives_the_same_run() -> None:
    params = SimulationParams(nodes=60, items=5, seed=11)
    first, second = run_simulation(params), run_simulation(params)
    assert first == second
    assert run_simulation(SimulationParams(nodes=60, items=5, seed=12)) != first
