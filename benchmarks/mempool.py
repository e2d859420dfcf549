"""Mempool benchmark: how fast valid transfers are admitted, next to raw signature
verification of the same transactions in the same run, and how long the mempool's journal
takes to reload (every transaction checked again) at 10,000 and 100,000 pending.

Admission is what `POST /api/txs` and a relayed transaction cost after decoding: the stateless
checks, the signature, applying the transfer to the tip's state plus its sender's pending
ones (docs/ledger.md §Mempool), and the journal's write (LevelDB, no fsync, as in `pacatad`).
The senders are 2,000 accounts funded in two blocks, each with a chain of up to 50 pending
nonces, so the admissions include the sender's pending state.

    .venv/bin/python benchmarks/mempool.py [--quick] [--json FILE]

Results: docs/BENCHMARKS.md §Mempool.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from pacata.chain.chain import Chain
from pacata.chain.keys import PrivateKey
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.mempool import Mempool
from pacata.chain.transactions import Transaction, Transfer
from pacata.testing.ledger import ChainFactory

SENDERS = 2_000
PER_SENDER = 50
FUNDING = 10**10


def funded_chain(senders: int) -> tuple[ChainFactory, list[PrivateKey]]:
    """A devnet chain (in memory) on which `senders` new accounts hold `FUNDING` each."""
    factory = ChainFactory(seed=21)
    keys = [factory.new_key() for _ in range(senders)]
    for start in range(0, senders, 1_000):
        batch = keys[start : start + 1_000]
        factory.next_block(
            factory.transfer(factory.funded[i % len(factory.funded)], key.address, FUNDING)
            for i, key in enumerate(batch)
        )
    return factory, keys


def transfers(factory: ChainFactory, keys: Sequence[PrivateKey], count: int) -> list[Transaction]:
    """`count` valid transfers, `PER_SENDER` nonces per sender at most, in admission order."""
    per_sender = -(-count // len(keys))
    if per_sender > PER_SENDER:
        raise ValueError(f"{count} transfers need more than {PER_SENDER} per sender")
    signed: list[Transaction] = []
    for nonce in range(per_sender):
        for key in keys:
            if len(signed) == count:
                return signed
            signed.append(factory.sign(key, Transfer(keys[0].address, 1 + nonce)))
    return signed


def fresh(transactions: Sequence[Transaction]) -> list[Transaction]:
    """Decoded anew: no cached encoding, id or signature check carried over."""
    return [Transaction.decode(tx.encode()) for tx in transactions]


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def raw_verify(transactions: Sequence[Transaction]) -> float:
    batch = fresh(transactions)
    gc.collect()
    started = time.perf_counter()
    if not all(tx.has_valid_signature() for tx in batch):
        raise AssertionError("a transfer is badly signed")
    return per_second(len(batch), time.perf_counter() - started)


def admission(chain: Chain, transactions: Sequence[Transaction], journal: Path) -> float:
    batch = fresh(transactions)
    store = LevelDBStore(journal, sync=False)
    try:
        pool = Mempool(chain, max_count=len(batch) + 1, max_bytes=1 << 30, journal=store)
        gc.collect()
        started = time.perf_counter()
        for tx in batch:
            pool.add(tx)
        seconds = time.perf_counter() - started
        if len(pool) != len(batch):
            raise AssertionError(f"{len(batch) - len(pool)} transfers were not admitted")
        return per_second(len(batch), seconds)
    finally:
        store.close()


def reload(chain: Chain, transactions: Sequence[Transaction], journal: Path) -> float:
    """Seconds for a new mempool to load a journal of `transactions` (written first)."""
    store = LevelDBStore(journal, sync=False)
    try:
        writer = Mempool(chain, max_count=len(transactions) + 1, max_bytes=1 << 30, journal=store)
        for tx in fresh(transactions):
            writer.add(tx)
        del writer
        gc.collect()
        started = time.perf_counter()
        pool = Mempool(chain, max_count=len(transactions) + 1, max_bytes=1 << 30, journal=store)
        report = pool.load()
        seconds = time.perf_counter() - started
        if report.admitted != len(transactions) or len(pool) != len(transactions):
            raise AssertionError(f"reloaded {report} of {len(transactions)}")
        return seconds
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (a smoke run)")
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    args = parser.parse_args()
    admit_count = 2_000 if args.quick else 20_000
    reload_counts = (1_000, 5_000) if args.quick else (10_000, 100_000)
    senders = 200 if args.quick else SENDERS

    factory, keys = funded_chain(senders)
    signed = transfers(factory, keys, max(admit_count, *reload_counts))
    chain = factory.chain
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="pacata-mempool-") as directory:
        root = Path(directory)
        figures["raw_verify_per_s"] = raw_verify(signed[:admit_count])
        figures["admit_per_s"] = admission(chain, signed[:admit_count], root / "admit")
        figures["admit_ratio_to_raw_verify"] = figures["admit_per_s"] / figures["raw_verify_per_s"]
        figures["admitted"] = admit_count
        for count in reload_counts:
            figures[f"reload_{count}_s"] = reload(chain, signed[:count], root / f"reload-{count}")

    print(f"mempool: {admit_count:,} valid transfers from {senders:,} senders")
    print(f"{'measure':<36} {'value':>14}")
    print(f"{'raw signature verification':<36} {figures['raw_verify_per_s']:>12,.0f}/s")
    print(f"{'admission (with the journal)':<36} {figures['admit_per_s']:>12,.0f}/s")
    print(f"{'admission / raw verification':<36} {figures['admit_ratio_to_raw_verify']:>13.1%}")
    for count in reload_counts:
        print(f"{f'reload of {count:,} pending':<36} {figures[f'reload_{count}_s']:>12.2f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
