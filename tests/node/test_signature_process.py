"""The node's signature verifier (pacata/node/signature_process.py) and the child it runs
(pacata/chain/signature_worker.py): `ProcessVerifier` gives the verdicts `InlineVerifier` and
`keys.first_invalid_signature` give, really uses its child and falls back to inline checking
whenever the child cannot answer, and `serve` speaks the wire format (requests, stops; verdicts)
the worker module describes."""

from __future__ import annotations

import io
import logging
import os
import random
import select
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from pacata.chain.genesis import shipped_genesis
from pacata.chain.keys import (
    first_invalid_signature,
    verify_signature,
)
from pacata.chain.signature_worker import CHUNK, serve
from pacata.chain.verifier import InlineVerifier, SignatureItem, SignatureVerifier
from pacata.node import daemon, signature_process
from pacata.node.signature_process import ProcessVerifier
from pacata.testing.signatures import (
    CURVE_ORDER,
    SAME_SIZE_SPOILS,
    WRONG_SIZE_SPOILS,
    digest_of,
    seeded_key,
    spoil,
)

BATCH_SIZE = 200
# Generous bounds for things that take milliseconds; a hang fails instead of blocking the run.
DEADLINE_S = 5.0
pytestmark = pytest.mark.timeout(30)

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="process checks read /proc"
)


@pytest.fixture(scope="module")
def batch() -> tuple[SignatureItem, ...]:
    keys = [seeded_key(i) for i in range(8)]
    items = []
    for i in range(BATCH_SIZE):
        private = keys[i % len(keys)]
        digest = digest_of(b"worker item %d" % i)
        items.append((private.public_key, digest, private.sign(digest)))
    return tuple(items)


def spoiled(items: Sequence[SignatureItem], positions: dict[int, str]) -> list[SignatureItem]:
    out = list(items)
    for position, how in positions.items():
        out[position] = spoil(out[position], how)
    return out


def reference_verdict(items: Sequence[SignatureItem]) -> int | None:
    """The first bad index by checking one signature after the other."""
    return next((i for i, item in enumerate(items) if not verify_signature(*item)), None)


# --- process helpers ------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of `pid`, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def is_live(pid: int) -> bool:
    """Whether `pid` is a process that has not exited (a zombie has)."""
    stat = proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def is_gone(pid: int) -> bool:
    """Whether `pid` has exited and been reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return proc_stat(pid) is None


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting until {what}")
        time.sleep(0.005)


def kill_if_our_child(pid: int | None) -> None:
    """Last-resort cleanup: resumes and kills `pid` if it is still a child of this process."""
    if pid is None:
        return
    stat = proc_stat(pid)
    if stat is None or stat[1] != os.getpid():
        return
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return


def end_verifier(verifier: ProcessVerifier, *stopped: int | None) -> None:
    """Teardown: resumes and kills the `stopped` children, closes `verifier`, then makes sure
    its child is gone."""
    for pid in stopped:
        kill_if_our_child(pid)
    pid = verifier.pid
    verifier.close()
    kill_if_our_child(pid)


def stop_the_child(verifier: ProcessVerifier, batch: Sequence[SignatureItem]) -> int:
    """Starts `verifier`'s child with `batch`, stops it with SIGSTOP; returns its pid."""
    assert verifier.start(batch).first_invalid() is None
    pid = verifier.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    wait_until(lambda: (proc_stat(pid) or ("",))[0] == "T", "the child is stopped")
    return pid


class InlineCalls:
    """Stands in for `first_invalid_signature` inside signature_process and counts its calls."""

    def __init__(self, allowed: bool = True) -> None:
        self.allowed = allowed
        self.calls = 0

    def __call__(self, items: Sequence[SignatureItem], threads: int | None = None) -> int | None:
        self.calls += 1
        assert self.allowed, "the batch was verified inline, not by the child"
        return first_invalid_signature(items, threads)


@pytest.fixture
def inline_calls(monkeypatch: pytest.MonkeyPatch) -> InlineCalls:
    calls = InlineCalls()
    monkeypatch.setattr(signature_process, "first_invalid_signature", calls)
    return calls


