"""`Chain.import_blocks`: a run of blocks imported as `add_block` would, with the next block's
signatures verified while the current one is written."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from pacata.chain.blocks import Block
from pacata.chain.chain import AddStatus, Chain
from pacata.chain.devnet import devnet_key
from pacata.chain.genesis import shipped_genesis
from pacata.chain.kvstore import MemoryStore
from pacata.chain.verifier import InlineVerifier, SignatureVerifier
from pacata.errors import DecodeError, InvalidBlock
from pacata.node.signature_process import ProcessVerifier
from pacata.testing import ChainFactory
from pacata.testing.ledger import PRODUCER_INDEX, with_bad_signature

GENESIS = shipped_genesis("devnet")


@pytest.fixture(params=["inline", "process"])
def verifier(request: pytest.FixtureRequest) -> Iterator[SignatureVerifier]:
    if request.param == "inline":
        yield InlineVerifier()
        return
    process = ProcessVerifier(min_batch=1)
    try:
        yield process
    finally:
        process.close()


def assert_free(verifier: SignatureVerifier) -> None:
    """No batch is left out to the verifier's child (it would make the next batch inline)."""
    assert not isinstance(verifier, ProcessVerifier) or not verifier.busy


def built_blocks(count: int, seed: int = 11) -> tuple[ChainFactory, list[Block]]:
    factory = ChainFactory(seed=seed)
    return factory, [factory.next_block(factory.random_transfers(4)) for _ in range(count)]


def test_a_run_imports_as_add_block_does(verifier: SignatureVerifier) -> None:
    factory, blocks = built_blocks(6)
    chain = Chain(MemoryStore(), GENESIS, verifier)
    updates = list(chain.import_blocks((block, block.encode()) for block in blocks))
    assert [update.status for update in updates] == [AddStatus.CONNECTED] * 6
    assert [update.connected for update in updates] == [(block,) for block in blocks]
    assert chain.tip.hash == factory.chain.tip.hash
    assert chain.state_root == factory.chain.state_root
    assert_free(verifier)
    # Known blocks again, and an empty run: nothing to do, nothing left behind.
    again = list(chain.import_blocks((block, None) for block in blocks[:2]))
    assert [update.status for update in again] == [AddStatus.KNOWN] * 2
    assert list(chain.import_blocks([])) == []
    assert_free(verifier)


def test_a_bad_signature_ends_the_run_at_its_block(verifier: SignatureVerifier) -> None:
    _, blocks = built_blocks(4)
    # Block 2's signatures are started while block 1 is written: the error is still block 2's.
    run = [*blocks[:2], with_bad_signature(blocks[2], 3), blocks[3]]
    chain = Chain(MemoryStore(), GENESIS, verifier)
    imported = []
    with pytest.raises(InvalidBlock, match="transaction 3 has an invalid signature"):
        for update in chain.import_blocks((block, None) for block in run):
            imported.extend(update.connected)
    assert imported == blocks[:2]
    assert chain.height == 2
    assert_free(verifier)
    assert [u.status for u in chain.import_blocks((b, None) for b in blocks[2:])] == [
        AddStatus.CONNECTED
    ] * 2


def test_an_error_of_the_callers_iterator_is_not_the_blocks(verifier: SignatureVerifier) -> None:
    _, blocks = built_blocks(3)
    encodings = [block.encode() for block in blocks]
    encodings[2] = encodings[2][:-1]  # truncated: decoding it fails

    def decoded() -> Iterator[tuple[Block, bytes | None]]:
        for data in encodings:
            yield Block.decode(data), data

    chain = Chain(MemoryStore(), GENESIS, verifier)
    statuses = []
    with pytest.raises(DecodeError):
        for update in chain.import_blocks(decoded()):
            statuses.append(update.status)
    # The decode failed while block 1 was being connected; block 1 is imported all the same.
    assert statuses == [AddStatus.CONNECTED] * 2
    assert chain.height == 2
    assert_free(verifier)


def test_stopping_early_leaves_the_verifier_free(verifier: SignatureVerifier) -> None:
    _, blocks = built_blocks(3)
    chain = Chain(MemoryStore(), GENESIS, verifier)
    run = chain.import_blocks((block, None) for block in blocks)
    assert next(run).status is AddStatus.CONNECTED  # block 1's signatures are out by now
    run.close()
    assert_free(verifier)
    assert chain.height == 1
    assert chain.add_block(blocks[1]).status is AddStatus.CONNECTED


def test_a_block_failing_after_its_signatures_started_early(verifier: SignatureVerifier) -> None:
    _, blocks = built_blocks(4)
    wrong_root = replace(blocks[2].header, state_root=bytes(32)).signed(devnet_key(PRODUCER_INDEX))
    run = [*blocks[:2], Block(wrong_root, blocks[2].transactions), blocks[3]]
    chain = Chain(MemoryStore(), GENESIS, verifier)
    statuses = []
    with pytest.raises(InvalidBlock, match="state_root"):
        for update in chain.import_blocks((block, None) for block in run):
            statuses.append(update.status)
    assert statuses == [AddStatus.CONNECTED] * 2
    assert chain.tip.hash == blocks[1].hash
    assert_free(verifier)


def test_a_block_off_the_run_is_imported_on_its_own_branch(verifier: SignatureVerifier) -> None:
    _, blocks = built_blocks(1)
    other = ChainFactory(seed=5)
    sibling = other.next_block(other.random_transfers(2), slot_gap=2)  # also on genesis
    chain = Chain(MemoryStore(), GENESIS, verifier)
    statuses = [u.status for u in chain.import_blocks([(blocks[0], None), (sibling, None)])]
    assert statuses[0] is AddStatus.CONNECTED
    assert statuses[1] in (AddStatus.SIDE_BRANCH, AddStatus.REORGANIZED)
    assert chain.tip.hash in (blocks[0].hash, sibling.hash)
    assert_free(verifier)
