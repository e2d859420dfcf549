"""The DHT's datagrams on the shared UDP port (docs/p2p-udp.md §DHT messages).

    packet = magic "PDH\\x01" | kind u8 | request id (8) | sender public key (33) | body
             | signature (64)

    kind  body                                            answers
    1     PING        -                                   PONG
    2     PONG        the address the request came from   -
    3     FIND_NODE   target id (32)                      NODES
    4     NODES       part u8, parts u8, contacts         -
    5     FIND_VALUE  key (32)                            VALUE or NODES
    6     VALUE       key (32), value (bytes)             -
    7     STORE       key (32), value (bytes)             STORED
    8     STORED      key (32), accepted (bool)           -

Rules:

- The magic prefix makes dispatch on the shared port a four-byte comparison: its first byte
  0x50 has its top bits 01, so it is neither STUN (top bits 00, RFC 5389 §6) nor WireGuard
  (type 1-4 followed by three zero bytes), and the fourth byte is the protocol version.
- Fields use the canonical codec (`pacata/chain/codec.py`): a contact is its node id (32), its
  address family (1 = IPv4, 2 = IPv6, never an IPv4-mapped IPv6 address), address and port;
  values are length-prefixed and at most `MAX_VALUE_SIZE` bytes. `decode` refuses a wrong
  magic or kind, a truncated field, an oversize value and trailing bytes with `DecodeError`.
- Every packet is signed by the sender's node key over SHA-256 tagged "pacata/dht/v1" of all
  that precedes the signature, so a contact's node id (SHA-256 of that key) is proven by the
  packets it sends. A reply echoes the 64-bit random request id of its request.
- No packet exceeds `MAX_DATAGRAM_SIZE` = 1200 bytes (below the 1280-byte IPv6 minimum MTU with
  headers to spare); a NODES answer that would is split into parts (`split_contacts`), each
  its own signed datagram.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Protocol, Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import tagged_hash
from pacata.chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE
from pacata.errors import DecodeError
from pacata.p2p.records import NODE_ID_SIZE, node_id_of
from pacata.p2p.udp_address import ADDRESS_SIZES, Address, normalize_address, pack_host, unpack_host

DHT_MAGIC = b"PDH\x01"
REQUEST_ID_SIZE = 8
KEY_SIZE = NODE_ID_SIZE
MAX_DATAGRAM_SIZE = 1200
HEADER_SIZE = len(DHT_MAGIC) + 1 + REQUEST_ID_SIZE + PUBLIC_KEY_SIZE
PACKET_OVERHEAD = HEADER_SIZE + SIGNATURE_SIZE
MAX_CONTACT_SIZE = NODE_ID_SIZE + 1 + 16 + 2
MAX_VALUE_SIZE = 1024
MAX_NODES_PARTS = 8
_NODES_FIXED = 2 + 1  # part, parts, and a one-byte contact count
MAX_CONTACTS_PER_PART = (MAX_DATAGRAM_SIZE - PACKET_OVERHEAD - _NODES_FIXED) // MAX_CONTACT_SIZE
_SIGNING_TAG = b"pacata/dht/v1"


class MessageKind(IntEnum):
    PING = 1
    PONG = 2
    FIND_NODE = 3
    NODES = 4
    FIND_VALUE = 5
    VALUE = 6
    STORE = 7
    STORED = 8


REQUEST_KINDS = frozenset(
    {MessageKind.PING, MessageKind.FIND_NODE, MessageKind.FIND_VALUE, MessageKind.STORE}
)


def is_dht_datagram(datagram: bytes) -> bool:
    """Whether a datagram of the shared UDP port belongs to the DHT (its magic prefix)."""
    return datagram[:4] == DHT_MAGIC


def _write_address(writer: Writer, address: Address) -> None:
    family, packed = pack_host(address[0])
    writer.u8(family)
    writer.fixed(packed, len(packed))
    writer.u16(address[1])


def _read_address(reader: Reader) -> Address:
    family = reader.u8()
    size = ADDRESS_SIZES.get(family)
    if size is None:
        raise DecodeError(f"unknown address family {family}")
    host = unpack_host(family, reader.fixed(size))
    port = reader.u16()
    if normalize_address(host, port) != (host, port):
        raise DecodeError(f"non-canonical address {host}")  # an IPv4-mapped IPv6 address
    return host, port


@dataclass(frozen=True, slots=True)
class Contact(WireObject):
    """A node as the DHT knows it: its id and the UDP address it was seen at."""

    node_id: bytes
    address: Address

    def __post_init__(self) -> None:
        if len(self.node_id) != NODE_ID_SIZE:
            raise ValueError(f"a node id is {NODE_ID_SIZE} bytes")
        if normalize_address(*self.address) != self.address:
            raise ValueError(f"address {self.address} is not in canonical form")

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.node_id, NODE_ID_SIZE)
        _write_address(writer, self.address)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(NODE_ID_SIZE), _read_address(reader))

    def encoded_size(self) -> int:
        return NODE_ID_SIZE + 1 + len(pack_host(self.address[0])[1]) + 2


class Body(WireObject):
    """The kind-specific part of a packet."""

    __slots__ = ()
    KIND: ClassVar[MessageKind]


@dataclass(frozen=True, slots=True)
class Ping(Body):
    KIND: ClassVar[MessageKind] = MessageKind.PING

    def write_to(self, writer: Writer) -> None:
        pass

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class Pong(Body):
    """Carries the address the PING came from, as the answering node saw it."""

    KIND: ClassVar[MessageKind] = MessageKind.PONG
    observed: Address

    def write_to(self, writer: Writer) -> None:
        _write_address(writer, self.observed)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(_read_address(reader))


def _check_key(key: bytes, what: str) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"a {what} is {KEY_SIZE} bytes, got {len(key)}")


@dataclass(frozen=True, slots=True)
class FindNode(Body):
    KIND: ClassVar[MessageKind] = MessageKind.FIND_NODE
    target: bytes

    def __post_init__(self) -> None:
        _check_key(self.target, "target")

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.target, KEY_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(KEY_SIZE))


@dataclass(frozen=True, slots=True)
class Nodes(Body):
    """Part `part` (from 0) of `parts` of the contacts answering a FIND_NODE or FIND_VALUE."""

    KIND: ClassVar[MessageKind] = MessageKind.NODES
    part: int
    parts: int
    contacts: tuple[Contact, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.parts <= MAX_NODES_PARTS or not 0 <= self.part < self.parts:
            raise ValueError(f"part {self.part} of {self.parts} is out of range")
        if len(self.contacts) > MAX_CONTACTS_PER_PART:
            raise ValueError(f"at most {MAX_CONTACTS_PER_PART} contacts in one part")

    def write_to(self, writer: Writer) -> None:
        writer.u8(self.part)
        writer.u8(self.parts)
        writer.sequence(self.contacts, MAX_CONTACTS_PER_PART, lambda c: c.write_to(writer))

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        part, parts = reader.u8(), reader.u8()
        contacts = reader.sequence(MAX_CONTACTS_PER_PART, lambda: Contact.read_from(reader))
        return cls(part, parts, contacts)


@dataclass(frozen=True, slots=True)
class FindValue(Body):
    KIND: ClassVar[MessageKind] = MessageKind.FIND_VALUE
    key: bytes

    def __post_init__(self) -> None:
        _check_key(self.key, "key")

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.key, KEY_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(KEY_SIZE))


@dataclass(frozen=True, slots=True)
class _KeyValueBody(Body):
    """The body of the messages that carry one record: its key and its (bounded) value."""

    key: bytes
    value: bytes

    def __post_init__(self) -> None:
        _check_key(self.key, "key")
        if len(self.value) > MAX_VALUE_SIZE:
            raise ValueError(f"a value is at most {MAX_VALUE_SIZE} bytes")

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.key, KEY_SIZE)
        writer.var_bytes(self.value, MAX_VALUE_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(KEY_SIZE), reader.var_bytes(MAX_VALUE_SIZE))


@dataclass(frozen=True, slots=True)
class Value(_KeyValueBody):
    KIND: ClassVar[MessageKind] = MessageKind.VALUE


@dataclass(frozen=True, slots=True)
class Store(_KeyValueBody):
    KIND: ClassVar[MessageKind] = MessageKind.STORE


@dataclass(frozen=True, slots=True)
class Stored(Body):
    KIND: ClassVar[MessageKind] = MessageKind.STORED
    key: bytes
    accepted: bool

    def __post_init__(self) -> None:
        _check_key(self.key, "key")

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.key, KEY_SIZE)
        writer.boolean(self.accepted)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(KEY_SIZE), reader.boolean())


_BODIES: dict[int, type[Body]] = {
    body.KIND: body for body in (Ping, Pong, FindNode, Nodes, FindValue, Value, Store, Stored)
}


class PacketSigner(Protocol):
    """What signs our packets: the node key (`pacata.chain.keys.PrivateKey` is one)."""

    @property
    def public_key(self) -> bytes: ...

    def sign(self, digest: bytes) -> bytes: ...


SignatureCheck = Callable[[bytes, bytes, bytes], bool]
"""`check(public_key, digest, signature)`: `pacata.chain.keys.verify_signature` in a node."""


@dataclass(frozen=True, slots=True)
class DhtPacket:
    """One signed DHT datagram."""

    request_id: bytes
    sender_public_key: bytes
    body: Body
    signature: bytes = bytes(SIGNATURE_SIZE)

    def __post_init__(self) -> None:
        if len(self.request_id) != REQUEST_ID_SIZE:
            raise ValueError(f"a request id is {REQUEST_ID_SIZE} bytes")
        if len(self.sender_public_key) != PUBLIC_KEY_SIZE:
            raise ValueError(f"a public key is {PUBLIC_KEY_SIZE} bytes")
        if len(self.signature) != SIGNATURE_SIZE:
            raise ValueError(f"a signature is {SIGNATURE_SIZE} bytes")

    @property
    def kind(self) -> MessageKind:
        return self.body.KIND

    @property
    def sender_id(self) -> bytes:
        return node_id_of(self.sender_public_key)

    def _unsigned(self) -> bytes:
        writer = Writer()
        writer.raw(DHT_MAGIC)
        writer.u8(self.body.KIND)
        writer.fixed(self.request_id, REQUEST_ID_SIZE)
        writer.fixed(self.sender_public_key, PUBLIC_KEY_SIZE)
        self.body.write_to(writer)
        return writer.getvalue()

    def signing_digest(self) -> bytes:
        return tagged_hash(_SIGNING_TAG, self._unsigned())

    @classmethod
    def signed(cls, signer: PacketSigner, request_id: bytes, body: Body) -> bytes:
        """The encoding of a packet of `body` signed by `signer` (at most 1200 bytes)."""
        unsigned = cls(request_id, signer.public_key, body)._unsigned()
        encoded = unsigned + signer.sign(tagged_hash(_SIGNING_TAG, unsigned))
        if len(encoded) > MAX_DATAGRAM_SIZE:
            raise ValueError(f"a DHT packet of {len(encoded)} bytes exceeds {MAX_DATAGRAM_SIZE}")
        return encoded

    def encode(self) -> bytes:
        return self._unsigned() + self.signature

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """The packet in `data` (signature not checked: see `verify`); `DecodeError` if not."""
        if len(data) > MAX_DATAGRAM_SIZE:
            raise DecodeError(f"a DHT packet is at most {MAX_DATAGRAM_SIZE} bytes")
        reader = Reader(data)
        if reader.fixed(len(DHT_MAGIC)) != DHT_MAGIC:
            raise DecodeError("not a DHT packet: wrong magic")
        kind = reader.u8()
        body_type = _BODIES.get(kind)
        if body_type is None:
            raise DecodeError(f"unknown DHT message kind {kind}")
        request_id = reader.fixed(REQUEST_ID_SIZE)
        public_key = reader.fixed(PUBLIC_KEY_SIZE)
        try:
            body = body_type.read_from(reader)
        except (ValueError, TypeError) as error:
            raise DecodeError(f"invalid {body_type.__name__}: {error}") from None
        signature = reader.fixed(SIGNATURE_SIZE)
        reader.finish()
        return cls(request_id, public_key, body, signature)

    def verify(self, check: SignatureCheck) -> bool:
        """Whether the signature is the sender's over the rest of the packet."""
        return check(self.sender_public_key, self.signing_digest(), self.signature)

    @classmethod
    def open(cls, data: bytes, check: SignatureCheck) -> Self | None:
        """The packet in `data` if its signature verifies, None if it does not; `DecodeError`
        if it is no packet. The digest is taken from `data` itself: `decode` accepts only
        canonical encodings, so those are the bytes `signing_digest` would encode."""
        packet = cls.decode(data)
        digest = tagged_hash(_SIGNING_TAG, bytes(data[:-SIGNATURE_SIZE]))
        return packet if check(packet.sender_public_key, digest, packet.signature) else None


def split_contacts(contacts: Sequence[Contact]) -> list[tuple[Contact, ...]]:
    """`contacts` cut into runs that each fit one NODES datagram (at least one, maybe empty)."""
    budget = MAX_DATAGRAM_SIZE - PACKET_OVERHEAD - _NODES_FIXED
    parts: list[tuple[Contact, ...]] = []
    current: list[Contact] = []
    used = 0
    for contact in contacts:
        size = contact.encoded_size()
        if current and (used + size > budget or len(current) >= MAX_CONTACTS_PER_PART):
            parts.append(tuple(current))
            current, used = [], 0
        current.append(contact)
        used += size
    parts.append(tuple(current))
    if len(parts) > MAX_NODES_PARTS:
        raise ValueError(f"{len(contacts)} contacts need more than {MAX_NODES_PARTS} parts")
    return parts
