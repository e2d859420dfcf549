"""Ledger state records and the overlay that a block's transactions are applied to.

The state is a map from *state keys* to encoded records. A state key is a namespace byte and the
record's natural id (an account's address, a channel's id); the state tree commits to every entry
under the tagged hash of its state key (`tree_key`), so the commitment is balanced whatever the ids.

`StateOverlay` reads through to a `StateReader` (the store, or another overlay) and keeps every
change in memory, with the value each key had before, so that a block's changes and its undo
record come out of one object and nothing touches the store until the block is known good.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Self, TypeVar

from pacata.chain.codec import Reader, WireObject, Writer, encode_uvarint
from pacata.chain.hashing import HASH_SIZE, sha256, tagged_hash
from pacata.chain.keys import PUBLIC_KEY_SIZE, Address
from pacata.chain.state_cache import StateCache
from pacata.chain.state_reader import StateReader
from pacata.chain.transactions import X25519_KEY_SIZE, RelayOffer
from pacata.errors import DecodeError

MAX_UNBONDING_ENTRIES = 16
_TREE_KEY_TAG = b"pacata/state-key/v1"


class Namespace(IntEnum):
    ACCOUNT = 1
    RELAY = 2
    CHANNEL = 3
    TOTALS = 4
    CONSENSUS = 5  # epoch nonce, stake snapshots, producer set (pacata.chain.consensus)
    CREDIT = 6  # a relay's bandwidth credit, by address
    SLASH = 7  # (producer address, slot) of every equivocation already punished
    EARNERS = 8  # the relays that settled receipts this epoch (pacata.chain.bandwidth_pool)


_NAMESPACE_PREFIXES = {namespace: bytes((namespace,)) for namespace in Namespace}


def state_key(namespace: Namespace, natural_id: bytes) -> bytes:
    return _NAMESPACE_PREFIXES[namespace] + natural_id


# Each block hashes the state keys it changes into tree keys; the same accounts recur.
@lru_cache(maxsize=1 << 16)
def tree_key(key: bytes) -> bytes:
    """Where the state tree keeps the entry of state key `key`."""
    return tagged_hash(_TREE_KEY_TAG, key)


def value_hash(encoded: bytes) -> bytes:
    return sha256(encoded)


def tree_changes(entries: Iterable[tuple[bytes, bytes | None]]) -> dict[bytes, bytes | None]:
    """State entries (key, encoded record or None for absent) as state-tree changes."""
    return {tree_key(key): None if value is None else value_hash(value) for key, value in entries}


@dataclass(frozen=True, slots=True)
class Unbonding(WireObject):
    amount: int
    release_height: int

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.amount)
        writer.uvarint(self.release_height)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.uvarint(), reader.uvarint())


@dataclass(frozen=True, slots=True)
class Account(WireObject):
    """Spendable balance, next nonce, bonded stake and its lottery key, pending unbondings."""

    balance: int = 0
    nonce: int = 0
    bond: int = 0
    vrf_public_key: bytes = b""
    unbonding: tuple[Unbonding, ...] = ()

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.balance)
        writer.uvarint(self.nonce)
        writer.uvarint(self.bond)
        writer.var_bytes(self.vrf_public_key, 32)
        writer.sequence(self.unbonding, MAX_UNBONDING_ENTRIES, lambda u: u.write_to(writer))

    def encode(self) -> bytes:
        # Every changed account of a block is encoded: the common one (no lottery key, no
        # unbondings) without a Writer, in half the time. The same bytes as `write_to`: the
        # two empty fields are a zero length and a zero count.
        if self.vrf_public_key or self.unbonding:
            return WireObject.encode(self)
        return (
            encode_uvarint(self.balance)
            + encode_uvarint(self.nonce)
            + encode_uvarint(self.bond)
            + b"\x00\x00"
        )

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        balance, nonce, bond = reader.uvarint(), reader.uvarint(), reader.uvarint()
        vrf_public_key = reader.var_bytes(32)
        if len(vrf_public_key) not in (0, 32):
            raise DecodeError("a VRF public key is 32 bytes or absent")
        unbonding = reader.sequence(MAX_UNBONDING_ENTRIES, lambda: Unbonding.read_from(reader))
        return cls(balance, nonce, bond, vrf_public_key, unbonding)

    @property
    def is_empty(self) -> bool:
        # Field by field, not `== EMPTY_ACCOUNT`: every account a block writes is asked.
        return not (
            self.balance or self.nonce or self.bond or self.vrf_public_key or self.unbonding
        )

    # The two changes every transaction makes, without `dataclasses.replace`, which costs
    # several times a plain construction on the path of every transfer.

    def with_balance(self, balance: int) -> Account:
        """This account with `balance` in place of its balance."""
        return Account(balance, self.nonce, self.bond, self.vrf_public_key, self.unbonding)

    def charged(self, cost: int) -> Account:
        """This account once it paid `cost` for a transaction with its next nonce."""
        return Account(
            self.balance - cost, self.nonce + 1, self.bond, self.vrf_public_key, self.unbonding
        )

    @property
    def unbonding_total(self) -> int:
        return sum(u.amount for u in self.unbonding)


EMPTY_ACCOUNT = Account()


@dataclass(frozen=True, slots=True)
class RelayRecord(WireObject):
    owner_public_key: bytes
    offer: RelayOffer
    registered_height: int

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.owner_public_key, PUBLIC_KEY_SIZE)
        self.offer.write_to(writer)
        writer.uvarint(self.registered_height)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.fixed(PUBLIC_KEY_SIZE), RelayOffer.read_from(reader), reader.uvarint())


@dataclass(frozen=True, slots=True)
class Channel(WireObject):
    """An open payment channel: the client's deposit, what has been paid to the relay so far."""

    client_public_key: bytes
    relay: Address
    deposit: int
    paid: int
    settled_bytes: int
    tier: int
    client_tunnel_key: bytes
    open_height: int
    expiry_height: int

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.client_public_key, PUBLIC_KEY_SIZE)
        self.relay.write_to(writer)
        writer.uvarint(self.deposit)
        writer.uvarint(self.paid)
        writer.uvarint(self.settled_bytes)
        writer.u8(self.tier)
        writer.fixed(self.client_tunnel_key, X25519_KEY_SIZE)
        writer.uvarint(self.open_height)
        writer.uvarint(self.expiry_height)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(
            reader.fixed(PUBLIC_KEY_SIZE),
            Address.read_from(reader),
            reader.uvarint(),
            reader.uvarint(),
            reader.uvarint(),
            reader.u8(),
            reader.fixed(X25519_KEY_SIZE),
            reader.uvarint(),
            reader.uvarint(),
        )


