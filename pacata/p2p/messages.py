"""The messages of the peer protocol (docs/p2p.md §Messages).

A message is one byte of kind followed by its body, encoded with the ledger's canonical codec
(`pacata.chain.codec`). Every field has a bound, so decoding a message never allocates more
than its frame; `decode_message` refuses an unknown kind, a truncated body and trailing bytes
with `DecodeError`. Blocks and transactions travel as their own canonical encodings (opaque
bytes here): the receiver decodes and validates them, so a peer's bad block is a ledger
matter, a bad message a protocol one.

Bounds: `MAX_INVENTORY` hashes per announcement or request, `MAX_HEADERS` headers per reply,
`MAX_LOCATOR` locator hashes, one block per `BlockData`.

`Extension` carries the message of a sub-protocol (pacata/p2p/extensions.py): a name
(`SUBPROTOCOL_NAME`, at most `MAX_SUBPROTOCOL_NAME_BYTES`) and an opaque payload of at most
`MAX_EXTENSION_PAYLOAD` bytes, which the sub-protocol's own codec reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE, tagged_hash
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import SIGNATURE_SIZE, PrivateKey, verify_signature
from pacata.chain.mempool import MAX_TRANSACTION_BYTES
from pacata.errors import DecodeError
from pacata.p2p.records import MAX_RECORD_BYTES, NodeRecord

PROTOCOL_VERSION = 1
MAX_CHAIN_ID_BYTES = 32
MAX_INVENTORY = 1_024
MAX_BLOCK_REQUEST = 64
MAX_HEADERS = 2_000
MAX_LOCATOR = 64
MAX_TRANSACTIONS = 512
MAX_PEER_RECORDS = 32
MAX_DETAIL_BYTES = 256
# One block per message; a frame is at most 4 MiB (framing.MAX_FRAME_BYTES), blocks 2 MB.
MAX_BLOCK_BYTES = 4 * 1024 * 1024 - 64
MAX_SUBPROTOCOL_NAME_BYTES = 32
MAX_EXTENSION_PAYLOAD = 256 * 1024
# Lower-case words, '/'-separated: "vpn/receipts", "vpn/rendezvous".
SUBPROTOCOL_NAME = re.compile(r"[a-z][a-z0-9-]*(/[a-z][a-z0-9-]*)*")
_HELLO_SIGNING_TAG = b"pacata/p2p-hello/v1"


class MessageKind(IntEnum):
    HELLO = 1
    DISCONNECT = 2
    PING = 3
    PONG = 4
    INV_BLOCKS = 5
    INV_TRANSACTIONS = 6
    GET_BLOCKS = 7
    BLOCK_DATA = 8
    GET_TRANSACTIONS = 9
    TRANSACTIONS = 10
    NOT_FOUND = 11
    GET_HEADERS = 12
    HEADERS = 13
    GET_PEERS = 14
    PEERS = 15
    EXTENSION = 16


class Role(IntEnum):
    """Which side of the TCP connection a node is; signed into the hello against reflection."""

    INITIATOR = 1
    RESPONDER = 2

    @property
    def other(self) -> Role:
        return Role.RESPONDER if self is Role.INITIATOR else Role.INITIATOR


class DisconnectReason(IntEnum):
    REQUESTED = 0
    WRONG_CHAIN = 1
    PROTOCOL_VIOLATION = 2
    BANNED = 3
    TOO_MANY_PEERS = 4
    DUPLICATE = 5
    SELF = 6
    TIMEOUT = 7
    SHUTDOWN = 8
    INVALID_DATA = 9
    INCOMPATIBLE_VERSION = 10


class ItemKind(IntEnum):
    """What an inventory hash names."""

    BLOCK = 1
    TRANSACTION = 2


@dataclass(frozen=True, slots=True)
class TlsBinding:
    """SHA-256 of the DER certificates of one TLS connection, as one side sees them.

    Each node signs (its role, its certificate hash, its peer's certificate hash) in its hello:
    a man in the middle terminates TLS with certificates of its own, so the hashes a victim
    signs name the middle's certificates and the other victim refuses them (docs/p2p.md
    §Binding).
    """

    local_certificate: bytes
    peer_certificate: bytes

    def __post_init__(self) -> None:
        if len(self.local_certificate) != HASH_SIZE or len(self.peer_certificate) != HASH_SIZE:
            raise ValueError("certificate hashes are 32 bytes")


class Message(WireObject):
    kind: ClassVar[MessageKind]

    def encode_message(self) -> bytes:
        writer = Writer()
        writer.u8(self.kind)
        self.write_to(writer)
        return writer.getvalue()


def _hashes(reader: Reader, limit: int) -> tuple[bytes, ...]:
    return reader.sequence(limit, lambda: reader.fixed(HASH_SIZE))


def _write_hashes(writer: Writer, hashes: tuple[bytes, ...], limit: int) -> None:
    writer.sequence(hashes, limit, lambda h: writer.fixed(h, HASH_SIZE))


@dataclass(frozen=True, slots=True)
class Hello(Message):
    """The first message each side sends: who it is, which chain, its tip, and the binding."""

    kind: ClassVar[MessageKind] = MessageKind.HELLO
    protocol_version: int
    chain_id: str
    genesis_hash: bytes
    tip_height: int
    tip_hash: bytes
    record: NodeRecord
    signature: bytes = bytes(SIGNATURE_SIZE)

    def _write_unsigned(self, writer: Writer) -> None:
        writer.u16(self.protocol_version)
        writer.text(self.chain_id, MAX_CHAIN_ID_BYTES)
        writer.fixed(self.genesis_hash, HASH_SIZE)
        writer.uvarint(self.tip_height)
        writer.fixed(self.tip_hash, HASH_SIZE)
        writer.var_bytes(self.record.encode(), MAX_RECORD_BYTES)

    def write_to(self, writer: Writer) -> None:
        self._write_unsigned(writer)
        writer.fixed(self.signature, SIGNATURE_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            protocol_version=reader.u16(),
            chain_id=reader.text(MAX_CHAIN_ID_BYTES),
            genesis_hash=reader.fixed(HASH_SIZE),
            tip_height=reader.uvarint(),
            tip_hash=reader.fixed(HASH_SIZE),
            record=NodeRecord.decode(reader.var_bytes(MAX_RECORD_BYTES)),
            signature=reader.fixed(SIGNATURE_SIZE),
        )

    def signing_digest(self, role: Role, binding: TlsBinding) -> bytes:
        """What the sender, in `role` and seeing `binding`, signs."""
        writer = Writer()
        writer.u8(role)
        writer.fixed(binding.local_certificate, HASH_SIZE)
        writer.fixed(binding.peer_certificate, HASH_SIZE)
        self._write_unsigned(writer)
        return tagged_hash(_HELLO_SIGNING_TAG, writer.getvalue())

    def signed(self, key: PrivateKey, role: Role, binding: TlsBinding) -> Hello:
        if key.public_key != self.record.public_key:
            raise ValueError("a hello is signed by the key of its record")
        return _replace_signature(self, key.sign(self.signing_digest(role, binding)))

    def verify(self, sender_role: Role, receiver_binding: TlsBinding) -> bool:
        """Checks the signature of a hello received over a connection seen as `receiver_binding`.

        The sender's "local" certificate is our "peer" one and vice versa.
        """
        sender_view = TlsBinding(
            receiver_binding.peer_certificate, receiver_binding.local_certificate
        )
        return verify_signature(
            self.record.public_key, self.signing_digest(sender_role, sender_view), self.signature
        )


def _replace_signature(hello: Hello, signature: bytes) -> Hello:
    return Hello(
        hello.protocol_version,
        hello.chain_id,
        hello.genesis_hash,
        hello.tip_height,
        hello.tip_hash,
        hello.record,
        signature,
    )


@dataclass(frozen=True, slots=True)
class Disconnect(Message):
    kind: ClassVar[MessageKind] = MessageKind.DISCONNECT
    reason: DisconnectReason
    detail: str = ""

    def write_to(self, writer: Writer) -> None:
        writer.u8(self.reason)
        # Cut to the bound in bytes, at a character boundary: a detail the decoder accepts
        # (any text of at most MAX_DETAIL_BYTES) is written whole, so it encodes as it came.
        detail = self.detail.encode("utf-8")[:MAX_DETAIL_BYTES].decode("utf-8", "ignore")
        writer.text(detail, MAX_DETAIL_BYTES)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        code = reader.u8()
        try:
            reason = DisconnectReason(code)
        except ValueError:
            raise DecodeError(f"unknown disconnect reason {code}") from None
        return cls(reason, reader.text(MAX_DETAIL_BYTES))


@dataclass(frozen=True, slots=True)
class Ping(Message):
    kind: ClassVar[MessageKind] = MessageKind.PING
    nonce: int

    def write_to(self, writer: Writer) -> None:
        writer.u64(self.nonce)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.u64())


@dataclass(frozen=True, slots=True)
class Pong(Message):
    kind: ClassVar[MessageKind] = MessageKind.PONG
    nonce: int

    def write_to(self, writer: Writer) -> None:
        writer.u64(self.nonce)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.u64())


@dataclass(frozen=True, slots=True)
class BlockAnnouncement:
    block_hash: bytes
    height: int


@dataclass(frozen=True, slots=True)
class InvBlocks(Message):
    """New blocks the sender has (hash and height: the height tells how far behind we are)."""

    kind: ClassVar[MessageKind] = MessageKind.INV_BLOCKS
    blocks: tuple[BlockAnnouncement, ...]

    def write_to(self, writer: Writer) -> None:
        def write(entry: BlockAnnouncement) -> None:
            writer.fixed(entry.block_hash, HASH_SIZE)
            writer.uvarint(entry.height)

        writer.sequence(self.blocks, MAX_INVENTORY, write)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            reader.sequence(
                MAX_INVENTORY, lambda: BlockAnnouncement(reader.fixed(HASH_SIZE), reader.uvarint())
            )
        )


@dataclass(frozen=True, slots=True)
class InvTransactions(Message):
    kind: ClassVar[MessageKind] = MessageKind.INV_TRANSACTIONS
    txids: tuple[bytes, ...]

    def write_to(self, writer: Writer) -> None:
        _write_hashes(writer, self.txids, MAX_INVENTORY)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(_hashes(reader, MAX_INVENTORY))


@dataclass(frozen=True, slots=True)
class GetBlocks(Message):
    """Asks for whole blocks by hash; answered by one `BlockData` each, `NotFound` for the rest."""

    kind: ClassVar[MessageKind] = MessageKind.GET_BLOCKS
    hashes: tuple[bytes, ...]

    def write_to(self, writer: Writer) -> None:
        _write_hashes(writer, self.hashes, MAX_BLOCK_REQUEST)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(_hashes(reader, MAX_BLOCK_REQUEST))


@dataclass(frozen=True, slots=True)
class BlockData(Message):
    kind: ClassVar[MessageKind] = MessageKind.BLOCK_DATA
    block: bytes  # the block's canonical encoding

    def write_to(self, writer: Writer) -> None:
        writer.var_bytes(self.block, MAX_BLOCK_BYTES)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.var_bytes(MAX_BLOCK_BYTES))


@dataclass(frozen=True, slots=True)
class GetTransactions(Message):
    kind: ClassVar[MessageKind] = MessageKind.GET_TRANSACTIONS
    txids: tuple[bytes, ...]

    def write_to(self, writer: Writer) -> None:
        _write_hashes(writer, self.txids, MAX_TRANSACTIONS)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(_hashes(reader, MAX_TRANSACTIONS))


@dataclass(frozen=True, slots=True)
class Transactions(Message):
    kind: ClassVar[MessageKind] = MessageKind.TRANSACTIONS
    transactions: tuple[bytes, ...]  # canonical encodings

    def write_to(self, writer: Writer) -> None:
        writer.sequence(
            self.transactions,
            MAX_TRANSACTIONS,
            lambda tx: writer.var_bytes(tx, MAX_TRANSACTION_BYTES),
        )

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            reader.sequence(MAX_TRANSACTIONS, lambda: reader.var_bytes(MAX_TRANSACTION_BYTES))
        )


@dataclass(frozen=True, slots=True)
class NotFound(Message):
    kind: ClassVar[MessageKind] = MessageKind.NOT_FOUND
    item_kind: ItemKind
    hashes: tuple[bytes, ...]

    def write_to(self, writer: Writer) -> None:
        writer.u8(self.item_kind)
        _write_hashes(writer, self.hashes, MAX_INVENTORY)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        code = reader.u8()
        try:
            item_kind = ItemKind(code)
        except ValueError:
            raise DecodeError(f"unknown item kind {code}") from None
        return cls(item_kind, _hashes(reader, MAX_INVENTORY))


@dataclass(frozen=True, slots=True)
class GetHeaders(Message):
    """Headers of the sender's main chain after the first locator hash it knows."""

    kind: ClassVar[MessageKind] = MessageKind.GET_HEADERS
    locator: tuple[bytes, ...]
    max_count: int

    def write_to(self, writer: Writer) -> None:
        _write_hashes(writer, self.locator, MAX_LOCATOR)
        writer.uvarint(self.max_count)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        locator = _hashes(reader, MAX_LOCATOR)
        max_count = reader.uvarint()
        if not 1 <= max_count <= MAX_HEADERS:
            raise DecodeError(f"max_count {max_count} is not within 1-{MAX_HEADERS}")
        return cls(locator, max_count)


