"""Address index benchmark: how long a node takes to index a chain it already holds (the
catch-up at the first start with the index, or after the index was deleted), how long the
event loop is held by one step of it, and what a page of history costs deep in a busy
address's history.

The chain (10,000 blocks of 10 transfers each, from the devnet's nine funded accounts to new
addresses, so each sender has about 11,000 entries) is built first in a LevelDB store; then
`AddressIndex.advance` runs with the node's step bounds (1,000 blocks or 2,000 transactions)
into an empty LevelDB written without fsync, as `pacatad` keeps it, reading the blocks from the
chain's store. Each step is timed: the longest is the longest the plugin holds the event loop.

    .venv/bin/python benchmarks/address_index.py [--quick] [--json FILE]

Results: docs/operations.md §The address index.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from pacata.chain.address_index import AddressIndex, entry_transaction
from pacata.chain.address_index_schema import ChainPosition
from pacata.chain.chain import Chain
from pacata.chain.genesis import shipped_genesis
from pacata.chain.kvstore import LevelDBStore
from pacata.testing.ledger import ChainFactory

TRANSFERS_PER_BLOCK = 10
PAGE = 25


def build_chain(path: Path, blocks: int) -> Chain:
    chain = Chain(LevelDBStore(path, sync=False), shipped_genesis("devnet"))
    factory = ChainFactory(chain, seed=11)
    for height in range(blocks):
        factory.next_block(factory.random_transfers(TRANSFERS_PER_BLOCK))
        if height % 1_000 == 999:
            print(f"  built {height + 1:,} blocks", file=sys.stderr, flush=True)
    return chain


def catch_up(chain: Chain, path: Path) -> tuple[AddressIndex, list[float]]:
    index = AddressIndex(LevelDBStore(path, sync=False), keep_undo=chain.params.finality_depth + 1)
    steps: list[float] = []
    gc.collect()
    while True:
        started = time.perf_counter()
        done = index.advance(chain)
        steps.append(time.perf_counter() - started)
        if done:
            return index, steps


def page_ms(index: AddressIndex, chain: Chain) -> float:
    """A page of 25 from the middle of the busiest sender's history, read as the API reads
    it (the entries, then each transaction from its block's encoding)."""
    sender = chain.block_at(1).transactions[0].sender_address
    before = ChainPosition(chain.height // 2, 0)
    rounds = 50
    started = time.perf_counter()
    for _ in range(rounds):
        for entry in index.transactions(sender, before, PAGE):
            block_hash = chain.store.main_hash_at(entry.height)
            assert block_hash is not None
            encoding = chain.store.block_encoding(block_hash)
            assert encoding is not None and entry_transaction(entry, encoding) is not None
    return (time.perf_counter() - started) / rounds * 1_000


def read_blocks_s(chain: Chain) -> float:
    """The reference, measured in the same run: reading and decoding every block from the
    chain's store, which the catch-up must do anyway. The index's own work is the rest."""
    gc.collect()
    started = time.perf_counter()
    for height in range(1, chain.height + 1):
        chain.block_at(height)
    return time.perf_counter() - started


def directory_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.iterdir()) / (1 << 20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 blocks (a smoke run)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    blocks = 1_000 if args.quick else 10_000
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pacata-index-") as directory:
        root = Path(directory)
        chain = build_chain(root / "chain", blocks)
        index, steps = catch_up(chain, root / "index")
        figures = {
            "blocks": float(blocks),
            "transactions": float(blocks * TRANSFERS_PER_BLOCK),
            "catch_up_s": sum(steps),
            "read_blocks_s": read_blocks_s(chain),
            "blocks_per_s": blocks / sum(steps),
            "transactions_per_s": blocks * TRANSFERS_PER_BLOCK / sum(steps),
            "steps": float(len(steps)),
            "longest_step_ms": max(steps) * 1_000,
            "page_ms": page_ms(index, chain),
            "index_mib": directory_mib(root / "index"),
            "chain_mib": directory_mib(root / "chain"),
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        }
        index.kv.close()
        chain.kv.close()
    print(f"address index: {blocks:,} blocks of {TRANSFERS_PER_BLOCK} transfers")
    print(f"{'measure':<40} {'value':>12}")
    print(f"{'catch-up, all blocks':<40} {figures['catch_up_s']:>10.2f} s")
    print(f"{'reference: reading the blocks alone':<40} {figures['read_blocks_s']:>10.2f} s")
    ratio = figures["catch_up_s"] / figures["read_blocks_s"]
    figures["ratio_to_reading_blocks"] = ratio
    print(f"{'catch-up / reading the blocks':<40} {ratio:>11.1f}x")
    print(f"{'blocks indexed':<40} {figures['blocks_per_s']:>10,.0f}/s")
    print(f"{'transactions indexed':<40} {figures['transactions_per_s']:>10,.0f}/s")
    print(f"{'steps (the event loop runs between)':<40} {figures['steps']:>12,.0f}")
    print(f"{'longest step':<40} {figures['longest_step_ms']:>9,.0f} ms")
    print(f"{'a page of 25, mid-history':<40} {figures['page_ms']:>9.2f} ms")
    sizes = f"{figures['index_mib']:.1f} / {figures['chain_mib']:.1f} MiB"
    print(f"{'index size / chain size':<40} {sizes:>16}")
    print(f"{'load average before / after':<40} {load_before:>6.2f} / {figures['load_after']:.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
