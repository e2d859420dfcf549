"""Transactions: one envelope, one payload type per kind (docs/wire-format.md §Transactions).

Envelope, in encoding order: version (u8), chain id (text ≤ 32 B), kind (u8), sender public key
(33 B compressed), nonce, fee, the kind's payload, signature (64 B compact, low-S). The signature
covers every other byte, chain id included, so a transaction signed for one network is worthless
on another. The transaction id is the tagged hash of the whole signed encoding.

Kinds and their numbers are fixed for the life of the chain; an unknown kind is a `DecodeError`.
Payloads are plain wire objects; the rules that apply them to the state live in `transitions`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import ClassVar, Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE, tagged_hash
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import (
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    Address,
    PrivateKey,
    check_public_key,
    verify_signature,
)
from pacata.chain.receipts import MAX_CHAIN_ID_SIZE, Receipt
from pacata.errors import DecodeError

TX_VERSION = 1
X25519_KEY_SIZE = 32
VRF_PUBLIC_KEY_SIZE = 32
MAX_ENDPOINTS = 8
MAX_ENDPOINT_SIZE = 64
MAX_TIERS = 8
# A tier's rate limit of 0 bytes per second: the relay does not limit that tier.
UNLIMITED_RATE = 0
_TX_SIGNING_TAG = b"pacata/tx-signature/v1"
_TX_ID_TAG = b"pacata/txid/v1"


class TxKind(IntEnum):
    TRANSFER = 1
    BOND = 2
    UNBOND = 3
    RELAY_REGISTER = 4
    RELAY_UPDATE = 5
    RELAY_RETIRE = 6
    CHANNEL_OPEN = 7
    CHANNEL_TOPUP = 8
    CHANNEL_SETTLE = 9
    CHANNEL_CLOSE = 10
    EVIDENCE = 11


def _positive(name: str, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


@dataclass(frozen=True, slots=True)
class Transfer(WireObject):
    KIND: ClassVar[TxKind] = TxKind.TRANSFER
    recipient: Address
    amount: int

    def __post_init__(self) -> None:
        _positive("amount", self.amount)

    def write_to(self, writer: Writer) -> None:
        self.recipient.write_to(writer)
        writer.uvarint(self.amount)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(Address.read_from(reader), reader.uvarint())


@dataclass(frozen=True, slots=True)
class Bond(WireObject):
    """Stake `amount` as a block producer whose lottery key is `vrf_public_key` (Ed25519)."""

    KIND: ClassVar[TxKind] = TxKind.BOND
    amount: int
    vrf_public_key: bytes

    def __post_init__(self) -> None:
        _positive("amount", self.amount)
        if len(self.vrf_public_key) != VRF_PUBLIC_KEY_SIZE:
            raise ValueError("a VRF public key is 32 bytes")

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.amount)
        writer.fixed(self.vrf_public_key, VRF_PUBLIC_KEY_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.uvarint(), reader.fixed(VRF_PUBLIC_KEY_SIZE))


@dataclass(frozen=True, slots=True)
class Unbond(WireObject):
    """Start releasing `amount` of bond; it becomes spendable after the unbonding delay."""

    KIND: ClassVar[TxKind] = TxKind.UNBOND
    amount: int

    def __post_init__(self) -> None:
        _positive("amount", self.amount)

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.amount)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.uvarint())


@dataclass(frozen=True, slots=True)
class RelayOffer(WireObject):
    """What a relay offers: its WireGuard key, endpoints, and for each tier a price per GiB and
    a rate limit in bytes per second (`UNLIMITED_RATE`, 0: none)."""

    wireguard_key: bytes
    endpoints: tuple[str, ...]
    prices_per_gib: tuple[int, ...]
    rate_limits: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.wireguard_key) != X25519_KEY_SIZE:
            raise ValueError("a WireGuard key is 32 bytes")
        if not 1 <= len(self.endpoints) <= MAX_ENDPOINTS:
            raise ValueError(f"a relay lists 1 to {MAX_ENDPOINTS} endpoints")
        if not 1 <= len(self.prices_per_gib) <= MAX_TIERS:
            raise ValueError(f"a relay prices 1 to {MAX_TIERS} tiers")
        _check_rate_limits(len(self.prices_per_gib), len(self.rate_limits))

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.wireguard_key, X25519_KEY_SIZE)
        writer.sequence(self.endpoints, MAX_ENDPOINTS, lambda e: writer.text(e, MAX_ENDPOINT_SIZE))
        writer.sequence(self.prices_per_gib, MAX_TIERS, writer.uvarint)
        writer.sequence(self.rate_limits, MAX_TIERS, writer.uvarint)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        wireguard_key = reader.fixed(X25519_KEY_SIZE)
        endpoints = reader.sequence(MAX_ENDPOINTS, lambda: reader.text(MAX_ENDPOINT_SIZE))
        prices_per_gib = reader.sequence(MAX_TIERS, reader.uvarint)
        rate_limits = reader.sequence(MAX_TIERS, reader.uvarint)
        try:
            _check_rate_limits(len(prices_per_gib), len(rate_limits))
        except ValueError as exc:
            raise DecodeError(str(exc)) from None
        return cls(wireguard_key, endpoints, prices_per_gib, rate_limits)


def _check_rate_limits(tiers: int, rate_limits: int) -> None:
    if rate_limits != tiers:
        raise ValueError(
            f"a relay gives one rate limit per tier: {tiers} prices, {rate_limits} rate limits"
        )


@dataclass(frozen=True, slots=True)
class _OfferPayload(WireObject):
    """The payload of the kinds that carry a relay offer, and nothing else."""

    offer: RelayOffer

    def write_to(self, writer: Writer) -> None:
        self.offer.write_to(writer)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(RelayOffer.read_from(reader))


@dataclass(frozen=True, slots=True)
class RelayRegister(_OfferPayload):
    KIND: ClassVar[TxKind] = TxKind.RELAY_REGISTER


@dataclass(frozen=True, slots=True)
class RelayUpdate(_OfferPayload):
    KIND: ClassVar[TxKind] = TxKind.RELAY_UPDATE


@dataclass(frozen=True, slots=True)
class RelayRetire(WireObject):
    KIND: ClassVar[TxKind] = TxKind.RELAY_RETIRE

    def write_to(self, writer: Writer) -> None:
        pass

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class ChannelOpen(WireObject):
    """Client → relay payment channel; the relay admits `client_tunnel_key` once confirmed."""

    KIND: ClassVar[TxKind] = TxKind.CHANNEL_OPEN
    relay: Address
    deposit: int
    tier: int
    client_tunnel_key: bytes
    expiry_height: int

    def __post_init__(self) -> None:
        _positive("deposit", self.deposit)
        if not 0 <= self.tier < MAX_TIERS:
            raise ValueError(f"tier must be below {MAX_TIERS}")
        if len(self.client_tunnel_key) != X25519_KEY_SIZE:
            raise ValueError("a tunnel key is 32 bytes")

    def write_to(self, writer: Writer) -> None:
        self.relay.write_to(writer)
        writer.uvarint(self.deposit)
        writer.u8(self.tier)
        writer.fixed(self.client_tunnel_key, X25519_KEY_SIZE)
        writer.uvarint(self.expiry_height)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            Address.read_from(reader),
            reader.uvarint(),
            reader.u8(),
            reader.fixed(X25519_KEY_SIZE),
            reader.uvarint(),
        )


@dataclass(frozen=True, slots=True)
class ChannelTopup(WireObject):
    KIND: ClassVar[TxKind] = TxKind.CHANNEL_TOPUP
    channel_id: bytes
    amount: int

    def __post_init__(self) -> None:
        _positive("amount", self.amount)

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.channel_id, HASH_SIZE)
        writer.uvarint(self.amount)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(HASH_SIZE), reader.uvarint())


@dataclass(frozen=True, slots=True)
class ChannelSettle(WireObject):
    """The relay submits the newest client-signed receipt of a channel."""

    KIND: ClassVar[TxKind] = TxKind.CHANNEL_SETTLE
    receipt: Receipt

    def write_to(self, writer: Writer) -> None:
        self.receipt.write_to(writer)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(Receipt.read_from(reader))


@dataclass(frozen=True, slots=True)
class ChannelClose(WireObject):
    """The client reclaims what is left of a channel after its expiry."""

    KIND: ClassVar[TxKind] = TxKind.CHANNEL_CLOSE
    channel_id: bytes

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.channel_id, HASH_SIZE)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(HASH_SIZE))


@dataclass(frozen=True, slots=True)
class Evidence(WireObject):
    """Two different headers signed by one producer for one slot: its bond is slashed."""

    KIND: ClassVar[TxKind] = TxKind.EVIDENCE
    first: BlockHeader
    second: BlockHeader

    def write_to(self, writer: Writer) -> None:
        self.first.write_to(writer)
        self.second.write_to(writer)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(BlockHeader.read_from(reader), BlockHeader.read_from(reader))


Payload = (
    Transfer
    | Bond
    | Unbond
    | RelayRegister
    | RelayUpdate
    | RelayRetire
    | ChannelOpen
    | ChannelTopup
    | ChannelSettle
    | ChannelClose
    | Evidence
)

PAYLOAD_TYPES: dict[TxKind, type[Payload]] = {
    cls.KIND: cls
    for cls in (
        Transfer,
        Bond,
        Unbond,
        RelayRegister,
        RelayUpdate,
        RelayRetire,
        ChannelOpen,
        ChannelTopup,
        ChannelSettle,
        ChannelClose,
        Evidence,
    )
}

# The same table by the kind's number, for decoding without building a `TxKind` first.
_PAYLOAD_TYPES_BY_NUMBER: dict[int, type[Payload]] = {
    int(kind): payload_type for kind, payload_type in PAYLOAD_TYPES.items()
}


@dataclass(frozen=True, slots=True)
class Transaction(WireObject):
    chain_id: str
    sender: bytes
    nonce: int
    fee: int
    payload: Payload
    signature: bytes = bytes(SIGNATURE_SIZE)
    version: int = TX_VERSION
    # The canonical encoding, kept when known so ids and digests are not re-encoded.
    _encoding: bytes | None = field(default=None, compare=False, repr=False)
    # The id and the sender's address, computed on first use: block import needs each of them
    # several times (Merkle root, execution, transaction index).
    _txid: bytes | None = field(default=None, init=False, compare=False, repr=False)
    _sender_address: Address | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def kind(self) -> TxKind:
        return self.payload.KIND

    def _write_unsigned(self, writer: Writer) -> None:
        writer.u8(self.version)
        writer.text(self.chain_id, MAX_CHAIN_ID_SIZE)
        writer.u8(self.payload.KIND)
        writer.fixed(self.sender, PUBLIC_KEY_SIZE)
        writer.uvarint(self.nonce)
        writer.uvarint(self.fee)
        self.payload.write_to(writer)

    def write_to(self, writer: Writer) -> None:
        writer.raw(self.encode())

    def encode(self) -> bytes:
        if self._encoding is None:
            writer = Writer()
            self._write_unsigned(writer)
            writer.fixed(self.signature, SIGNATURE_SIZE)
            object.__setattr__(self, "_encoding", writer.getvalue())
        assert self._encoding is not None
        return self._encoding

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        start = reader.position
        version = reader.u8()
        if version != TX_VERSION:
            raise DecodeError(f"unknown transaction version {version}")
        chain_id = reader.text(MAX_CHAIN_ID_SIZE)
        raw_kind = reader.u8()
        payload_type = _PAYLOAD_TYPES_BY_NUMBER.get(raw_kind)
        if payload_type is None:
            raise DecodeError(f"unknown transaction kind {raw_kind}")
        sender = check_public_key(reader.fixed(PUBLIC_KEY_SIZE))
        nonce = reader.uvarint()
        fee = reader.uvarint()
        payload = payload_type.read_from(reader)
        signature = reader.fixed(SIGNATURE_SIZE)
        encoding = reader.slice(start, reader.position)
        return cls(chain_id, sender, nonce, fee, payload, signature, version, encoding)

    @property
    def size(self) -> int:
        return len(self.encode())

    @property
    def txid(self) -> bytes:
        txid = self._txid
        if txid is None:
            txid = tagged_hash(_TX_ID_TAG, self.encode())
            object.__setattr__(self, "_txid", txid)
        return txid

    def signing_digest(self) -> bytes:
        return tagged_hash(_TX_SIGNING_TAG, self.encode()[:-SIGNATURE_SIZE])

    @property
    def sender_address(self) -> Address:
        address = self._sender_address
        if address is None:
            address = Address.from_public_key(self.sender)
            object.__setattr__(self, "_sender_address", address)
        return address

    def has_valid_signature(self) -> bool:
        return verify_signature(self.sender, self.signing_digest(), self.signature)

    def signed(self, key: PrivateKey) -> Transaction:
        if key.public_key != self.sender:
            raise ValueError("a transaction is signed by its sender's key")
        unsigned = Transaction(self.chain_id, self.sender, self.nonce, self.fee, self.payload)
        return Transaction(
            self.chain_id,
            self.sender,
            self.nonce,
            self.fee,
            self.payload,
            key.sign(unsigned.signing_digest()),
        )


def named_address(payload: Payload) -> Address | None:
    """The address a payload pays or names besides its sender: a transfer's recipient, a
    channel opening's relay; None for the other kinds."""
    if isinstance(payload, Transfer):
        return payload.recipient
    if isinstance(payload, ChannelOpen):
        return payload.relay
    return None


def make_transaction(
    key: PrivateKey, chain_id: str, nonce: int, fee: int, payload: Payload
) -> Transaction:
    """A transaction from `key`'s account, signed."""
    return Transaction(chain_id, key.public_key, nonce, fee, payload).signed(key)
