"""Every key and record of the address index's store (pacata/chain/address_index.py), built in
one place, as `schema` is for the chain's database.

Every key starts with `KEY_PREFIX`, which holds `SCHEMA_VERSION`: a change to a key or a record
here is a new version, and an index whose tip is not under the current prefix is wiped and
rebuilt (the index is derived data). Numbers in keys are big-endian u64, so that an address's
keys sort in chain order; records are canonical wire objects.

| table | key after `KEY_PREFIX`                 | value                                        |
|-------|----------------------------------------|----------------------------------------------|
| `t`   | address (20 B) + number (u64)          | `TxEntry`: txid, height, index, and where    |
|       |                                        | its bytes are in the block's encoding        |
| `n`   | address                                | how many `t` entries it has (u64)            |
| `p`   | address + role (u8: 0 client, 1 relay) | `PartyEntry`: channel id, the opening's      |
|       | + number (u64)                         | height and index                             |
| `q`   | address + role                         | how many `p` entries (u64)                   |
| `c`   | channel id (32 B)                      | `ChannelEntry`: client, relay, tier, expiry, |
|       |                                        | opening, closing                             |
| `u`   | height (u64)                           | `BlockUndo`: block hash, parent, undo list   |
| `_`   |                                        | the tip: height (u64) + block hash           |
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Self

from pacata.chain.chainstore import UndoRecord
from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE
from pacata.chain.keys import Address
from pacata.errors import StoreError

SCHEMA_VERSION = 1
KEY_PREFIX = b"A" + bytes((SCHEMA_VERSION,))
_TX = KEY_PREFIX + b"t"
_TX_COUNT = KEY_PREFIX + b"n"
_PARTY = KEY_PREFIX + b"p"
_PARTY_COUNT = KEY_PREFIX + b"q"
_CHANNEL = KEY_PREFIX + b"c"
_UNDO = KEY_PREFIX + b"u"
_TIP = KEY_PREFIX + b"_"

_U64 = struct.Struct(">Q")
_TIP_VALUE = struct.Struct(f">Q{HASH_SIZE}s")


class Role(IntEnum):
    """An address's side of a payment channel."""

    CLIENT = 0
    RELAY = 1


@dataclass(frozen=True, slots=True, order=True)
class ChainPosition:
    """Where a transaction is on the main chain: its block's height, its index in the block."""

    height: int
    index: int


@dataclass(frozen=True, slots=True)
class IndexTip:
    height: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class TxEntry(WireObject):
    """A main-chain transaction that touches an address, and where its bytes are in its
    block's canonical encoding (`offset`, `size`): a page reads each one without decoding the
    whole block."""

    txid: bytes
    height: int
    index: int
    offset: int
    size: int

    @property
    def position(self) -> ChainPosition:
        return ChainPosition(self.height, self.index)

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.txid, HASH_SIZE)
        writer.uvarint(self.height)
        writer.uvarint(self.index)
        writer.uvarint(self.offset)
        writer.uvarint(self.size)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            reader.fixed(HASH_SIZE),
            reader.uvarint(),
            reader.uvarint(),
            reader.uvarint(),
            reader.uvarint(),
        )


@dataclass(frozen=True, slots=True)
class PartyEntry(WireObject):
    """A channel of an address in one role, at the position of the channel's opening."""

    channel_id: bytes
    height: int
    index: int

    @property
    def position(self) -> ChainPosition:
        return ChainPosition(self.height, self.index)

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.channel_id, HASH_SIZE)
        writer.uvarint(self.height)
        writer.uvarint(self.index)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(HASH_SIZE), reader.uvarint(), reader.uvarint())


@dataclass(frozen=True, slots=True)
class ChannelEntry(WireObject):
    """What the index keeps of a channel, open or closed; what changes while it is open
    (deposit, paid) is the state's."""

    client: Address
    relay: Address
    tier: int
    expiry_height: int
    open_height: int
    open_index: int
    open_txid: bytes
    close_height: int | None = None
    close_txid: bytes | None = None

    @property
    def closed(self) -> bool:
        return self.close_height is not None

    def write_to(self, writer: Writer) -> None:
        self.client.write_to(writer)
        self.relay.write_to(writer)
        writer.u8(self.tier)
        writer.uvarint(self.expiry_height)
        writer.uvarint(self.open_height)
        writer.uvarint(self.open_index)
        writer.fixed(self.open_txid, HASH_SIZE)
        writer.boolean(self.close_height is not None)
        if self.close_height is not None:
            assert self.close_txid is not None
            writer.uvarint(self.close_height)
            writer.fixed(self.close_txid, HASH_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        client, relay = Address.read_from(reader), Address.read_from(reader)
        tier, expiry = reader.u8(), reader.uvarint()
        height, index, txid = reader.uvarint(), reader.uvarint(), reader.fixed(HASH_SIZE)
        if not reader.boolean():
            return cls(client, relay, tier, expiry, height, index, txid)
        close_height, close_txid = reader.uvarint(), reader.fixed(HASH_SIZE)
        return cls(client, relay, tier, expiry, height, index, txid, close_height, close_txid)


@dataclass(frozen=True, slots=True)
class BlockUndo(WireObject):
    """How to take one block out of the index: the value each key it wrote had before."""

    block_hash: bytes
    parent_hash: bytes
    previous: UndoRecord

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.block_hash, HASH_SIZE)
        writer.fixed(self.parent_hash, HASH_SIZE)
        self.previous.write_to(writer)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(HASH_SIZE), reader.fixed(HASH_SIZE), UndoRecord.read_from(reader))


def tx_count_key(address: Address) -> bytes:
    return _TX_COUNT + address.raw


def tx_key(address: Address, number: int) -> bytes:
    return _TX + address.raw + _U64.pack(number)


def party_count_key(address: Address, role: Role) -> bytes:
    return _PARTY_COUNT + address.raw + bytes((role,))


def party_key(address: Address, role: Role, number: int) -> bytes:
    return _PARTY + address.raw + bytes((role,)) + _U64.pack(number)


def channel_key(channel_id: bytes) -> bytes:
    return _CHANNEL + channel_id


def undo_key(height: int) -> bytes:
    return _UNDO + _U64.pack(height)


TIP_KEY = _TIP
UNDO_PREFIX = _UNDO


def encode_tip(tip: IndexTip) -> bytes:
    return _TIP_VALUE.pack(tip.height, tip.hash)


def decode_tip(raw: bytes) -> IndexTip | None:
    """The tip a `TIP_KEY` value names; None for a value that is not one."""
    if len(raw) != _TIP_VALUE.size:
        return None
    height, block_hash = _TIP_VALUE.unpack(raw)
    return IndexTip(height, block_hash)


def encode_count(count: int) -> bytes:
    return _U64.pack(count)


def decode_count(raw: bytes | None) -> int:
    """A count key's value (absent: 0); `StoreError` for one that is not a count."""
    if raw is None:
        return 0
    if len(raw) != _U64.size:
        raise StoreError("corrupt address index: a count is not 8 bytes")
    count: int = _U64.unpack(raw)[0]
    return count
