"""The node's signature verifier: one child process that checks large batches beside the caller.

A block's signatures need not be checked before its transactions are executed, only before
anything is stored (docs/ledger.md, "Validation order"). Threads cannot overlap the two: a
verifying thread needs the GIL back after every libsecp256k1 call and waits out the
interpreter's switch interval while the main thread runs Python. A separate *process* can, so
on a machine with more than one core the node verifies each large batch in a child process
while its main thread executes the block, and collects the verdict before the write.

A `Chain` verifies inline unless it is given a verifier (`pacata/chain/verifier.py`): a wallet
or an explorer that opens one starts no process. The daemon injects `default_verifier()`, and
the benchmarks that measure the node's block import do the same.

- `ProcessVerifier` owns one child process, `python -m pacata.chain.signature_worker` (the
  child's side and the wire format are there), started on first use and ended (by its pid) in
  `close` or at exit. It serves one batch at a time; a second caller meanwhile, a batch smaller
  than `min_batch` or a child that died or stalled is verified inline, so the verdict never
  depends on the child being there.
- While it waits for the verdict, the caller checks chunks from the back and tells the child
  where it may stop (`signature_worker`, "Work is shared").
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from pacata.chain import signature_worker
from pacata.chain.keys import first_invalid_signature
from pacata.chain.signature_worker import CHUNK, COUNT, STOP, VERDICT, encode_request
from pacata.chain.verifier import (
    Decided,
    InlineVerifier,
    PendingSignatures,
    SignatureItem,
    SignatureVerifier,
)

log = logging.getLogger(__name__)

# Below this many signatures the round trip to the child costs more than it hides.
DEFAULT_MIN_BATCH = 128
# How long a verdict may take before the child is taken for stuck (a block holds at most a few
# thousand signatures, which take well under a second).
DEFAULT_TIMEOUT_S = 30.0


class _InChild:
    """A batch the child is checking; `first_invalid` reads its verdict and frees the child."""

    __slots__ = ("_collected", "_items", "_verifier")

    def __init__(self, verifier: ProcessVerifier, items: Sequence[SignatureItem]) -> None:
        self._verifier = verifier
        self._items = items
        self._collected = False

    def first_invalid(self) -> int | None:
        if self._collected:
            raise RuntimeError("a verdict is collected once")
        self._collected = True
        return self._verifier._collect(self._items)


class ProcessVerifier:
    """Verifies large batches in one child process, overlapped with whatever the caller does."""

    def __init__(
        self,
        min_batch: int = DEFAULT_MIN_BATCH,
        threads: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        share: bool = True,
    ) -> None:
        # The caller's thread keeps one core busy, so the child takes the others (at least one).
        self.threads = threads or max(1, (os.cpu_count() or 1) - 1)
        self.min_batch = min_batch
        self.timeout_s = timeout_s
        # Whether the caller checks chunks from the back while it waits for the verdict.
        self.share = share
        # How many items of the last batch collected the caller checked itself.
        self.caller_checked = 0
        self._busy = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = False

    @property
    def busy(self) -> bool:
        """Whether a batch is out to the child and its verdict not yet collected (a batch
        started meanwhile is verified inline)."""
        return self._busy.locked()

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        return self._child.pid if self._child is not None else None

    def start(self, items: Sequence[SignatureItem]) -> PendingSignatures:
        if len(items) < self.min_batch or self._closed:
            return Decided(first_invalid_signature(items))
        request = encode_request(items)
        if request is None or not self._busy.acquire(blocking=False):
            return Decided(first_invalid_signature(items))
        try:
            self._send(request)
        except (OSError, TimeoutError) as exc:
            self._discard_child(f"could not send a batch to the verifier process: {exc}")
            self._busy.release()
            return Decided(first_invalid_signature(items))
        except BaseException:
            self._discard_child("sending a batch to the verifier process was interrupted")
            self._busy.release()
            raise
        return _InChild(self, items)

    def _send(self, request: bytes) -> None:
        fd = self._running_child_stdin()
        view = memoryview(request)
        deadline = time.monotonic() + self.timeout_s
        while view:
            # Its stdin does not block: a stalled child fills the pipe, and then the deadline
            # applies to sending as it does to the verdict.
            _, ready, _ = select.select([], [fd], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"the verifier process took no batch in {self.timeout_s} s")
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                continue

    def _collect(self, items: Sequence[SignatureItem]) -> int | None:
        own: tuple[int, int | None] = (len(items), None)
        self.caller_checked = 0
        try:
            try:
                reply, own = self._verdict_while_helping(items)
            except OSError as exc:
                self._discard_child(f"the verifier process failed: {exc}")
                reply = None
            except BaseException:
                # Its answer to this batch may still come, and must not be read as the next's.
                self._discard_child("waiting for the verifier process was interrupted")
                raise
        finally:
            self._busy.release()
        if reply is None:
            return first_invalid_signature(items)
        bad, checked = VERDICT.unpack(reply)
        helped_from, own_bad = own
        self.caller_checked = len(items) - helped_from
        # Every item is checked once the child's part reaches the caller's, or a bad one is found.
        if not (-1 <= bad < len(items) and checked <= len(items)) or (
            bad < 0 and checked < helped_from
        ):
            self._discard_child(
                f"the verifier process answered ({bad}, {checked}) for {len(items)} items"
            )
            return first_invalid_signature(items)
        found = [index for index in (None if bad < 0 else bad, own_bad) if index is not None]
        return min(found, default=None)

    def _verdict_while_helping(
        self, items: Sequence[SignatureItem]
    ) -> tuple[bytes | None, tuple[int, int | None]]:
        """The child's reply, and (from, bad): the caller checked items [from, len) while it
        waited, and the first bad one there (None if all verify)."""
        start = len(items)
        own_bad: int | None = None
        reply: bytes | None = None
        while self.share and own_bad is None and start > 0:
            reply = self._read_verdict(wait=False)
            if reply is not None:
                break
            below = max(0, start - CHUNK)
            found = first_invalid_signature(items[below:start], 1)
            start = below
            if found is not None:
                own_bad = below + found
            self._send_stop(start)
        if reply is None:
            reply = self._read_verdict(wait=True)
        return reply, (start, own_bad)

    def _send_stop(self, index: int) -> None:
        """Tells the child it may stop at `index`; skipped if its input is full (a stalled
        child), which only means it checks more than it needs to."""
        child = self._child
        if child is None or child.stdin is None:
            return
        # At most PIPE_BUF bytes: written whole or not at all.
        with contextlib.suppress(BlockingIOError):
            os.write(child.stdin.fileno(), STOP + COUNT.pack(index))

    def _read_verdict(self, wait: bool) -> bytes | None:
        """The child's reply; without `wait`, None if it has not begun to come. A child that
        failed is discarded, and None returned."""
        child = self._child
        if child is None or child.stdout is None:
            return None
        fd = child.stdout.fileno()
        if not wait and not select.select([fd], [], [], 0)[0]:
            return None
        reply = b""
        deadline = time.monotonic() + self.timeout_s
        while len(reply) < VERDICT.size:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._discard_child(f"the verifier process gave no verdict in {self.timeout_s} s")
                return None
            chunk = os.read(fd, VERDICT.size - len(reply))
            if not chunk:
                self._discard_child("the verifier process exited")
                return None
            reply += chunk
        return reply

    def _running_child_stdin(self) -> int:
        if self._child is None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", signature_worker.__name__, str(self.threads)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                # Its own process group: a Ctrl-C meant for the node reaches the child only
                # through the node, which then closes it.
                start_new_session=True,
            )
            assert self._child.stdin is not None
            os.set_blocking(self._child.stdin.fileno(), False)
        assert self._child.stdin is not None
        return self._child.stdin.fileno()

    def _discard_child(self, reason: str) -> None:
        """Ends a child that failed, at once: it would not answer an end of input either."""
        child, self._child = self._child, None
        if child is None:
            return
        log.warning("%s; verifying inline and starting a new one for the next batch", reason)
        _end(child, grace_s=0.0)

    def close(self) -> None:
        """Ends the child; later batches are verified inline. A batch still in flight (never
        collected) is not waited for longer than `timeout_s`: its verdict is reached inline."""
        self._closed = True
        idle = self._busy.acquire(timeout=self.timeout_s)
        try:
            child, self._child = self._child, None
            if child is not None:
                _end(child, grace_s=5.0)
        finally:
            if idle:
                self._busy.release()


def _end(child: subprocess.Popen[bytes], grace_s: float) -> None:
    """Closes the child's pipes (the end of its input ends it) and, if it has not exited within
    `grace_s`, kills it by its pid; then reaps it."""
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    if grace_s > 0:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=grace_s)
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
        child.wait()


_shared: ProcessVerifier | None = None
_shared_lock = threading.Lock()


def default_verifier() -> SignatureVerifier:
    """The process-wide verifier: a child process on a machine with more than one core."""
    global _shared  # noqa: PLW0603 - one child per node process, made on first use
    if (os.cpu_count() or 1) <= 1:
        return InlineVerifier()
    with _shared_lock:
        if _shared is None:
            _shared = ProcessVerifier()
            atexit.register(_shared.close)
        return _shared
