"""Following a relay's settles until the chain has buried them (docs/paid-tunnels.md
§Settlement).

    tracker = SettleTracker(params.finality_depth, SettlementPolicy(), store.settles())
    record = tracker.submitted(txid, receipt, height)      # then store.put_settle(record)
    for action in tracker.on_block(height, block_txids): ...
    for action in tracker.on_disconnected(new_tip_height, undone_txids): ...

The tracker answers with actions for the caller to carry out, in order:

- `SaveSettle(record)`: write the record (it was mined, or undone by a reorganisation);
- `ForgetSettle(record, why)`: delete it: buried (`FINAL`), made useless by a higher settle of
  the channel (`SUPERSEDED`), or dropped and to be made again (`DROPPED`);
- `SubmitSettle(receipt, closing)`: make and submit a new settle of that receipt (or of a newer
  receipt of the channel), then report it with `submitted`. Before submitting, the caller
  checks the chain: if the channel's paid amount already reaches the receipt's, there is
  nothing left to settle;
- `ForgetChannel(channel_id)`: the last settle of a closing channel is buried; the relay may
  forget the channel (its stored receipt).

Rules:
- A settle mined at height h is final once the tip reaches h + `finality_depth`: no
  reorganisation may then undo it (docs/ledger.md §Blocks, fork choice, reorganisations).
- A settle not mined within `resubmit_after_blocks` of its submission is dropped and made again,
  unless a higher settle of the channel is tracked, or an equal one is mined: then it is
  forgotten (when one of two settles of a channel is mined the other can never be).
- A mined settle that a reorganisation undoes waits again from the new tip: the node's mempool
  takes the undone block's transactions back, so it is normally mined again; if it is not
  within `resubmit_after_blocks`, it is made again as a dropped one. Submitting a second
  transaction at once would only race the first.
- Once a settle of a channel is final, its pending settles of lower or equal amounts are
  forgotten: the chain refuses an amount that is not above what is paid.
- Sans-I/O: heights and transaction ids come in, actions go out; the caller does the I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Self

from pacata.chain.codec import Reader, WireObject, Writer
from pacata.chain.hashing import HASH_SIZE
from pacata.chain.receipts import Receipt
from pacata.errors import LocalProtocolError
from pacata.vpn.channels.settlement import SettlementPolicy


@dataclass(frozen=True, slots=True)
class SettleRecord(WireObject):
    """One submitted settle as the relay tracks (and stores) it."""

    txid: bytes
    receipt: Receipt
    submitted_height: int
    included_height: int | None = None
    closing: bool = False  # the channel's last settle: once it is final, forget the channel

    def __post_init__(self) -> None:
        if len(self.txid) != HASH_SIZE:
            raise ValueError(f"a transaction id is {HASH_SIZE} bytes")

    @property
    def channel_id(self) -> bytes:
        return self.receipt.channel_id

    @property
    def cumulative_amount(self) -> int:
        return self.receipt.cumulative_amount

    @property
    def mined(self) -> bool:
        return self.included_height is not None

    def write_to(self, writer: Writer) -> None:
        writer.fixed(self.txid, HASH_SIZE)
        self.receipt.write_to(writer)
        writer.uvarint(self.submitted_height)
        writer.boolean(self.included_height is not None)
        if self.included_height is not None:
            writer.uvarint(self.included_height)
        writer.boolean(self.closing)

    @classmethod
    def read_from(cls, reader: Reader) -> Self:
        txid = reader.fixed(HASH_SIZE)
        receipt = Receipt.read_from(reader)
        submitted_height = reader.uvarint()
        included_height = reader.uvarint() if reader.boolean() else None
        return cls(txid, receipt, submitted_height, included_height, reader.boolean())


class ForgetWhy(Enum):
    FINAL = "final"
    SUPERSEDED = "superseded"
    DROPPED = "dropped"


@dataclass(frozen=True, slots=True)
class SubmitSettle:
    receipt: Receipt
    closing: bool


@dataclass(frozen=True, slots=True)
class SaveSettle:
    record: SettleRecord


@dataclass(frozen=True, slots=True)
class ForgetSettle:
    record: SettleRecord
    why: ForgetWhy


@dataclass(frozen=True, slots=True)
class ForgetChannel:
    channel_id: bytes


SettleAction = SubmitSettle | SaveSettle | ForgetSettle | ForgetChannel


class SettleTracker:
    def __init__(
        self,
        finality_depth: int,
        policy: SettlementPolicy | None = None,
        records: Iterable[SettleRecord] = (),
    ) -> None:
        if finality_depth < 1:
            raise ValueError("the finality depth is at least one block")
        self.finality_depth = finality_depth
        self.policy = policy or SettlementPolicy()
        self._records: dict[bytes, SettleRecord] = {}
        self._closing: set[bytes] = set()
        for record in records:
            self._track(record)

    @property
    def records(self) -> tuple[SettleRecord, ...]:
        return tuple(self._records.values())

    def highest_amount(self, channel_id: bytes) -> int:
        """The highest amount of the channel's tracked settles (0 with none): what is being
        settled already."""
        return max((r.cumulative_amount for r in self._of_channel(channel_id)), default=0)

    def submitted(
        self, txid: bytes, receipt: Receipt, height: int, *, closing: bool = False
    ) -> SettleRecord:
        """A settle of `receipt` went to the mempool at tip `height`; the record to store."""
        if txid in self._records:
            raise LocalProtocolError(f"settle {txid.hex()} is tracked already")
        if receipt.cumulative_amount <= self.highest_amount(receipt.channel_id):
            raise LocalProtocolError("a settle of that amount or more is tracked already")
        record = SettleRecord(txid, receipt, height, closing=closing)
        self._track(record)
        return record

    def on_block(self, height: int, included_txids: Collection[bytes]) -> list[SettleAction]:
        """The block at `height`, holding `included_txids`, joined the main chain."""
        actions: list[SettleAction] = []
        for record in self.records:
            if not record.mined and record.txid in included_txids:
                self._save(replace(record, included_height=height), actions)
        for record in self.records:
            included = record.included_height
            if included is not None and height >= included + self.finality_depth:
                self._finalize(record, actions)
        for record in self.records:
            if record.mined or record.txid not in self._records:
                continue
            if height >= record.submitted_height + self.policy.resubmit_after_blocks:
                self._drop(record, actions)
        return actions

    def on_disconnected(self, height: int, txids: Collection[bytes]) -> list[SettleAction]:
        """Blocks holding `txids` left the main chain; `height` is the tip they left."""
        actions: list[SettleAction] = []
        for record in self.records:
            if record.mined and record.txid in txids:
                self._save(replace(record, submitted_height=height, included_height=None), actions)
        return actions

    def _track(self, record: SettleRecord) -> None:
        self._records[record.txid] = record
        if record.closing:
            self._closing.add(record.channel_id)

    def _of_channel(self, channel_id: bytes) -> list[SettleRecord]:
        return [r for r in self._records.values() if r.channel_id == channel_id]

    def _save(self, record: SettleRecord, actions: list[SettleAction]) -> None:
        self._records[record.txid] = record
        actions.append(SaveSettle(record))

    def _forget(self, record: SettleRecord, why: ForgetWhy, actions: list[SettleAction]) -> None:
        del self._records[record.txid]
        actions.append(ForgetSettle(record, why))

    def _finalize(self, record: SettleRecord, actions: list[SettleAction]) -> None:
        self._forget(record, ForgetWhy.FINAL, actions)
        channel_id = record.channel_id
        for other in self._of_channel(channel_id):
            if not other.mined and other.cumulative_amount <= record.cumulative_amount:
                self._forget(other, ForgetWhy.SUPERSEDED, actions)
        if channel_id in self._closing and not self._of_channel(channel_id):
            self._closing.discard(channel_id)
            actions.append(ForgetChannel(channel_id))

    def _drop(self, record: SettleRecord, actions: list[SettleAction]) -> None:
        covered = any(
            other.cumulative_amount > record.cumulative_amount
            or (other.mined and other.cumulative_amount == record.cumulative_amount)
            for other in self._of_channel(record.channel_id)
            if other.txid != record.txid
        )
        if covered:
            self._forget(record, ForgetWhy.SUPERSEDED, actions)
        else:
            self._forget(record, ForgetWhy.DROPPED, actions)
            actions.append(SubmitSettle(record.receipt, record.closing))
