"""Sync benchmark: a fresh `pacatad` syncing a chain from a peer over loopback, next to the
same blocks imported from local files in this process (the ceiling), in the same run.

A chain of `--blocks` blocks (5,000 by default; 1,000 with `--quick`), each with
`--txs-per-block` signed transfers, is built fast with `ChainFactory` into a LevelDB data
directory, under a genesis old enough for all its slots to have passed. Then:

1. local import: the blocks' encodings are written to a file, read back, decoded and imported
   with `Chain.add_block` into a fresh LevelDB chain (what sync cannot beat);
2. sync: a seed `pacatad` serves the built data directory, a fresh `pacatad` started with
   `--bootnode` syncs it over TLS on loopback; the time runs from the fresh node's ready line
   to its tip being the seed's.

    .venv/bin/python benchmarks/sync.py [--quick] [--json FILE] [--blocks N] [--txs-per-block N]

Results and method: docs/BENCHMARKS.md §Sync.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
import time
from pathlib import Path

from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.genesis import load_genesis
from pacata.chain.kvstore import LevelDBStore
from pacata.node.signature_process import default_verifier
from pacata.testing.ledger import ChainFactory
from pacata.testing.node_process import NodeProcess, free_port, write_test_genesis

CHAIN_ID = "pacata-sync-bench-1"
_LENGTH = struct.Struct(">I")


def build(datadir: Path, genesis: Path, blocks: int, txs_per_block: int, dump: Path) -> str:
    """Builds the chain into `datadir` and writes the blocks to `dump`; returns the tip."""
    store = LevelDBStore(datadir / "chain")
    try:
        chain = Chain(store, load_genesis(genesis))
        factory = ChainFactory(chain)
        with dump.open("wb") as out:
            for _ in range(blocks):
                block = factory.next_block(factory.random_transfers(txs_per_block))
                encoded = block.encode()
                out.write(_LENGTH.pack(len(encoded)) + encoded)
        return chain.tip.hash.hex()
    finally:
        store.close()


def local_import(directory: Path, genesis: Path, dump: Path) -> tuple[float, int, str]:
    """Seconds to import every block of `dump` into a fresh LevelDB chain; (s, blocks, tip)."""
    store = LevelDBStore(directory / "chain")
    try:
        # With the node's verifier, as `pacatad` imports blocks: the ceiling for the sync.
        chain = Chain(store, load_genesis(genesis), default_verifier())
        data = dump.read_bytes()
        started = time.perf_counter()
        position = count = 0
        while position < len(data):
            (size,) = _LENGTH.unpack_from(data, position)
            encoded = data[position + 4 : position + 4 + size]
            position += 4 + size
            chain.add_block(Block.decode(encoded), encoded, now_ms=time.time_ns() // 1_000_000)
            count += 1
        return time.perf_counter() - started, count, chain.tip.hash.hex()
    finally:
        store.close()


def network_sync(root: Path, genesis: Path, seed_dir: Path, tip: str) -> float:
    """Seconds from a fresh node's ready line to its tip being `tip`, synced from a seed."""
    seed_port = free_port()
    seed = NodeProcess(
        "seed", genesis=genesis, datadir=seed_dir, listen=f"127.0.0.1:{seed_port}", log_dir=root
    )
    fresh: NodeProcess | None = None
    try:
        seed.wait_ready()
        fresh = NodeProcess(
            "fresh",
            genesis=genesis,
            datadir=root / "fresh",
            listen=f"127.0.0.1:{free_port()}",
            bootnodes=[f"127.0.0.1:{seed_port}"],
            log_dir=root,
        )
        node = fresh
        node.wait_ready()
        started = time.perf_counter()
        node.wait_for("the synced tip", lambda: node.status()["tip"] == tip, deadline_s=900.0)
        return time.perf_counter() - started
    finally:
        if fresh is not None:
            fresh.close()
        seed.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 blocks (under a minute)")
    parser.add_argument("--blocks", type=int, help="chain length (default 5,000)")
    parser.add_argument("--txs-per-block", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    blocks = args.blocks or (1_000 if args.quick else 5_000)
    with tempfile.TemporaryDirectory(prefix="pacata-sync-bench-") as temporary:
        root = Path(temporary)
        # Old enough that every slot of the chain has begun (one block per 1-second slot).
        age_ms = (blocks + 600) * 1_000
        genesis = write_test_genesis(
            root / "genesis.json", chain_id=CHAIN_ID, timestamp_ms=time.time_ns() // 10**6 - age_ms
        )
        seed_dir = root / "seed"
        seed_dir.mkdir(mode=0o700)
        dump = root / "blocks.bin"
        print(f"building {blocks} blocks of {args.txs_per_block} transfers...", file=sys.stderr)
        tip = build(seed_dir, genesis, blocks, args.txs_per_block, dump)
        (root / "local").mkdir()
        local_seconds, count, local_tip = local_import(root / "local", genesis, dump)
        assert count == blocks and local_tip == tip
        sync_seconds = network_sync(root, genesis, seed_dir, tip)
    transactions = blocks * args.txs_per_block
    figures = {
        "blocks": blocks,
        "transactions": transactions,
        "sync_seconds": round(sync_seconds, 3),
        "sync_blocks_per_s": round(blocks / sync_seconds, 1),
        "sync_transactions_per_s": round(transactions / sync_seconds, 1),
        "local_import_seconds": round(local_seconds, 3),
        "local_import_blocks_per_s": round(blocks / local_seconds, 1),
        "local_import_transactions_per_s": round(transactions / local_seconds, 1),
        "sync_share_of_local": round(local_seconds / sync_seconds, 3),
    }
    print(f"{blocks} blocks, {args.txs_per_block} transfers each\n")
    print("| path | seconds | blocks/s | transactions/s |")
    print("|---|---|---|---|")
    print(
        f"| local import (ceiling) | {local_seconds:.2f} "
        f"| {figures['local_import_blocks_per_s']:,} "
        f"| {figures['local_import_transactions_per_s']:,} |"
    )
    print(
        f"| sync over loopback TLS | {sync_seconds:.2f} | {figures['sync_blocks_per_s']:,} "
        f"| {figures['sync_transactions_per_s']:,} |"
    )
    print(f"\nsync reaches {figures['sync_share_of_local']:.0%} of the local import rate")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