@pytest.fixture
def process_verifier() -> Iterator[ProcessVerifier]:
    # Unshared: these tests count the inline checks that stand in for the child.
    verifier = ProcessVerifier(min_batch=1, share=False)
    try:
        yield verifier
    finally:
        end_verifier(verifier)


# --- one contract, both verifiers -----------------------------------------------------------


@pytest.fixture(params=["inline", "process", "process-unshared"])
def verifier(request: pytest.FixtureRequest) -> Iterator[SignatureVerifier]:
    if request.param == "inline":
        yield InlineVerifier()
        return
    process = ProcessVerifier(min_batch=1, share=request.param == "process")
    try:
        yield process
    finally:
        end_verifier(process)


def verdict(verifier: SignatureVerifier, items: Sequence[SignatureItem]) -> int | None:
    bad = verifier.start(items).first_invalid()
    assert bad == first_invalid_signature(items)
    return bad


def test_all_valid_batch_has_no_bad_signature(
    verifier: SignatureVerifier, batch: tuple[SignatureItem, ...]
) -> None:
    assert verdict(verifier, batch) is None
    assert verdict(verifier, list(batch[:1])) is None
    if isinstance(verifier, ProcessVerifier):
        assert verifier.pid is not None  # a full-size batch went to the child


def test_empty_batch_has_no_bad_signature(verifier: SignatureVerifier) -> None:
    assert verifier.start([]).first_invalid() is None
    assert verifier.start(()).first_invalid() is None


