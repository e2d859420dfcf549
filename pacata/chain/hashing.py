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


def tagged_hash(tag: bytes, data: bytes) -> bytes:
    """SHA-256 of `tag` (length-prefixed, so no tag is a prefix of another) and `data`."""
    return hashlib.sha256(bytes((len(tag),)) + tag + data).digest()
