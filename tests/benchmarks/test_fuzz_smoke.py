"""The fuzzing benchmark (benchmarks/fuzz.py): `--quick` runs every target, decoders and receivers
crash on nothing, and the API of a real pacatad answers no 5xx (the fuzzer itself:
tests/testing/test_fuzzing.py).

How many inputs a second is for docs/BENCHMARKS.md, not for a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "fuzz.py"
QUICK_INPUTS = 2_000
QUICK_API_REQUESTS = 500


def _fuzz(*arguments: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
def test_fuzz_quick_runs_every_target_and_finds_nothing(tmp_path: Path) -> None:
    names = _fuzz("--list", timeout=60).stdout.split()
    assert "api" in names and len(names) > 40
    out = tmp_path / "fuzz.json"
    result = _fuzz("--quick", "--json", str(out), timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "inputs/s" in result.stdout
    figures = json.loads(out.read_text())
    assert all(isinstance(value, int | float) for value in figures.values()), "not flat"
    for name in names:
        if name == "api":
            continue
        assert figures[f"{name}_inputs"] == QUICK_INPUTS, name
        assert figures[f"{name}_crashes"] == 0, name
        assert figures[f"{name}_accepted"] + figures[f"{name}_rejected"] == QUICK_INPUTS, name
        assert figures[f"{name}_inputs_per_s"] > 0, name
    assert figures["crashes_total"] == 0
    assert figures["api_requests"] == QUICK_API_REQUESTS
    assert figures["api_5xx"] == 0 and figures["api_server_5xx"] == 0
    assert figures["api_2xx"] > 0 and figures["api_4xx"] > 0
    assert figures["api_node_survived"] == 1


def test_a_target_filter_runs_only_those_targets(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    result = _fuzz("--target", "p2p_ping", "--inputs", "300", "--json", str(out), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    assert figures["targets"] == 1 and figures["p2p_ping_inputs"] == 300
    assert "api_requests" not in figures  # no pacatad was started
