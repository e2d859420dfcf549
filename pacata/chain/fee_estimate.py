"""What fee a wallet should pay for its transaction to go into the next block (`GET /api/fees`,
docs/api.md §Fees).

Rules:
- The chain's `min_fee` is a minimum per transaction, whatever its size; above it, blocks are
  filled by fee per byte (`Mempool.select`, as block production calls it).
- If the mempool holds no more than the next block takes, the minimum fee is enough:
  `fee_rate_per_kb` is 0. Otherwise the next block as production would fill it now leaves some
  transactions out; `fee_rate_per_kb` is then the smallest whole number of base units per 1,000
  bytes that beats the lowest fee per byte in that block (a tie goes to the older
  transaction, so a newcomer must pay strictly more).
- A transaction of `size` bytes then pays `fee_for(size)`: the larger of `min_fee` and
  `fee_rate_per_kb × size / 1,000` rounded up. `suggested_fee` is that for a typical transfer.
- An estimate, not a promise: transactions that arrive after it can outbid it. It reads the
  mempool and the parameters only, at the cost of one `select` (milliseconds for a full
  mempool).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pacata.chain.keys import PUBLIC_KEY_SIZE, Address
from pacata.chain.mempool import Mempool
from pacata.chain.params import UNITS_PER_PAC
from pacata.chain.transactions import Transaction, Transfer

BYTES_PER_KB = 1_000
# A typical transfer: a sender some hundreds of transactions old, one PAC sent.
_TYPICAL_NONCE = 1_000
_TYPICAL_AMOUNT = UNITS_PER_PAC


@dataclass(frozen=True, slots=True)
class FeeEstimate:
    height: int  # the tip the estimate is for: it is about block height + 1
    min_fee: int
    fee_rate_per_kb: int
    transfer_size: int
    suggested_fee: int
    mempool_bytes: int
    max_block_bytes: int

    def fee_for(self, size: int) -> int:
        """The fee for a transaction of `size` bytes (module rules)."""
        return fee_for_size(self.min_fee, self.fee_rate_per_kb, size)


def fee_for_size(min_fee: int, fee_rate_per_kb: int, size: int) -> int:
    """`min_fee`, or `fee_rate_per_kb` per 1,000 bytes of `size` rounded up if that is more."""
    return max(min_fee, -(-fee_rate_per_kb * size // BYTES_PER_KB))


def typical_transfer_size(chain_id: str, fee: int) -> int:
    """The encoded size of a typical transfer paying `fee` (signatures are of fixed size)."""
    payload = Transfer(Address(bytes(20)), _TYPICAL_AMOUNT)
    return Transaction(chain_id, bytes(PUBLIC_KEY_SIZE), _TYPICAL_NONCE, fee, payload).size


def next_block_fee_rate_per_kb(mempool: Mempool) -> int:
    """The fee per 1,000 bytes that beats the lowest fee per byte of the next block, or 0
    when the mempool holds no more than the next block takes (module rules)."""
    params = mempool.chain.params
    chosen = mempool.select(params.max_block_transactions, params.max_block_bytes)
    if len(chosen) == len(mempool) or not chosen:
        return 0
    lowest = min(chosen, key=lambda tx: (tx.fee * BYTES_PER_KB * BYTES_PER_KB) // tx.size)
    # The smallest k with k / 1,000 > fee / size.
    return lowest.fee * BYTES_PER_KB // lowest.size + 1


def estimate_fees(mempool: Mempool) -> FeeEstimate:
    """What a transaction needs to pay now to go into the next block (module rules)."""
    chain = mempool.chain
    params = chain.params
    size = typical_transfer_size(params.chain_id, params.min_fee)
    estimate = FeeEstimate(
        height=chain.height,
        min_fee=params.min_fee,
        fee_rate_per_kb=next_block_fee_rate_per_kb(mempool),
        transfer_size=size,
        suggested_fee=params.min_fee,
        mempool_bytes=mempool.size_bytes,
        max_block_bytes=params.max_block_bytes,
    )
    # A larger fee may take a byte or two more to encode: size the transfer at its own fee.
    size = typical_transfer_size(params.chain_id, estimate.fee_for(size))
    return replace(estimate, transfer_size=size, suggested_fee=estimate.fee_for(size))
