"""Block import benchmark: blocks of signed transfers validated and applied on LevelDB.

What a syncing node does with the blocks it downloaded is timed: `Block.decode` of the wire bytes,
then `Chain.import_blocks` on a LevelDB store (batches written with `sync=True`, as a node writes
them; each block's signatures verified while the block before it is written).
The blocks are 2,000 transfers each between 20,000 funded accounts, so that state reads, the
state tree and the store have a realistic size. In the same run it measures the raw
libsecp256k1 verification rate of this machine on one core (coincurve, pre-parsed public keys,
DER signatures: the least work a verification can be), which is the yardstick: the goal is an
import rate of at least half of it. It also measures where the time of an import goes, and the
peak RSS.

The blocks are built (signed and executed once by `ChainFactory`) in a child process before
anything is timed, so the parent's peak RSS is that of the importing node alone. The full run
does 3 rounds (rates, a timed import, an instrumented import) and reports medians, about 40 s on
2 cores; `--quick` does one small round in a few seconds. `--json FILE` writes the figures as one
flat object (`transfers_per_s`, `raw_verify_per_s`, `ratio_to_raw_verify`, `peak_rss_mib`, ...,
`breakdown_<stage>_ms_per_block`).

    .venv/bin/python benchmarks/validate.py [--quick] [--json FILE] [--profile] [--dir DIR]

Results and method: docs/BENCHMARKS.md §Block validation.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import hashlib
import json
import multiprocessing
import os
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from unittest import mock

import coincurve
from coincurve.ecdsa import cdata_to_der, deserialize_compact

from pacata.chain import chain as chain_module
from pacata.chain import validation
from pacata.chain.blocks import Block
from pacata.chain.chain import AddStatus, Chain
from pacata.chain.chainstore import ChainStore
from pacata.chain.genesis import Genesis, shipped_genesis
from pacata.chain.keys import PrivateKey, verify_many, verify_signature
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.state import StateOverlay
from pacata.chain.state_tree import StateTree
from pacata.chain.tree_checkpoints import TreeNodeBuffer
from pacata.chain.validation import SignatureCheck
from pacata.node.signature_process import default_verifier
from pacata.testing.ledger import ChainFactory

P = ParamSpec("P")
R = TypeVar("R")

GENESIS_NAME = "devnet"
# Each funded account gets enough for far more transfers than a run makes.
FUNDING = 10_000_000
MAX_AMOUNT = 1_000


@dataclass(frozen=True, slots=True)
class Config:
    accounts: int
    blocks: int
    transfers_per_block: int
    verify_samples: int
    # Each round measures the verification rates, then imports the blocks into a new store;
    # the figures are the medians over the rounds, so a burst of other load on the machine
    # moves the yardstick and the import alike.
    rounds: int
    seed: int = 1


FULL = Config(
    accounts=20_000, blocks=20, transfers_per_block=2_000, verify_samples=20_000, rounds=3
)
QUICK = Config(accounts=4_000, blocks=4, transfers_per_block=2_000, verify_samples=6_000, rounds=1)


@dataclass(frozen=True, slots=True)
class PreparedChain:
    """Encoded blocks: the setup blocks (funding the accounts), then the measured ones."""

    setup: list[bytes]
    measured: list[bytes]
    tip_state_root: bytes
    seconds: float


# -- preparation (untimed, in a child process) ------------------------------------------------


def account_key(index: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(f"pacata benchmark account {index}".encode()).digest())


def prepare_chain(config: Config) -> PreparedChain:
    """Setup blocks funding `config.accounts` fresh accounts, then the blocks to measure."""
    started = time.perf_counter()
    factory = ChainFactory(seed=config.seed)
    keys = [account_key(i) for i in range(config.accounts)]
    per_block = config.transfers_per_block
    setup: list[bytes] = []
    for start in range(0, len(keys), per_block):
        funding = [
            factory.transfer(factory.random.choice(factory.funded), key.address, FUNDING)
            for key in keys[start : start + per_block]
        ]
        setup.append(factory.next_block(funding).encode())
    addresses = [key.address for key in keys]
    measured: list[bytes] = []
    for _ in range(config.blocks):
        transfers = [
            factory.transfer(
                factory.random.choice(keys),
                factory.random.choice(addresses),
                factory.random.randint(1, MAX_AMOUNT),
            )
            for _ in range(per_block)
        ]
        measured.append(factory.next_block(transfers).encode())
    return PreparedChain(setup, measured, factory.chain.state_root, time.perf_counter() - started)


def prepare_in_child(config: Config) -> PreparedChain:
    # Forked before this process has started any thread (the verification pool starts later).
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        return pool.apply(prepare_chain, (config,))


# -- signature verification rates -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifyRates:
    raw_per_s: float
    verify_signature_per_s: float
    verify_many_per_s: float
    samples: int


def signature_samples(blocks: Sequence[bytes], count: int) -> list[tuple[bytes, bytes, bytes]]:
    """(public key, digest, compact signature) of the first `count` transfers of the blocks."""
    items: list[tuple[bytes, bytes, bytes]] = []
    for data in blocks:
        for tx in Block.decode(data).transactions:
            items.append((tx.sender, tx.signing_digest(), tx.signature))
            if len(items) == count:
                return items
    return items


def rate(count: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def measure_verify_rates(items: list[tuple[bytes, bytes, bytes]]) -> VerifyRates:
    # The raw rate: libsecp256k1 through coincurve with the public keys already parsed and
    # DER signatures, on one thread: nothing but the verification itself.
    raw = [
        (coincurve.PublicKey(pub), cdata_to_der(deserialize_compact(sig)), digest)
        for pub, digest, sig in items
    ]

    def run_raw() -> None:
        for public_key, der, digest in raw:
            if not public_key.verify(der, digest, hasher=None):
                raise AssertionError("a sample signature does not verify")

    def run_ours() -> None:
        for pub, digest, sig in items:
            if not verify_signature(pub, digest, sig):
                raise AssertionError("a sample signature does not verify")

    def run_many() -> None:
        if not verify_many(items):
            raise AssertionError("a sample signature does not verify")

    count = len(items)
    return VerifyRates(
        raw_per_s=rate(count, run_raw),
        verify_signature_per_s=rate(count, run_ours),
        verify_many_per_s=rate(count, run_many),
        samples=count,
    )


# -- block import -----------------------------------------------------------------------------


def open_chain(directory: Path, genesis: Genesis, setup: Sequence[bytes]) -> Chain:
    # The node's verifier (a child process beside execution), as `pacatad` injects it: a bare
    # `Chain` would verify inline.
    chain = Chain(LevelDBStore(directory), genesis, default_verifier())
    for data in setup:
        chain.add_block(Block.decode(data), data)
    return chain


def decoded(blocks: Sequence[bytes]) -> Iterator[tuple[Block, bytes | None]]:
    """The blocks as a node receives them: decoded from the wire bytes, one by one."""
    for data in blocks:
        yield Block.decode(data), data


def import_run(chain: Chain, blocks: Sequence[bytes]) -> Iterator[None]:
    """What a syncing node does with the blocks it downloaded: decode, validate, apply, store,
    as one run (`Chain.import_blocks`: each block's signatures are verified while the block
    before it is written); yields once per block imported."""
    for update in chain.import_blocks(decoded(blocks)):
        if update.status is not AddStatus.CONNECTED:
            raise AssertionError(f"a measured block was not connected: {update.status}")
        yield


@dataclass(frozen=True, slots=True)
class ImportTiming:
    seconds: float
    block_seconds: list[float]


def measure_import(chain: Chain, blocks: Sequence[bytes]) -> ImportTiming:
    """Seconds of each block's import (from the previous block's update to its own), and in
    all with a last tree checkpoint: the nodes that the blocks made are all in the store when
    the clock stops."""
    block_seconds: list[float] = []
    started = time.perf_counter()
    for _ in import_run(chain, blocks):
        now = time.perf_counter()
        block_seconds.append(now - started)
        started = now
    chain.checkpoint()
    return ImportTiming(sum(block_seconds) + time.perf_counter() - started, block_seconds)


# -- where the time goes ----------------------------------------------------------------------

# Stages of an import, each the exclusive time (nested stages subtracted) of the functions it
# names; "gc" is the cyclic garbage collector wherever it ran, and "other" the rest of
# `add_block` (block index reads, tree keys and value hashes, glue).
STAGES = (
    ("decode", "Block.decode of the wire bytes"),
    ("stateless", "linkage, sizes, txids, Merkle root"),
    ("signatures", "header; digests sent to be verified"),
    ("verdict", "waiting for the signature verdict"),
    ("producer", "producer's right to the slot"),
    ("execute", "apply the transfers (state reads)"),
    ("state_diff", "encode changes and undo values"),
    ("tree", "state-tree update"),
    ("checkpoint", "tree nodes under the tip written"),
    ("batch", "build the write batch"),
    ("write", "LevelDB write (sync)"),
    ("gc", "garbage collector"),
    ("other", "rest of add_block"),
)


@dataclass
class StageClock:
    """Exclusive time per stage of wrapped functions, nested calls subtracted from outer ones."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    _children: list[float] = field(default_factory=list)
    _gc_started: float = 0.0

    def _add(self, stage: str, exclusive: float, inclusive: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + exclusive
        self.calls[stage] = self.calls.get(stage, 0) + 1
        if self._children:
            self._children[-1] += inclusive

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        """A `gc.callbacks` hook: a collection's time goes to "gc", not to the stage it hit."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            elapsed = time.perf_counter() - self._gc_started
            self._add("gc", elapsed, elapsed)

    def wrap(self, stage: str, function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def timed_call(*args: P.args, **kwargs: P.kwargs) -> R:
            self._children.append(0.0)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self._add(stage, elapsed - self._children.pop(), elapsed)

        return timed_call


@contextmanager
def stage_timers(chain: Chain, clock: StageClock) -> Iterator[None]:
    """Wraps the functions the import calls, where the import looks them up.

    A name the code does not have is skipped (the producer check is a `ProducerRules` object
    before the slot lottery and `consensus.begin_block` with it); `measure_breakdown` then
    refuses a stage that no wrapped function reached.
    """
    targets: list[tuple[Any, str, str]] = [
        (chain_module, "validate_linkage", "stateless"),
        (chain_module, "validate_body_size", "stateless"),
        (chain_module, "validate_tx_root", "stateless"),
        (SignatureCheck, "__init__", "signatures"),
        (SignatureCheck, "error", "verdict"),
        (getattr(chain, "rules", None), "check_producer", "producer"),
        (validation, "begin_block", "producer"),
        (chain_module, "execute_block", "execute"),
        (StateOverlay, "changes_and_originals", "state_diff"),
        (StateTree, "update", "tree"),
        (TreeNodeBuffer, "stage", "checkpoint"),
        (ChainStore, "stage_block", "batch"),
        (ChainStore, "stage_connect", "batch"),
        (chain.kv, "write", "write"),
    ]
    with ExitStack() as stack:
        gc.callbacks.append(clock.on_gc)
        stack.callback(gc.callbacks.remove, clock.on_gc)
        for owner, name, stage in targets:
            if not hasattr(owner, name):
                continue
            original = getattr(owner, name)
            wrapped: Any = clock.wrap(stage, original)
            if isinstance(owner, type) and isinstance(owner.__dict__.get(name), staticmethod):
                wrapped = staticmethod(wrapped)
            stack.enter_context(mock.patch.object(owner, name, wrapped))
        yield


def measure_breakdown(chain: Chain, blocks: Sequence[bytes]) -> dict[str, float]:
    """Seconds per stage over importing `blocks` (into a store of its own: the timed import runs
    without the timers)."""
    clock = StageClock()
    decode = clock.wrap("decode", Block.decode)
    total = 0.0
    with stage_timers(chain, clock):
        for data in blocks:
            started = time.perf_counter()
            update = chain.add_block(decode(data), data)
            total += time.perf_counter() - started
            if update.status is not AddStatus.CONNECTED:
                raise AssertionError(f"a measured block was not connected: {update.status}")
        started = time.perf_counter()
        chain.checkpoint()
        total += time.perf_counter() - started
    missing = [name for name, _ in STAGES if name not in ("gc", "other", *clock.calls)]
    if missing:
        raise AssertionError(f"the import no longer calls the functions of stages {missing}")
    seconds = {name: clock.seconds.get(name, 0.0) for name, _ in STAGES if name != "other"}
    seconds["other"] = total - sum(seconds.values())
    return seconds


def profile_import(chain: Chain, blocks: Sequence[bytes], top: int = 30) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in import_run(chain, blocks):
        pass
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(top)


# -- report -----------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(figures: dict[str, float | int], breakdown: dict[str, float], blocks: int) -> str:
    transfers = int(figures["transfers_per_block"])
    rows = [
        ("transfers/s (median of rounds)", f"{figures['transfers_per_s']:,.0f}"),
        (
            "transfers/s: min / max of rounds",
            f"{figures['transfers_per_s_min']:,.0f} / {figures['transfers_per_s_max']:,.0f}",
        ),
        ("blocks/s", f"{figures['blocks_per_s']:.2f}"),
        ("ms per block (median round)", f"{figures['ms_per_block']:.1f}"),
        (
            "ms per block: median / max block",
            f"{figures['ms_per_block_median']:.1f} / {figures['ms_per_block_max']:.1f}",
        ),
        ("raw verify/s (coincurve, 1 core)", f"{figures['raw_verify_per_s']:,.0f}"),
        ("verify_signature/s (1 core)", f"{figures['verify_signature_per_s']:,.0f}"),
        ("verify_many/s (all cores)", f"{figures['verify_many_per_s']:,.0f}"),
        ("transfers/s : raw verify/s", f"{figures['ratio_to_raw_verify']:.1%}"),
        ("peak RSS (MiB)", f"{figures['peak_rss_mib']:.0f}"),
        (
            "load average before / after",
            f"{figures['load_before']:.2f} / {figures['load_after']:.2f}",
        ),
    ]
    lines = [
        f"Block import: {blocks} blocks of {transfers:,} transfers among "
        f"{int(figures['accounts']):,} accounts, LevelDB (sync), {int(figures['cores'])} cores, "
        f"{int(figures['rounds'])} round(s)",
        "",
        *(f"  {name:<34}{value:>16}" for name, value in rows),
        "",
        f"  {'where the time goes (medians)':<46}{'ms/block':>9}{'µs/transfer':>13}{'share':>8}",
    ]
    total = sum(breakdown.values())
    for name, description in STAGES:
        seconds = breakdown[name]
        lines.append(
            f"  {name:<12}{description:<34}{seconds / blocks * 1e3:>9.1f}"
            f"{seconds / (blocks * transfers) * 1e6:>13.1f}{seconds / total:>8.1%}"
        )
    lines.append(
        f"  {'total':<12}{'(instrumented imports)':<34}{total / blocks * 1e3:>9.1f}"
        f"{total / (blocks * transfers) * 1e6:>13.1f}"
    )
    return "\n".join(lines)


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a short run (well under a minute)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of a third import pass"
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to put the LevelDB stores (default: /tmp)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    config = QUICK if args.quick else FULL
    genesis = shipped_genesis(GENESIS_NAME)
    load_before = os.getloadavg()[0]
    prepared = prepare_in_child(config)
    samples = signature_samples(prepared.measured, config.verify_samples)

    rates: list[VerifyRates] = []
    timings: list[ImportTiming] = []
    breakdowns: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="pacata-bench-", dir=args.dir) as tmp:
        for round_ in range(config.rounds):
            rates.append(measure_verify_rates(samples))
            chain = open_chain(Path(tmp) / f"timed-{round_}", genesis, prepared.setup)
            gc.collect()
            timings.append(measure_import(chain, prepared.measured))
            if chain.state_root != prepared.tip_state_root:
                raise AssertionError("the imported chain ended at another state than the built one")
            chain.kv.close()
            del chain

            chain = open_chain(Path(tmp) / f"staged-{round_}", genesis, prepared.setup)
            gc.collect()
            breakdowns.append(measure_breakdown(chain, prepared.measured))
            chain.kv.close()
            del chain

        if args.profile:
            chain = open_chain(Path(tmp) / "profiled", genesis, prepared.setup)
            profile_import(chain, prepared.measured)
            chain.kv.close()
            del chain

    blocks = len(prepared.measured)
    transfers = blocks * config.transfers_per_block
    rounds_per_s = sorted(transfers / timing.seconds for timing in timings)
    transfers_per_s = statistics.median(rounds_per_s)
    raw_per_s = statistics.median(r.raw_per_s for r in rates)
    block_seconds = [s for timing in timings for s in timing.block_seconds]
    breakdown = {name: statistics.median(b[name] for b in breakdowns) for name, _ in STAGES}
    figures: dict[str, float | int] = {
        "transfers_per_s": transfers_per_s,
        "raw_verify_per_s": raw_per_s,
        "ratio_to_raw_verify": transfers_per_s / raw_per_s,
        "verify_signature_per_s": statistics.median(r.verify_signature_per_s for r in rates),
        "verify_many_per_s": statistics.median(r.verify_many_per_s for r in rates),
        "verify_samples": len(samples),
        "blocks": blocks,
        "transfers_per_block": config.transfers_per_block,
        "accounts": config.accounts,
        "rounds": config.rounds,
        "transfers_per_s_min": rounds_per_s[0],
        "transfers_per_s_max": rounds_per_s[-1],
        "blocks_per_s": transfers_per_s / config.transfers_per_block,
        "ms_per_block": config.transfers_per_block / transfers_per_s * 1e3,
        "ms_per_block_median": statistics.median(block_seconds) * 1e3,
        "ms_per_block_max": max(block_seconds) * 1e3,
        "peak_rss_mib": peak_rss_mib(),
        "prepare_s": prepared.seconds,
        "cores": os.cpu_count() or 1,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
    }
    for name, _ in STAGES:
        figures[f"breakdown_{name}_ms_per_block"] = breakdown[name] / blocks * 1e3
    print(report(figures, breakdown, blocks))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
