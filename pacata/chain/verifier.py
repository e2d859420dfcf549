"""How a chain has its transaction signatures checked: `start` now, `first_invalid` later.

A block's signatures need not be checked before its transactions are executed, only before
anything is stored (docs/ledger.md, "Validation order"), so `Chain` hands each block's batch to
a `SignatureVerifier` and collects the verdict just before the write.

`InlineVerifier`, the chain's default, checks the batch in `start` (`keys.first_invalid_signature`),
in the caller's process: a wallet or an explorer that opens a chain starts no child process. The
node injects a verifier that overlaps the check with execution in a child process
(`pacata/node/signature_process.py`, which runs `signature_worker.serve`); it keeps this module's
protocol, so the chain cannot tell the two apart except by the time a block takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pacata.chain.keys import first_invalid_signature

SignatureItem = tuple[bytes, bytes, bytes]


class PendingSignatures(Protocol):
    def first_invalid(self) -> int | None:
        """Waits for the verdict: the index of the first bad signature, or None. Call it once."""
        ...


class SignatureVerifier(Protocol):
    def start(self, items: Sequence[SignatureItem]) -> PendingSignatures:
        """Begins checking (public key, digest, signature) items; the caller must collect."""
        ...


class Decided:
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
        return Decided(first_invalid_signature(items))
