"""The mempool: signed transactions waiting for a block.

Rules (docs/ledger.md §Mempool):
- Admission checks what can be checked without a block: chain id, minimum fee, size, signature,
  that the nonce is neither used nor more than `max_nonce_gap` ahead, and that the sender can pay
  for all of its pending transactions up to this one.
- One transaction per (sender, nonce). A second one replaces the first only if it pays at least
  `replace_bump_percent` more fee (replace-by-fee); otherwise it is refused as a duplicate.
- Bounded by count and bytes. When full, the transaction with the lowest fee per byte goes, with
  the same sender's later nonces (they could no longer execute); a newcomer that would itself be
  the one to go is refused.
- `select` returns, for a block, the executable transactions (each sender's nonces contiguous from
  its account nonce) in order of fee per byte, each sender's in nonce order.
- After the chain moves (`apply_update`), included transactions leave, transactions whose nonces
  the chain used are dropped, and those of disconnected blocks are offered again.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from pacata.chain.chain import Chain, ChainUpdate
from pacata.chain.keys import Address
from pacata.chain.state import StateOverlay
from pacata.chain.transactions import Transaction
from pacata.chain.transitions import release_matured, spend_of
from pacata.errors import MempoolRejected

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
    cost: int = field(compare=False)


class Mempool:
    def __init__(
        self,
        chain: Chain,
        *,
        max_count: int = 20_000,
        max_bytes: int = 16 * 1024 * 1024,
        max_nonce_gap: int = 64,
        replace_bump_percent: int = 10,
    ) -> None:
        self.chain = chain
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.max_nonce_gap = max_nonce_gap
        self.replace_bump_percent = replace_bump_percent
        self._by_id: dict[bytes, _Entry] = {}
        self._by_sender: dict[Address, dict[int, _Entry]] = {}
        self._heap: list[_Entry] = []
        self._bytes = 0
        self._order = itertools.count()

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
        pending = self._by_sender.get(address, {})
        while nonce in pending:
            nonce += 1
        return nonce

    # -- admission ----------------------------------------------------------------------

    def add(self, tx: Transaction) -> bytes:
        """Admits `tx` and returns its id, or raises `MempoolRejected` with the reason."""
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
        if not tx.has_valid_signature():
            raise MempoolRejected("invalid signature")
        sender = tx.sender_address
        account = release_matured(
            StateOverlay(self.chain.state).account(sender), self.chain.height + 1
        )
        if tx.nonce < account.nonce:
            raise MempoolRejected(f"nonce {tx.nonce} already used (next is {account.nonce})")
        if tx.nonce > account.nonce + self.max_nonce_gap:
            raise MempoolRejected(
                f"nonce {tx.nonce} is more than {self.max_nonce_gap} ahead of {account.nonce}"
            )
        pending = self._by_sender.get(sender, {})
        replaced = pending.get(tx.nonce)
        if replaced is not None:
            needed = replaced.tx.fee + max(1, replaced.tx.fee * self.replace_bump_percent // 100)
            if tx.fee < needed:
                raise MempoolRejected(
                    f"a transaction with nonce {tx.nonce} is pending; a replacement pays at "
                    f"least {needed}"
                )
        cost = tx.fee + spend_of(tx)
        committed = sum(e.cost for n, e in pending.items() if n != tx.nonce)
        if committed + cost > account.balance:
            raise MempoolRejected(
                f"insufficient balance: {account.balance} available, {committed + cost} needed "
                "with the sender's pending transactions"
            )
        entry = _Entry(tx.fee * _RATE_SCALE // tx.size, next(self._order), tx, txid, sender, cost)
        if replaced is not None:
            self._remove(replaced)
        self._insert(entry)
        self._evict_over_limits()
        if txid not in self._by_id:
            raise MempoolRejected("mempool is full and the fee per byte is too low")
        return txid

    def _insert(self, entry: _Entry) -> None:
        self._by_id[entry.txid] = entry
        self._by_sender.setdefault(entry.sender, {})[entry.tx.nonce] = entry
        heapq.heappush(self._heap, entry)
        self._bytes += entry.tx.size

    def _remove(self, entry: _Entry) -> None:
        # The heap entry stays and is skipped when popped (lazy deletion).
        del self._by_id[entry.txid]
        pending = self._by_sender[entry.sender]
        del pending[entry.tx.nonce]
        if not pending:
            del self._by_sender[entry.sender]
        self._bytes -= entry.tx.size

    def _evict_over_limits(self) -> None:
        while len(self._by_id) > self.max_count or self._bytes > self.max_bytes:
            victim = heapq.heappop(self._heap)
            if self._by_id.get(victim.txid) is not victim:
                continue
            later = [e for n, e in self._by_sender[victim.sender].items() if n >= victim.tx.nonce]
            for entry in later:
                self._remove(entry)
        if len(self._heap) > 2 * len(self._by_id) + 1024:
            self._heap = list(self._by_id.values())
            heapq.heapify(self._heap)

    # -- block production -----------------------------------------------------------------

    def select(self, max_count: int, max_bytes: int) -> list[Transaction]:
        """Executable transactions for the next block, best fee per byte first."""
        state = StateOverlay(self.chain.state)
        heads: list[tuple[int, int, Address, int]] = []
        for sender, pending in self._by_sender.items():
            nonce = state.account(sender).nonce
            if nonce in pending:
                entry = pending[nonce]
                heads.append((-entry.fee_rate, entry.order, sender, nonce))
        heapq.heapify(heads)
        chosen: list[Transaction] = []
        size = 0
        while heads and len(chosen) < max_count:
            _, _, sender, nonce = heapq.heappop(heads)
            entry = self._by_sender[sender][nonce]
            if size + entry.tx.size > max_bytes:
                continue
            chosen.append(entry.tx)
            size += entry.tx.size
            successor = self._by_sender[sender].get(nonce + 1)
            if successor is not None:
                heapq.heappush(heads, (-successor.fee_rate, successor.order, sender, nonce + 1))
        return chosen

    # -- chain updates --------------------------------------------------------------------

    def apply_update(self, update: ChainUpdate) -> None:
        """Follows the chain: drop what was included or made stale, re-offer what was undone."""
        included: set[bytes] = set()
        touched: set[Address] = set()
        for block in update.connected:
            for tx in block.transactions:
                included.add(tx.txid)
                touched.add(tx.sender_address)
                entry = self._by_id.get(tx.txid)
                if entry is not None:
                    self._remove(entry)
        for sender in touched:
            self._drop_stale(sender)
        for block in update.disconnected:
            for tx in block.transactions:
                if tx.txid not in included and tx.txid not in self._by_id:
                    try:
                        self.add(tx)
                    except MempoolRejected:
                        continue

    def _drop_stale(self, sender: Address) -> None:
        pending = self._by_sender.get(sender)
        if not pending:
            return
        nonce = self.chain.account(sender).nonce
        for entry in [e for n, e in pending.items() if n < nonce]:
            self._remove(entry)
