"""Crash consistency of the ledger store (docs/ledger.md §Chain).

A child process (`pacata.testing.crash_importer`) imports real blocks into a LevelDB store and
is killed with SIGKILL at random moments, over several rounds. After each kill the store is
reopened here, and must hold exactly what a clean node holding the same blocks holds: `Chain`
opens, adopts the best stored block (finishing an interrupted reorganisation), and its state
root, its flat state, its transaction index and its main-chain index equal those of a clean
in-memory chain at that block; the state tree under the root is readable and agrees with the
flat state. Then the child is restarted and finishes: the node continues.

Waiting is always on a condition (a line from the child, or its exit) with a deadline; the only
random delays are bounded waits for the child's exit that end in the kill.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import pytest

from pacata.chain import schema
from pacata.chain.blocks import Block
from pacata.chain.chain import Chain, preference
from pacata.chain.chainstore import BlockStatus, ChainStore
from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import Address
from pacata.chain.kvstore import LevelDBStore
from pacata.chain.state import EMPTY_ACCOUNT, Account, Namespace, state_key, tree_key, value_hash
from pacata.chain.state_tree import EMPTY_ROOT, StateTree, verify_proof
from pacata.testing import ChainFactory, devnet_chain
from pacata.testing.crash_importer import write_block_file

pytestmark = pytest.mark.slow

SEED = 20240611
MAIN_BLOCKS = 60
TRANSFERS_PER_BLOCK = 150
FORK_HEIGHT = MAIN_BLOCKS - 5
BRANCH_BLOCKS = 7  # heights FORK_HEIGHT + 1 ..., longer than the main chain
KILL_ROUNDS = 6
REORG_ROUNDS = 3
MAX_REORG_ROUNDS = 8  # more rounds only while no kill has landed inside a reorganisation
KILL_LIMIT = MAIN_BLOCKS - 20  # the highest block the kill rounds wait for
KILL_DELAY_S = 0.04  # the longest random wait for the child's exit before killing it
DEADLINE_S = 60.0  # a bound for any wait on the child, far above what it needs
PROOF_SAMPLE = 48

# The tables a clean node and a recovered one must hold identically.
COMPARED_TABLES = {
    "state": schema.STATE,
    "tx locations": schema.TX_LOCATION,
    "main chain": schema.MAIN_CHAIN,
}


@dataclass(frozen=True)
class CleanState:
    """What a clean node that imported the blocks up to `block` holds."""

    block: Block
    label: str
    tables: dict[str, dict[bytes, bytes]]


@dataclass
class Reference:
    main: list[Block]
    branch: list[Block]
    after: dict[bytes, CleanState] = field(default_factory=dict)  # by block hash
    addresses: list[Address] = field(default_factory=list)  # every account ever touched

    def label(self, block_hash: bytes) -> str:
        found = self.after.get(block_hash)
        return found.label if found is not None else f"unknown {block_hash.hex()[:16]}"


def snapshot(factory: ChainFactory, label: str) -> CleanState:
    chain = factory.chain
    tables = {name: dict(chain.kv.iterate(prefix)) for name, prefix in COMPARED_TABLES.items()}
    return CleanState(chain.block(chain.tip.hash), label, tables)


def new_addresses(rng: random.Random) -> list[Address]:
    return [Address(rng.randbytes(20)) for _ in range(TRANSFERS_PER_BLOCK)]


@pytest.fixture(scope="module")
def reference() -> Reference:
    """The main blocks and a longer branch forking below the main tip, with every clean state."""
    factory = ChainFactory(seed=SEED)
    # Recipients from the seed too (random_transfers would generate fresh keys), so that the
    # blocks, their hashes and the kill points are the same on every run.
    recipients = random.Random(SEED)
    # Each snapshot is taken right after the factory chain connected the block, which checked
    # the block's state_root: the clean node's root at every height is its header's.
    after = {factory.chain.tip.hash: snapshot(factory, "genesis")}
    main: list[Block] = []
    for height in range(1, MAIN_BLOCKS + 1):
        transfers = factory.random_transfers(TRANSFERS_PER_BLOCK, new_addresses(recipients))
        main.append(factory.next_block(transfers))
        after[main[-1].hash] = snapshot(factory, f"main {height}")

    fork = ChainFactory(devnet_chain(), seed=SEED + 1)
    for block in main[:FORK_HEIGHT]:
        fork.chain.add_block(block)
    branch: list[Block] = []
    for offset in range(1, BRANCH_BLOCKS + 1):
        # slot_gap=2 makes every branch block differ from the main block at its height.
        transfers = fork.random_transfers(TRANSFERS_PER_BLOCK, new_addresses(recipients))
        branch.append(fork.next_block(transfers, slot_gap=2))
        after[branch[-1].hash] = snapshot(fork, f"branch {FORK_HEIGHT + offset}")
    assert len({block.hash for block in main} & {block.hash for block in branch}) == 0

    accounts = state_key(Namespace.ACCOUNT, b"")
    touched = {
        key[len(accounts) + len(schema.STATE) :]
        for clean in after.values()
        for key in clean.tables["state"]
        if key.startswith(schema.STATE + accounts)
    }
    return Reference(main, branch, after, [Address(raw) for raw in sorted(touched)])


# -- the child process ------------------------------------------------------------------------


class Importer:
    """One run of the importer child; a thread moves its stdout lines into a queue."""

    def __init__(self, datadir: Path, blocks_file: Path, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self._stderr_path = log_dir / f"importer-{time.monotonic_ns()}.stderr"
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        with self._stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pacata.testing.crash_importer",
                    str(datadir),
                    str(blocks_file),
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        self._pump = threading.Thread(target=self._read_stdout, daemon=True)
        self._pump.start()
        self.killed = False

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def __enter__(self) -> Importer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Whatever happened in the test, the child is dead and reaped before the store is opened.
        self.kill()

    def describe(self) -> str:
        stderr = self._stderr_path.read_text(errors="replace")[-2000:]
        return f"exit {self.proc.returncode}; last lines {self.lines[-5:]}; stderr: {stderr!r}"

    def wait_for(self, wanted: Callable[[str], bool]) -> str:
        """The first (further) stdout line for which `wanted` is true."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no awaited line within {DEADLINE_S} s; {self.describe()}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=DEADLINE_S)
                raise AssertionError(f"the importer ended first; {self.describe()}")
            self.lines.append(line)
            if wanted(line):
                return line

    def kill_within(self, seconds: float) -> None:
        """Kills the child unless it exits by itself within `seconds`."""
        try:
            self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.killed = True
        self.proc.wait(timeout=DEADLINE_S)
        self._pump.join(timeout=DEADLINE_S)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        while True:  # keep the lines it printed before it died, for the durability check
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)

    def finish(self) -> None:
        """Waits for the child to import everything and exit cleanly."""
        self.wait_for(lambda line: line.startswith("done "))
        assert self.proc.wait(timeout=DEADLINE_S) == 0, self.describe()

    def reported_blocks(self) -> set[bytes]:
        return {bytes.fromhex(line.split()[2]) for line in self.lines if line.startswith("block ")}


