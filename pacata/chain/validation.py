"""Block validation: small pure checks, composed by `Chain.add_block`, and `execute_block`
(on `BlockExecution`, which `Chain.build_block` shares).

The order matters for cost: everything cheap and stateless (linkage, sizes, Merkle root, the
producer's signature) runs before the transactions' signatures are verified in a batch. A block
that extends the tip is executed while its signatures are verified (`SignatureCheck`, in a
process of its own on a machine with more than one core), and nothing is stored before the
verdict; a bad signature is reported ahead of whatever the execution found. Every failure is an
`InvalidBlock` (or a `ConsensusError` from the producer rules) naming what is wrong.
"""

from __future__ import annotations

from pacata.chain.blocks import Block
from pacata.chain.consensus import begin_block
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.merkle import merkle_root
from pacata.chain.params import ChainParams
from pacata.chain.state import StateOverlay
from pacata.chain.state_reader import StateReader
from pacata.chain.transactions import Transaction
from pacata.chain.transitions import BlockContext, apply_block_rewards, apply_transaction
from pacata.chain.verifier import SignatureVerifier
from pacata.errors import InvalidBlock, InvalidTransaction


def validate_linkage(header: BlockHeader, parent: BlockHeader) -> None:
    if header.prev_hash != parent.hash:
        raise InvalidBlock("prev_hash is not the parent's hash")
    if header.height != parent.height + 1:
        raise InvalidBlock(f"height {header.height} does not follow the parent's {parent.height}")
    if header.slot <= parent.slot:
        raise InvalidBlock(f"slot {header.slot} is not after the parent's slot {parent.slot}")
    if header.timestamp_ms < parent.timestamp_ms:
        raise InvalidBlock("timestamp is before the parent's")


def validate_body(block: Block, params: ChainParams, encoded_size: int) -> None:
    """Every check of a block's body that needs no state: its size, then its transaction root."""
    validate_body_size(block, params, encoded_size)
    validate_tx_root(block)


def validate_body_size(block: Block, params: ChainParams, encoded_size: int) -> None:
    """The limits on a block's transactions and bytes, which bound the work of every later
    check (the chain makes them before it sends the signatures to be verified)."""
    if len(block.transactions) > params.max_block_transactions:
        raise InvalidBlock(
            f"{len(block.transactions)} transactions exceed the limit of "
            f"{params.max_block_transactions}"
        )
    if encoded_size > params.max_block_bytes:
        raise InvalidBlock(f"block of {encoded_size} bytes exceeds {params.max_block_bytes}")


def validate_tx_root(block: Block) -> None:
    """No transaction twice, and the header's `tx_root` is the transactions' Merkle root."""
    txids = [tx.txid for tx in block.transactions]
    if len(set(txids)) != len(txids):
        raise InvalidBlock("a transaction appears twice")
    if merkle_root(txids) != block.header.tx_root:
        raise InvalidBlock("tx_root does not match the transactions")


class SignatureCheck:
    """A block's transaction signatures, being checked by a `SignatureVerifier`.

    The producer's signature is checked at once (one signature); the transactions' go to the
    verifier, and `error()` waits for its verdict. It must be called whatever happens meanwhile,
    since the verifier serves one batch at a time; calling it again gives the same answer.
    """

    __slots__ = ("_collected", "_error", "_pending")

    def __init__(self, block: Block, verifier: SignatureVerifier) -> None:
        if not block.header.has_valid_signature():
            raise InvalidBlock("the producer's signature is invalid")
        items = [(tx.sender, tx.signing_digest(), tx.signature) for tx in block.transactions]
        self._pending = verifier.start(items)
        self._collected = False
        self._error: InvalidBlock | None = None

    def error(self) -> InvalidBlock | None:
        if not self._collected:
            bad = self._pending.first_invalid()
            self._collected = True
            if bad is not None:
                self._error = InvalidBlock(f"transaction {bad} has an invalid signature")
        return self._error


class BlockExecution:
    """A block's state transition, step by step: what validating a block and building one
    share (`execute_block`, `Chain.build_block`).

    First the slot lottery (`consensus.begin_block`: epoch rotation and pool payout, the
    producer's VRF proof and eligibility), then the transactions (`apply`), then the rewards
    (`finish`), on an overlay of the parent's state.
    """

    def __init__(self, header: BlockHeader, state: StateReader, params: ChainParams) -> None:
        self.overlay = StateOverlay(state)
        begin_block(self.overlay, header, params)
        self.ctx = BlockContext(
            params, header.height, header.slot, Address.from_public_key(header.producer)
        )
        self.fees = 0

    def apply(self, tx: Transaction) -> None:
        """Applies `tx` (validation: `InvalidTransaction` makes the block invalid, and the
        overlay, half-changed, is dropped with it)."""
        apply_transaction(self.overlay, tx, self.ctx)
        self.fees += tx.fee

    def try_apply(self, tx: Transaction) -> InvalidTransaction | None:
        """Applies `tx` if it applies (a producer's choice); else the reason, nothing changed."""
        attempt = StateOverlay(self.overlay)
        try:
            apply_transaction(attempt, tx, self.ctx)
        except InvalidTransaction as exc:
            return exc
        attempt.merge_into(self.overlay)
        self.fees += tx.fee
        return None

    def finish(self) -> StateOverlay:
        """Pays the block's reward and fees; the block's state."""
        apply_block_rewards(self.overlay, self.ctx, self.fees)
        return self.overlay


def execute_block(block: Block, state: StateReader, params: ChainParams) -> StateOverlay:
    """Applies a statelessly checked block to an overlay of its parent's state
    (`BlockExecution`); `InvalidBlock` names the first transaction that does not apply."""
    execution = BlockExecution(block.header, state, params)
    for index, tx in enumerate(block.transactions):
        try:
            execution.apply(tx)
        except InvalidTransaction as exc:
            raise InvalidBlock(f"transaction {index} ({tx.txid.hex()[:16]}): {exc}") from None
    return execution.finish()
