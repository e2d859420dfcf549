"""The verifier process's side: checks the signature batches it reads, answers with verdicts.

The node overlaps signature verification with block execution by running this module in a
child process, `python -m pacata.chain.signature_worker` (`pacata/node/signature_process.py`
starts it, feeds it and falls back to inline checking; docs/ledger.md, "Validation order"). This
module starts nothing: `serve` reads requests from the stream it is given and writes verdicts to
the other, so it is tested on in-memory streams, and the chain's own verifier stays inline
(`verifier.py`).

Work is shared: the child checks the batch from the front, in chunks; a caller that asks for the
verdict before it has come checks chunks from the back meanwhile, and after each one tells the
child where it may stop. When two cores run slower together than one alone (hyperthreads, a busy
host), neither side waits on the other for long.

Wire format on the child's stdin/stdout (integers little-endian): a request is `R`, a u32 count
and that many 129-byte items (33-byte public key, 32-byte digest, 64-byte signature); a stop is
`S` and a u32 index: the items from there on are checked by the caller. The reply is an i32, the
index of the first item that does not verify or -1, and a u32: every item before it was checked
(the first bad index plus one, or at least the lowest stop the child read).
"""

from __future__ import annotations

import io
import os
import select
import struct
import sys
from collections.abc import Sequence
from typing import BinaryIO

from pacata.chain.keys import (
    DIGEST_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    first_invalid_signature,
)
from pacata.chain.verifier import SignatureItem

ITEM_SIZE = PUBLIC_KEY_SIZE + DIGEST_SIZE + SIGNATURE_SIZE
REQUEST = b"R"
STOP = b"S"
COUNT = struct.Struct("<I")
VERDICT = struct.Struct("<iI")
# Signatures the child checks between looks for a stop, and the caller between looks for the
# verdict: about 2 ms each, so the two overlap by little when they meet.
CHUNK = 64


def encode_request(items: Sequence[SignatureItem]) -> bytes | None:
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
        REQUEST
        + COUNT.pack(len(items))
        + b"".join(public_key + digest + signature for public_key, digest, signature in items)
    )


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
        while (kind := self._take(1)) == STOP:
            if self._take(COUNT.size) is None:
                return None
        if kind != REQUEST:
            if kind is not None:
                raise ValueError(f"unknown message {kind!r} on the verifier's input")
            return None
        head = self._take(COUNT.size)
        body = None if head is None else self._take(COUNT.unpack(head)[0] * ITEM_SIZE)
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
        size = 1 + COUNT.size
        while len(buffer) >= size and buffer[:1] == STOP:
            end = min(end, COUNT.unpack_from(buffer, 1)[0])
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
        replies.write(VERDICT.pack(-1 if bad is None else bad, checked))
        replies.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    threads = int(args[0]) if args else 1
    serve(sys.stdin.buffer, sys.stdout.buffer, threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
