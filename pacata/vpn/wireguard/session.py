"""Transport sessions: keypairs and their rotation (whitepaper §5.4.5–§5.4.6, §6.1–§6.2).

A `Keypair` is the outcome of one handshake: a sending key, a receiving key, the 64-bit sending
counter, the replay filter of the receiving side, and the two indices. It seals and opens
transport data; it is the hot path, so it keeps one ChaCha20Poly1305 object per key, packs
headers with `struct`, and builds no message objects per packet.

`Keypairs` holds a peer's three slots, as the Linux module does:

- `current` is the keypair we send with;
- `previous` still receives, so that packets in flight during a rekey are not lost;
- `next` is a keypair we derived as *responder*: we may not send with it until the initiator
  proves it holds it, by sending transport data under it. Then it becomes `current`.

Rules:

- When we are the initiator the new keypair becomes `current` at once (the response confirmed
  it); the old `current` becomes `previous`, unless an unconfirmed `next` was waiting, which then
  takes the `previous` slot instead (Linux `add_new_keypair`).
- When we are the responder the new keypair becomes `next`, and the old `previous` and `next`
  are dropped.
- Limits are checked by the caller (`peer.py`) against the keypair's `birth` and counters:
  REJECT_AFTER_TIME, REJECT_AFTER_MESSAGES. The counter is never reused: once it reaches the
  limit the keypair refuses to seal.
- Keys cannot be wiped from Python memory reliably; "zeroing" a keypair means dropping every
  reference to it and to its cipher objects.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pacata.vpn.wireguard.messages import TRANSPORT_HEADER, MessageType
from pacata.vpn.wireguard.replay import ReplayWindow

_NONCE = struct.Struct("<4xQ")
_PACK_NONCE = _NONCE.pack
_PACK_HEADER = TRANSPORT_HEADER.pack
_TRANSPORT = int(MessageType.TRANSPORT_DATA)
PADDING_MULTIPLE = 16
_ZERO_PADDING = bytes(PADDING_MULTIPLE)


def padded_size(size: int, mtu: int | None = None) -> int:
    """The size a plaintext of `size` bytes is padded to: the next multiple of 16, capped at the
    MTU (but never below `size`)."""
    padded = (size + PADDING_MULTIPLE - 1) & ~(PADDING_MULTIPLE - 1)
    if mtu is not None and padded > mtu:
        padded = max(mtu, size)
    return padded


class Keypair:
    """The symmetric state of one session, in both directions."""

    __slots__ = (
        "_opener",
        "_sealer",
        "birth",
        "is_initiator",
        "local_index",
        "receiving_valid",
        "remote_index",
        "replay",
        "sending_counter",
        "sending_valid",
    )

    def __init__(
        self,
        *,
        sending_key: bytes,
        receiving_key: bytes,
        is_initiator: bool,
        local_index: int,
        remote_index: int,
        birth: float,
        reject_after_messages: int,
    ) -> None:
        self._sealer = ChaCha20Poly1305(sending_key)
        self._opener = ChaCha20Poly1305(receiving_key)
        self.is_initiator = is_initiator
        self.local_index = local_index
        self.remote_index = remote_index
        self.birth = birth
        self.sending_counter = 0
        self.sending_valid = True
        self.receiving_valid = True
        self.replay = ReplayWindow(reject_after_messages)

    def seal(self, plaintext: bytes, mtu: int | None = None) -> bytes:
        """The transport message carrying `plaintext`, padded, under the next sending counter.

        The caller has checked that the counter is below REJECT_AFTER_MESSAGES.
        """
        counter = self.sending_counter
        self.sending_counter = counter + 1
        size = len(plaintext)
        padding = padded_size(size, mtu) - size
        if padding:
            plaintext = plaintext + _ZERO_PADDING[:padding]
        header = _PACK_HEADER(_TRANSPORT, self.remote_index, counter)
        return header + self._sealer.encrypt(_PACK_NONCE(counter), plaintext, None)

    def open(self, counter: int, message: bytes) -> bytes | None:
        """The padded plaintext of a transport `message` whose header carried `counter`, or
        None if it does not authenticate. The replay filter is *not* consulted here."""
        try:
            return self._opener.decrypt(
                _PACK_NONCE(counter), memoryview(message)[TRANSPORT_HEADER.size :], None
            )
        except InvalidTag:
            return None


class Keypairs:
    """A peer's current, previous and next keypairs."""

    __slots__ = ("current", "next", "previous")

    def __init__(self) -> None:
        self.current: Keypair | None = None
        self.previous: Keypair | None = None
        self.next: Keypair | None = None

    def __iter__(self) -> Iterator[Keypair]:
        for keypair in (self.current, self.previous, self.next):
            if keypair is not None:
                yield keypair

    def install(self, keypair: Keypair) -> list[Keypair]:
        """Puts a freshly derived keypair in its slot; returns the keypairs that fell out."""
        dropped: list[Keypair] = []
        if keypair.is_initiator:
            if self.next is not None:
                if self.previous is not None:
                    dropped.append(self.previous)
                self.previous = self.next
                self.next = None
                if self.current is not None:
                    dropped.append(self.current)
            else:
                if self.previous is not None:
                    dropped.append(self.previous)
                self.previous = self.current
            self.current = keypair
        else:
            if self.next is not None:
                dropped.append(self.next)
            if self.previous is not None:
                dropped.append(self.previous)
            self.next = keypair
            self.previous = None
        return dropped

    def confirm(self, keypair: Keypair) -> list[Keypair]:
        """`keypair` received authenticated data: if it was `next`, it becomes `current`.

        Returns the keypairs that fell out (a non-empty list or not, the caller learns from
        `self.current is keypair` whether a rotation happened).
        """
        if keypair is not self.next:
            return []
        dropped = [self.previous] if self.previous is not None else []
        self.previous = self.current
        self.current = keypair
        self.next = None
        return dropped

    def clear(self) -> list[Keypair]:
        dropped = list(self)
        self.current = self.previous = self.next = None
        return dropped
