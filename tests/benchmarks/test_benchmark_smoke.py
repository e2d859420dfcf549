"""The benchmarks run: `--quick` exits 0 and writes its figures as a flat JSON object.

Only that they run and report is checked here; how fast is for the benchmarks themselves
(docs/BENCHMARKS.md), since a test that asserts a speed fails on a busy machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

VALIDATE_FIGURES = (
    "transfers_per_s",
    "raw_verify_per_s",
    "ratio_to_raw_verify",
    "verify_signature_per_s",
    "verify_many_per_s",
    "blocks",
    "transfers_per_block",
    "blocks_per_s",
    "ms_per_block",
    "peak_rss_mib",
)
VALIDATE_STAGES = (
    "decode",
    "stateless",
    "signatures",
    "producer",
    "execute",
    "state_diff",
    "tree",
    "batch",
    "write",
    "gc",
    "other",
)


@pytest.mark.slow
def test_validate_quick_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "validate.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "validate.py"), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "transfers/s" in result.stdout
    figures = json.loads(out.read_text())
    assert isinstance(figures, dict)
    assert all(isinstance(value, int | float) for value in figures.values()), "not flat"
    for key in VALIDATE_FIGURES:
        assert figures[key] > 0, key
    for stage in VALIDATE_STAGES:
        # A stage can take no time at all (no collection in the pass), never less.
        assert figures[f"breakdown_{stage}_ms_per_block"] >= 0, stage
    assert figures["breakdown_signatures_ms_per_block"] > 0
