"""The state commitment: a compact binary sparse Merkle tree over 32-byte keys.

The ledger commits to its whole state with one 32-byte root. Each entry is a 32-byte key and
the 32-byte hash of its value; a `StateProof` shows that a key holds a value hash, or that it
holds none, with at most 256 sibling hashes. The format is specified in docs/state-tree.md.

Rules:

- Key bit `i` is bit `7 - i % 8` of byte `i // 8` (most significant first); at depth `i` a key
  goes left when its bit `i` is 0.
- leaf = SHA-256(0x00 ‖ key ‖ value_hash), internal = SHA-256(0x01 ‖ left ‖ right), and an empty
  subtree is 32 zero bytes (`EMPTY_ROOT`). The tag byte keeps a leaf preimage from ever reading
  as an internal one (§1).
- Canonical form (§2): a subtree holding exactly one leaf is that leaf, at the highest level
  where it is alone, so no internal node has (leaf, empty), (empty, leaf) or (empty, empty)
  children; a deletion collapses its sibling leaf back up. The root is therefore a function of
  the set of (key, value hash) pairs alone, whatever the order or batching of the updates.
- Nodes are content addressed and never change (§3): a node's stored encoding is its 65-byte
  hash preimage, stored under its hash. An update returns the nodes it made and the caller writes
  them in its own atomic batch; every older root stays readable, so a reorg only picks an older
  root.
- A node that is missing, malformed or does not hash to its name raises `StoreError`; a key or
  hash of the wrong size given to the tree raises `ValueError`. `verify_proof` never raises.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Protocol, Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE, ZERO_HASH, sha256
from pacata.errors import StoreError

KEY_SIZE = 32
KEY_BITS = KEY_SIZE * 8
# A leaf sits at most KEY_BITS levels down (two keys that differ only in their last bit).
MAX_PROOF_SIBLINGS = KEY_BITS
NODE_SIZE = 1 + 2 * HASH_SIZE
EMPTY_ROOT = ZERO_HASH

_LEAF_TAG = 0x00
_INTERNAL_TAG = 0x01
_LEAF_PREFIX = bytes((_LEAF_TAG,))
_INTERNAL_PREFIX = bytes((_INTERNAL_TAG,))
_TOP_BIT = KEY_BITS - 1
# Nodes the tree keeps in memory (at ~65 bytes each, shared with the chain's checkpoint buffer);
# docs/state-tree.md §3.
DEFAULT_CACHE_SIZE = 1 << 19
# Where the second half of a node's encoding starts: (tag, left, right) or (tag, key, value).
_MIDDLE = 1 + HASH_SIZE

# What stands at the bottom of a key's path while `_Batch.fold` hashes it up: only an internal
# node is sure to stay where it is; a leaf or an empty subtree may still rise (§2).
_EMPTY = 0
_LEAF = 1
_INTERNAL = 2

# A node as stored and cached: its 65-byte encoding, tag first. Bytes rather than a decoded
# tuple, because bytes are not tracked by the cyclic garbage collector: a block makes ~18,000
# nodes, and as tuples each would be walked by the collector before it learnt to skip them.
_Node = bytes


class NodeReader(Protocol):
    """Returns the stored encoding of the node with this hash, or `None` if there is none.

    The parameter is positional-only so that a plain `dict.get` is a `NodeReader`.
    """

    def __call__(self, node_hash: bytes, /) -> bytes | None: ...


def _require_size(name: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise ValueError(f"{name} must be {size} bytes")


def _checked_node(node_hash: bytes, encoding: bytes) -> _Node:
    """`encoding`, if it is the node stored under `node_hash`, or `StoreError` (§3)."""
    if not isinstance(encoding, bytes) or len(encoding) != NODE_SIZE:
        raise StoreError(f"state tree node {node_hash.hex()} is not {NODE_SIZE} bytes")
    tag = encoding[0]
    if tag > _INTERNAL_TAG:
        raise StoreError(f"state tree node {node_hash.hex()} has unknown tag {tag}")
    # The encoding is the hash preimage, so checking it costs one hash per store read (cache
    # hits skip it) and catches a corrupt store before it yields a wrong root.
    if sha256(encoding) != node_hash:
        raise StoreError(f"state tree node {node_hash.hex()} does not hash to its name")
    return encoding


@dataclass(frozen=True, slots=True)
class StateProof(WireObject):
    """Sibling hashes from the leaf level up to the root, and the leaf found in the key's place.

    An inclusion proof carries no leaf: the verifier builds it from the key and value hash it
    is checking. A non-inclusion proof ends either at an empty subtree (no leaf) or at the leaf
    of another key that shares the path (`found_key`, `found_value_hash`).

    Encoding (docs/state-tree.md §4): uvarint sibling count (at most 256), the siblings,
    32 bytes each, then a boolean and, when it is 1, the found key and its value hash.
    """

    siblings: tuple[bytes, ...]
    found_key: bytes | None = None
    found_value_hash: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.siblings) > MAX_PROOF_SIBLINGS:
            raise ValueError(f"a proof has at most {MAX_PROOF_SIBLINGS} siblings")
        for sibling in self.siblings:
            _require_size("a sibling hash", sibling, HASH_SIZE)
        if (self.found_key is None) != (self.found_value_hash is None):
            raise ValueError("a found leaf needs both its key and its value hash")
        if self.found_key is not None and self.found_value_hash is not None:
            _require_size("the found key", self.found_key, KEY_SIZE)
            _require_size("the found value hash", self.found_value_hash, HASH_SIZE)

    def write_to(self, writer: Writer) -> None:
        writer.sequence(
            self.siblings, MAX_PROOF_SIBLINGS, lambda sibling: writer.fixed(sibling, HASH_SIZE)
        )
        writer.boolean(self.found_key is not None)
        if self.found_key is not None and self.found_value_hash is not None:
            writer.fixed(self.found_key, KEY_SIZE)
            writer.fixed(self.found_value_hash, HASH_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        siblings = reader.sequence(MAX_PROOF_SIBLINGS, lambda: reader.fixed(HASH_SIZE))
        if not reader.boolean():
            return cls(siblings)
        found_key = reader.fixed(KEY_SIZE)
        return cls(siblings, found_key, reader.fixed(HASH_SIZE))


def _common_prefix_bits(first: bytes, second: bytes) -> int:
    """How many leading bits two keys share (KEY_BITS when they are equal)."""
    diff = int.from_bytes(first, "big") ^ int.from_bytes(second, "big")
    return KEY_BITS - diff.bit_length()


def verify_proof(root: bytes, key: bytes, value_hash: bytes | None, proof: StateProof) -> bool:
    """True when `proof` shows that `key` holds `value_hash` under `root`.

    `value_hash=None` asks for proof that `key` is absent. Anything malformed gives False.
    """
    if not (
        isinstance(proof, StateProof)
        and isinstance(root, bytes)
        and len(root) == HASH_SIZE
        and isinstance(key, bytes)
        and len(key) == KEY_SIZE
        and (value_hash is None or (isinstance(value_hash, bytes) and len(value_hash) == HASH_SIZE))
    ):
        return False
    siblings = proof.siblings
    depth = len(siblings)
    if depth > MAX_PROOF_SIBLINGS:
        return False
    if value_hash is not None:
        if proof.found_key is not None:
            return False
        node = sha256(_LEAF_PREFIX + key + value_hash)
    elif proof.found_key is None or proof.found_value_hash is None:
        node = EMPTY_ROOT
    else:
        # The found leaf must sit in the key's place: same first `depth` bits, other key.
        if proof.found_key == key or _common_prefix_bits(proof.found_key, key) < depth:
            return False
        node = sha256(_LEAF_PREFIX + proof.found_key + proof.found_value_hash)
    # In canonical form a leaf or an empty subtree never has an empty sibling (§2), so a proof
    # claiming one can only be forged; refusing it here costs nothing.
    if depth and siblings[0] == EMPTY_ROOT:
        return False
    key_int = int.from_bytes(key, "big")
    for level, sibling in enumerate(siblings):
        if (key_int >> (_TOP_BIT - (depth - 1 - level))) & 1:
            node = sha256(_INTERNAL_PREFIX + sibling + node)
        else:
            node = sha256(_INTERNAL_PREFIX + node + sibling)
    return node == root


def encoded_nodes_under(root: bytes, nodes: Mapping[bytes, bytes]) -> Iterator[tuple[bytes, bytes]]:
    """The nodes of `nodes` (hash -> encoding) reachable from `root` through nodes of `nodes`:
    the walk stops at a node `nodes` does not hold (a store holding a node holds all below it)."""
    stack = [root]
    while stack:
        node_hash = stack.pop()
        encoding = nodes.get(node_hash)
        if encoding is None:
            continue
        yield node_hash, encoding
        if encoding[0] == _INTERNAL_TAG:
            stack.append(encoding[1:_MIDDLE])
            stack.append(encoding[_MIDDLE:])


class StateTree:
    """Reads, updates and proves roots of the state tree over a content-addressed node store.

    The tree holds no root of its own: every call names the root it works on. It keeps a
    bounded cache of decoded nodes (the nodes it reads and the nodes it makes); since nodes never
    change, a cached node is right for as long as its hash is.
    """

    __slots__ = ("_cache", "_cache_size", "_read_node")

    def __init__(self, read_node: NodeReader, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 0:
            raise ValueError("cache_size must not be negative")
        self._read_node = read_node
        self._cache_size = cache_size
        # A plain dict, so that a hit is one lookup. The owner of the roots says now and then
        # which root matters (`retain`), and the nodes of no other root go then; nothing on
        # the update path has to note what it replaces. Until then replaced nodes still serve
        # a second pass over the same parent root, as when a block is built and then imported.
        # If the cache outgrows its bound before that, its oldest entries go.
        self._cache: dict[bytes, _Node] = {}

    @property
    def cached_nodes(self) -> int:
        return len(self._cache)

    def retain(self, root: bytes) -> None:
        """Drops every cached node that is not under `root` (what is under it and not cached
        stays uncached)."""
        # The cache holds encodings, as the store does: the checkpoint's walk serves both.
        self._cache = dict(encoded_nodes_under(root, self._cache))

    def _load(self, node_hash: bytes) -> _Node:
        node = self._cache.get(node_hash)
        if node is None:
            encoding = self._read_node(node_hash)
            if encoding is None:
                raise StoreError(f"state tree node {node_hash.hex()} is missing")
            node = _checked_node(node_hash, encoding)
            if self._cache_size:
                self._cache[node_hash] = node
        return node

    def _trim(self) -> None:
        """Brings the cache back within its bound; only between calls, since an update reads
        back nodes it made earlier in the same pass."""
        cache = self._cache
        bound = self._cache_size
        if len(cache) > bound:
            # Dicts keep insertion order: keep the newest three quarters, in one pass.
            keep = bound * 3 // 4
            self._cache = dict(islice(cache.items(), len(cache) - keep, None))

    def get(self, root: bytes, key: bytes) -> bytes | None:
        """The value hash that `key` holds under `root`, or None."""
        _require_size("a root", root, HASH_SIZE)
        _require_size("a key", key, KEY_SIZE)
        key_int = int.from_bytes(key, "big")
        node_hash = root
        depth = 0
        found: _Node | None = None
        while node_hash != EMPTY_ROOT:
            node = self._load(node_hash)
            if not node[0]:
                found = node
                break
            node_hash = node[_MIDDLE:] if (key_int >> (_TOP_BIT - depth)) & 1 else node[1:_MIDDLE]
            depth += 1
        self._trim()
        return found[_MIDDLE:] if found is not None and found[1:_MIDDLE] == key else None

    def prove(self, root: bytes, key: bytes) -> StateProof:
        """The proof of what `key` holds under `root`: its value hash, or nothing."""
        _require_size("a root", root, HASH_SIZE)
        _require_size("a key", key, KEY_SIZE)
        key_int = int.from_bytes(key, "big")
        siblings: list[bytes] = []
        node_hash = root
        found: _Node | None = None
        while node_hash != EMPTY_ROOT:
            node = self._load(node_hash)
            if not node[0]:
                found = node
                break
            if (key_int >> (_TOP_BIT - len(siblings))) & 1:
                siblings.append(node[1:_MIDDLE])
                node_hash = node[_MIDDLE:]
            else:
                siblings.append(node[_MIDDLE:])
                node_hash = node[1:_MIDDLE]
        self._trim()
        siblings.reverse()
        if found is None or found[1:_MIDDLE] == key:
            return StateProof(tuple(siblings))
        return StateProof(tuple(siblings), found[1:_MIDDLE], found[_MIDDLE:])

    def update(
        self,
        root: bytes,
        changes: Mapping[bytes, bytes | None],
        into: dict[bytes, bytes] | None = None,
    ) -> tuple[bytes, dict[bytes, bytes]]:
        """Applies `changes` (key -> value hash, or None to delete) to `root` in one pass.

        Returns the new root and every node made on the way (hash -> encoding) for the caller to
        store: added to `into` (the caller's buffer of nodes to store, which saves copying
        them there) and `into` returned, or in a new dict. Deleting an absent key, or writing
        the value hash a key already holds, changes nothing and makes no node.
        """
        _require_size("a root", root, HASH_SIZE)
        _require_sizes(changes)
        keys = sorted(changes)
        values = [changes[key] for key in keys]
        batch = _Batch(self, keys, values, {} if into is None else into)
        new_root = batch.apply_range(root, 0, 0, len(keys))
        self._trim()
        return new_root, batch.new_nodes


def _require_sizes(changes: Mapping[bytes, bytes | None]) -> None:
    """`ValueError` unless every key and value hash (or None) has its size. A block brings
    thousands of changes: the common case is checked with C-level passes, not a Python loop."""
    present = set(changes.values())
    present.discard(None)
    if not (
        set(map(type, changes)) <= {bytes}
        and set(map(len, changes)) <= {KEY_SIZE}
        and set(map(type, present)) <= {bytes}
        and set(map(len, present)) <= {HASH_SIZE}  # type: ignore[arg-type]
    ):
        for key in changes:
            _require_size("a key", key, KEY_SIZE)
        for value_hash in present:
            _require_size("a value hash", value_hash, HASH_SIZE)  # type: ignore[arg-type]


class _Entries:
    """Sorted entries: keys, the same keys as integers, and their value hashes (None: delete).

    Keys as integers make a key bit one shift and a split point one C-level bisect.
    """

    __slots__ = ("ints", "keys", "values")

    def __init__(self, keys: list[bytes], values: list[bytes | None]) -> None:
        self.keys = keys
        self.ints = [int.from_bytes(key, "big") for key in keys]
        self.values = values

    def kept(self, lo: int, hi: int) -> _Entries:
        """Entries [lo, hi) without the deletions."""
        keys = self.keys
        values = self.values
        kept = [i for i in range(lo, hi) if values[i] is not None]
        return _Entries([keys[i] for i in kept], [values[i] for i in kept])

    def split(self, depth: int, lo: int, hi: int) -> int:
        """The first index in [lo, hi) whose bit `depth` is 1 (all share the bits before it)."""
        ints = self.ints
        shift = _TOP_BIT - depth
        return bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)


class _Batch:
    """One update's sorted changes, applied in a single walk down the tree.

    A range [lo, hi) of the changes shares the path down to the subtree it applies to and splits
    where its next bit turns to 1, so each touched node is read and hashed once. A range of one
    change, which is all the lower levels of a big tree see, takes the loop in `apply_one`
    instead of recursion. Every node made goes straight into the tree's cache (the next block
    reads most of them) and into `new_nodes` for the caller.

    The hot paths inline their hashing and cache lookups: at ~30,000 nodes a block, a Python
    call per node is a sizeable part of the budget.
    """

    __slots__ = ("cache", "changes", "load", "new_nodes")

    def __init__(
        self,
        tree: StateTree,
        keys: list[bytes],
        values: list[bytes | None],
        new_nodes: dict[bytes, bytes],
    ) -> None:
        self.changes = _Entries(keys, values)
        # With the cache off, a private dict still lets `join` look at nodes made in this pass.
        caching = tree._cache_size > 0
        self.cache: dict[bytes, _Node] = tree._cache if caching else {}
        self.load = tree._load
        self.new_nodes = new_nodes

    def is_leaf(self, node_hash: bytes) -> bool:
        return not (self.cache.get(node_hash) or self.load(node_hash))[0]

    def leaf(self, key: bytes, value_hash: bytes) -> bytes:
        encoding = _LEAF_PREFIX + key + value_hash
        node_hash = hashlib.sha256(encoding).digest()
        self.new_nodes[node_hash] = encoding
        self.cache[node_hash] = encoding
        return node_hash

    def internal(self, left: bytes, right: bytes) -> bytes:
        encoding = _INTERNAL_PREFIX + left + right
        node_hash = hashlib.sha256(encoding).digest()
        self.new_nodes[node_hash] = encoding
        self.cache[node_hash] = encoding
        return node_hash

    def lift(self, node_hash: bytes, key_int: int, depth: int, target: int) -> bytes:
        """Raises a subtree at `depth` to `target` through nodes whose other child is empty."""
        for level in range(depth - 1, target - 1, -1):
            if (key_int >> (_TOP_BIT - level)) & 1:
                node_hash = self.internal(EMPTY_ROOT, node_hash)
            else:
                node_hash = self.internal(node_hash, EMPTY_ROOT)
        return node_hash

    def join(self, left: bytes, right: bytes) -> bytes:
        """The node over two children, collapsing a lone leaf upwards (§2)."""
        if left == EMPTY_ROOT:
            if right == EMPTY_ROOT or self.is_leaf(right):
                return right
        elif right == EMPTY_ROOT and self.is_leaf(left):
            return left
        return self.internal(left, right)

    def apply(self, node_hash: bytes, depth: int, lo: int, hi: int) -> bytes:
        """Applies changes [lo, hi), at least two of them, to the subtree `node_hash` at `depth`."""
        if node_hash == EMPTY_ROOT:
            entries = self.changes.kept(lo, hi)
            return self.build(entries, depth, 0, len(entries.keys))
        node = self.cache.get(node_hash) or self.load(node_hash)
        if not node[0]:
            return self.merge_leaf(node_hash, node, depth, lo, hi)
        first, second = node[1:_MIDDLE], node[_MIDDLE:]
        # `_Entries.split`, inline: this runs for every shared node of the upper levels.
        ints = self.changes.ints
        shift = _TOP_BIT - depth
        mid = bisect_left(ints, ((ints[lo] >> shift) | 1) << shift, lo, hi)
        depth += 1
        # `apply_range` twice, inline: two calls fewer for every shared node.
        if mid - lo > 1:
            left = self.apply(first, depth, lo, mid)
        elif mid > lo:
            left = self.apply_one(first, depth, lo)
        else:
            left = first
        if hi - mid > 1:
            right = self.apply(second, depth, mid, hi)
        elif hi > mid:
            right = self.apply_one(second, depth, mid)
        else:
            right = second
        if left == first and right == second:
            return node_hash
        if left == EMPTY_ROOT or right == EMPTY_ROOT:  # noqa: PLR1714 - no tuple on a hot path
            return self.join(left, right)
        encoding = _INTERNAL_PREFIX + left + right
        node_hash = hashlib.sha256(encoding).digest()
        self.new_nodes[node_hash] = encoding
        self.cache[node_hash] = encoding
        return node_hash

    def apply_range(self, node_hash: bytes, depth: int, lo: int, hi: int) -> bytes:
        """Applies changes [lo, hi), however many, to the subtree `node_hash` at `depth`."""
        if hi - lo > 1:
            return self.apply(node_hash, depth, lo, hi)
        if hi > lo:
            return self.apply_one(node_hash, depth, lo)
        return node_hash

    def merge_leaf(self, leaf_hash: bytes, leaf: _Node, depth: int, lo: int, hi: int) -> bytes:
        """Rebuilds the subtree of one existing leaf with changes [lo, hi) applied to it."""
        leaf_key, leaf_value = leaf[1:_MIDDLE], leaf[_MIDDLE:]
        changes = self.changes
        at = bisect_left(changes.ints, int.from_bytes(leaf_key, "big"), lo, hi)
        keys = changes.keys[lo:hi]
        values = changes.values[lo:hi]
        if at == hi or changes.keys[at] != leaf_key:
            # The leaf is not among the changes: it stays, in its sorted place.
            keys.insert(at - lo, leaf_key)
            values.insert(at - lo, leaf_value)
        entries = _Entries(keys, values).kept(0, len(keys))
        if entries.keys == [leaf_key] and entries.values == [leaf_value]:
            return leaf_hash  # only deletions of absent keys: no node to make
        return self.build(entries, depth, 0, len(entries.keys))

    def build(self, entries: _Entries, depth: int, lo: int, hi: int) -> bytes:
        """The subtree at `depth` holding exactly entries [lo, hi), none of them a deletion."""
        if lo == hi:
            return EMPTY_ROOT
        if hi - lo == 1:
            value_hash = entries.values[lo]
            assert value_hash is not None  # build() is only given entries that stay
            return self.leaf(entries.keys[lo], value_hash)
        first = entries.ints[lo]
        # Sorted, so the first and the last entries share exactly the prefix all of them share:
        # the first bit where those two differ is where the subtree really splits.
        split = KEY_BITS - (first ^ entries.ints[hi - 1]).bit_length()
        mid = entries.split(split, lo, hi)
        pair = self.internal(
            self.build(entries, split + 1, lo, mid), self.build(entries, split + 1, mid, hi)
        )
        return self.lift(pair, first, split, depth)

    def apply_one(self, top: bytes, depth: int, index: int) -> bytes:
        """Applies the single change `index` to the subtree `top` at `depth`, with no recursion:
        walk down to where the key's leaf is or would be, replace it, hash back up."""
        changes = self.changes
        key_int = changes.ints[index]
        cache = self.cache
        cache_get = cache.get
        path: list[bytes] = []  # siblings, top down
        node_hash = top
        node: _Node | None = None
        shift = _TOP_BIT - depth
        while node_hash != EMPTY_ROOT:
            node = cache_get(node_hash) or self.load(node_hash)
            if not node[0]:
                break
            if (key_int >> shift) & 1:
                path.append(node[1:_MIDDLE])
                node_hash = node[_MIDDLE:]
            else:
                path.append(node[_MIDDLE:])
                node_hash = node[1:_MIDDLE]
            shift -= 1
        else:
            node = None

        key = changes.keys[index]
        value_hash = changes.values[index]
        kind = _LEAF
        if value_hash is not None and (node is None or node[1:_MIDDLE] == key):
            # The common cases, inline: a key's value changes, or a key lands in an empty place.
            encoding = _LEAF_PREFIX + key + value_hash
            leaf_hash = hashlib.sha256(encoding).digest()
            if leaf_hash == node_hash:
                return top
            self.new_nodes[leaf_hash] = encoding
            cache[leaf_hash] = encoding
            node_hash = leaf_hash
        else:
            bottom = self.replace_bottom(node_hash, node, _TOP_BIT - shift, index)
            if bottom is None:
                return top
            node_hash, kind = bottom

        return self.fold(node_hash, kind, path, key_int, shift + 1)

    def fold(
        self, node_hash: bytes, kind: int, path: list[bytes], key_int: int, shift: int
    ) -> bytes:
        """Hashes a key's new bottom node (of `kind`) up through the siblings on its `path`;
        `shift` picks the key's bit at the level just above the bottom."""
        new_nodes = self.new_nodes
        cache = self.cache
        digest = hashlib.sha256
        for sibling in reversed(path):
            if kind != _INTERNAL:
                # A leaf or an empty subtree rises past an empty sibling; an empty subtree next
                # to a lone leaf lets that leaf rise in its place (§2).
                if sibling == EMPTY_ROOT:
                    shift += 1
                    continue
                if kind == _EMPTY and self.is_leaf(sibling):
                    node_hash, kind = sibling, _LEAF
                    shift += 1
                    continue
                kind = _INTERNAL
            if (key_int >> shift) & 1:
                encoding = _INTERNAL_PREFIX + sibling + node_hash
            else:
                encoding = _INTERNAL_PREFIX + node_hash + sibling
            node_hash = digest(encoding).digest()
            new_nodes[node_hash] = encoding
            cache[node_hash] = encoding
            shift += 1
        return node_hash

    def replace_bottom(
        self, node_hash: bytes, leaf: _Node | None, depth: int, index: int
    ) -> tuple[bytes, int] | None:
        """What takes the place of the leaf or empty subtree at `depth` where change `index`
        ended its walk, and its kind, for a deletion or a key that meets another key's leaf;
        None when the change leaves the tree as it is."""
        key = self.changes.keys[index]
        value_hash = self.changes.values[index]
        if value_hash is None:
            if leaf is None or leaf[1:_MIDDLE] != key:
                return None
            return EMPTY_ROOT, _EMPTY
        # Another key's leaf holds the place: both go under the node where the keys part.
        assert leaf is not None
        key_int = self.changes.ints[index]
        split = _common_prefix_bits(key, leaf[1:_MIDDLE])
        new_leaf = self.leaf(key, value_hash)
        if (key_int >> (_TOP_BIT - split)) & 1:
            pair = self.internal(node_hash, new_leaf)
        else:
            pair = self.internal(new_leaf, node_hash)
        return self.lift(pair, key_int, split, depth), _INTERNAL
