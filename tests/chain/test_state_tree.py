"""The state tree (pacata/chain/state_tree.py, docs/state-tree.md).

Roots are checked against `reference_root`, a naive recursive reading of the definition written
here with hashlib alone; then order and batching independence, deletion, old roots, proofs and
their encoding, and the errors for a corrupt store or a key of the wrong size.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pacata.chain.codec import encode_uvarint
from pacata.chain.state_tree import (
    EMPTY_ROOT,
    MAX_PROOF_SIBLINGS,
    StateProof,
    StateTree,
    verify_proof,
)
from pacata.errors import DecodeError, StoreError

ZERO = bytes(32)


def bit(key: bytes, index: int) -> int:
    return (key[index // 8] >> (7 - index % 8)) & 1


def leaf_hash(key: bytes, value_hash: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + key + value_hash).digest()


def internal_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def reference_root(entries: Mapping[bytes, bytes], depth: int = 0) -> bytes:
    """The root by the definition: empty is zero, one entry is its leaf, more split on a bit."""
    if not entries:
        return ZERO
    if len(entries) == 1:
        [(key, value_hash)] = entries.items()
        return leaf_hash(key, value_hash)
    left = {k: v for k, v in entries.items() if not bit(k, depth)}
    right = {k: v for k, v in entries.items() if bit(k, depth)}
    return internal_hash(reference_root(left, depth + 1), reference_root(right, depth + 1))


class Ledger:
    """A tree over a plain dict store, writing every update's new nodes as a caller would."""

    def __init__(self, cache_size: int = 200_000) -> None:
        self.store: dict[bytes, bytes] = {}
        self.tree = StateTree(self.store.get, cache_size=cache_size)

    def commit(self, root: bytes, changes: Mapping[bytes, bytes | None]) -> bytes:
        new_root, new_nodes = self.tree.update(root, changes)
        self.store.update(new_nodes)
        return new_root

    def fresh_tree(self) -> StateTree:
        """A tree with an empty cache over the same store: it reads every node from the store."""
        return StateTree(self.store.get)


def int_key(value: int) -> bytes:
    return value.to_bytes(32, "big")


# Random keys, plus keys that share long prefixes so that paths run deep, down to keys that
# differ in their last bit only, and internal nodes with an empty child appear.
keys = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.integers(0, 255).map(lambda shift: int_key(1 << shift)),
    st.integers(0, 31).map(int_key),
    st.integers(0, 15).map(lambda low: b"\xa5" * 31 + bytes((low,))),
)
value_hashes = st.binary(min_size=32, max_size=32)
entry_sets = st.dictionaries(keys, value_hashes, max_size=40)
cache_sizes = st.sampled_from([0, 2, 7, 200_000])


def walk(store: Mapping[bytes, bytes], node_hash: bytes) -> list[tuple[int, bytes, bytes]]:
    """Every node under `node_hash` as (tag, first field, second field), read from the store."""
    if node_hash == ZERO:
        return []
    encoding = store[node_hash]
    node = (encoding[0], encoding[1:33], encoding[33:])
    if node[0] == 0:
        return [node]
    return [node, *walk(store, node[1]), *walk(store, node[2])]


# -- the root -------------------------------------------------------------------------------


def test_empty_tree() -> None:
    assert EMPTY_ROOT == ZERO
    empty: dict[bytes, bytes] = {}
    tree = StateTree(empty.get)
    assert tree.update(EMPTY_ROOT, {}) == (EMPTY_ROOT, {})
    assert tree.update(EMPTY_ROOT, {int_key(1): None}) == (EMPTY_ROOT, {})
    assert tree.get(EMPTY_ROOT, int_key(1)) is None
    proof = tree.prove(EMPTY_ROOT, int_key(1))
    assert proof == StateProof(())
    assert verify_proof(EMPTY_ROOT, int_key(1), None, proof)
    assert not verify_proof(EMPTY_ROOT, int_key(1), ZERO, proof)


