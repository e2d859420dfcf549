"""The address index: the main-chain transactions that touch each address, and the payment
channels of each client and relay (docs/api.md §Account history; its store:
docs/operations.md §The address index).

It is derived data, kept in a key-value store of its own (never the chain's) and built from the
main chain's blocks; consensus never reads it, so it can be dropped and rebuilt at any time.

Rules:
- The addresses a transaction touches (`touched_addresses`): its sender always; a TRANSFER's
  recipient; a CHANNEL_OPEN's relay; a CHANNEL_TOPUP's, CHANNEL_SETTLE's or CHANNEL_CLOSE's
  channel's client and relay, taken from the index's own channel table (which keeps closed
  channels, gone from the state); an EVIDENCE's accused producer. Each address once per
  transaction, whatever its role.
- An address's entries are numbered in chain order (0, 1, 2...), and so are the channels of
  each (address, role). A page, newest first, is point reads down from a number; the number a
  cursor (a chain position) starts from is a binary search over them. No range scan, so every
  `KeyValueStore` serves, and a page costs O(log n + limit) reads however deep it is.
- The index follows the main chain one block at a time: `connect(block)` on its tip and
  `disconnect(block_hash)` of its tip (a reorganisation). `advance(chain, ...)` catches up with
  a bounded amount of work per call: it first unwinds, with the undo lists, the blocks that
  are no longer on the main chain, and starts over (wipes and rebuilds) if its tip is unknown
  to the chain or an undo list it needs is gone; `IndexOutOfStep` is raised by `connect` and
  `disconnect` for a block that does not fit the tip, so the caller catches up instead.
- Every write is one batch: the entries of one or more whole blocks, each block's undo list
  (the value each key it wrote had before), and the index's tip (height, hash). A crash at any
  instant leaves the index of some block of the chain. Undo lists are kept for the last
  `keep_undo` blocks (the node keeps its finality depth and one more: no reorganisation goes
  deeper).
- Every key and record is `address_index_schema`'s. A store whose tip is not under its
  version's prefix (empty, of another version, or left by a start-over a crash interrupted)
  is wiped, in bounded steps that go through its keys once, then built from genesis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from typing import TypeVar

from pacata.chain.address_index_schema import (
    TIP_KEY,
    BlockUndo,
    ChainPosition,
    ChannelEntry,
    IndexTip,
    PartyEntry,
    Role,
    TxEntry,
    channel_key,
    decode_count,
    decode_tip,
    encode_count,
    encode_tip,
    party_count_key,
    party_key,
    tx_count_key,
    tx_key,
    undo_key,
)
from pacata.chain.blocks import Block
from pacata.chain.chain import Chain
from pacata.chain.chainstore import UndoRecord
from pacata.chain.codec import WireObject, encode_uvarint
from pacata.chain.keys import Address
from pacata.chain.kvstore import KeyValueStore, WriteBatch
from pacata.chain.transactions import (
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    ChannelTopup,
    Evidence,
    Transaction,
    Transfer,
    TxKind,
)
from pacata.chain.transitions import channel_id_of
from pacata.errors import DecodeError, PacataError, StoreError

# Bounds of one `advance` call, so that a long catch-up lets the event loop breathe.
DEFAULT_STEP_BLOCKS = 1_000
DEFAULT_STEP_TRANSACTIONS = 2_000
DEFAULT_STEP_DELETES = 20_000

E = TypeVar("E", bound=WireObject)
# The entries numbered in chain order.
N = TypeVar("N", TxEntry, PartyEntry)


class IndexOutOfStep(PacataError):
    """A block does not fit the index's tip (the index lags or leads the chain): catch up."""


# A channel's (client, relay), or None for a channel the caller does not know.
ChannelParties = Callable[[bytes], tuple[Address, Address] | None]


def _recipient(tx: Transaction, parties: ChannelParties) -> Iterable[Address]:
    assert isinstance(tx.payload, Transfer)
    return (tx.payload.recipient,)


def _relay(tx: Transaction, parties: ChannelParties) -> Iterable[Address]:
    assert isinstance(tx.payload, ChannelOpen)
    return (tx.payload.relay,)


def _channel_parties(tx: Transaction, parties: ChannelParties) -> Iterable[Address]:
    payload = tx.payload
    assert isinstance(payload, ChannelTopup | ChannelSettle | ChannelClose)
    channel_id = (
        payload.receipt.channel_id if isinstance(payload, ChannelSettle) else payload.channel_id
    )
    return parties(channel_id) or ()


