"""The mempool: signed transactions waiting for a block (docs/ledger.md §Mempool).

Rules:
- Admission is Bitcoin Core's `AcceptToMemoryPool` for accounts: besides the checks that need
  no state (chain id, minimum fee, size, signature), a transaction enters only if it *applies*
  — every rule of `transitions.apply_transaction` — to the tip's state plus its sender's
  pending transactions before it, in a block at the next height. What does not apply is
  refused with the rule it breaks; nothing is left pending that could never be mined.
- So each sender's pending nonces are contiguous from its account nonce, at most
  `max_per_sender` of them: a nonce beyond the next one is a gap, and refused.
- One transaction per (sender, nonce). A second one replaces the first only if it pays at least
  `replace_bump_percent` more fee (replace-by-fee), and must apply in its place; the sender's
  later transactions that no longer apply after it are evicted.
- Bounded by count and bytes. When full, the transaction with the lowest fee per byte goes, with
  the same sender's later nonces (they could no longer execute); a newcomer that would itself be
  the one to go is refused.
- `select` returns, for a block, the executable transactions in order of fee per byte, each
  sender's in nonce order.
- After the chain moves (`apply_update`), included transactions leave, and every sender whose
  pending transactions read a state key the block changed (or that have a kind whose validity
  depends on the height) is checked again from the new tip: what no longer applies is evicted.
  After a reorganisation everything is checked again, the disconnected blocks' transactions
  first.
- `why_gone(txid)` says, for the last `max_gone` transactions that left without being mined,
  why ("evicted: …", "replaced by …").
- With a `journal` (a key-value store of its own), every admission and removal is written as it
  happens, and `load` re-admits the journal's transactions at start, checking each again; the
  node opens the journal without fsync (`docs/operations.md`), so a killed process loses
  nothing and a power cut at most the last moments, as for the OS's page cache.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from pacata.chain import schema
from pacata.chain.chain import Chain, ChainUpdate
from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.kvstore import KeyValueStore, WriteBatch
from pacata.chain.state import StateOverlay
from pacata.chain.transactions import Transaction
from pacata.chain.transitions import (
    HEIGHT_DEPENDENT_KINDS,
    BlockContext,
    apply_transaction,
)
from pacata.errors import DecodeError, InvalidTransaction, MempoolRejected

MAX_TRANSACTION_BYTES = 4_096
# Fee per byte is kept as an integer in millionths of a unit per byte.
_RATE_SCALE = 1_000_000


@dataclass(order=True, slots=True)
class _Entry:
    # Heap order: lowest fee per byte first, then the newest first (so it is evicted first).
    fee_rate: int = field(compare=True)
    order: int = field(compare=True)
    tx: Transaction = field(compare=False)
    txid: bytes = field(compare=False)
    sender: Address = field(compare=False)


@dataclass(slots=True)
class _SenderQueue:
    """A sender's pending transactions by nonce, and the state after all of them (None: to be
    rebuilt) with the state keys that building it read."""

    entries: dict[int, _Entry] = field(default_factory=dict)
    state: StateOverlay | None = None
    reads: frozenset[bytes] = frozenset()

    @property
    def height_dependent(self) -> bool:
        return any(e.tx.kind in HEIGHT_DEPENDENT_KINDS for e in self.entries.values())


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What `Mempool.load` found in the journal."""

    admitted: int
    refused: int
    undecodable: int