def test_hashes_and_bit_order_follow_the_spec() -> None:
    ledger = Ledger()
    value = hashlib.sha256(b"value").digest()
    low, high = int_key(0), b"\x80" + bytes(31)
    assert ledger.commit(EMPTY_ROOT, {low: value}) == leaf_hash(low, value)
    # Bit 0 is the most significant bit of byte 0: 0x00.. goes left, 0x80.. right, at the root.
    assert ledger.commit(EMPTY_ROOT, {low: value, high: value}) == internal_hash(
        leaf_hash(low, value), leaf_hash(high, value)
    )
    # 0x00.. and 0x40.. part at bit 1: the root's right child is empty.
    second = b"\x40" + bytes(31)
    assert ledger.commit(EMPTY_ROOT, {low: value, second: value}) == internal_hash(
        internal_hash(leaf_hash(low, value), leaf_hash(second, value)), ZERO
    )


def test_keys_that_differ_in_the_last_bit_sit_256_levels_down() -> None:
    ledger = Ledger()
    value = bytes(range(32))
    first, second = int_key(0), int_key(1)
    root = ledger.commit(EMPTY_ROOT, {first: value, second: value})
    expected = internal_hash(leaf_hash(first, value), leaf_hash(second, value))
    for _ in range(255):
        expected = internal_hash(expected, ZERO)
    assert root == expected
    proof = ledger.tree.prove(root, second)
    assert len(proof.siblings) == MAX_PROOF_SIBLINGS
    assert verify_proof(root, second, value, StateProof.decode(proof.encode()))
    # Deleting one key lifts the other all the way back to the top.
    assert ledger.commit(root, {first: None}) == leaf_hash(second, value)


@given(entries=entry_sets, cache_size=cache_sizes)
def test_root_matches_the_reference(entries: dict[bytes, bytes], cache_size: int) -> None:
    ledger = Ledger(cache_size)
    root = ledger.commit(EMPTY_ROOT, entries)
    assert root == reference_root(entries)
    # Every node made is stored under its hash, and is the hash preimage of §3.
    for node_hash, encoding in ledger.store.items():
        assert len(encoding) == 65
        assert encoding[0] in (0, 1)
        assert hashlib.sha256(encoding).digest() == node_hash


@given(
    entries=entry_sets,
    extra=entry_sets,
    seed=st.integers(0, 2**32),
    cache_size=cache_sizes,
)
def test_root_is_independent_of_order_and_batching(
    entries: dict[bytes, bytes], extra: dict[bytes, bytes], seed: int, cache_size: int
) -> None:
    """One batch, or any split into batches in any order, with keys that come and go on the way,
    ends at the same root."""
    rng = random.Random(seed)
    ledger = Ledger(cache_size)
    transient = {key: value for key, value in extra.items() if key not in entries}
    ops: list[tuple[bytes, bytes | None]] = [*entries.items(), *transient.items()]
    rng.shuffle(ops)
    # Each transient key is deleted after it was written; some entries are first written with
    # another value and corrected later.
    for key, value in transient.items():
        ops.insert(rng.randint(ops.index((key, value)) + 1, len(ops)), (key, None))
    for key, value in entries.items():
        if rng.random() < 0.3:
            ops.insert(rng.randint(0, ops.index((key, value))), (key, bytes(32 * [1])))

    root = EMPTY_ROOT
    start = 0
    while start < len(ops):
        size = rng.randint(1, 8)
        batch: dict[bytes, bytes | None] = {}
        for key, op in ops[start : start + size]:
            batch[key] = op  # a later op on the same key in one batch wins, as in order
        root = ledger.commit(root, batch)
        start += size
    assert root == ledger.commit(EMPTY_ROOT, entries) == reference_root(entries)


@given(entries=entry_sets, extra=entry_sets, cache_size=cache_sizes)
def test_deleting_what_was_added_returns_to_the_exact_previous_root(
    entries: dict[bytes, bytes], extra: dict[bytes, bytes], cache_size: int
) -> None:
    ledger = Ledger(cache_size)
    before = ledger.commit(EMPTY_ROOT, entries)
    added = {key: value for key, value in extra.items() if key not in entries}
    after = ledger.commit(before, added)
    assert after == reference_root({**entries, **added})
    back = ledger.commit(after, dict.fromkeys(added))
    assert back == before
    assert ledger.commit(back, dict.fromkeys(entries)) == EMPTY_ROOT