def is_block_line(height: int) -> Callable[[str], bool]:
    return lambda line: line.startswith(f"block {height} ")


def is_batch_line(moment: str, count: int, *, or_open: bool = False) -> Callable[[str], bool]:
    """The line of the store's `count`-th batch, as it starts (`moment` "writing") or once it
    is committed ("write"); with `or_open`, also the line of the chain's opening."""
    return lambda line: line == f"{moment} {count}" or (or_open and line.startswith("open "))


def random_batch_moment(rng: random.Random, batches: int) -> tuple[str, int]:
    """A moment among `batches` batches to come: as one starts, or between two of them."""
    if batches == 1 or rng.random() < 0.5:
        return "writing", rng.randint(1, batches)
    return "write", rng.randint(1, batches - 1)


# -- checking a reopened store ----------------------------------------------------------------


@dataclass(frozen=True)
class Reopened:
    raw_tip: bytes  # the tip recorded in the store, before `Chain` ran its recovery
    tip: bytes  # the tip after recovery


@contextmanager
def open_chain(datadir: Path) -> Iterator[Chain]:
    kv = LevelDBStore(datadir)
    try:
        yield Chain(kv, shipped_genesis("devnet"))
    finally:
        kv.close()


def check_store(
    datadir: Path, ref: Reference, rng: random.Random, reported: set[bytes]
) -> Reopened:
    """Reopens the store and checks it against the clean node holding the same blocks."""
    kv = LevelDBStore(datadir)
    try:
        raw_tip = ChainStore(kv).meta(schema.TIP)
        assert raw_tip is not None, "the store has no tip"
        chain = Chain(kv, shipped_genesis("devnet"))
        store = chain.store

        # Every block the child reported done is durable (its batch was synced first).
        missing = [ref.label(h) for h in reported if store.block_info(h) is None]
        assert not missing, f"blocks reported imported are gone: {missing}"

        # The tip is the best stored block: recovery finished any interrupted reorganisation.
        stored = []
        for block in [*ref.main, *ref.branch]:
            info = store.block_info(block.hash)
            if info is not None:
                assert info.status != BlockStatus.INVALID, f"{ref.label(block.hash)} invalid"
                stored.append(block)
        best = max(stored, key=lambda block: preference(block.header), default=None)
        expected_tip = best.hash if best is not None else chain.genesis_hash
        assert chain.tip.hash == expected_tip, (
            f"tip {ref.label(chain.tip.hash)} after recovery, best stored block is "
            f"{ref.label(expected_tip)} (store said {ref.label(raw_tip)})"
        )
        clean = ref.after[chain.tip.hash]
        assert chain.state_root == clean.block.header.state_root

        # The stored tables are the clean node's, entry for entry.
        for name, prefix in COMPARED_TABLES.items():
            held = dict(kv.iterate(prefix))
            if held != clean.tables[name]:
                extra = len(held.keys() - clean.tables[name].keys())
                lacking = len(clean.tables[name].keys() - held.keys())
                differ = sum(
                    1
                    for k in held.keys() & clean.tables[name].keys()
                    if held[k] != clean.tables[name][k]
                )
                raise AssertionError(
                    f"{name} table at {clean.label} differs from a clean node's: "
                    f"{extra} extra, {lacking} missing, {differ} different entries"
                )
        for address in ref.addresses:
            raw = clean.tables["state"].get(
                schema.state_entry_key(state_key(Namespace.ACCOUNT, address.raw))
            )
            expected = EMPTY_ACCOUNT if raw is None else Account.decode(raw)
            assert chain.account(address) == expected, f"account {address} at {clean.label}"

        # The flat state and the tree agree: the root rebuilt from scratch out of the flat
        # entries is the tip's, and the stored tree proves a sample of accounts against it.
        flat = {
            tree_key(key[len(schema.STATE) :]): value_hash(value)
            for key, value in clean.tables["state"].items()
        }
        rebuilt, _ = StateTree({}.get).update(EMPTY_ROOT, flat)
        assert rebuilt == chain.state_root
        for address in rng.sample(ref.addresses, min(PROOF_SAMPLE, len(ref.addresses))):
            key = state_key(Namespace.ACCOUNT, address.raw)
            raw = store.get_state(key)
            proof = chain.account_proof(address)
            held_hash = None if raw is None else value_hash(raw)
            assert verify_proof(chain.state_root, tree_key(key), held_hash, proof)
        if chain.height > 0:
            store.undo_record(chain.tip.hash)  # a later reorganisation can undo the tip
        return Reopened(raw_tip, chain.tip.hash)
    finally:
        kv.close()