@pytest.mark.parametrize("position", [0, 1, BATCH_SIZE // 2, BATCH_SIZE - 2, BATCH_SIZE - 1])
def test_one_bad_signature_is_found_where_it_is(
    verifier: SignatureVerifier, batch: tuple[SignatureItem, ...], position: int
) -> None:
    for how in SAME_SIZE_SPOILS:
        assert verdict(verifier, spoiled(batch, {position: how})) == position, how
    if isinstance(verifier, ProcessVerifier):
        assert verifier.pid is not None  # these batches went to the child


def test_several_bad_signatures_give_the_first(
    verifier: SignatureVerifier, batch: tuple[SignatureItem, ...]
) -> None:
    items = spoiled(batch, {150: "flipped bit", 37: "other key", 199: "high s", 90: "other digest"})
    assert verdict(verifier, items) == 37
    assert verdict(verifier, items[38:]) == 90 - 38


@pytest.mark.parametrize("how", WRONG_SIZE_SPOILS)
def test_item_with_a_wrong_size_field_is_bad(
    verifier: SignatureVerifier, batch: tuple[SignatureItem, ...], how: str
) -> None:
    for position in (0, 57, BATCH_SIZE - 1):
        assert verdict(verifier, spoiled(batch, {position: how})) == position
    # A wrong-size item after a bad signature does not hide the earlier one.
    assert verdict(verifier, spoiled(batch, {199: how, 3: "flipped bit"})) == 3


def test_high_s_signature_is_refused(
    verifier: SignatureVerifier, batch: tuple[SignatureItem, ...]
) -> None:
    signature = batch[5][2]
    high = spoil(batch[5], "high s")
    assert high != batch[5]
    assert int.from_bytes(high[2][32:], "big") > CURVE_ORDER // 2
    assert int.from_bytes(signature[32:], "big") <= CURVE_ORDER // 2
    assert verifier.start([high]).first_invalid() == 0
    assert verdict(verifier, [*batch[:5], high, *batch[6:]]) == 5


def test_verdicts_agree_with_first_invalid_signature_on_a_random_mix(
    verifier: SignatureVerifier, batch: tuple[SignatureItem, ...]
) -> None:
    rng = random.Random(20240611)
    spoils = [*SAME_SIZE_SPOILS, *WRONG_SIZE_SPOILS]
    found = set()
    for _ in range(40):
        items = [
            spoil(item, rng.choice(spoils)) if rng.random() < 0.03 else item
            for item in rng.sample(batch, rng.randint(0, 80))
        ]
        expected = reference_verdict(items)
        assert verifier.start(items).first_invalid() == expected
        assert first_invalid_signature(items) == expected
        found.add(expected is None)
    assert found == {True, False}  # the mix held both kinds of batches


# --- ProcessVerifier ------------------------------------------------------------------------


@needs_proc
def test_child_process_gives_the_verdict(
    batch: tuple[SignatureItem, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parent may not verify anything: only the child can answer.
    monkeypatch.setattr(signature_process, "first_invalid_signature", InlineCalls(allowed=False))
    verifier = ProcessVerifier(min_batch=BATCH_SIZE, share=False)
    try:
        assert verifier.pid is None
        assert verifier.start(batch).first_invalid() is None
        pid = verifier.pid
        assert pid is not None
        stat = proc_stat(pid)
        assert stat is not None
        assert is_live(pid)
        assert stat[1] == os.getpid()
        os.kill(pid, 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert b"pacata.chain.signature_worker" in cmdline
        items = spoiled(batch, {123: "high s", 160: "flipped bit"})
        assert verifier.start(items).first_invalid() == 123
        assert verifier.pid == pid  # one child serves batch after batch
    finally:
        end_verifier(verifier)


@needs_proc
def test_batch_below_min_batch_starts_no_child(
    batch: tuple[SignatureItem, ...], inline_calls: InlineCalls
) -> None:
    verifier = ProcessVerifier(min_batch=10, share=False)
    try:
        assert verifier.start(spoiled(batch[:9], {4: "other key"})).first_invalid() == 4
        assert verifier.start(batch[:9]).first_invalid() is None
        assert verifier.start([]).first_invalid() is None
        assert verifier.pid is None
        assert inline_calls.calls == 3
        assert verifier.start(spoiled(batch[:10], {9: "other key"})).first_invalid() == 9
        assert verifier.pid is not None
        assert inline_calls.calls == 3  # the batch of min_batch went to the child
    finally:
        end_verifier(verifier)


@pytest.mark.parametrize("how", WRONG_SIZE_SPOILS)
def test_batch_with_a_wrong_size_field_is_checked_inline(
    process_verifier: ProcessVerifier,
    batch: tuple[SignatureItem, ...],
    inline_calls: InlineCalls,
    how: str,
) -> None:
    assert process_verifier.start(spoiled(batch, {42: how})).first_invalid() == 42
    assert inline_calls.calls == 1
    assert process_verifier.pid is None  # no child was needed


def test_second_batch_while_the_first_is_uncollected_is_checked_inline(
    process_verifier: ProcessVerifier, batch: tuple[SignatureItem, ...], inline_calls: InlineCalls
) -> None:
    first = process_verifier.start(spoiled(batch, {3: "flipped bit"}))
    assert process_verifier.pid is not None
    assert inline_calls.calls == 0
    second = process_verifier.start(spoiled(batch, {7: "other digest"}))
    assert inline_calls.calls == 1
    # Collected out of order: had the second gone to the child too, it would read the first's
    # verdict.
    assert second.first_invalid() == 7
    assert first.first_invalid() == 3
    assert inline_calls.calls == 1
    # The child is free again once the first verdict is collected.
    assert process_verifier.start(spoiled(batch, {11: "high s"})).first_invalid() == 11
    assert inline_calls.calls == 1


def test_verdict_is_collected_once(
    process_verifier: ProcessVerifier, batch: tuple[SignatureItem, ...], inline_calls: InlineCalls
) -> None:
    pending = process_verifier.start(spoiled(batch, {8: "other key"}))
    assert pending.first_invalid() == 8
    with pytest.raises(RuntimeError, match="once"):
        pending.first_invalid()
    # The failed second call leaves the verifier usable, with its child.
    assert process_verifier.start(batch).first_invalid() is None
    assert inline_calls.calls == 0


@needs_proc
def test_killed_child_is_replaced_and_its_batch_checked_inline(
    process_verifier: ProcessVerifier,
    batch: tuple[SignatureItem, ...],
    inline_calls: InlineCalls,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert process_verifier.start(batch).first_invalid() is None
    pid = process_verifier.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not is_live(pid), f"the killed child {pid} has exited")
    with caplog.at_level(logging.WARNING, logger=signature_process.__name__):
        assert process_verifier.start(spoiled(batch, {66: "flipped bit"})).first_invalid() == 66
    assert inline_calls.calls == 1
    assert any("verifying inline" in record.getMessage() for record in caplog.records)
    assert process_verifier.pid is None
    assert is_gone(pid)  # reaped, not left a zombie
    # The next batch starts a new child, which answers it.
    inline_calls.allowed = False
    assert process_verifier.start(spoiled(batch, {67: "other digest"})).first_invalid() == 67
    new_pid = process_verifier.pid
    assert new_pid is not None
    assert new_pid != pid
    assert is_live(new_pid)


# About 5.5 s: after the timeout, `_end` gives the stalled child 5 s to exit on EOF before it
# kills it, and the verdict waits for that.
@needs_proc
def test_stalled_child_times_out_and_is_ended(
    batch: tuple[SignatureItem, ...], inline_calls: InlineCalls
) -> None:
    timeout_s = 0.5
    verifier = ProcessVerifier(min_batch=1, timeout_s=timeout_s, share=False)
    stopped: int | None = None
    try:
        stopped = pid = stop_the_child(verifier, batch)
        begun = time.monotonic()
        assert verifier.start(spoiled(batch, {99: "high s"})).first_invalid() == 99
        elapsed = time.monotonic() - begun
        assert elapsed >= timeout_s  # it waited for the child, then gave up
        assert elapsed < timeout_s + 10  # not the default 30 s timeout
        assert inline_calls.calls == 1
        assert verifier.pid is None
        wait_until(lambda: is_gone(pid), f"the stalled child {pid} is gone")
        # A new child serves the next batch.
        inline_calls.allowed = False
        assert verifier.start(spoiled(batch, {100: "other key"})).first_invalid() == 100
        assert verifier.pid not in (None, pid)
    finally:
        end_verifier(verifier, stopped)


@needs_proc
def test_a_stalled_child_cannot_block_the_sending_of_a_large_batch(
    batch: tuple[SignatureItem, ...], inline_calls: InlineCalls
) -> None:
    """A request larger than a pipe holds: `start` gives up after `timeout_s` too."""
    timeout_s = 0.5
    verifier = ProcessVerifier(min_batch=1, timeout_s=timeout_s, share=False)
    large = list(batch) * 6  # 1,200 items, about 155 KB: more than a 64 KiB pipe
    stopped: int | None = None
    try:
        stopped = pid = stop_the_child(verifier, batch)
        begun = time.monotonic()
        pending = verifier.start(spoiled(large, {1_100: "flipped bit"}))
        assert time.monotonic() - begun < timeout_s + 10
        assert pending.first_invalid() == 1_100
        assert inline_calls.calls == 1
        wait_until(lambda: is_gone(pid), f"the stalled child {pid} is gone")
    finally:
        end_verifier(verifier, stopped)


def test_an_interrupted_wait_leaves_no_stale_verdict_for_the_next_batch(
    batch: tuple[SignatureItem, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = ProcessVerifier(min_batch=1)
    real_select = select.select
    interrupted: list[bool] = []

    def select_once_interrupted(*args: object) -> object:
        if not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt
        return real_select(*args)  # type: ignore[arg-type]

    try:
        assert verifier.start(batch).first_invalid() is None  # the child runs
        pending = verifier.start(spoiled(batch, {5: "flipped bit"}))
        monkeypatch.setattr(select, "select", select_once_interrupted)
        with pytest.raises(KeyboardInterrupt):
            pending.first_invalid()
        monkeypatch.setattr(select, "select", real_select)
        # The answer "5" to the interrupted batch must not be taken for this one's.
        assert verifier.start(batch).first_invalid() is None
        assert verifier.start(spoiled(batch, {7: "flipped bit"})).first_invalid() == 7
    finally:
        verifier.close()


@needs_proc
def test_close_ends_the_child_and_later_batches_are_checked_inline(
    batch: tuple[SignatureItem, ...], inline_calls: InlineCalls
) -> None:
    verifier = ProcessVerifier(min_batch=1, share=False)
    pid: int | None = None
    try:
        assert verifier.start(batch).first_invalid() is None
        pid = verifier.pid
        assert pid is not None
        assert is_live(pid)
        verifier.close()
        assert verifier.pid is None
        assert is_gone(pid)  # close waited for it
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert inline_calls.calls == 0
        assert verifier.start(spoiled(batch, {150: "flipped bit"})).first_invalid() == 150
        assert verifier.start(batch).first_invalid() is None
        assert inline_calls.calls == 2
        assert verifier.pid is None  # no new child after close
        verifier.close()  # a second close is harmless
        assert verifier.pid is None
    finally:
        verifier.close()
        kill_if_our_child(pid)


# --- serve (the child's loop) ---------------------------------------------------------------


def request(items: Sequence[SignatureItem]) -> bytes:
    return b"R" + struct.pack("<I", len(items)) + b"".join(a + b + c for a, b, c in items)


def stop(index: int) -> bytes:
    return b"S" + struct.pack("<I", index)


def reply(bad: int, checked: int) -> bytes:
    return struct.pack("<iI", bad, checked)


def serve_bytes(data: bytes) -> bytes:
    requests, replies = io.BytesIO(data), io.BytesIO()
    with requests, replies:
        serve(requests, replies, 1)
        return replies.getvalue()


def test_serve_answers_each_request_in_turn(batch: tuple[SignatureItem, ...]) -> None:
    bad = spoiled(batch[:20], {13: "high s", 17: "flipped bit"})
    replies = serve_bytes(request(batch[:20]) + request(bad))
    assert replies == reply(-1, 20) + reply(13, 14)
    assert struct.unpack("<iIiI", replies) == (-1, 20, 13, 14)
    assert serve_bytes(request([]) + request(batch[:1]) + request(bad[13:])) == (
        reply(-1, 0) + reply(-1, 1) + reply(0, 1)
    )


def test_serve_with_no_input_answers_nothing() -> None:
    assert serve_bytes(b"") == b""


@pytest.mark.parametrize("cut", [1, 3, 5, 6, 5 + 129, 5 + 3 * 129 - 1])
def test_serve_stops_without_a_reply_at_a_truncated_request(
    batch: tuple[SignatureItem, ...], cut: int
) -> None:
    whole = request(batch[:3])
    assert len(whole) == 5 + 3 * 129
    assert serve_bytes(whole[:cut]) == b""
    # Earlier whole requests are answered; the truncated one ends the loop.
    bad = spoiled(batch[:3], {1: "other key"})
    assert serve_bytes(request(bad) + whole[:cut]) == reply(1, 2)


# --- sharing: the caller checks from the back while it waits ----------------------------------


def test_serve_stops_where_a_stop_says(batch: tuple[SignatureItem, ...]) -> None:
    assert serve_bytes(request(batch) + stop(64)) == reply(-1, 64)
    bad = spoiled(batch, {100: "flipped bit"})
    # The caller checks from 64 on: the bad item there is its to find, not the child's.
    assert serve_bytes(request(bad) + stop(64)) == reply(-1, 64)
    assert serve_bytes(request(bad) + stop(150)) == reply(100, 101)
    # The child stops at the lowest stop it has read (looking after each chunk).
    assert serve_bytes(request(batch) + stop(150) + stop(70) + stop(90)) == reply(-1, 70)
    assert serve_bytes(request(batch) + stop(10)) == reply(-1, 64)


def test_serve_passes_over_stops_left_from_an_earlier_batch(
    batch: tuple[SignatureItem, ...],
) -> None:
    assert serve_bytes(stop(3) + request(batch[:10])) == reply(-1, 10)
    assert serve_bytes(request(batch[:10]) + stop(3) + stop(0) + request(batch[:20])) == (
        reply(-1, 10) + reply(-1, 20)
    )
    # A stop cut short by the end of the input ends the loop like a cut request.
    assert serve_bytes(request(batch[:5]) + stop(1)[:3]) == reply(-1, 5)


def test_serve_refuses_an_unknown_message(batch: tuple[SignatureItem, ...]) -> None:
    with pytest.raises(ValueError, match="unknown message"):
        serve_bytes(b"X" + request(batch[:2]))


@pytest.fixture(scope="module")
def pipe_sized_batch() -> tuple[SignatureItem, ...]:
    """Fits the child's input pipe whole (64 KiB), so a stopped child still takes it."""
    keys = [seeded_key(i) for i in range(8)]
    items = []
    for i in range(6 * CHUNK + 16):
        digest = digest_of(b"shared item %d" % i)
        items.append((keys[i % 8].public_key, digest, keys[i % 8].sign(digest)))
    return tuple(items)


@needs_proc
@pytest.mark.parametrize(
    ("bad_at", "caller_checked"),
    [
        ({}, 400),  # everything: the child was stopped the whole time
        ({300: "high s"}, 400 - 272),  # down to the chunk of its bad item
        ({10: "other key", 300: "high s"}, 400 - 272),  # the child's lower bad item wins
    ],
)
def test_the_caller_checks_from_the_back_while_the_child_cannot(
    pipe_sized_batch: tuple[SignatureItem, ...],
    bad_at: dict[int, str],
    caller_checked: int,
) -> None:
    items = spoiled(pipe_sized_batch, bad_at)
    assert len(items) == 400
    verifier = ProcessVerifier(min_batch=1, threads=1)
    stops: list[int] = []
    send_stop = verifier._send_stop

    def recorded(index: int) -> None:
        stops.append(index)
        send_stop(index)

    verifier._send_stop = recorded  # type: ignore[method-assign]
    pid = stop_the_child(verifier, pipe_sized_batch[:8])
    stops.clear()  # the warm-up batch's
    outcome: list[int | None] = []
    try:
        pending = verifier.start(items)
        waiter = threading.Thread(target=lambda: outcome.append(pending.first_invalid()))
        waiter.start()
        last_stop = 400 - caller_checked
        wait_until(lambda: last_stop in stops, f"the caller has checked down to {last_stop}")
        os.kill(pid, signal.SIGCONT)
        waiter.join(DEADLINE_S)
        assert not waiter.is_alive()
        assert outcome == [reference_verdict(items)]
        assert verifier.caller_checked == caller_checked
        # One stop after each chunk, from the back down.
        expected = [max(0, 400 - 64 * k) for k in range(1, 8)]
        assert stops == expected[: expected.index(last_stop) + 1]
        # The child's answer was taken: the same child serves the next batch.
        assert verifier.pid == pid
        assert verifier.start(items).first_invalid() == reference_verdict(items)
    finally:
        end_verifier(verifier, pid)


@needs_proc
def test_a_shared_batch_gets_the_verdict_of_a_plain_one(
    batch: tuple[SignatureItem, ...],
) -> None:
    verifier = ProcessVerifier(min_batch=1, threads=1)
    try:
        for positions in (
            {},
            {0: "flipped bit"},
            {199: "high s"},
            {57: "other key", 130: "high s"},
        ):
            items = spoiled(batch, positions)
            assert verifier.start(items).first_invalid() == reference_verdict(items)
            assert 0 <= verifier.caller_checked <= len(items)
    finally:
        end_verifier(verifier)


# --- who uses it ----------------------------------------------------------------------------


def test_the_daemon_opens_its_chain_with_the_node_verifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bare `Chain` verifies inline; the daemon injects the node's verifier.
    injected = InlineVerifier()
    monkeypatch.setattr(daemon, "default_verifier", lambda: injected)
    chain = daemon.open_chain(tmp_path, shipped_genesis("devnet"))
    try:
        assert chain.verifier is injected
    finally:
        chain.kv.close()
