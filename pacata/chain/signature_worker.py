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
- Work is shared: the child checks the batch from the front, in chunks; a caller that asks for
  the verdict before it has come checks chunks from the back meanwhile, and after each one tells
  the child where it may stop. When two cores run slower together than one alone (hyperthreads,
  a busy host), neither side waits on the other for long.

Wire format on the child's stdin/stdout (integers little-endian): a request is `R`, a u32 count
and that many 129-byte items (33-byte public key, 32-byte digest, 64-byte signature); a stop is
`S` and a u32 index: the items from there on are checked by the caller. The reply is an i32, the
index of the first item that does not verify or -1, and a u32: every item before it was checked
(the first bad index plus one, or at least the lowest stop the child read).
"""

from __future__ import annotations

import atexit
import contextlib
import io
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
_REQUEST = b"R"
_STOP = b"S"
_COUNT = struct.Struct("<I")
_VERDICT = struct.Struct("<iI")
# Signatures the child checks between looks for a stop, and the caller between looks for the
# verdict: about 2 ms each, so the two overlap by little when they meet.
CHUNK = 64
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
    return (
        _REQUEST
        + _COUNT.pack(len(items))
        + b"".join(public_key + digest + signature for public_key, digest, signature in items)
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
        bad, checked = _VERDICT.unpack(reply)
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
            os.write(child.stdin.fileno(), _STOP + _COUNT.pack(index))

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


class _Inbox:
    """The child's input: requests, read whole, and stops, looked for without waiting."""

    __slots__ = ("_buffer", "_ended", "_fd", "_stream")

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._ended = False
        try:
            self._fd: int | None = stream.fileno()
        except (OSError, io.UnsupportedOperation):
            self._fd = None  # an in-memory stream: everything it holds is there at once

    def _fill(self, wait: bool) -> None:
        if self._ended:
            return
        if self._fd is None:
            chunk = self._stream.read()
        elif wait or select.select([self._fd], [], [], 0)[0]:
            chunk = os.read(self._fd, 1 << 16)
        else:
            return
        if chunk:
            self._buffer += chunk
        else:
            self._ended = True

    def _take(self, size: int) -> bytes | None:
        """`size` bytes, waiting for them; None if the input ends first."""
        while len(self._buffer) < size and not self._ended:
            self._fill(wait=True)
        if len(self._buffer) < size:
            return None
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken

    def next_request(self) -> list[SignatureItem] | None:
        """The next request's items (stops left from the last batch are passed over); None at
        the end of the input, or if it ends inside a request."""
        while (kind := self._take(1)) == _STOP:
            if self._take(_COUNT.size) is None:
                return None
        if kind != _REQUEST:
            if kind is not None:
                raise ValueError(f"unknown message {kind!r} on the verifier's input")
            return None
        head = self._take(_COUNT.size)
        body = None if head is None else self._take(_COUNT.unpack(head)[0] * ITEM_SIZE)
        if body is None:
            return None
        return [
            (
                body[at : at + PUBLIC_KEY_SIZE],
                body[at + PUBLIC_KEY_SIZE : at + PUBLIC_KEY_SIZE + DIGEST_SIZE],
                body[at + PUBLIC_KEY_SIZE + DIGEST_SIZE : at + ITEM_SIZE],
            )
            for at in range(0, len(body), ITEM_SIZE)
        ]

    def stop_at(self, end: int) -> int:
        """`end`, or the lowest stop that has come since, without waiting. A request never
        comes while a batch is checked (the caller waits for its reply first)."""
        self._fill(wait=False)
        buffer = self._buffer
        size = 1 + _COUNT.size
        while len(buffer) >= size and buffer[:1] == _STOP:
            end = min(end, _COUNT.unpack_from(buffer, 1)[0])
            del buffer[:size]
        return end


def check_until_stopped(
    items: Sequence[SignatureItem], inbox: _Inbox, threads: int
) -> tuple[int | None, int]:
    """(first bad index or None, how many items from the front were checked), looking for a
    stop after each chunk."""
    chunk = CHUNK if threads <= 1 else 2 * CHUNK * threads
    end = len(items)
    done = 0
    while done < end:
        upto = min(done + chunk, end)
        bad = first_invalid_signature(items[done:upto], threads)
        if bad is not None:
            return done + bad, done + bad + 1
        done = upto
        end = inbox.stop_at(end)
    return None, done


def serve(requests: BinaryIO, replies: BinaryIO, threads: int) -> None:
    """Answers requests until the input ends."""
    inbox = _Inbox(requests)
    while (items := inbox.next_request()) is not None:
        bad, checked = check_until_stopped(items, inbox, threads)
        replies.write(_VERDICT.pack(-1 if bad is None else bad, checked))
        replies.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    threads = int(args[0]) if args else 1
    serve(sys.stdin.buffer, sys.stdout.buffer, threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