# -- the tests --------------------------------------------------------------------------------


def test_importer_killed_at_random_moments_recovers_and_continues(
    reference: Reference, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    blocks_file = tmp_path / "main.blocks"
    write_block_file(blocks_file, reference.main)
    datadir = tmp_path / "node"
    logs = tmp_path / "logs"
    height = 0
    kill_points: list[str] = []
    for round_number in range(1, KILL_ROUNDS + 1):
        # Kill points spread over the blocks below KILL_LIMIT, so that the importer always has
        # blocks left to import when the kill comes, however late the kill is.
        rounds_left = KILL_ROUNDS - round_number + 1
        span = max(0, KILL_LIMIT - height) // rounds_left
        target = rng.randint(height, height + span)
        delay = rng.uniform(0, KILL_DELAY_S)
        # Every other round aims at a batch being written (the child's n-th batch of this run
        # is the block at height + n); the others kill at a random moment after a block.
        aim_at_batch = round_number % 2 == 0
        with Importer(datadir, blocks_file, logs) as child:
            child.wait_for(lambda line: line.startswith("open "))
            if aim_at_batch:
                child.wait_for(is_batch_line("writing", max(1, target - height)))
                child.kill()
                moment = f"as the batch of block {max(height + 1, target)} started"
            else:
                if target > height:
                    child.wait_for(is_block_line(target))
                child.kill_within(delay)
                moment = f"{delay * 1000:.0f} ms after block {target}"
        assert child.killed, f"round {round_number}: the importer finished before the kill"
        reopened = check_store(datadir, reference, rng, child.reported_blocks())
        last_line = " ".join(child.lines[-1].split()[:2])
        height = reference.after[reopened.tip].block.height
        kill_points.append(
            f"round {round_number}: killed {moment}, last line {last_line!r}; store at "
            f"{reference.label(reopened.raw_tip)}, recovered to {reference.label(reopened.tip)}"
        )
    print("\n".join(["", *kill_points]))

    # Restarted without a kill, the node continues and ends at the clean node's final state.
    with Importer(datadir, blocks_file, logs) as child:
        child.finish()
    reopened = check_store(datadir, reference, rng, child.reported_blocks())
    assert reopened.tip == reference.main[-1].hash
    with open_chain(datadir) as chain:
        assert chain.state_root == reference.main[-1].header.state_root


def test_importer_killed_in_a_reorganisation_recovers_and_converges(
    reference: Reference, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 7)
    main_tip = reference.main[-1]
    trigger = next(
        index
        for index, block in enumerate(reference.branch)
        if preference(block.header) > preference(main_tip.header)
    )
    # The store before the reorganisation: the main chain and the branch blocks that do not
    # beat its tip yet, stored on the side.
    prelude_file = tmp_path / "prelude.blocks"
    write_block_file(prelude_file, [*reference.main, *reference.branch[:trigger]])
    blocks_file = tmp_path / "reorg.blocks"
    write_block_file(blocks_file, [*reference.main, *reference.branch])
    logs = tmp_path / "logs"
    base = tmp_path / "before-reorg"
    with Importer(base, prelude_file, logs) as child:
        child.finish()
    assert check_store(base, reference, rng, child.reported_blocks()).tip == main_tip.hash

    # Storing the trigger block, disconnecting down to the fork, connecting the branch up to
    # the trigger: every batch of the reorganisation in order.
    trigger_height = reference.branch[trigger].height
    reorg_writes = 1 + (main_tip.height - FORK_HEIGHT) + (trigger_height - FORK_HEIGHT)
    on_branch = {block.hash for block in reference.branch}

    def recovery_writes(raw_tip: bytes) -> int:
        """The batches `Chain` writes when it opens a store whose tip is `raw_tip`."""
        height = reference.after[raw_tip].block.height
        if raw_tip in on_branch:
            return trigger_height - height
        return (height - FORK_HEIGHT) + (trigger_height - FORK_HEIGHT)

    def continue_to_branch_tip(datadir: Path) -> None:
        with Importer(datadir, blocks_file, logs) as child:
            child.finish()
        reopened = check_store(datadir, reference, rng, child.reported_blocks())
        assert reopened.tip == reference.branch[-1].hash
        with open_chain(datadir) as chain:
            assert chain.state_root == reference.branch[-1].header.state_root
            assert chain.block_at(FORK_HEIGHT).hash == reference.main[FORK_HEIGHT - 1].hash

    kill_points: list[str] = []
    inside = 0
    round_number = 0
    while round_number < REORG_ROUNDS or (inside == 0 and round_number < MAX_REORG_ROUNDS):
        round_number += 1
        datadir = tmp_path / f"reorg-{round_number}"
        shutil.copytree(base, datadir)
        moment, count = random_batch_moment(rng, reorg_writes)
        with Importer(datadir, blocks_file, logs) as child:
            child.wait_for(is_batch_line(moment, count))
            child.kill()
        # A copy of the store as the crash left it, for a second crash during recovery.
        crashed = tmp_path / f"reorg-{round_number}-crashed"
        shutil.copytree(datadir, crashed)
        reopened = check_store(datadir, reference, rng, child.reported_blocks())
        raw_tip = reopened.raw_tip
        # Inside: the trigger block was stored but the reorganisation not finished, so the
        # recovery had to finish it.
        landed_inside = raw_tip != reopened.tip
        inside += landed_inside
        kill_points.append(
            f"reorg round {round_number}: killed at '{moment} {count}' of {reorg_writes} batches; "
            f"store at {reference.label(raw_tip)}"
            f"{' (an interrupted reorganisation)' if landed_inside else ''}, "
            f"recovered to {reference.label(reopened.tip)}"
        )
        # The node continues: importing the rest converges to the branch tip.
        continue_to_branch_tip(datadir)

        # The same crashed store, opened by the child and killed again while `Chain` finishes
        # the reorganisation in its recovery.
        remaining = recovery_writes(raw_tip) if landed_inside else 0
        if remaining >= 1:
            moment, count = random_batch_moment(rng, remaining)
            with Importer(crashed, blocks_file, logs) as child:
                line = child.wait_for(is_batch_line(moment, count, or_open=True))
                child.kill()
            assert not line.startswith("open "), f"the recovery wrote fewer than {count} batches"
            again = check_store(crashed, reference, rng, child.reported_blocks())
            kill_points.append(
                f"  then killed in its recovery at '{moment} {count}' of {remaining} batches; "
                f"store at {reference.label(again.raw_tip)}, "
                f"recovered to {reference.label(again.tip)}"
            )
            continue_to_branch_tip(crashed)
        shutil.rmtree(datadir)
        shutil.rmtree(crashed)
    print("\n".join(["", *kill_points]))
    assert inside > 0, "no kill landed inside a reorganisation:\n" + "\n".join(kill_points)