@dataclass(frozen=True, slots=True)
class Headers(Message):
    kind: ClassVar[MessageKind] = MessageKind.HEADERS
    headers: tuple[BlockHeader, ...]

    def write_to(self, writer: Writer) -> None:
        writer.sequence(self.headers, MAX_HEADERS, lambda h: h.write_to(writer))

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.sequence(MAX_HEADERS, lambda: BlockHeader.read_from(reader)))


@dataclass(frozen=True, slots=True)
class GetPeers(Message):
    kind: ClassVar[MessageKind] = MessageKind.GET_PEERS

    def write_to(self, writer: Writer) -> None:
        return None

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class Peers(Message):
    kind: ClassVar[MessageKind] = MessageKind.PEERS
    records: tuple[NodeRecord, ...]

    def write_to(self, writer: Writer) -> None:
        writer.sequence(
            self.records, MAX_PEER_RECORDS, lambda r: writer.var_bytes(r.encode(), MAX_RECORD_BYTES)
        )

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            reader.sequence(
                MAX_PEER_RECORDS, lambda: NodeRecord.decode(reader.var_bytes(MAX_RECORD_BYTES))
            )
        )


@dataclass(frozen=True, slots=True)
class Extension(Message):
    """A sub-protocol's message: the peer link carries it and leaves the payload to it."""

    kind: ClassVar[MessageKind] = MessageKind.EXTENSION
    protocol: str
    payload: bytes

    def __post_init__(self) -> None:
        check_subprotocol_name(self.protocol)

    def write_to(self, writer: Writer) -> None:
        writer.text(self.protocol, MAX_SUBPROTOCOL_NAME_BYTES)
        writer.var_bytes(self.payload, MAX_EXTENSION_PAYLOAD)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        protocol = reader.text(MAX_SUBPROTOCOL_NAME_BYTES)
        try:
            check_subprotocol_name(protocol)
        except ValueError as exc:
            raise DecodeError(str(exc)) from None
        return cls(protocol, reader.var_bytes(MAX_EXTENSION_PAYLOAD))


