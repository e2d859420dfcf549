"""A real `pacatad` keeps its pending transactions across a clean stop and across a kill: the
mempool journal is written as transactions come and re-admitted at start (docs/ledger.md
§Mempool). The node does not produce, so the transactions stay pending."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.transactions import Transfer, make_transaction
from pacata.testing.node_process import NodeProcess, write_test_genesis

pytestmark = pytest.mark.slow

CHAIN_ID = "pacata-mempool-restart-1"


def _node(tmp_path: Path, genesis: Path, run: int) -> NodeProcess:
    node = NodeProcess(
        f"pacatad-{run}",  # a log of its own: the ready line is looked for in it
        genesis=genesis,
        datadir=tmp_path / "data",
        listen="127.0.0.1:0",
        log_dir=tmp_path,
    )
    node.wait_ready()
    return node


def test_pending_transactions_survive_a_kill_and_a_clean_stop(tmp_path: Path) -> None:
    genesis = write_test_genesis(
        tmp_path / "genesis.json", chain_id=CHAIN_ID, timestamp_ms=int(time.time() * 1000)
    )
    recipient = devnet_key(5).address
    sent = [
        make_transaction(devnet_key(1), CHAIN_ID, nonce, 1_000 + nonce, Transfer(recipient, 7))
        for nonce in range(3)
    ]
    node = _node(tmp_path, genesis, 1)
    try:
        for tx in sent:
            assert node.request("POST", "/api/txs", {"tx": tx.encode().hex()})["status"] == (
                "pending"
            )
        node.process.kill()  # no goodbye: what was admitted must already be on disk
        node.process.wait(timeout=15)
    finally:
        node.close()

    node = _node(tmp_path, genesis, 2)
    try:
        for tx in sent:
            assert node.get(f"/api/txs/{tx.txid.hex()}")["status"] == "pending"
        assert node.status()["mempool_size"] == 3
        assert "mempool: 3 pending transactions loaded" in node.log_text()
        assert node.stop() == 0
    finally:
        node.close()

    node = _node(tmp_path, genesis, 3)
    try:
        assert node.get("/api/mempool")["count"] == 3
        assert node.stop() == 0
    finally:
        node.close()