def _accused(tx: Transaction, parties: ChannelParties) -> Iterable[Address]:
    assert isinstance(tx.payload, Evidence)
    return (Address.from_public_key(tx.payload.first.producer),)


def _nobody(tx: Transaction, parties: ChannelParties) -> Iterable[Address]:
    return ()


# The addresses besides the sender that each kind touches.
_OTHER_PARTIES: dict[TxKind, Callable[[Transaction, ChannelParties], Iterable[Address]]] = {
    TxKind.TRANSFER: _recipient,
    TxKind.BOND: _nobody,
    TxKind.UNBOND: _nobody,
    TxKind.RELAY_REGISTER: _nobody,
    TxKind.RELAY_UPDATE: _nobody,
    TxKind.RELAY_RETIRE: _nobody,
    TxKind.CHANNEL_OPEN: _relay,
    TxKind.CHANNEL_TOPUP: _channel_parties,
    TxKind.CHANNEL_SETTLE: _channel_parties,
    TxKind.CHANNEL_CLOSE: _channel_parties,
    TxKind.EVIDENCE: _accused,
}


def touched_addresses(tx: Transaction, parties: ChannelParties) -> tuple[Address, ...]:
    """The addresses `tx` touches (module rules), the sender first, each once; `parties`
    names a channel's client and relay."""
    found = dict.fromkeys((tx.sender_address, *_OTHER_PARTIES[tx.kind](tx, parties)))
    return tuple(found)


