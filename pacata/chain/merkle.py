"""The transaction Merkle root of a block.

A binary tree over transaction ids, leaves and inner nodes hashed under different tags (so a
leaf can never pose as an inner node), and an odd node at the end of a level promoted unchanged
rather than paired with itself (so two different lists never share a root, unlike Bitcoin's
CVE-2012-2459 duplication). The root of no transactions is 32 zero bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pacata.chain.hashing import ZERO_HASH, tag_prefix

_LEAF_TAG = b"pacata/merkle-leaf/v1"
_NODE_TAG = b"pacata/merkle-node/v1"
# `tagged_hash` under these tags, inline: a block of 2,000 transactions hashes ~4,000 times.
_LEAF_PREFIX = tag_prefix(_LEAF_TAG)
_NODE_PREFIX = tag_prefix(_NODE_TAG)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    if not leaves:
        return ZERO_HASH
    digest = hashlib.sha256
    level = [digest(_LEAF_PREFIX + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        paired = [
            digest(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]
