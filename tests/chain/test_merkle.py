"""The transaction Merkle root against its definition (pacata/chain/merkle.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pacata.chain.hashing import ZERO_HASH, tagged_hash
from pacata.chain.merkle import merkle_root

ids = st.lists(st.binary(min_size=32, max_size=32), max_size=40)


def reference_root(leaves: list[bytes]) -> bytes:
    """Leaves and pairs hashed under their tags; an odd last node rises unchanged."""
    if not leaves:
        return ZERO_HASH
    level = [tagged_hash(b"pacata/merkle-leaf/v1", leaf) for leaf in leaves]
    while len(level) > 1:
        pairs = [
            tagged_hash(b"pacata/merkle-node/v1", level[i] + level[i + 1])
            for i in range(0, len(level) - 1, 2)
        ]
        level = pairs + level[len(pairs) * 2 :]
    return level[0]


@given(ids)
def test_the_root_follows_the_definition(leaves: list[bytes]) -> None:
    assert merkle_root(leaves) == reference_root(leaves)


def test_small_trees_by_hand() -> None:
    a, b, c = (bytes([i]) * 32 for i in range(1, 4))

    def leaf(x: bytes) -> bytes:
        return tagged_hash(b"pacata/merkle-leaf/v1", x)

    def node(x: bytes, y: bytes) -> bytes:
        return tagged_hash(b"pacata/merkle-node/v1", x + y)

    assert merkle_root([]) == ZERO_HASH
    assert merkle_root([a]) == leaf(a)
    assert merkle_root([a, b]) == node(leaf(a), leaf(b))
    # The odd node is promoted, not paired with itself: [a, b, c] and [a, b, c, c] differ.
    assert merkle_root([a, b, c]) == node(node(leaf(a), leaf(b)), leaf(c))
    assert merkle_root([a, b, c, c]) != merkle_root([a, b, c])
