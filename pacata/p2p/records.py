"""Signed node records: what a node says about itself to peers, the DHT and gossip (docs/p2p.md
§Node records).

Rules:
- A node is named by its node id, `node_id_of(public_key)` = SHA-256 of its compressed
  secp256k1 key (the DHT keys records by the same id).
- A record carries a sequence number, the node's endpoints (transport, host, port), its
  WireGuard X25519 public key and its relay flag, and is signed by the node key over every
  other field. `decode` checks the encoding only; `verify` checks the signature.
- Newest wins: of two valid records of one node the higher sequence number wins; at an equal
  sequence number with different content the record already held stays (`supersedes`), so a
  node that re-signs without bumping its sequence number cannot flip-flop its peers.
- Bounded so that any valid record is a DHT value: at most `MAX_ENDPOINTS` endpoints with hosts
  of at most `MAX_HOST_BYTES`, so an encoding is at most `MAX_RECORD_BYTES` (974) bytes, within
  the DHT's 1024-byte values (`dht_messages.MAX_VALUE_SIZE`); `decode` refuses longer input.
- In the DHT a record is stored under its node id: `validate_record_value` and
  `newer_record_value` are the DHT's validator and comparator for them (docs/p2p-udp.md).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import ClassVar, Self

from pacata.chain.codec import MAX_U64, Reader, WireObject, Writer, encode_uvarint
from pacata.chain.hashing import sha256, tagged_hash
from pacata.chain.keys import (
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    PrivateKey,
    check_public_key,
    verify_signature,
)
from pacata.errors import DecodeError

RECORD_VERSION = 1
NODE_ID_SIZE = 32
WIREGUARD_KEY_SIZE = 32
MAX_ENDPOINTS = 8
# An IP address (at most 45 characters as text) or a DNS name of at most 100 bytes: with the
# full 253 of DNS, eight endpoints would not fit a DHT value (docs/p2p.md §Node records).
MAX_HOST_BYTES = 100
MAX_ENDPOINT_BYTES = 1 + len(encode_uvarint(MAX_HOST_BYTES)) + MAX_HOST_BYTES + 2
MAX_RECORD_BYTES = (
    1  # version
    + PUBLIC_KEY_SIZE
    + len(encode_uvarint(MAX_U64))  # seq
    + len(encode_uvarint(MAX_ENDPOINTS))
    + MAX_ENDPOINTS * MAX_ENDPOINT_BYTES
    + WIREGUARD_KEY_SIZE
    + 1  # relay
    + SIGNATURE_SIZE
)
_RECORD_SIGNING_TAG = b"pacata/node-record/v1"


def node_id_of(public_key: bytes) -> bytes:
    """The node id of a compressed secp256k1 public key: its SHA-256 (32 bytes)."""
    return sha256(public_key)


class Transport(IntEnum):
    TCP = 1
    UDP = 2


@dataclass(frozen=True, slots=True)
class Endpoint(WireObject):
    """One address a node can be reached at: `tcp` for the peer transport, `udp` for the rest."""

    transport: Transport
    host: str
    port: int

    def __post_init__(self) -> None:
        if not self.host or len(self.host.encode("utf-8")) > MAX_HOST_BYTES:
            raise ValueError(f"endpoint host must be 1-{MAX_HOST_BYTES} bytes")
        if not 1 <= self.port <= 0xFFFF:
            raise ValueError(f"endpoint port {self.port} is not within 1-65535")

    @property
    def is_unspecified(self) -> bool:
        """True for 0.0.0.0 or ::, which say "the address you see me at"."""
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False

    def write_to(self, writer: Writer) -> None:
        writer.u8(self.transport)
        writer.text(self.host, MAX_HOST_BYTES)
        writer.u16(self.port)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        code = reader.u8()
        try:
            transport = Transport(code)
        except ValueError:
            raise DecodeError(f"unknown endpoint transport {code}") from None
        return cls(transport, reader.text(MAX_HOST_BYTES), reader.u16())

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.transport.name.lower()}://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class NodeRecord(WireObject):
    MAX_ENCODED_SIZE: ClassVar[int | None] = MAX_RECORD_BYTES

    public_key: bytes
    seq: int
    endpoints: tuple[Endpoint, ...]
    wireguard_key: bytes
    relay: bool
    signature: bytes = bytes(SIGNATURE_SIZE)
    version: int = RECORD_VERSION

    def __post_init__(self) -> None:
        if len(self.wireguard_key) != WIREGUARD_KEY_SIZE:
            raise ValueError(f"a WireGuard key is {WIREGUARD_KEY_SIZE} bytes")
        if len(self.endpoints) > MAX_ENDPOINTS:
            raise ValueError(f"at most {MAX_ENDPOINTS} endpoints")

    @classmethod
    def create(
        cls,
        key: PrivateKey,
        seq: int,
        endpoints: tuple[Endpoint, ...],
        wireguard_key: bytes,
        *,
        relay: bool = False,
    ) -> NodeRecord:
        """A record of `key`'s node, signed."""
        unsigned = cls(key.public_key, seq, endpoints, wireguard_key, relay)
        return replace(unsigned, signature=key.sign(unsigned.signing_digest()))

    @property
    def node_id(self) -> bytes:
        return node_id_of(self.public_key)

    def _write_unsigned(self, writer: Writer) -> None:
        writer.u8(self.version)
        writer.fixed(self.public_key, PUBLIC_KEY_SIZE)
        writer.uvarint(self.seq)
        writer.sequence(self.endpoints, MAX_ENDPOINTS, lambda e: e.write_to(writer))
        writer.fixed(self.wireguard_key, WIREGUARD_KEY_SIZE)
        writer.boolean(self.relay)

    def write_to(self, writer: Writer) -> None:
        self._write_unsigned(writer)
        writer.fixed(self.signature, SIGNATURE_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        version = reader.u8()
        if version != RECORD_VERSION:
            raise DecodeError(f"unknown node record version {version}")
        return cls(
            version=version,
            public_key=check_public_key(reader.fixed(PUBLIC_KEY_SIZE)),
            seq=reader.uvarint(),
            endpoints=reader.sequence(MAX_ENDPOINTS, lambda: Endpoint.read_from(reader)),
            wireguard_key=reader.fixed(WIREGUARD_KEY_SIZE),
            relay=reader.boolean(),
            signature=reader.fixed(SIGNATURE_SIZE),
        )

    def signing_digest(self) -> bytes:
        writer = Writer()
        self._write_unsigned(writer)
        return tagged_hash(_RECORD_SIGNING_TAG, writer.getvalue())

    def verify(self) -> bool:
        """True when the record is signed by the key it names."""
        return verify_signature(self.public_key, self.signing_digest(), self.signature)

    def endpoint(self, transport: Transport) -> Endpoint | None:
        """The first endpoint of `transport`, if any."""
        return next((e for e in self.endpoints if e.transport == transport), None)

    def supersedes(self, held: NodeRecord | None) -> bool:
        """Whether this record replaces `held` (another record of the same node): newest wins."""
        if held is None:
            return True
        if held.public_key != self.public_key:
            raise ValueError("records of two different nodes are not comparable")
        return self.seq > held.seq


def validate_record_value(key: bytes, value: bytes) -> bool:
    """The DHT's validator for node records: `value` decodes as a record that is signed by the
    key it names and whose node id is `key`. Never raises."""
    try:
        record = NodeRecord.decode(value)
    except DecodeError:
        return False
    return record.node_id == key and record.verify()


def newer_record_value(old: bytes, new: bytes) -> bool:
    """The DHT's comparator for node records: whether `new` replaces `old` under one node id
    (`decode(new).supersedes(decode(old))`). False for anything that is not two records of
    one node; never raises."""
    try:
        return NodeRecord.decode(new).supersedes(NodeRecord.decode(old))
    except (DecodeError, ValueError):
        return False


class RecordStore:
    """Verified records by node id, newest wins; bounded (the oldest learned goes first)."""

    def __init__(self, capacity: int = 4_096) -> None:
        self.capacity = capacity
        self._records: dict[bytes, NodeRecord] = {}

    def __len__(self) -> int:
        return len(self._records)

    def get(self, node_id: bytes) -> NodeRecord | None:
        return self._records.get(node_id)

    def records(self) -> list[NodeRecord]:
        return list(self._records.values())

    def offer(self, record: NodeRecord) -> bool:
        """Keeps `record` if it is validly signed and newer than the one held; True if kept."""
        node_id = record.node_id
        if not record.supersedes(self._records.get(node_id)) or not record.verify():
            return False
        self._records.pop(node_id, None)
        self._records[node_id] = record
        while len(self._records) > self.capacity:
            del self._records[next(iter(self._records))]
        return True
