"""Hash functions of the ledger: SHA-256 for ids, Merkle trees and signing digests.

Every digest that is signed or that names an object is domain separated by a tag, so a
signature or an id made for one kind of object can never be reused for another.
"""

from __future__ import annotations

import hashlib

HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


_tag_prefixes: dict[bytes, bytes] = {}


def tag_prefix(tag: bytes) -> bytes:
    """What `tagged_hash` puts before the data: the tag, length-prefixed (so no tag is a prefix
    of another). A loop hashing thousands of items under one tag hashes `prefix + item`."""
    return bytes((len(tag),)) + tag


def tagged_hash(tag: bytes, data: bytes) -> bytes:
    """SHA-256 of `tag` (length-prefixed, so no tag is a prefix of another) and `data`."""
    # Tags are a few constants, and a block import hashes under them some ten times a transaction.
    prefix = _tag_prefixes.get(tag) if type(tag) is bytes else None
    if prefix is None:
        prefix = tag_prefix(tag)
        if type(tag) is bytes and len(_tag_prefixes) < 256:
            _tag_prefixes[tag] = prefix
    return hashlib.sha256(prefix + data).digest()
