"""`benchmarks/sync.py --quick` runs and writes its figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sync_benchmark_quick_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "sync.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sync.py"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["blocks"] == 1_000
    assert figures["sync_blocks_per_s"] > 0 and figures["local_import_blocks_per_s"] > 0
    assert "| sync over loopback TLS |" in result.stdout
