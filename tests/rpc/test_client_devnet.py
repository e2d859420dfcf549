"""The synchronous client (`SyncNodeClient`) against a real `pacatad --devnet` process: a
transfer submitted and followed to confirmed, the node's errors as exceptions, and the
administrative calls with the cookie's token, down to stopping the node.

Every wait polls with a deadline; the process is always killed and reaped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from pacata.chain.devnet import devnet_key
from pacata.chain.keys import PrivateKey
from pacata.chain.transactions import Transfer, make_transaction
from pacata.rpc import NodeUnreachable, RpcBadRequest, RpcNotFound, SyncNodeClient
from pacata.rpc.cookie import COOKIE_FILE
from pacata.testing.node_process import NodeProcess

pytestmark = pytest.mark.slow

DEADLINE_S = 30.0
CHAIN_ID = "pacata-devnet-1"
AMOUNT = 250_000_000
T = TypeVar("T")


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[NodeProcess]:
    node = NodeProcess(
        "pacatad",
        genesis=None,
        datadir=tmp_path / "datadir",
        listen="127.0.0.1:0",
        produce=True,
        log_dir=tmp_path,
    )
    try:
        node.wait_for("its first block", lambda: "block 1 " in node.log_text() or None)
        yield node
    finally:
        node.close()


def test_a_transfer_followed_to_confirmed_then_errors_and_a_clean_stop(devnet: NodeProcess) -> None:
    with SyncNodeClient(devnet.base) as node:
        status = node.status()
        assert status.chain_id == CHAIN_ID and status.producing
        sender, recipient = devnet_key(1), PrivateKey.generate().address
        before = node.account(sender.address)
        tx = make_transaction(
            sender, status.chain_id, before.pending_nonce, 1_000, Transfer(recipient, AMOUNT)
        )

        submitted = node.submit_transaction(tx)
        assert submitted.txid == tx.txid and submitted.status == "pending"
        found = node.wait_for_transaction(tx.txid, timeout_s=DEADLINE_S)

        assert found.confirmed and found.block_height is not None
        block = node.block(found.block_height)
        assert block["hash"] == found.block_hash
        assert tx.txid in [t["txid"] for t in block["transactions"]]
        assert node.account(recipient, proof=True).balance == AMOUNT
        after = node.account(sender.address, proof=True)
        assert after.balance == before.balance - AMOUNT - 1_000
        assert after.proof is not None and after.proof.verify(sender.address)

        # The node's errors, as the exceptions they map to, with its reasons.
        nonce = tx.nonce
        with pytest.raises(RpcBadRequest, match=rf"nonce {nonce} already used \(next is"):
            node.submit_transaction(tx)
        with pytest.raises(RpcNotFound, match="on the chain or in the mempool"):
            node.transaction(bytes(32))
        with pytest.raises(RpcNotFound, match="it has never been paid"):
            node.account(PrivateKey.generate().address)

    token = (devnet.datadir / COOKIE_FILE).read_text().strip()
    with SyncNodeClient(devnet.base, token=token) as admin:
        assert admin.set_producing(False) is False
        assert admin.status().producing is False
        admin.stop()
        assert devnet.process.wait(timeout=DEADLINE_S) == 0
        with pytest.raises(NodeUnreachable):
            admin.status()