class _Staging:
    """The writes of one batch, read back before the store's, and the undo list of the block
    being staged (the value before this block of every key it writes)."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv
        self.batch = WriteBatch()
        self._undo: list[tuple[bytes, bytes | None]] = []
        self._written: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        ops = self.batch.ops
        return ops[key] if key in ops else self.kv.get(key)

    def begin_block(self) -> None:
        self._undo, self._written = [], set()

    def put(self, key: bytes, value: bytes) -> None:
        """A write of the block being staged, remembered in its undo list."""
        if key not in self._written:
            self._written.add(key)
            self._undo.append((key, self.get(key)))
        self.batch.put(key, value)

    def undo_record(self) -> UndoRecord:
        return UndoRecord(tuple(self._undo))


def _decode(raw: bytes | None, kind: type[E], key: bytes) -> E:
    if raw is None:
        raise StoreError(f"address index: missing entry {key.hex()}")
    try:
        return kind.decode(raw)
    except DecodeError as exc:
        raise StoreError(f"corrupt address index entry {key.hex()}: {exc}") from None


class AddressIndex:
    """The index in `kv` (a store of its own), following a chain (module rules)."""

    def __init__(self, kv: KeyValueStore, *, keep_undo: int) -> None:
        if keep_undo < 1:
            raise ValueError("keep the undo list of one block at least")
        self.kv = kv
        self.keep_undo = keep_undo
        self._tip = self._read_tip()
        # The keys left to delete, while the store is being wiped (`_wipe`).
        self._wiping: Iterator[tuple[bytes, bytes]] | None = None

    def _read_tip(self) -> IndexTip | None:
        raw = self.kv.get(TIP_KEY)
        # None: no index of this version yet (or a start-over under way): rebuild.
        return None if raw is None else decode_tip(raw)

    @property
    def tip(self) -> IndexTip | None:
        """The last block indexed (None: nothing yet)."""
        return self._tip

    @property
    def height(self) -> int:
        """The height of the last block indexed, -1 before genesis."""
        return -1 if self._tip is None else self._tip.height

    # -- reads ----------------------------------------------------------------------------

    def transaction_count(self, address: Address) -> int:
        return decode_count(self.kv.get(tx_count_key(address)))

    def transactions(
        self, address: Address, before: ChainPosition | None = None, limit: int = 25
    ) -> list[TxEntry]:
        """The transactions touching `address`, newest first, at most `limit`, those strictly
        before `before` when given."""
        return self._newest_first(
            self.transaction_count(address),
            lambda number: tx_key(address, number),
            TxEntry,
            before,
            limit,
        )

    def channels(
        self,
        address: Address,
        roles: Sequence[Role] = (Role.CLIENT, Role.RELAY),
        before: ChainPosition | None = None,
        limit: int = 25,
    ) -> list[PartyEntry]:
        """The channels of `address` in `roles`, newest opening first, at most `limit`, those
        opened strictly before `before` when given."""
        found: list[PartyEntry] = []
        for role in roles:
            found += self._newest_first(
                decode_count(self.kv.get(party_count_key(address, role))),
                partial(party_key, address, role),
                PartyEntry,
                before,
                limit,
            )
        found.sort(key=lambda entry: entry.position, reverse=True)
        return found[:limit]

    def channel(self, channel_id: bytes) -> ChannelEntry | None:
        key = channel_key(channel_id)
        raw = self.kv.get(key)
        return None if raw is None else _decode(raw, ChannelEntry, key)

    def channel_parties(self, channel_id: bytes) -> tuple[Address, Address] | None:
        """(client, relay) of a channel the index has seen opened."""
        entry = self.channel(channel_id)
        return None if entry is None else (entry.client, entry.relay)

    def _newest_first(
        self,
        count: int,
        key_of: Callable[[int], bytes],
        kind: type[N],
        before: ChainPosition | None,
        limit: int,
    ) -> list[N]:
        def entry(number: int) -> N:
            key = key_of(number)
            return _decode(self.kv.get(key), kind, key)

        start = count
        if before is not None:  # the first number at or after `before`: entries are in order
            low, high = 0, count
            while low < high:
                middle = (low + high) // 2
                if entry(middle).position < before:
                    low = middle + 1
                else:
                    high = middle
            start = low
        return [entry(n) for n in range(start - 1, max(start - 1 - limit, -1), -1)]

    # -- following the chain ----------------------------------------------------------------

    def connect(self, block: Block) -> None:
        """Indexes `block`, a child of the tip; `IndexOutOfStep` if it is not one."""
        tip = self._tip
        fits = (
            block.height == 0
            if tip is None
            else block.header.prev_hash == tip.hash and block.height == tip.height + 1
        )
        if not fits:
            raise IndexOutOfStep(
                f"block {block.height} {block.hash.hex()} does not follow the index's tip "
                f"({self.height})"
            )
        staging = _Staging(self.kv)
        self._stage_block(staging, block)
        self._commit(staging, IndexTip(block.height, block.hash))

    def disconnect(self, block_hash: bytes) -> None:
        """Takes the tip, block `block_hash`, out of the index; `IndexOutOfStep` if it is not
        the tip or its undo list is gone."""
        tip = self._tip
        if tip is None or tip.hash != block_hash:
            raise IndexOutOfStep(f"block {block_hash.hex()} is not the index's tip")
        undo = self._undo_of(tip)
        if undo is None:
            raise IndexOutOfStep(f"no undo list for the index's tip at height {tip.height}")
        self._unwind(tip, undo)

    def advance(
        self,
        chain: Chain,
        *,
        max_blocks: int = DEFAULT_STEP_BLOCKS,
        max_transactions: int = DEFAULT_STEP_TRANSACTIONS,
        max_deletes: int = DEFAULT_STEP_DELETES,
    ) -> bool:
        """One bounded step towards `chain`'s tip (module rules): unwinds one block, or wipes
        up to `max_deletes` keys, or indexes up to `max_blocks` blocks (fewer once
        `max_transactions` are indexed) in one batch. True once the index is at the chain's
        tip."""
        tip = self._tip
        if tip is None:
            if self._wipe(max_deletes):
                return False
        elif chain.store.main_hash_at(tip.height) != tip.hash:
            undo = self._undo_of(tip)
            if undo is None or chain.store.block_info(tip.hash) is None:
                self._start_over()
            else:
                self._unwind(tip, undo)
            return False
        staging = _Staging(self.kv)
        height = self.height + 1
        transactions = 0
        while height <= chain.height and height - self.height <= max_blocks:
            block = chain.block_at(height)
            self._stage_block(staging, block)
            transactions += len(block.transactions)
            height += 1
            if transactions >= max_transactions:
                break
        if height > self.height + 1:
            self._commit(staging, IndexTip(block.height, block.hash))
        assert self._tip is not None
        return self._tip.hash == chain.tip.hash

    # -- writing ----------------------------------------------------------------------------

    def _commit(self, staging: _Staging, tip: IndexTip) -> None:
        staging.batch.put(TIP_KEY, encode_tip(tip))
        self.kv.write(staging.batch)
        self._tip = tip
        self._wiping = None  # a wipe, if one was under way, is over: the index holds a block

    def _stage_block(self, staging: _Staging, block: Block) -> None:
        staging.begin_block()
        height = block.height
        transactions = block.transactions
        # Where each transaction's bytes are in the block's encoding: the header, the count,
        # then each transaction's canonical encoding (docs/wire-format.md §Blocks).
        offset = len(block.header.encode()) + len(encode_uvarint(len(transactions)))
        for index, tx in enumerate(transactions):
            size = len(tx.encode())
            self._stage_transaction(staging, tx, TxEntry(tx.txid, height, index, offset, size))
            offset += size
        undo = BlockUndo(block.hash, block.header.prev_hash, staging.undo_record())
        staging.batch.put(undo_key(height), undo.encode())
        if height >= self.keep_undo:
            staging.batch.delete(undo_key(height - self.keep_undo))

    def _stage_transaction(self, staging: _Staging, tx: Transaction, entry: TxEntry) -> None:
        def parties(channel_id: bytes) -> tuple[Address, Address] | None:
            raw = staging.get(channel_key(channel_id))
            if raw is None:
                return None
            channel = _decode(raw, ChannelEntry, channel_key(channel_id))
            return channel.client, channel.relay

        encoded = entry.encode()
        for address in touched_addresses(tx, parties):
            count_key = tx_count_key(address)
            number = decode_count(staging.get(count_key))
            staging.put(tx_key(address, number), encoded)
            staging.put(count_key, encode_count(number + 1))
        payload = tx.payload
        if isinstance(payload, ChannelOpen):
            channel_id = channel_id_of(tx.sender, tx.nonce)
            client = tx.sender_address
            channel = ChannelEntry(
                client,
                payload.relay,
                payload.tier,
                payload.expiry_height,
                entry.height,
                entry.index,
                entry.txid,
            )
            staging.put(channel_key(channel_id), channel.encode())
            party = PartyEntry(channel_id, entry.height, entry.index).encode()
            for address, role in ((client, Role.CLIENT), (payload.relay, Role.RELAY)):
                count_key = party_count_key(address, role)
                number = decode_count(staging.get(count_key))
                staging.put(party_key(address, role, number), party)
                staging.put(count_key, encode_count(number + 1))
        elif isinstance(payload, ChannelClose):
            key = channel_key(payload.channel_id)
            raw = staging.get(key)
            if raw is not None:  # always, for a close on the main chain of an indexed chain
                opened = _decode(raw, ChannelEntry, key)
                closed = replace(opened, close_height=entry.height, close_txid=entry.txid)
                staging.put(key, closed.encode())

    def _undo_of(self, tip: IndexTip) -> BlockUndo | None:
        key = undo_key(tip.height)
        raw = self.kv.get(key)
        if raw is None:
            return None
        undo = _decode(raw, BlockUndo, key)
        return undo if undo.block_hash == tip.hash else None

    def _unwind(self, tip: IndexTip, undo: BlockUndo) -> None:
        batch = WriteBatch()
        for key, value in undo.previous.previous:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        batch.delete(undo_key(tip.height))
        if tip.height == 0:
            batch.delete(TIP_KEY)
            self.kv.write(batch)
            self._tip = None
            return
        parent = IndexTip(tip.height - 1, undo.parent_hash)
        batch.put(TIP_KEY, encode_tip(parent))
        self.kv.write(batch)
        self._tip = parent

    def _start_over(self) -> None:
        """Forgets the tip first, in a batch of its own, so that a crash during the wipe that
        follows leaves an index that is wiped again at the next start."""
        batch = WriteBatch()
        batch.delete(TIP_KEY)
        self.kv.write(batch)
        self._tip = None
        self._wiping = None  # the wipe starts from the first key

    def _wipe(self, max_deletes: int) -> bool:
        """Deletes the next `max_deletes` keys of the store; False once it is empty.

        One iteration serves the whole wipe, resumed at each step where the last one stopped:
        starting again from the first key would step over every key already deleted (LevelDB
        keeps a deleted key as a tombstone until a compaction drops it), so each step would
        cost more than the one before. The index writes nothing else while it wipes, so the
        keys the iteration does not see (it reads a snapshot of the store) are none."""
        if self._wiping is None:
            self._wiping = self.kv.iterate(b"")
        batch = WriteBatch()
        for key, _ in self._wiping:
            batch.delete(key)
            if len(batch) >= max_deletes:
                break
        if not len(batch):
            self._wiping = None
            return False
        try:
            self.kv.write(batch)
        except BaseException:
            self._wiping = None  # those keys are not deleted: a wipe again starts from the first
            raise
        return True


def entry_transaction(entry: TxEntry, encoding: bytes) -> Transaction | None:
    """The transaction `entry` points at in `encoding`, its block's canonical encoding; None if
    it is not there (that height's block is another one: the index lags a reorganisation)."""
    try:
        tx = Transaction.decode(encoding[entry.offset : entry.offset + entry.size])
    except DecodeError:
        return None
    return tx if tx.txid == entry.txid else None
