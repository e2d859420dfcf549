"""Block headers: what a producer signs and what names a block.

A header commits to its parent (`prev_hash`), its transactions (`tx_root`, a Merkle root of
transaction ids) and the complete ledger state after the block (`state_root`). The producer
signs every other field; the block hash is the tagged hash of the whole signed header, so a
header has exactly one hash and a block exactly one header.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE, ZERO_HASH, tagged_hash
from pacata.chain.keys import (
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    PrivateKey,
    check_public_key,
    verify_signature,
)
from pacata.errors import DecodeError

HEADER_VERSION = 1
VRF_OUTPUT_SIZE = 64
VRF_PROOF_SIZE = 80
_HEADER_SIGNING_TAG = b"pacata/header-signature/v1"
_BLOCK_HASH_TAG = b"pacata/block/v1"


@dataclass(frozen=True, slots=True)
class BlockHeader(WireObject):
    height: int
    prev_hash: bytes
    slot: int
    timestamp_ms: int
    producer: bytes
    tx_root: bytes
    state_root: bytes
    vrf_output: bytes = bytes(VRF_OUTPUT_SIZE)
    vrf_proof: bytes = bytes(VRF_PROOF_SIZE)
    signature: bytes = bytes(SIGNATURE_SIZE)
    version: int = HEADER_VERSION

    def _write_unsigned(self, writer: Writer) -> None:
        writer.u8(self.version)
        writer.uvarint(self.height)
        writer.fixed(self.prev_hash, HASH_SIZE)
        writer.uvarint(self.slot)
        writer.uvarint(self.timestamp_ms)
        writer.fixed(self.producer, PUBLIC_KEY_SIZE)
        writer.fixed(self.vrf_output, VRF_OUTPUT_SIZE)
        writer.fixed(self.vrf_proof, VRF_PROOF_SIZE)
        writer.fixed(self.tx_root, HASH_SIZE)
        writer.fixed(self.state_root, HASH_SIZE)

    def write_to(self, writer: Writer) -> None:
        self._write_unsigned(writer)
        writer.fixed(self.signature, SIGNATURE_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        version = reader.u8()
        if version != HEADER_VERSION:
            raise DecodeError(f"unknown header version {version}")
        return cls(
            version=version,
            height=reader.uvarint(),
            prev_hash=reader.fixed(HASH_SIZE),
            slot=reader.uvarint(),
            timestamp_ms=reader.uvarint(),
            producer=check_public_key(reader.fixed(PUBLIC_KEY_SIZE)),
            vrf_output=reader.fixed(VRF_OUTPUT_SIZE),
            vrf_proof=reader.fixed(VRF_PROOF_SIZE),
            tx_root=reader.fixed(HASH_SIZE),
            state_root=reader.fixed(HASH_SIZE),
            signature=reader.fixed(SIGNATURE_SIZE),
        )

    def signing_digest(self) -> bytes:
        writer = Writer()
        self._write_unsigned(writer)
        return tagged_hash(_HEADER_SIGNING_TAG, writer.getvalue())

    @property
    def hash(self) -> bytes:
        return tagged_hash(_BLOCK_HASH_TAG, self.encode())

    @property
    def is_genesis(self) -> bool:
        return self.height == 0 and self.prev_hash == ZERO_HASH

    def signed(self, key: PrivateKey) -> BlockHeader:
        if key.public_key != self.producer:
            raise ValueError("a header is signed by its producer's key")
        return replace(self, signature=key.sign(self.signing_digest()))

    def has_valid_signature(self) -> bool:
        return verify_signature(self.producer, self.signing_digest(), self.signature)
