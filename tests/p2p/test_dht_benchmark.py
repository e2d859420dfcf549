"""`benchmarks/dht_simulation.py` runs and writes its figures as a flat JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dht_benchmark_prints_its_table_and_writes_flat_json(tmp_path: Path) -> None:
    out = tmp_path / "dht.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "dht_simulation.py"),
            "--quick",
            "--sizes",
            "40",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "mean hops" in result.stdout
    figures = json.loads(out.read_text())
    assert all(isinstance(value, int | float) for value in figures.values()), "not flat"
    assert figures["n40_success_rate"] >= 0.99