class Mempool:
    def __init__(
        self,
        chain: Chain,
        *,
        max_count: int = 20_000,
        max_bytes: int = 16 * 1024 * 1024,
        max_per_sender: int = 64,
        replace_bump_percent: int = 10,
        max_gone: int = 10_000,
        journal: KeyValueStore | None = None,
    ) -> None:
        self.chain = chain
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.max_per_sender = max_per_sender
        self.replace_bump_percent = replace_bump_percent
        self.max_gone = max_gone
        self.journal = journal
        self._by_id: dict[bytes, _Entry] = {}
        self._by_sender: dict[Address, _SenderQueue] = {}
        self._heap: list[_Entry] = []
        self._bytes = 0
        self._order = itertools.count()
        self._gone: OrderedDict[bytes, str] = OrderedDict()
        self._journal_ops = WriteBatch()
        self._journal_puts = True
        self._context_tip: BlockHeader | None = None
        self._context: BlockContext | None = None

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, txid: object) -> bool:
        return txid in self._by_id

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, txid: bytes) -> Transaction | None:
        entry = self._by_id.get(txid)
        return None if entry is None else entry.tx

    def transactions(self) -> Iterator[Transaction]:
        return (entry.tx for entry in self._by_id.values())

    def pending_nonce(self, address: Address) -> int:
        """The next nonce `address` should use, counting its transactions waiting here."""
        nonce = self.chain.account(address).nonce
        queue = self._by_sender.get(address)
        return nonce if queue is None else nonce + len(queue.entries)

    def why_gone(self, txid: bytes) -> str | None:
        """Why a transaction that was here left without being mined, while that is remembered."""
        return self._gone.get(txid)

    # -- admission ----------------------------------------------------------------------

    def add(self, tx: Transaction) -> bytes:
        """Admits `tx` and returns its id, or raises `MempoolRejected` with the reason."""
        try:
            return self._add(tx)
        finally:
            self._write_journal()

    def _add(self, tx: Transaction, *, check_signature: bool = True) -> bytes:
        txid = tx.txid
        if txid in self._by_id:
            raise MempoolRejected("transaction already in the mempool")
        params = self.chain.params
        if tx.chain_id != params.chain_id:
            raise MempoolRejected(
                f"transaction is for chain {tx.chain_id!r}, not {params.chain_id!r}"
            )
        if tx.fee < params.min_fee:
            raise MempoolRejected(f"fee {tx.fee} is below the minimum of {params.min_fee}")
        if tx.size > MAX_TRANSACTION_BYTES:
            raise MempoolRejected(f"transaction of {tx.size} bytes exceeds {MAX_TRANSACTION_BYTES}")
        if check_signature and not tx.has_valid_signature():
            raise MempoolRejected("invalid signature")
        sender = tx.sender_address
        ctx = self._next_block()
        first = self.chain.account(sender).nonce
        queue = self._by_sender.get(sender) or _SenderQueue()
        following = first + len(queue.entries)
        if tx.nonce < first:
            raise MempoolRejected(f"nonce {tx.nonce} already used (next is {first})")
        if tx.nonce > following:
            raise MempoolRejected(
                f"nonce gap: got {tx.nonce}, next is {following}"
                + (f" counting {len(queue.entries)} pending" if queue.entries else "")
            )
        entry = _Entry(tx.fee * _RATE_SCALE // tx.size, next(self._order), tx, txid, sender)
        if tx.nonce == following:
            if len(queue.entries) >= self.max_per_sender:
                raise MempoolRejected(
                    f"the sender has {self.max_per_sender} transactions pending already"
                )
            self._append(queue, entry, ctx)
        else:
            self._replace(queue, entry, ctx)
        self._evict_over_limits()
        if txid not in self._by_id:
            self._gone.pop(txid, None)  # refused, not evicted
            raise MempoolRejected("mempool is full and the fee per byte is too low")
        return txid

    def _next_block(self) -> BlockContext:
        """The block a pending transaction would go in: the next height, the earliest slot."""
        tip = self.chain.tip
        if self._context is None or self._context_tip is not tip:  # the same until a block
            self._context_tip = tip
            self._context = BlockContext(
                self.chain.params,
                tip.height + 1,
                tip.slot + 1,
                Address.from_public_key(tip.producer),
            )
        return self._context

    def _append(self, queue: _SenderQueue, entry: _Entry, ctx: BlockContext) -> None:
        """Admits `entry` after the sender's pending transactions, if it applies after them."""
        if queue.state is None:  # a removal dropped it; what is left is known to apply
            queue.state, _, _ = self._replay(queue.entries.values(), ctx)
            queue.reads = frozenset(queue.state.records())
        attempt = StateOverlay(queue.state)
        try:
            apply_transaction(attempt, entry.tx, ctx)
        except InvalidTransaction as exc:
            count = len(queue.entries)
            after = f" (after the sender's {count} pending transactions)" if count else ""
            raise MempoolRejected(f"{exc}{after}") from None
        attempt.merge_into(queue.state)
        queue.reads = queue.reads.union(attempt.records())
        self._by_sender[entry.sender] = queue
        self._insert(queue, entry)

    def _replace(self, queue: _SenderQueue, entry: _Entry, ctx: BlockContext) -> None:
        """Puts `entry` in the place of the pending transaction with its nonce (replace-by-fee)
        if it pays enough more and applies there; later ones that no longer apply go."""
        nonce = entry.tx.nonce
        replaced = queue.entries[nonce]
        needed = replaced.tx.fee + max(1, replaced.tx.fee * self.replace_bump_percent // 100)
        if entry.tx.fee < needed:
            raise MempoolRejected(
                f"a transaction with nonce {nonce} is pending; a replacement pays at least {needed}"
            )
        earlier = (e for n, e in queue.entries.items() if n < nonce)
        _, failed, reason = self._replay([*earlier, entry], ctx)
        if failed is not None:
            raise MempoolRejected(reason)
        self._remove(replaced, f"replaced by {entry.txid.hex()}")
        self._insert(queue, entry)
        self._revalidate(entry.sender, ctx)

    def _insert(self, queue: _SenderQueue, entry: _Entry) -> None:
        self._by_id[entry.txid] = entry
        queue.entries[entry.tx.nonce] = entry
        heapq.heappush(self._heap, entry)
        self._bytes += entry.tx.size
        self._gone.pop(entry.txid, None)
        if self.journal is not None and self._journal_puts:
            self._journal_ops.put(schema.mempool_key(entry.txid), entry.tx.encode())

    def _remove(self, entry: _Entry, reason: str | None) -> None:
        """Takes `entry` out (`reason`: why, remembered for `why_gone`; None: it was mined).
        The heap entry stays and is skipped when popped (lazy deletion)."""
        del self._by_id[entry.txid]
        queue = self._by_sender[entry.sender]
        del queue.entries[entry.tx.nonce]
        queue.state = None
        if not queue.entries:
            del self._by_sender[entry.sender]
        self._bytes -= entry.tx.size
        if reason is not None:
            self._forget(entry.txid, reason)
        if self.journal is not None:
            self._journal_ops.delete(schema.mempool_key(entry.txid))

    def _forget(self, txid: bytes, reason: str) -> None:
        self._gone[txid] = reason
        while len(self._gone) > self.max_gone:
            self._gone.popitem(last=False)

    def _evict(self, entry: _Entry, reason: str) -> None:
        """Evicts `entry`, and its sender's later transactions, which could no longer apply."""
        queue = self._by_sender[entry.sender]
        later = [e for n, e in queue.entries.items() if n > entry.tx.nonce]
        self._remove(entry, f"evicted: {reason}")
        for follower in later:
            self._remove(follower, f"evicted: follows the evicted {entry.txid.hex()}")

    def _evict_over_limits(self) -> None:
        while len(self._by_id) > self.max_count or self._bytes > self.max_bytes:
            victim = heapq.heappop(self._heap)
            if self._by_id.get(victim.txid) is not victim:
                continue
            self._evict(victim, "the mempool is full and its fee per byte too low")
        if len(self._heap) > 2 * len(self._by_id) + 1024:
            self._heap = list(self._by_id.values())
            heapq.heapify(self._heap)

    # -- checking again -------------------------------------------------------------------

    def _replay(
        self, entries: Iterable[_Entry], ctx: BlockContext
    ) -> tuple[StateOverlay, _Entry | None, str]:
        """Applies `entries` in nonce order on the tip's state: the state after those that
        apply, and the first that does not with the rule it breaks (None, "" if all apply)."""
        state = StateOverlay(self.chain.state)
        for entry in sorted(entries, key=lambda e: e.tx.nonce):
            attempt = StateOverlay(state)
            try:
                apply_transaction(attempt, entry.tx, ctx)
            except InvalidTransaction as exc:
                return state, entry, str(exc)
            attempt.merge_into(state)
        return state, None, ""

    def _revalidate(self, sender: Address, ctx: BlockContext) -> None:
        """Checks the sender's pending transactions again from the tip, in nonce order: the
        first that no longer applies is evicted with its reason, and every one after it."""
        queue = self._by_sender.get(sender)
        if queue is None:
            return
        state, failed, reason = self._replay(queue.entries.values(), ctx)
        if failed is not None:
            self._evict(failed, reason)
        if sender in self._by_sender:
            queue.state = state
            queue.reads = frozenset(state.records())

    # -- block production -----------------------------------------------------------------

    def select(self, max_count: int, max_bytes: int) -> list[Transaction]:
        """Executable transactions for the next block, best fee per byte first."""
        heads: list[tuple[int, int, Address, int]] = []
        for sender, queue in self._by_sender.items():
            nonce = min(queue.entries)
            entry = queue.entries[nonce]
            heads.append((-entry.fee_rate, entry.order, sender, nonce))
        heapq.heapify(heads)
        chosen: list[Transaction] = []
        size = 0
        while heads and len(chosen) < max_count:
            _, _, sender, nonce = heapq.heappop(heads)
            entries = self._by_sender[sender].entries
            entry = entries[nonce]
            if size + entry.tx.size > max_bytes:
                continue
            chosen.append(entry.tx)
            size += entry.tx.size
            successor = entries.get(nonce + 1)
            if successor is not None:
                heapq.heappush(heads, (-successor.fee_rate, successor.order, sender, nonce + 1))
        return chosen

    # -- chain updates --------------------------------------------------------------------

    def apply_update(self, update: ChainUpdate) -> None:
        """Follows the chain: drop what was included, evict what no longer applies, and offer
        again what a reorganisation undid."""
        try:
            if update.disconnected or (update.connected and update.changed_keys is None):
                self._reorganized(update)
            elif update.connected:
                self._connected(update)
        finally:
            self._write_journal()

    def _connected(self, update: ChainUpdate) -> None:
        touched: set[Address] = set()
        for block in update.connected:
            for tx in block.transactions:
                touched.add(tx.sender_address)
                entry = self._by_id.get(tx.txid)
                if entry is not None:
                    self._remove(entry, None)
        changed = update.changed_keys or ()
        ctx = self._next_block()
        for sender, queue in list(self._by_sender.items()):
            if sender in touched or queue.height_dependent or not queue.reads.isdisjoint(changed):
                self._revalidate(sender, ctx)

    def _reorganized(self, update: ChainUpdate) -> None:
        """Everything is checked again: the undone blocks' transactions, then the pending ones,
        each in nonce order, as if offered anew (signatures were checked already)."""
        included = {tx.txid for block in update.connected for tx in block.transactions}
        undone = [
            tx
            for block in update.disconnected
            for tx in block.transactions
            if tx.txid not in included
        ]
        pending = sorted(self._by_id.values(), key=lambda e: (e.tx.nonce, e.order))
        for entry in pending:
            self._remove(entry, None)
        # At equal nonces an undone transaction goes first: it was mined once already.
        offered = [(tx.nonce, 0, tx) for tx in undone]
        offered += [(e.tx.nonce, 1, e.tx) for e in pending if e.txid not in included]
        offered.sort(key=lambda item: item[:2])
        self._readmit(tx for _, _, tx in offered)

    # -- the journal ----------------------------------------------------------------------

    def _write_journal(self) -> None:
        if self.journal is None or not len(self._journal_ops):
            return
        ops, self._journal_ops = self._journal_ops, WriteBatch()
        self.journal.write(ops)

    def load(self) -> LoadReport:
        """Admits the journal's transactions again (each checked as on arrival, in nonce
        order); those that no longer apply or do not decode leave the journal."""
        if self.journal is None:
            return LoadReport(0, 0, 0)
        stored: list[Transaction] = []
        undecodable = 0
        for key, value in self.journal.iterate(schema.MEMPOOL_TX):
            try:
                tx: Transaction | None = Transaction.decode(value)
            except DecodeError:
                tx = None
            if tx is None or key != schema.mempool_key(tx.txid):
                self._journal_ops.delete(key)
                undecodable += 1
                continue
            stored.append(tx)
        stored.sort(key=lambda tx: tx.nonce)
        admitted = self._readmit(stored, from_journal=True)
        self._write_journal()
        return LoadReport(admitted, len(stored) - admitted, undecodable)

    def _readmit(self, transactions: Iterable[Transaction], *, from_journal: bool = False) -> int:
        """Offers `transactions` again in their order (their signatures are checked only when
        they come from the journal); those refused are evicted with the reason."""
        admitted = 0
        self._journal_puts = not from_journal  # what the journal holds is not written again
        try:
            for tx in transactions:
                if tx.txid in self._by_id:
                    continue
                try:
                    self._add(tx, check_signature=from_journal)
                except MempoolRejected as exc:
                    self._forget(tx.txid, f"evicted: {exc}")
                    if self.journal is not None:
                        self._journal_ops.delete(schema.mempool_key(tx.txid))
                    continue
                admitted += 1
        finally:
            self._journal_puts = True
        return admitted