@dataclass(frozen=True, slots=True)
class ChainTotals(WireObject):
    """Chain-wide sums: all units minted since genesis, the bandwidth pool not yet paid out
    (this epoch's share of the block rewards and what earlier payouts left), all units burned.

    Supply: every balance, bond and unbonding, plus what channels hold (deposit − paid), plus
    `bandwidth_pool`, plus `burned`, is exactly `minted`.
    """

    minted: int = 0
    bandwidth_pool: int = 0
    burned: int = 0

    def write_to(self, writer: Writer) -> None:
        writer.uvarint(self.minted)
        writer.uvarint(self.bandwidth_pool)
        writer.uvarint(self.burned)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        return cls(reader.uvarint(), reader.uvarint(), reader.uvarint())


TOTALS_KEY = state_key(Namespace.TOTALS, b"")

R = TypeVar("R", bound=WireObject)


class StateOverlay:
    """A writable view over a `StateReader`; changes stay here until taken with `changes()`."""

    __slots__ = ("_base", "_decoded", "_originals", "_read_record", "_read_values")

    def __init__(self, base: StateReader) -> None:
        self._base = base
        # A plain class check: a block builder makes an overlay per candidate transaction, and
        # a runtime protocol check cost ~5 µs each.
        # An overlay over another one (a block builder's or the mempool's attempt) takes its
        # decoded records too, instead of decoding what it encodes for `get_state`.
        self._read_record = (
            base.read_record if isinstance(base, StateCache | StateOverlay) else None
        )
        # state key -> decoded record (None: deleted or absent), for every key read or written
        self._decoded: dict[bytes, WireObject | None] = {}
        # state key -> encoded value in the base, for every key written
        self._originals: dict[bytes, bytes | None] = {}
        # state key -> encoded value in the base, for every key read from it: a key is mostly
        # read before it is written, and its original is then known without a second read
        self._read_values: dict[bytes, bytes | None] = {}

    def get_state(self, key: bytes) -> bytes | None:
        if key in self._decoded:
            record = self._decoded[key]
            return None if record is None else record.encode()
        return self._base.get_state(key)

    def read_record(
        self, key: bytes, decode: Callable[[bytes], R]
    ) -> tuple[bytes | None, R | None]:
        """`StateCache.read_record` for an overlay over this one: the encoding and the record
        this overlay sees at `key` (None, None when absent), decoded at most once."""
        record = self._read(key, decode)
        if record is None:
            return None, None
        # Unwritten here, the encoding is the one read from the base: no need to make it.
        raw = record.encode() if key in self._originals else self._read_values[key]
        assert raw is not None
        if type(record).decode != decode:  # read as another type: the caller's own decode
            return raw, decode(raw)
        return raw, record

    def _read(self, key: bytes, decode: Callable[[bytes], R]) -> R | None:
        if key in self._decoded:
            return self._decoded[key]  # type: ignore[return-value]
        record: R | None
        if self._read_record is not None:
            raw, record = self._read_record(key, decode)
        else:
            raw = self._base.get_state(key)
            record = None if raw is None else decode(raw)
        self._read_values[key] = raw
        self._decoded[key] = record
        return record

    def _write(self, key: bytes, record: WireObject | None) -> None:
        if key not in self._originals:
            read_values = self._read_values
            self._originals[key] = (
                read_values[key] if key in read_values else self._base.get_state(key)
            )
        self._decoded[key] = record

    def account(self, address: Address) -> Account:
        found = self._read(state_key(Namespace.ACCOUNT, address.raw), Account.decode)
        return EMPTY_ACCOUNT if found is None else found

    def set_account(self, address: Address, account: Account) -> None:
        self._write(
            state_key(Namespace.ACCOUNT, address.raw), None if account.is_empty else account
        )

    def relay(self, address: Address) -> RelayRecord | None:
        return self._read(state_key(Namespace.RELAY, address.raw), RelayRecord.decode)

    def set_relay(self, address: Address, record: RelayRecord | None) -> None:
        self._write(state_key(Namespace.RELAY, address.raw), record)

    def channel(self, channel_id: bytes) -> Channel | None:
        if len(channel_id) != HASH_SIZE:
            return None
        return self._read(state_key(Namespace.CHANNEL, channel_id), Channel.decode)

    def set_channel(self, channel_id: bytes, channel: Channel | None) -> None:
        self._write(state_key(Namespace.CHANNEL, channel_id), channel)

    def record(self, key: bytes, decode: Callable[[bytes], R]) -> R | None:
        """The record at state key `key` of another module's namespace, or None."""
        return self._read(key, decode)

    def set_record(self, key: bytes, record: WireObject | None) -> None:
        self._write(key, record)

    def totals(self) -> ChainTotals:
        found = self._read(TOTALS_KEY, ChainTotals.decode)
        return ChainTotals() if found is None else found

    def set_totals(self, totals: ChainTotals) -> None:
        self._write(TOTALS_KEY, totals)

    def changes(self) -> dict[bytes, bytes | None]:
        """Every written key whose value differs from the base: key -> new encoding or None."""
        return self.changes_and_originals()[0]

    def originals(self) -> dict[bytes, bytes | None]:
        """The base's value of every key that `changes()` reports."""
        return self.changes_and_originals()[1]

    def changes_and_originals(
        self,
    ) -> tuple[dict[bytes, bytes | None], dict[bytes, bytes | None]]:
        """`changes()` and `originals()` at the cost of one: each record is encoded once."""
        changes: dict[bytes, bytes | None] = {}
        originals: dict[bytes, bytes | None] = {}
        decoded = self._decoded
        for key, original in self._originals.items():
            record = decoded[key]
            new = None if record is None else record.encode()
            if new != original:
                changes[key] = new
                originals[key] = original
        return changes, originals

    def records(self) -> Mapping[bytes, WireObject | None]:
        """The decoded record of every key read or written (None: absent or deleted)."""
        return self._decoded

    def written_keys(self) -> Iterator[bytes]:
        return iter(self._originals)

    def merge_into(self, parent: StateOverlay) -> None:
        """Moves this overlay's writes into `parent` (the overlay this one reads through)."""
        if self._base is not parent:
            raise ValueError("merge an overlay only into the overlay it reads through")
        for key in self._originals:
            parent._write(key, self._decoded[key])