def check_subprotocol_name(name: str) -> str:
    """`name` if it is a sub-protocol name (`SUBPROTOCOL_NAME`, at most 32 bytes)."""
    if len(name) > MAX_SUBPROTOCOL_NAME_BYTES or not SUBPROTOCOL_NAME.fullmatch(name):
        raise ValueError(f"not a sub-protocol name: {name[:40]!r}")
    return name


MESSAGE_TYPES: dict[MessageKind, type[Message]] = {
    cls.kind: cls
    for cls in (
        Hello,
        Disconnect,
        Ping,
        Pong,
        InvBlocks,
        InvTransactions,
        GetBlocks,
        BlockData,
        GetTransactions,
        Transactions,
        NotFound,
        GetHeaders,
        Headers,
        GetPeers,
        Peers,
        Extension,
    )
}

# Messages that make the receiver work or remember something, and so count against the
# sender's rate limit; replies to our own requests are bounded by those requests instead.
RATE_LIMITED_KINDS = frozenset(
    {
        MessageKind.PING,
        MessageKind.INV_BLOCKS,
        MessageKind.INV_TRANSACTIONS,
        MessageKind.GET_BLOCKS,
        MessageKind.GET_TRANSACTIONS,
        MessageKind.GET_HEADERS,
        MessageKind.GET_PEERS,
        MessageKind.EXTENSION,
    }
)


def decode_message(data: bytes) -> Message:
    """The message in one frame's payload; `DecodeError` for anything but a canonical one."""
    if not data:
        raise DecodeError("empty message")
    try:
        kind = MessageKind(data[0])
    except ValueError:
        raise DecodeError(f"unknown message kind {data[0]}") from None
    decoder: Callable[[bytes], Message] = MESSAGE_TYPES[kind].decode
    return decoder(data[1:])
