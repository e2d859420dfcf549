"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pacata.testing.node_process import NodeProcess, free_port


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[NodeProcess]:
    """A real `pacatad --devnet` producing a block a second, stopped (and reaped) after."""
    process = NodeProcess(
        "devnet",
        genesis=None,
        datadir=tmp_path / "node",
        listen=f"127.0.0.1:{free_port()}",
        produce=True,
        log_dir=tmp_path,
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()
        process.close()