@given(entries=entry_sets, cache_size=cache_sizes)
def test_the_tree_stays_canonical_after_deletions(
    entries: dict[bytes, bytes], cache_size: int
) -> None:
    ledger = Ledger(cache_size)
    root = ledger.commit(EMPTY_ROOT, entries)
    doomed = list(entries)[::2]
    root = ledger.commit(root, dict.fromkeys(doomed))
    kept = {key: value for key, value in entries.items() if key not in doomed}
    assert root == reference_root(kept)
    for tag, left, right in walk(ledger.store, root):
        if tag == 1:
            children = [ledger.store[h][0] if h != ZERO else None for h in (left, right)]
            # Never (leaf, empty), (empty, leaf) or (empty, empty) (§2).
            assert None not in children or 1 in children


def test_unchanged_values_make_no_nodes() -> None:
    ledger = Ledger()
    entries = {int_key(i * 7919): hashlib.sha256(bytes([i])).digest() for i in range(50)}
    root = ledger.commit(EMPTY_ROOT, entries)
    again, new_nodes = ledger.tree.update(root, dict(list(entries.items())[:10]))
    assert (again, new_nodes) == (root, {})
    absent = {int_key(10**9 + i): None for i in range(5)}
    assert ledger.tree.update(root, absent) == (root, {})
    # Several no-op changes that meet at one leaf: two deletions of absent keys next to a key.
    lone = {int_key(0): ZERO, int_key(1 << 255): ZERO}
    root = ledger.commit(EMPTY_ROOT, lone)
    assert ledger.tree.update(root, {int_key(1): None, int_key(2): None}) == (root, {})
    assert ledger.tree.update(root, {int_key(0): ZERO, int_key(3): None}) == (root, {})


def test_an_update_adds_its_nodes_to_the_callers_buffer() -> None:
    ledger = Ledger()
    entries = {int_key(i * 7919): hashlib.sha256(bytes([i])).digest() for i in range(50)}
    root = ledger.commit(EMPTY_ROOT, entries)
    changes = {int_key(3): ZERO, int_key(7919): None}
    other = Ledger()
    expected_root, expected_nodes = other.tree.update(other.commit(EMPTY_ROOT, entries), changes)
    assert expected_nodes
    buffer = {b"x" * 32: b"held before"}
    new_root, returned = ledger.tree.update(root, changes, into=buffer)
    assert returned is buffer
    assert new_root == expected_root
    assert buffer == {b"x" * 32: b"held before", **expected_nodes}


@given(entries=entry_sets, probes=st.lists(keys, max_size=10), cache_size=cache_sizes)
def test_get_after_update_and_old_roots_stay_readable(
    entries: dict[bytes, bytes], probes: list[bytes], cache_size: int
) -> None:
    ledger = Ledger(cache_size)
    old_root = ledger.commit(EMPTY_ROOT, entries)
    changes: dict[bytes, bytes | None] = dict.fromkeys(list(entries)[::3])
    changes.update({key: hashlib.sha256(key).digest() for key in probes})
    new_root = ledger.commit(old_root, changes)
    new_entries = {**entries, **changes}
    for tree in (ledger.tree, ledger.fresh_tree()):
        for key in [*entries, *probes]:
            assert tree.get(old_root, key) == entries.get(key)
            assert tree.get(new_root, key) == new_entries.get(key)


def test_a_larger_batch_matches_the_reference() -> None:
    rng = random.Random(2024)
    ledger = Ledger(cache_size=1_000)
    entries = {rng.randbytes(32): rng.randbytes(32) for _ in range(3_000)}
    root = ledger.commit(EMPTY_ROOT, entries)
    existing = list(entries)
    changes: dict[bytes, bytes | None] = {key: rng.randbytes(32) for key in existing[:400]}
    changes.update(dict.fromkeys(existing[400:700]))
    changes.update({rng.randbytes(32): rng.randbytes(32) for _ in range(300)})
    root = ledger.commit(root, changes)
    final = {k: v for k, v in {**entries, **changes}.items() if v is not None}
    assert root == reference_root(final)


def test_the_same_update_twice_gives_the_same_root_and_nodes() -> None:
    """A block is built, then imported, both from its parent's root."""
    rng = random.Random(5)
    ledger = Ledger(cache_size=300)
    entries = {rng.randbytes(32): rng.randbytes(32) for _ in range(200)}
    parent = ledger.commit(EMPTY_ROOT, entries)
    changes: dict[bytes, bytes | None] = {key: rng.randbytes(32) for key in list(entries)[:60]}
    changes.update(dict.fromkeys(list(entries)[60:80]))
    first = ledger.tree.update(parent, changes)
    assert ledger.tree.update(parent, changes) == first
    assert ledger.fresh_tree().update(parent, changes) == first


