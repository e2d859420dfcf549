"""The chain: block import, fork choice, reorganisation, and reads of the main chain's state.

Rules (docs/ledger.md §Chain):
- A block is imported only when its parent is known. A child of the tip is validated and
  connected at once; a block on another branch is checked statelessly and stored, and executed
  only if its branch becomes the best one.
- Fork choice: the greater height wins; at equal height the lower VRF output, then the lower
  hash. No reorganisation may undo a block deeper than the finality depth.
- Connecting a block writes its body, its state changes, its new state-tree nodes, its undo
  record and the new tip in one atomic batch; disconnecting writes the undo record back in one
  batch. A crash therefore leaves the store at some valid block, and `Chain` re-runs fork choice
  over the stored blocks when it opens, to finish an interrupted reorganisation.
- A block that fails validation in a reorganisation is marked invalid, the old branch is
  restored, and nothing built on the invalid block is ever connected.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from functools import partial

from pacata.chain import schema
from pacata.chain.blocks import Block
from pacata.chain.chainstore import BlockInfo, BlockStatus, ChainStore, UndoRecord
from pacata.chain.collector import collector_paused
from pacata.chain.consensus import (
    LeaderProof,
    check_header_time,
    prove_leadership,
)
from pacata.chain.genesis import Genesis
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address, PrivateKey
from pacata.chain.kvstore import KeyValueStore, WriteBatch
from pacata.chain.merkle import merkle_root
from pacata.chain.state import (
    Account,
    ChainTotals,
    Namespace,
    R,
    StateOverlay,
    state_key,
    tree_changes,
    tree_key,
)
from pacata.chain.state_cache import StateCache
from pacata.chain.state_tree import EMPTY_ROOT, StateProof, StateTree
from pacata.chain.transactions import Transaction
from pacata.chain.tree_checkpoints import (
    DEFAULT_CHECKPOINT_BLOCKS,
    TreeNodeBuffer,
    keys_changed_between,
)
from pacata.chain.validation import (
    BlockExecution,
    SignatureCheck,
    execute_block,
    validate_body_size,
    validate_linkage,
    validate_tx_root,
)
from pacata.chain.verifier import InlineVerifier, SignatureVerifier
from pacata.chain.vrf import VrfKey
from pacata.errors import (
    BlockNotFound,
    ConsensusError,
    InvalidBlock,
    InvalidTransaction,
    StoreError,
    ValidationError,
)


class AddStatus(Enum):
    CONNECTED = "connected"  # extended the main chain
    REORGANIZED = "reorganized"  # its branch became the main chain
    SIDE_BRANCH = "side-branch"  # stored; its branch is not (yet) the best
    KNOWN = "known"  # already stored


@dataclass(frozen=True, slots=True)
class ChainUpdate:
    status: AddStatus
    connected: tuple[Block, ...] = ()
    disconnected: tuple[Block, ...] = ()
    # The state keys the update changed, when it connected one block on the tip; None when
    # unknown (a reorganisation): followers (the mempool) then check everything again.
    changed_keys: Collection[bytes] | None = None


def preference(header: BlockHeader) -> tuple[int, bytes, bytes]:
    """Sort key of fork choice: the greatest key is the best tip."""
    inverted_vrf = bytes(255 - b for b in header.vrf_output)
    inverted_hash = bytes(255 - b for b in header.hash)
    return header.height, inverted_vrf, inverted_hash


class _Lookahead:
    """The item after the block being imported (`Chain.import_blocks`), read from the caller's
    iterator at most once, and the signature check started for it, if any."""

    __slots__ = ("_error", "_item", "_read", "_source", "signatures")

    def __init__(self, source: Iterator[tuple[Block, bytes | None]]) -> None:
        self._source = source
        self._read = False
        self._item: tuple[Block, bytes | None] | None = None
        self._error: Exception | None = None
        self.signatures: SignatureCheck | None = None

    def read(self) -> tuple[Block, bytes | None] | None:
        """The next item (None at the end); an error of the caller's iterator is kept for
        `next_item`, so that it is not taken for an error of the block being imported."""
        if not self._read:
            self._read = True
            try:
                self._item = next(self._source, None)
            except Exception as exc:
                self._error = exc
        return self._item

    def next_item(self) -> tuple[Block, bytes | None] | None:
        """The next item, reading it now if it was not read ahead; raises what reading raised."""
        self.read()
        if self._error is not None:
            raise self._error
        return self._item


class Chain:
    def __init__(
        self,
        kv: KeyValueStore,
        genesis: Genesis,
        verifier: SignatureVerifier | None = None,
        checkpoint_blocks: int = DEFAULT_CHECKPOINT_BLOCKS,
    ) -> None:
        self.kv = kv
        # Transaction signatures are checked by `verifier` while the block executes; by default
        # in this process, so that opening a chain starts no child (the node injects its own).
        self.verifier = verifier or InlineVerifier()
        self.store = ChainStore(kv)
        # The state at the tip for every reader: the store's, recent records kept decoded.
        self.state = StateCache(self.store)
        self.genesis = genesis
        self.params = genesis.params
        # New state-tree nodes are written at checkpoints, not with every block.
        self.tree_nodes = TreeNodeBuffer(self.store, checkpoint_blocks)
        self.tree = StateTree(self.tree_nodes.read)
        self._tip = self._open()
        self._restore_tree()
        self._recover()

    # -- opening ------------------------------------------------------------------------

    def _open(self) -> BlockHeader:
        genesis_block = self._genesis_block()
        tip_hash = self.store.meta(schema.TIP)
        if tip_hash is None:
            # Genesis goes only into an empty store: one that holds other data is not a chain
            # database (another program's LevelDB, a wrong --datadir) and is left as it is.
            if next(iter(self.kv.iterate(b"")), None) is not None:
                raise StoreError("the database holds data but no chain: not a Pacata database")
            self._write_genesis(genesis_block)
            return genesis_block.header
        version = self.store.meta(schema.VERSION)
        if version in {str(old).encode() for old in schema.UPGRADABLE_VERSIONS}:
            # A version 1 store holds every tree node: its checkpoint is its tip.
            batch = WriteBatch()
            batch.put(schema.TREE_CHECKPOINT, tip_hash)
            batch.put(schema.VERSION, str(schema.SCHEMA_VERSION).encode())
            self.kv.write(batch)
        elif version != str(schema.SCHEMA_VERSION).encode():
            raise StoreError(f"chain database has schema {version!r}, need {schema.SCHEMA_VERSION}")
        if self.store.meta(schema.GENESIS) != genesis_block.hash:
            raise StoreError(
                f"this chain database belongs to another chain than {self.params.chain_id!r}"
            )
        tip = self.store.header(tip_hash)
        if tip is None:
            raise StoreError("the chain database's tip header is missing")
        return tip

    def _genesis_block(self) -> Block:
        state = self.genesis.initial_state()
        root, self._genesis_nodes = self.tree.update(EMPTY_ROOT, tree_changes(state.items()))
        return Block(self.genesis.header(root), ())

    def _write_genesis(self, block: Block) -> None:
        batch = WriteBatch()
        info = BlockInfo(0, block.header.prev_hash, BlockStatus.VALID)
        ChainStore.stage_block(batch, block, info, block.encode())
        changes: dict[bytes, bytes | None] = dict(self.genesis.initial_state())
        ChainStore.stage_connect(batch, block, changes, UndoRecord(()))
        ChainStore.stage_tree_nodes(batch, self._genesis_nodes)
        batch.put(schema.TREE_CHECKPOINT, block.hash)
        batch.put(schema.GENESIS, block.hash)
        batch.put(schema.VERSION, str(schema.SCHEMA_VERSION).encode())
        self.kv.write(batch)

    def _restore_tree(self) -> None:
        """Rebuilds the tip's state tree from the last checkpoint's, if they differ (a crash, or
        a stop without `checkpoint`): see tree_checkpoints.py."""
        checkpoint_hash = self.store.meta(schema.TREE_CHECKPOINT)
        if checkpoint_hash is None:
            raise StoreError("the chain database names no state-tree checkpoint")
        if checkpoint_hash == self._tip.hash:
            return
        checkpoint = self.store.header(checkpoint_hash)
        if checkpoint is None:
            raise StoreError("the block of the state-tree checkpoint is missing")
        changed = keys_changed_between(self.store, checkpoint, self._tip)
        root, nodes = self.tree.update(
            checkpoint.state_root,
            tree_changes((key, self.store.get_state(key)) for key in changed),
        )
        if root != self._tip.state_root:
            raise StoreError(
                "the state tree rebuilt from its checkpoint does not match the tip's state root"
            )
        self.tree_nodes.add(nodes)

    def checkpoint(self) -> None:
        """Writes the state-tree nodes under the tip's root that are only in memory (a node
        stopping calls this; without it the next start rebuilds them)."""
        if not len(self.tree_nodes):
            return
        batch = WriteBatch()
        self.tree_nodes.stage(batch, self._tip)
        self.kv.write(batch, partial(self._trim_tree_cache, self._tip))
        self.tree_nodes.written()

    def _recover(self) -> None:
        """Adopts the best stored branch, finishing a reorganisation a crash interrupted."""
        tried: set[bytes] = set()
        while True:
            candidate = self._best_stored_tip(exclude=tried)
            if candidate is None or preference(candidate) <= preference(self._tip):
                return
            tried.add(candidate.hash)
            try:
                self._reorganize_to(candidate.hash)
            except (InvalidBlock, ConsensusError):
                continue

    def _best_stored_tip(self, exclude: set[bytes]) -> BlockHeader | None:
        best: BlockHeader | None = None
        height = max(0, self._tip.height - self.params.finality_depth)
        while True:
            hashes = list(self.store.blocks_by_height(height))
            if not hashes:
                return best
            for block_hash in hashes:
                info = self.store.block_info(block_hash)
                if block_hash in exclude or info is None or info.status == BlockStatus.INVALID:
                    continue
                header = self.store.header(block_hash)
                if header is not None and (best is None or preference(header) > preference(best)):
                    best = header
            height += 1

    # -- reads --------------------------------------------------------------------------

    @property
    def tip(self) -> BlockHeader:
        return self._tip

    @property
    def height(self) -> int:
        return self._tip.height

    @property
    def state_root(self) -> bytes:
        return self._tip.state_root

    @property
    def genesis_hash(self) -> bytes:
        found = self.store.main_hash_at(0)
        assert found is not None
        return found

    def block(self, block_hash: bytes) -> Block:
        found = self.store.block(block_hash)
        if found is None:
            raise BlockNotFound(f"no block {block_hash.hex()}")
        return found

    def block_at(self, height: int) -> Block:
        block_hash = self.store.main_hash_at(height)
        if block_hash is None:
            raise BlockNotFound(f"no block at height {height} (tip is {self.height})")
        return self.block(block_hash)

    def is_on_main_chain(self, block_hash: bytes) -> bool:
        info = self.store.block_info(block_hash)
        return info is not None and self.store.main_hash_at(info.height) == block_hash

    def account(self, address: Address) -> Account:
        return StateOverlay(self.state).account(address)

    def records(
        self, namespace: Namespace, decode: Callable[[bytes], R]
    ) -> Iterator[tuple[bytes, R]]:
        """Every record of the tip's state in `namespace`, in key order, with its natural id
        (a relay's address bytes, a channel's id): a scan of the store, for listings."""
        prefix = schema.state_entry_key(state_key(namespace, b""))
        for key, value in self.kv.iterate(prefix):
            yield key[len(prefix) :], decode(value)

    def totals(self) -> ChainTotals:
        return StateOverlay(self.state).totals()

    def account_proof(self, address: Address) -> StateProof:
        """Proof, against `state_root`, of the account's record (or of its absence)."""
        return self.tree.prove(self.state_root, tree_key(state_key(Namespace.ACCOUNT, address.raw)))

    # -- import -------------------------------------------------------------------------

    def add_block(
        self, block: Block, encoded: bytes | None = None, now_ms: int | None = None
    ) -> ChainUpdate:
        """Imports a block; raises `InvalidBlock`/`ConsensusError`, or `BlockNotFound` (orphan).

        With `now_ms` (the node's clock) a block whose slot has not begun yet is refused with
        `BlockFromFuture`, and not remembered: it may be offered again when its time comes.
        """
        return self._add_block(block, encoded, now_ms)

    def import_blocks(
        self, blocks: Iterable[tuple[Block, bytes | None]], now_ms: int | None = None
    ) -> Iterator[ChainUpdate]:
        """`add_block` for each (block, encoding) of `blocks` in turn, yielding each one's
        update; the first block that raises ends the import with its exception.

        For a run of blocks each built on the one before (a sync), a block's signatures go to
        the verifier as soon as the previous block's are found good, so that they are checked
        while that block is written and its update handled (docs/ledger.md, "Validation
        order"). `blocks` is therefore read one block ahead of the block being imported.
        """
        source = iter(blocks)
        item = next(source, None)
        started: SignatureCheck | None = None
        ahead = _Lookahead(source)
        try:
            while item is not None:
                block, encoded = item
                ahead = _Lookahead(source)
                look_ahead = partial(self._start_ahead, ahead, block, now_ms)
                yield self._add_block(block, encoded, now_ms, started, look_ahead)
                if started is not None:
                    started.error()  # collected, if the block was known and never checked
                item = ahead.next_item()
                started = ahead.signatures
        finally:
            # Whatever ended the import, the verifier must not be left holding a batch.
            for check in (started, ahead.signatures):
                if check is not None:
                    check.error()

    def _start_ahead(self, ahead: _Lookahead, parent: Block, now_ms: int | None) -> None:
        """Reads the block after `parent` and, if it builds on it and passes the checks that
        come before its signatures, starts its signature check (`import_blocks`). A block that
        fails a check is left alone: `add_block` finds the failure again in its turn."""
        item = ahead.read()
        if item is None:
            return
        block, encoded = item
        try:
            check_header_time(block.header, self.genesis.timestamp_ms, self.params, now_ms)
            validate_linkage(block.header, parent.header)
            validate_body_size(block, self.params, len(encoded or block.encode()))
            ahead.signatures = SignatureCheck(block, self.verifier)
        except ValidationError:
            return

    def _add_block(
        self,
        block: Block,
        encoded: bytes | None,
        now_ms: int | None,
        signatures: SignatureCheck | None = None,
        on_verified: Callable[[], None] | None = None,
    ) -> ChainUpdate:
        """`add_block`, with the block's signature check already started (`signatures`), and
        `on_verified` called when a block connected on the tip has passed it, before it is
        written."""
        block_hash = block.hash
        known = self.store.block_info(block_hash)
        if known is not None:
            if known.status == BlockStatus.INVALID:
                raise InvalidBlock(f"block {block_hash.hex()} is known to be invalid")
            return ChainUpdate(AddStatus.KNOWN)
        parent_info = self.store.block_info(block.header.prev_hash)
        parent = self.store.header(block.header.prev_hash)
        if parent_info is None or parent is None:
            raise BlockNotFound(f"parent {block.header.prev_hash.hex()} of the block is unknown")
        if parent_info.status == BlockStatus.INVALID:
            raise InvalidBlock("the block builds on an invalid block")
        if block.height <= self._tip.height - self.params.finality_depth:
            raise InvalidBlock(f"block at height {block.height} forks below the finality depth")
        if encoded is None:
            encoded = block.encode()
        check_header_time(block.header, self.genesis.timestamp_ms, self.params, now_ms)
        validate_linkage(block.header, parent)
        validate_body_size(block, self.params, len(encoded))
        with collector_paused():
            # The signatures go to the verifier first, so that the transaction ids and the
            # Merkle root are computed while it works; an error of the root still wins.
            if signatures is None:
                signatures = SignatureCheck(block, self.verifier)
            try:
                validate_tx_root(block)
            except InvalidBlock:
                signatures.error()  # collected: the verifier serves one batch at a time
                raise
            if parent.hash == self._tip.hash:
                changed = self._connect(block, encoded, signatures, on_verified)
                return ChainUpdate(AddStatus.CONNECTED, connected=(block,), changed_keys=changed)
            error = signatures.error()
            if error is not None:
                raise error
        batch = WriteBatch()
        ChainStore.stage_block(
            batch, block, BlockInfo(block.height, parent.hash, BlockStatus.STORED), encoded
        )
        self.kv.write(batch)
        if preference(block.header) <= preference(self._tip):
            return ChainUpdate(AddStatus.SIDE_BRANCH)
        connected, disconnected = self._reorganize_to(block_hash)
        return ChainUpdate(AddStatus.REORGANIZED, connected, disconnected)

    def _connect(
        self,
        block: Block,
        encoded: bytes | None = None,
        signatures: SignatureCheck | None = None,
        on_verified: Callable[[], None] | None = None,
    ) -> Collection[bytes]:
        """Validates `block` against the state at the tip (its parent), makes it the tip, and
        returns the state keys it changed.

        With `signatures` still being checked, the block executes meanwhile and nothing is
        written before the verdict; a bad signature outranks whatever the execution found.
        `on_verified` runs once the block is found good, before it is written.
        """
        parent = self._tip
        # The update puts its nodes straight into the checkpoint buffer; a refused block's go.
        mark = self.tree_nodes.mark()
        try:
            overlay = execute_block(block, self.state, self.params)
            changes, originals = overlay.changes_and_originals()
            root, _ = self.tree.update(
                parent.state_root, tree_changes(changes.items()), into=self.tree_nodes.nodes
            )
            if root != block.header.state_root:
                raise InvalidBlock("state_root does not match the state after the block")
            # The batch is built before the verdict too: it is only written after it.
            batch = WriteBatch()
            info = BlockInfo(block.height, parent.hash, BlockStatus.VALID)
            ChainStore.stage_block(batch, block, info, encoded or block.encode())
            ChainStore.stage_connect(batch, block, changes, UndoRecord(tuple(originals.items())))
        except BaseException:
            self.tree_nodes.discard_since(mark)
            if signatures is not None and (error := signatures.error()) is not None:
                raise error from None
            raise
        if signatures is not None and (error := signatures.error()) is not None:
            self.tree_nodes.discard_since(mark)
            raise error
        if on_verified is not None:
            on_verified()
        records = overlay.records()
        self._write_moving_tip(
            batch,
            block.header,
            cache_update=partial(self.state.committed, changes, records),
            cache_undo=partial(self.state.reverted, originals.items()),
        )
        return changes.keys()

    def _disconnect_tip(self) -> Block:
        block = self.block(self._tip.hash)
        if block.height == 0:
            raise InvalidBlock("the genesis block cannot be disconnected")
        parent = self.store.header(block.header.prev_hash)
        if parent is None:
            raise StoreError("the parent of the disconnected tip is missing")
        undo = self.store.undo_record(block.hash)
        # The parent's tree, from the tip's: the undo record holds every key the block changed.
        mark = self.tree_nodes.mark()
        root, _ = self.tree.update(
            self._tip.state_root, tree_changes(undo.previous), into=self.tree_nodes.nodes
        )
        if root != parent.state_root:
            self.tree_nodes.discard_since(mark)
            raise StoreError(f"undoing block {block.hash.hex()} does not give its parent's root")
        batch = WriteBatch()
        ChainStore.stage_disconnect(batch, block, undo)
        self._write_moving_tip(batch, parent)
        self.state.reverted(undo.previous)
        return block

    def _write_moving_tip(
        self,
        batch: WriteBatch,
        tip: BlockHeader,
        cache_update: Callable[[], None] | None = None,
        cache_undo: Callable[[], None] | None = None,
    ) -> None:
        """Writes `batch`, which makes `tip` the tip, with a tree checkpoint when one is due
        (the tree update that made `tip`'s root has put its nodes in the buffer).

        `cache_update` brings the state cache to `tip` while LevelDB writes (which lets go of
        the GIL), as does the trim of the tree's cache after a checkpoint; if the write fails,
        `cache_undo` takes the state cache back."""
        self.tree_nodes.block_applied()
        checkpointed = self.tree_nodes.due
        if checkpointed:
            self.tree_nodes.stage(batch, tip)

        def meanwhile() -> None:
            if cache_update is not None:
                cache_update()
            if checkpointed:
                self._trim_tree_cache(tip)

        try:
            self.kv.write(batch, meanwhile)
        except BaseException:
            if cache_undo is not None:
                cache_undo()
            raise
        self._tip = tip
        if checkpointed:
            self.tree_nodes.written()

    def _trim_tree_cache(self, tip: BlockHeader) -> None:
        """Keeps in the tree's cache only the nodes under `tip`'s root, once a checkpoint at
        `tip` is being written: what the cache holds of other roots is of no more use than what
        the store holds. It runs during the write; if that fails, what the cache dropped is
        still in the buffer or the store."""
        self.tree.retain(tip.state_root)

    def _mark_invalid(self, block_hash: bytes) -> None:
        info = self.store.block_info(block_hash)
        if info is not None:
            batch = WriteBatch()
            ChainStore.stage_info(batch, block_hash, replace(info, status=BlockStatus.INVALID))
            self.kv.write(batch)

    def _branch_to(self, block_hash: bytes) -> list[bytes]:
        """Hashes from the fork point's child up to `block_hash`, oldest first."""
        branch: list[bytes] = []
        current = block_hash
        while True:
            info = self.store.block_info(current)
            if info is None:
                raise StoreError(f"block {current.hex()} of a stored branch is missing")
            if self.store.main_hash_at(info.height) == current:
                break
            if info.status == BlockStatus.INVALID:
                raise InvalidBlock("the branch contains an invalid block")
            branch.append(current)
            current = info.parent
        branch.reverse()
        return branch

    def _reorganize_to(self, new_tip: bytes) -> tuple[tuple[Block, ...], tuple[Block, ...]]:
        branch = self._branch_to(new_tip)
        first = self.store.block_info(branch[0])
        assert first is not None
        fork_height = first.height - 1
        if fork_height < self._tip.height - self.params.finality_depth:
            raise InvalidBlock(
                f"reorganisation to height {fork_height} would undo finalized blocks"
            )
        disconnected: list[Block] = []
        while self._tip.height > fork_height:
            disconnected.append(self._disconnect_tip())
        connected: list[Block] = []
        for block_hash in branch:
            block = self.block(block_hash)
            try:
                self._connect(block)
            except (InvalidBlock, ConsensusError):
                self._mark_invalid(block_hash)
                for _ in connected:
                    self._disconnect_tip()
                for old in reversed(disconnected):
                    self._connect(old)
                raise
            connected.append(block)
        return tuple(connected), tuple(disconnected)

    # -- production ---------------------------------------------------------------------

    def leader_proof(self, vrf_key: VrfKey, address: Address, slot: int) -> LeaderProof | None:
        """The proof that `address` won `slot` on top of the tip, or None if it did not."""
        if slot <= self._tip.slot:
            return None
        return prove_leadership(StateOverlay(self.state), vrf_key, address, slot, self.params)

    def build_block(
        self,
        key: PrivateKey,
        leader: LeaderProof,
        candidates: Iterable[Transaction],
        slot: int,
        timestamp_ms: int,
    ) -> tuple[Block, list[tuple[Transaction, InvalidTransaction]]]:
        """A signed block on the tip with every candidate that applies, in order.

        `leader` is this producer's `leader_proof` for `slot`. Returns the block and the
        candidates left out with the reason.
        """
        parent = self._tip
        header = BlockHeader(
            height=parent.height + 1,
            prev_hash=parent.hash,
            slot=slot,
            timestamp_ms=timestamp_ms,
            producer=key.public_key,
            tx_root=bytes(32),
            state_root=bytes(32),
            vrf_output=leader.vrf_output,
            vrf_proof=leader.vrf_proof,
        )
        execution = BlockExecution(header, self.state, self.params)
        included: list[Transaction] = []
        rejected: list[tuple[Transaction, InvalidTransaction]] = []
        size = 0
        for tx in candidates:
            if len(included) >= self.params.max_block_transactions:
                break
            if size + tx.size > self.params.max_block_bytes - 1024:
                continue
            refused = execution.try_apply(tx)
            if refused is not None:
                rejected.append((tx, refused))
                continue
            included.append(tx)
            size += tx.size
        overlay = execution.finish()
        root, _ = self.tree.update(
            parent.state_root,
            tree_changes(overlay.changes().items()),
        )
        header = replace(
            header, tx_root=merkle_root([tx.txid for tx in included]), state_root=root
        ).signed(key)
        return Block(header, tuple(included)), rejected
