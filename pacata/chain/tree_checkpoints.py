"""State-tree nodes held in memory between checkpoints, and the rebuild after a crash.

Storing every node a block makes was the largest cost of an import: a block of 2,000 transfers
among 20,000 accounts makes about 17,800 nodes, and by the time a few more blocks are connected
most of them belong to no current root any more (docs/BENCHMARKS.md, "Block validation"). So,
as Ethereum clients do with their trie nodes, the chain keeps the nodes that blocks make in
memory and writes to the store, every `checkpoint_blocks` blocks (or sooner, when
`checkpoint_nodes` are held), only those still under the tip's root, in the same atomic batch as
that block and with a marker naming the block (`schema.TREE_CHECKPOINT`).

Rules (docs/ledger.md, "Tree checkpoints"):

- Every node under the tip's state root is in the store or in the buffer. Connecting a block
  keeps it so (an update only reuses nodes of the root it starts from and returns every node it
  makes); disconnecting one rebuilds the parent's root from the tip's with the undo record.
- A checkpoint writes the buffered nodes under the tip's root, descending only through buffered
  nodes: a node in the store has all of its children there already.
- Nothing committed depends on the buffer: blocks, the flat state and undo records are written
  with every block. After a crash the tip's tree is rebuilt from the checkpoint's: every key
  that a block between the two changed (their undo records name them) is set to its value in
  the flat state, and the result must be the tip's state root (`keys_changed_between`).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from pacata.chain import schema
from pacata.chain.chainstore import ChainStore
from pacata.chain.headers import BlockHeader
from pacata.chain.kvstore import WriteBatch
from pacata.chain.state_tree import encoded_nodes_under
from pacata.errors import StoreError

DEFAULT_CHECKPOINT_BLOCKS = 16
# About 50 MiB of buffered nodes (hash, encoding and the dict's slot, ~200 bytes each, the
# encodings shared with the tree's cache); and half the tree's cache bound
# (`state_tree.DEFAULT_CACHE_SIZE`), which a checkpoint trims to the tip's nodes.
DEFAULT_CHECKPOINT_NODES = 1 << 18


class TreeNodeBuffer:
    """The state-tree nodes made since the last checkpoint, and when to write the next one."""

    __slots__ = ("_blocks", "_nodes", "checkpoint_blocks", "checkpoint_nodes", "store")

    def __init__(
        self,
        store: ChainStore,
        checkpoint_blocks: int = DEFAULT_CHECKPOINT_BLOCKS,
        checkpoint_nodes: int = DEFAULT_CHECKPOINT_NODES,
    ) -> None:
        if checkpoint_blocks < 1 or checkpoint_nodes < 1:
            raise ValueError("checkpoints come after at least one block and one node")
        self.store = store
        self.checkpoint_blocks = checkpoint_blocks
        self.checkpoint_nodes = checkpoint_nodes
        self._nodes: dict[bytes, bytes] = {}
        self._blocks = 0  # blocks connected or disconnected since the last checkpoint

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[bytes]:
        """The hashes of the buffered nodes."""
        return iter(self._nodes)

    def read(self, node_hash: bytes) -> bytes | None:
        """A `state_tree.NodeReader`: the buffer first, then the store."""
        found = self._nodes.get(node_hash)
        return found if found is not None else self.store.read_tree_node(node_hash)

    def add(self, nodes: dict[bytes, bytes]) -> None:
        """Nodes to be written at a checkpoint (the tree rebuilt after a crash)."""
        self._nodes.update(nodes)

    @property
    def nodes(self) -> dict[bytes, bytes]:
        """The buffer itself, for a tree update to put the nodes it makes in
        (`StateTree.update(..., into=)`): a block's 18,000 nodes are not copied a second time."""
        return self._nodes

    def mark(self) -> int:
        """Where the buffer stands, for `discard_since` if the update that follows is dropped."""
        return len(self._nodes)

    def discard_since(self, mark: int) -> None:
        """Drops the nodes added since `mark` (an update of a block that was refused). A node
        that was buffered before stays where it was: a dict keeps insertion order."""
        nodes = self._nodes
        for node_hash in list(islice(nodes, mark, None)):
            del nodes[node_hash]

    def block_applied(self) -> None:
        """A block was connected or disconnected (its nodes are in `nodes`)."""
        self._blocks += 1

    @property
    def due(self) -> bool:
        return self._blocks >= self.checkpoint_blocks or len(self._nodes) >= self.checkpoint_nodes

    def stage(self, batch: WriteBatch, tip: BlockHeader) -> None:
        """Puts a checkpoint at `tip` (whose root's nodes are all at hand) into `batch`; call
        `written` once the batch is durable."""
        ChainStore.stage_tree_nodes(batch, dict(encoded_nodes_under(tip.state_root, self._nodes)))
        batch.put(schema.TREE_CHECKPOINT, tip.hash)

    def written(self) -> None:
        self._nodes.clear()
        self._blocks = 0


def keys_changed_between(store: ChainStore, first: BlockHeader, second: BlockHeader) -> set[bytes]:
    """Every state key that a block on the way from `first` to `second` changed: back from
    each to their common ancestor, through the undo records of the blocks passed."""
    changed: set[bytes] = set()
    while first.hash != second.hash:
        if first.height >= second.height:
            changed.update(key for key, _ in store.undo_record(first.hash).previous)
            first = _parent(store, first)
        else:
            changed.update(key for key, _ in store.undo_record(second.hash).previous)
            second = _parent(store, second)
    return changed


def _parent(store: ChainStore, header: BlockHeader) -> BlockHeader:
    if header.height == 0:
        raise StoreError("two stored blocks have no common ancestor")
    parent = store.header(header.prev_hash)
    if parent is None:
        raise StoreError(f"the parent of block {header.hash.hex()} is missing")
    return parent