@pytest.mark.parametrize("cache_size", [0, 1, 50])
def test_the_cache_stays_within_its_bound(cache_size: int) -> None:
    rng = random.Random(cache_size)
    ledger = Ledger(cache_size)
    root = EMPTY_ROOT
    model: dict[bytes, bytes] = {}
    keys = [rng.randbytes(32) for _ in range(300)]
    for start in range(0, 300, 30):
        changes = {key: rng.randbytes(32) for key in keys[start : start + 60]}
        root = ledger.commit(root, changes)
        model.update(changes)
        assert ledger.tree.get(root, keys[start]) == model[keys[start]]
        ledger.tree.prove(root, rng.randbytes(32))
        assert ledger.tree.cached_nodes <= cache_size  # the bound holds between calls
    assert root == reference_root(model)


# -- proofs ---------------------------------------------------------------------------------


@given(entries=entry_sets, absent=st.lists(keys, max_size=8), cache_size=cache_sizes)
def test_proofs_verify_and_fail_for_anything_else(
    entries: dict[bytes, bytes], absent: list[bytes], cache_size: int
) -> None:
    ledger = Ledger(cache_size)
    root = ledger.commit(EMPTY_ROOT, entries)
    wrong_root = bytes([root[0] ^ 1]) + root[1:]
    other_value = hashlib.sha256(b"not the value").digest()
    for key, value in entries.items():
        proof = ledger.tree.prove(root, key)
        assert StateProof.decode(proof.encode()) == proof
        assert verify_proof(root, key, value, proof)
        assert not verify_proof(root, key, other_value, proof)
        assert not verify_proof(root, key, None, proof)
        assert not verify_proof(wrong_root, key, value, proof)
        wrong_key = bytes([key[0] ^ 0x80]) + key[1:]
        assert not verify_proof(root, wrong_key, value, proof)
        assert not verify_proof(root, key[:-1] + bytes([key[-1] ^ 1]), value, proof)
    for key in absent:
        if key in entries:
            continue
        proof = ledger.tree.prove(root, key)
        assert StateProof.decode(proof.encode()) == proof
        assert verify_proof(root, key, None, proof)
        assert not verify_proof(root, key, other_value, proof)
        assert not verify_proof(wrong_root, key, None, proof)
        if proof.found_key is not None:
            # The found leaf does not prove its own key absent.
            assert not verify_proof(root, proof.found_key, None, proof)
    # A proof made under the old root does not hold under a root where the key changed.
    for key in list(entries)[:5]:
        proof = ledger.tree.prove(root, key)
        changed = ledger.commit(root, {key: other_value})
        assert not verify_proof(changed, key, entries[key], proof)
        assert verify_proof(changed, key, other_value, ledger.tree.prove(changed, key))


def sample_proofs() -> list[tuple[bytes, bytes, bytes | None, StateProof]]:
    """(root, key, value hash, proof) for an inclusion, an absence that ends at another key's
    leaf, and an absence that ends at an empty subtree."""
    rng = random.Random(7)
    ledger = Ledger()
    entries = {rng.randbytes(32): rng.randbytes(32) for _ in range(12)}
    root = ledger.commit(EMPTY_ROOT, entries)
    key = next(iter(entries))
    cases: list[tuple[bytes, bytes, bytes | None, StateProof]] = [
        (root, key, entries[key], ledger.tree.prove(root, key))
    ]
    found_leaf = empty_end = None
    while found_leaf is None or empty_end is None:
        probe = rng.randbytes(32)
        proof = ledger.tree.prove(root, probe)
        if proof.found_key is None:
            empty_end = empty_end or (root, probe, None, proof)
        else:
            found_leaf = found_leaf or (root, probe, None, proof)
    cases += [found_leaf, empty_end]
    for case in cases:
        assert verify_proof(*case)
        assert case[3].siblings
    return cases


