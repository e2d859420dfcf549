"""Signature verification that runs beside the caller: `start` now, `first_invalid` later.

A block's signatures need not be checked before its transactions are executed, only before
anything is stored (docs/ledger.md, "Validation order"). Threads cannot overlap the two: a
verifying thread needs the GIL back after every libsecp256k1 call and waits out the
interpreter's switch interval while the main thread runs Python. A separate *process* can, so
on a machine with more than one core the node verifies each large batch in a child process
while its main thread executes the block, and collects the verdict before the write.

- `InlineVerifier` checks the batch in `start`, with threads on all cores
  (`keys.first_invalid_signature`); a one-core machine and a small batch use it.
- `ProcessVerifier` owns one child process, `python -m pacata.chain.signature_worker`, started on
  first use and ended (by its pid) in `close` or at exit. It serves one batch at a time; a
  second caller meanwhile, a batch smaller than `min_batch` or a child that died or stalled is
  verified inline, so the verdict never depends on the child being there.

Wire format on the child's stdin/stdout: a request is a little-endian u32 count and that many
129-byte items (33-byte public key, 32-byte digest, 64-byte signature); the reply is a
little-endian i32, the index of the first item that does not verify or -1.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import BinaryIO, Protocol

from pacata.chain.keys import (
    DIGEST_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    first_invalid_signature,
)

log = logging.getLogger(__name__)

SignatureItem = tuple[bytes, bytes, bytes]
ITEM_SIZE = PUBLIC_KEY_SIZE + DIGEST_SIZE + SIGNATURE_SIZE
_COUNT = struct.Struct("<I")
_VERDICT = struct.Struct("<i")
# Below this many signatures the round trip to the child costs more than it hides.
DEFAULT_MIN_BATCH = 128
# How long a verdict may take before the child is taken for stuck (a block holds at most a few
# thousand signatures, which take well under a second).
DEFAULT_TIMEOUT_S = 30.0


class PendingSignatures(Protocol):
    def first_invalid(self) -> int | None:
        """Waits for the verdict: the index of the first bad signature, or None. Call it once."""
        ...


class SignatureVerifier(Protocol):
    def start(self, items: Sequence[SignatureItem]) -> PendingSignatures:
        """Begins checking (public key, digest, signature) items; the caller must collect."""
        ...


class _Decided:
    """A verdict already reached."""

    __slots__ = ("_bad", "_collected")

    def __init__(self, bad: int | None) -> None:
        self._bad = bad
        self._collected = False

    def first_invalid(self) -> int | None:
        if self._collected:
            raise RuntimeError("a verdict is collected once")
        self._collected = True
        return self._bad


class InlineVerifier:
    """Verifies in `start`, on all cores (threads)."""

    def start(self, items: Sequence[SignatureItem]) -> PendingSignatures:
        return _Decided(first_invalid_signature(items))


def _encode_request(items: Sequence[SignatureItem]) -> bytes | None:
    """The request for `items`, or None if an item has a field of the wrong size (no signature
    of such an item is valid, and the inline check says which one it is)."""
    for public_key, digest, signature in items:
        if (
            len(public_key) != PUBLIC_KEY_SIZE
            or len(digest) != DIGEST_SIZE
            or len(signature) != SIGNATURE_SIZE
        ):
            return None
    return _COUNT.pack(len(items)) + b"".join(
        public_key + digest + signature for public_key, digest, signature in items
    )


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
    ) -> None:
        # The caller's thread keeps one core busy, so the child takes the others (at least one).
        self.threads = threads or max(1, (os.cpu_count() or 1) - 1)
        self.min_batch = min_batch
        self.timeout_s = timeout_s
        self._busy = threading.Lock()
        self._child: subprocess.Popen[bytes] | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        """The child's process id, while it runs."""
        return self._child.pid if self._child is not None else None

    def start(self, items: Sequence[SignatureItem]) -> PendingSignatures:
        if len(items) < self.min_batch or self._closed:
            return _Decided(first_invalid_signature(items))
        request = _encode_request(items)
        if request is None or not self._busy.acquire(blocking=False):
            return _Decided(first_invalid_signature(items))
        try:
            self._send(request)
        except (OSError, TimeoutError) as exc:
            self._discard_child(f"could not send a batch to the verifier process: {exc}")
            self._busy.release()
            return _Decided(first_invalid_signature(items))
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
        try:
            try:
                reply = self._read_verdict()
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
        (bad,) = _VERDICT.unpack(reply)
        if not -1 <= bad < len(items):
            self._discard_child(f"the verifier process answered {bad} for {len(items)} items")
            return first_invalid_signature(items)
        return None if bad < 0 else bad

    def _read_verdict(self) -> bytes | None:
        child = self._child
        if child is None or child.stdout is None:
            return None
        fd = child.stdout.fileno()
        reply = b""
        deadline = time.monotonic() + self.timeout_s
        while len(reply) < _VERDICT.size:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._discard_child(f"the verifier process gave no verdict in {self.timeout_s} s")
                return None
            chunk = os.read(fd, _VERDICT.size - len(reply))
            if not chunk:
                self._discard_child("the verifier process exited")
                return None
            reply += chunk
        return reply

    def _running_child_stdin(self) -> int:
        if self._child is None:
            self._child = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self.threads)],
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


# -- the child ---------------------------------------------------------------------------------


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


def serve(requests: BinaryIO, replies: BinaryIO, threads: int) -> None:
    """Answers requests until the input ends."""
    while (head := _read_exactly(requests, _COUNT.size)) is not None:
        (count,) = _COUNT.unpack(head)
        body = _read_exactly(requests, count * ITEM_SIZE)
        if body is None:
            return
        items = [
            (
                body[at : at + PUBLIC_KEY_SIZE],
                body[at + PUBLIC_KEY_SIZE : at + PUBLIC_KEY_SIZE + DIGEST_SIZE],
                body[at + PUBLIC_KEY_SIZE + DIGEST_SIZE : at + ITEM_SIZE],
            )
            for at in range(0, len(body), ITEM_SIZE)
        ]
        bad = first_invalid_signature(items, threads)
        replies.write(_VERDICT.pack(-1 if bad is None else bad))
        replies.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    threads = int(args[0]) if args else 1
    serve(sys.stdin.buffer, sys.stdout.buffer, threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
