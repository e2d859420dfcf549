"""Every storage key of the chain database, built in one place.

Keys are a one-byte table prefix and the record's id. The table letters, with the schema
version stored under `META + b"schema"`, are the on-disk format: a change to any of them is a
new `SCHEMA_VERSION`, and a store of another version is refused at open.

| table          | key                    | value                                   |
|----------------|------------------------|-----------------------------------------|
| BLOCK          | block hash             | block encoding                          |
| HEADER         | block hash             | header encoding                         |
| BLOCK_INFO     | block hash             | `BlockInfo` (height, parent, status)    |
| HEIGHT_INDEX   | height (u64) + hash    | empty: every stored block, any branch   |
| MAIN_CHAIN     | height (u64 big-endian)| block hash on the main chain            |
| TX_LOCATION    | transaction id         | block hash + index in the block          |
| STATE          | state key              | record encoding (accounts, channels...)  |
| TREE_NODE      | node hash              | state-tree node encoding                 |
| UNDO           | block hash             | `UndoRecord` of that block               |
| META           | name                   | tip hash, genesis hash, schema version,  |
|                |                        | block of the last tree checkpoint        |

The mempool journal (`mempool.py`) is a database of its own (`<datadir>/mempool`), so that its
unsynced writes never share a log with the chain's: `MEMPOOL_TX` + transaction id → the
transaction's encoding, one entry per pending transaction.

Version 2 stores state-tree nodes at checkpoints (`tree_checkpoints.py`) instead of with every
block; a version 1 store, which holds every node, is one whose checkpoint is its tip.
"""

from __future__ import annotations

import struct

SCHEMA_VERSION = 2
# Stores of these versions are upgraded in place when opened.
UPGRADABLE_VERSIONS = (1,)

BLOCK = b"b"
HEADER = b"h"
BLOCK_INFO = b"i"
HEIGHT_INDEX = b"c"
MAIN_CHAIN = b"n"
TX_LOCATION = b"t"
STATE = b"s"
TREE_NODE = b"m"
UNDO = b"u"
META = b"_"
MEMPOOL_TX = b"x"  # in the mempool's own database

_HEIGHT = struct.Struct(">Q")


def block_key(block_hash: bytes) -> bytes:
    return BLOCK + block_hash


def header_key(block_hash: bytes) -> bytes:
    return HEADER + block_hash


def block_info_key(block_hash: bytes) -> bytes:
    return BLOCK_INFO + block_hash


def height_index_prefix(height: int) -> bytes:
    return HEIGHT_INDEX + _HEIGHT.pack(height)


def height_index_key(height: int, block_hash: bytes) -> bytes:
    return height_index_prefix(height) + block_hash


def main_chain_key(height: int) -> bytes:
    return MAIN_CHAIN + _HEIGHT.pack(height)


def tx_location_key(txid: bytes) -> bytes:
    return TX_LOCATION + txid


def state_entry_key(state_key: bytes) -> bytes:
    return STATE + state_key


def tree_node_key(node_hash: bytes) -> bytes:
    return TREE_NODE + node_hash


def undo_key(block_hash: bytes) -> bytes:
    return UNDO + block_hash


def mempool_key(txid: bytes) -> bytes:
    return MEMPOOL_TX + txid


def meta_key(name: str) -> bytes:
    return META + name.encode("ascii")


TIP = meta_key("tip")
GENESIS = meta_key("genesis")
VERSION = meta_key("schema")
TREE_CHECKPOINT = meta_key("tree-checkpoint")