@pytest.mark.parametrize("case", sample_proofs(), ids=["inclusion", "found-leaf", "empty-end"])
def test_every_single_byte_mutation_of_a_proof_is_refused(
    case: tuple[bytes, bytes, bytes | None, StateProof],
) -> None:
    root, key, value_hash, proof = case
    encoding = proof.encode()
    checked = 0
    for position in range(len(encoding)):
        for byte in range(256):
            if byte == encoding[position]:
                continue
            mutated = encoding[:position] + bytes((byte,)) + encoding[position + 1 :]
            try:
                decoded = StateProof.decode(mutated)
            except DecodeError:
                continue
            assert not verify_proof(root, key, value_hash, decoded), (position, byte)
            checked += 1
    assert checked > 0  # most mutations decode; they are refused by the verifier


proofs = st.builds(
    StateProof,
    st.lists(value_hashes, max_size=12).map(tuple),
) | st.builds(
    StateProof,
    st.lists(value_hashes, max_size=12).map(tuple),
    keys,
    value_hashes,
)


@given(proofs)
def test_proof_round_trip(proof: StateProof) -> None:
    encoding = proof.encode()
    assert StateProof.decode(encoding) == proof
    assert StateProof.decode(encoding).encode() == encoding


@given(proofs)
def test_truncated_and_trailing_encodings_are_refused(proof: StateProof) -> None:
    encoding = proof.encode()
    for end in range(len(encoding)):
        with pytest.raises(DecodeError):
            StateProof.decode(encoding[:end])
    with pytest.raises(DecodeError):
        StateProof.decode(encoding + b"\x00")


def test_out_of_bounds_encodings_are_refused() -> None:
    with pytest.raises(DecodeError):
        StateProof.decode(encode_uvarint(MAX_PROOF_SIBLINGS + 1) + ZERO * 257 + b"\x00")
    with pytest.raises(DecodeError):
        StateProof.decode(b"\x00\x02" + ZERO * 2)  # a flag that is neither 0 nor 1
    with pytest.raises(DecodeError):
        StateProof.decode(b"\x80\x00\x00")  # a non-minimal count
    full = StateProof((ZERO,) * MAX_PROOF_SIBLINGS, ZERO, ZERO)
    assert StateProof.decode(full.encode()) == full


@pytest.mark.parametrize(
    ("siblings", "found_key", "found_value_hash"),
    [
        ((ZERO,) * (MAX_PROOF_SIBLINGS + 1), None, None),
        ((ZERO[:31],), None, None),
        ((), ZERO, None),
        ((), None, ZERO),
        ((), ZERO[:31], ZERO),
        ((), ZERO, ZERO + b"\x00"),
    ],
)
def test_malformed_proofs_cannot_be_built(
    siblings: tuple[bytes, ...], found_key: bytes | None, found_value_hash: bytes | None
) -> None:
    with pytest.raises(ValueError):
        StateProof(siblings, found_key, found_value_hash)


@given(
    root=st.binary(max_size=40),
    key=st.binary(max_size=40),
    value_hash=st.none() | st.binary(max_size=40),
    proof=proofs,
)
def test_verify_proof_returns_false_on_garbage(
    root: bytes, key: bytes, value_hash: bytes | None, proof: StateProof
) -> None:
    result = verify_proof(root, key, value_hash, proof)
    assert isinstance(result, bool)
    if result:
        # The one true statement garbage can stumble on: the empty tree holds no key.
        assert root == EMPTY_ROOT
        assert len(key) == 32
        assert value_hash is None
        assert proof.siblings == ()
        assert proof.found_key is None


def test_verify_proof_refuses_non_proofs() -> None:
    key = int_key(5)
    value = hashlib.sha256(b"v").digest()
    root = leaf_hash(key, value)
    assert verify_proof(root, key, value, StateProof(()))
    assert not verify_proof(root, key, value, None)  # type: ignore[arg-type]
    assert not verify_proof(root, key, value, "proof")  # type: ignore[arg-type]
    # An inclusion proof carries no found leaf.
    assert not verify_proof(root, key, value, StateProof((), key, value))


def test_verify_proof_refuses_shapes_no_canonical_tree_has() -> None:
    """Roots built by hand around a misplaced leaf: the hashes fold up, the proof is refused."""
    key = int_key(5)
    value = hashlib.sha256(b"v").digest()
    # internal(leaf, empty): the leaf should have risen (§2).
    assert not verify_proof(
        internal_hash(leaf_hash(key, value), ZERO), key, value, StateProof((ZERO,))
    )
    # A leaf whose key goes right at the root, placed on the left, posing as the leaf found
    # where an absent key that goes left would be.
    absent = int_key(0)
    misplaced, other = b"\x80" + bytes(31), b"\x81" + bytes(31)
    forged_root = internal_hash(leaf_hash(misplaced, value), leaf_hash(other, value))
    forged = StateProof((leaf_hash(other, value),), misplaced, value)
    assert not verify_proof(forged_root, absent, None, forged)


