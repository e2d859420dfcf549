"""The benchmarks run: `--quick` exits 0 and writes its figures as a flat JSON object.

Only that they run and report is checked here; how fast is for the benchmarks themselves
(docs/BENCHMARKS.md), since a test that asserts a speed fails on a busy machine.
"""

from __future__ import annotations

import json
import os
import shutil
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


def _run_quick(tmp_path: Path, script: str, *extra: str) -> tuple[str, dict[str, float]]:
    out = tmp_path / f"{script}.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / f"{script}.py"),
            "--quick",
            "--json",
            str(out),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(out.read_text())
    assert all(isinstance(value, int | float) for value in figures.values()), "not flat"
    return result.stdout, figures


@pytest.mark.slow
def test_idle_quick_measures_every_node(tmp_path: Path) -> None:
    stdout, figures = _run_quick(tmp_path, "idle", "--seconds", "3")
    assert "busiest of ours" in stdout
    names = ["producer", *(f"follower_{i}" for i in range(1, 5))]
    if os.geteuid() == 0 and shutil.which("wireguard-go"):  # the tunnel daemons idle too
        names += ["wg_userspace", "vpn_relay", "vpn_client"]
        assert figures["wireguard_go_cpu_percent"] >= 0
    for name in names:
        assert figures[f"{name}_cpu_percent"] >= 0, name
        assert figures[f"{name}_rss_mib"] > 0, name
    assert figures["idle_cpu_percent_max"] == max(figures[f"{n}_cpu_percent"] for n in names)


@pytest.mark.slow
def test_mempool_quick_compares_admission_with_raw_verification(tmp_path: Path) -> None:
    stdout, figures = _run_quick(tmp_path, "mempool")
    assert "admission / raw verification" in stdout
    assert figures["admit_per_s"] > 0 and figures["raw_verify_per_s"] > 0
    assert figures["admit_ratio_to_raw_verify"] == pytest.approx(
        figures["admit_per_s"] / figures["raw_verify_per_s"]
    )
    assert figures["reload_1000_s"] > 0 and figures["reload_5000_s"] > 0


def test_address_index_quick_compares_with_reading_the_blocks(tmp_path: Path) -> None:
    stdout, figures = _run_quick(tmp_path, "address_index")
    assert "catch-up / reading the blocks" in stdout
    assert figures["blocks"] == 1_000 and figures["transactions"] == 10_000
    assert figures["catch_up_s"] > 0 and figures["read_blocks_s"] > 0
    assert figures["ratio_to_reading_blocks"] == pytest.approx(
        figures["catch_up_s"] / figures["read_blocks_s"]
    )
    assert figures["longest_step_ms"] > 0 and figures["steps"] >= 1


@pytest.mark.slow
def test_explorer_quick_measures_every_page_beside_the_bare_handler(tmp_path: Path) -> None:
    stdout, figures = _run_quick(tmp_path, "explorer")
    assert "with its page store" in stdout and figures["blocks"] == 1_000
    for page in ("bare", "home", "block", "block_warm", "account", "account_warm"):
        assert figures[f"{page}_rps"] > 0 and figures[f"{page}_p99_ms"] > 0, page
        assert figures[f"{page}_server_cpu_us"] > 0, page
    for page in ("home", "block", "block_warm", "account", "account_warm"):
        assert figures[f"{page}_ratio_to_bare"] > 0, page
    assert figures["page_store_mib"] > 0 and figures["server_rss_mib"] > 0
