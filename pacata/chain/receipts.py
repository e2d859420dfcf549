"""Bandwidth receipts: the client's signed, cumulative acknowledgement of a channel's traffic.

A receipt names the chain, the channel, the cumulative bytes carried and the cumulative amount
owed, and is signed by the channel's client account key. Cumulative, so only the newest matters
and a lost receipt loses nothing; the relay settles the newest one on chain (`CHANNEL_SETTLE`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE, tagged_hash
from pacata.chain.keys import SIGNATURE_SIZE, PrivateKey, verify_signature

MAX_CHAIN_ID_SIZE = 32
_RECEIPT_TAG = b"pacata/receipt/v1"


@dataclass(frozen=True, slots=True)
class Receipt(WireObject):
    chain_id: str
    channel_id: bytes
    cumulative_bytes: int
    cumulative_amount: int
    signature: bytes = bytes(SIGNATURE_SIZE)

    def _write_unsigned(self, writer: Writer) -> None:
        writer.text(self.chain_id, MAX_CHAIN_ID_SIZE)
        writer.fixed(self.channel_id, HASH_SIZE)
        writer.uvarint(self.cumulative_bytes)
        writer.uvarint(self.cumulative_amount)

    def write_to(self, writer: Writer) -> None:
        self._write_unsigned(writer)
        writer.fixed(self.signature, SIGNATURE_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            chain_id=reader.text(MAX_CHAIN_ID_SIZE),
            channel_id=reader.fixed(HASH_SIZE),
            cumulative_bytes=reader.uvarint(),
            cumulative_amount=reader.uvarint(),
            signature=reader.fixed(SIGNATURE_SIZE),
        )

    def signing_digest(self) -> bytes:
        writer = Writer()
        self._write_unsigned(writer)
        return tagged_hash(_RECEIPT_TAG, writer.getvalue())

    def signed(self, key: PrivateKey) -> Receipt:
        return Receipt(
            self.chain_id,
            self.channel_id,
            self.cumulative_bytes,
            self.cumulative_amount,
            key.sign(self.signing_digest()),
        )

    def verify(self, client_public_key: bytes) -> bool:
        return verify_signature(client_public_key, self.signing_digest(), self.signature)