# -- errors ---------------------------------------------------------------------------------


def built_ledger() -> tuple[Ledger, bytes, dict[bytes, bytes]]:
    rng = random.Random(11)
    ledger = Ledger()
    entries = {rng.randbytes(32): rng.randbytes(32) for _ in range(20)}
    return ledger, ledger.commit(EMPTY_ROOT, entries), entries


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda encoding: encoding[:-1],
        lambda encoding: encoding + b"\x00",
        lambda encoding: b"\x02" + encoding[1:],
        lambda encoding: encoding[:40] + bytes((encoding[40] ^ 1,)) + encoding[41:],
        lambda encoding: bytes((encoding[0] ^ 1,)) + encoding[1:],
        lambda encoding: None,
    ],
    ids=["truncated", "trailing", "unknown-tag", "flipped-byte", "flipped-tag", "missing"],
)
def test_a_corrupt_node_raises_store_error(corrupt: object) -> None:
    ledger, root, entries = built_ledger()
    assert callable(corrupt)
    key = next(iter(entries))
    # The root, and the leaf at the end of one key's path.
    for target in (root, leaf_hash(key, entries[key])):
        store = dict(ledger.store)
        damaged = corrupt(store[target])
        if damaged is None:
            del store[target]
        else:
            store[target] = damaged
        tree = StateTree(store.get)
        with pytest.raises(StoreError):
            tree.get(root, key)
        with pytest.raises(StoreError):
            tree.prove(root, key)
        with pytest.raises(StoreError):
            tree.update(root, {key: None})


def test_wrong_sizes_raise_value_error() -> None:
    ledger, root, entries = built_ledger()
    key = next(iter(entries))
    tree = ledger.tree
    for bad in (key[:31], key + b"\x00", b""):
        with pytest.raises(ValueError):
            tree.get(root, bad)
        with pytest.raises(ValueError):
            tree.prove(root, bad)
        with pytest.raises(ValueError):
            tree.update(root, {bad: ZERO})
        with pytest.raises(ValueError):
            tree.update(root, {key: bad})
        with pytest.raises(ValueError):
            tree.get(bad, key)
        with pytest.raises(ValueError):
            tree.update(bad, {key: ZERO})
    with pytest.raises(ValueError):
        StateTree(ledger.store.get, cache_size=-1)


# -- a ledger's life ------------------------------------------------------------------------


class StateTreeMachine(RuleBasedStateMachine):
    """Blocks of writes and deletes against a dict model, with reorgs back to older roots."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(cache_size=64)
        self.root = EMPTY_ROOT
        self.model: dict[bytes, bytes] = {}
        self.history: list[tuple[bytes, dict[bytes, bytes]]] = [(EMPTY_ROOT, {})]

    @rule(
        writes=st.dictionaries(keys, value_hashes, max_size=8),
        deletes=st.integers(0, 4),
        absent=st.lists(keys, max_size=2),
    )
    def block(self, writes: dict[bytes, bytes], deletes: int, absent: list[bytes]) -> None:
        changes: dict[bytes, bytes | None] = dict.fromkeys(absent)
        changes.update(dict.fromkeys(list(self.model)[:deletes]))
        changes.update(writes)
        self.root = self.ledger.commit(self.root, changes)
        for key, value in changes.items():
            if value is None:
                self.model.pop(key, None)
            else:
                self.model[key] = value
        self.history.append((self.root, dict(self.model)))

    @precondition(lambda self: len(self.history) > 1)
    @rule(data=st.data())
    def reorg(self, data: st.DataObject) -> None:
        self.root, model = data.draw(st.sampled_from(self.history))
        self.model = dict(model)

    @invariant()
    def root_matches_the_model(self) -> None:
        assert self.root == reference_root(self.model)
        for key, value in list(self.model.items())[:4]:
            assert self.ledger.tree.get(self.root, key) == value
            assert verify_proof(self.root, key, value, self.ledger.tree.prove(self.root, key))


StateTreeMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=15)
TestStateTreeMachine = StateTreeMachine.TestCase
