"""What a relay accepts as a channel's newest receipt (docs/paid-tunnels.md §Receipts).

A receipt offered for a channel is accepted when, checked in this order (cheap checks first,
the signature last):

1. it names this chain (`WRONG_CHAIN`) and this channel (`WRONG_CHANNEL`);
2. its amount is not lower than the newest accepted one, nor than what the chain says the
   channel has paid (`AMOUNT_LOWER`), and its bytes not lower than the newest accepted
   receipt's, nor than the channel's settled bytes (`BYTES_LOWER`): receipts are cumulative
   and never go back;
3. its amount is within the channel's deposit (`ABOVE_DEPOSIT`): the chain would refuse to
   settle it;
4. it is signed by the channel's client key (`BAD_SIGNATURE`).

A receipt equal to the newest accepted one is a repeat (its acknowledgement was lost): it is
accepted again, with nothing new to store. Whether a receipt pays for enough of the traffic is
not a reason to refuse it: any valid receipt that is not lower is worth more to the relay than
the one it holds, so it keeps it, and the credit window (relay_meter.py) decides whether the
client is keeping up.
"""

from __future__ import annotations

from enum import StrEnum

from pacata.chain.receipts import Receipt
from pacata.chain.state import Channel
from pacata.errors import ValidationError
from pacata.vpn.channels.channel_book import receipt_floor


class RejectReason(StrEnum):
    """Why a receipt was refused; the value is what a `ReceiptNack` carries."""

    WRONG_CHAIN = "wrong-chain"
    WRONG_CHANNEL = "wrong-channel"
    UNKNOWN_CHANNEL = "unknown-channel"
    AMOUNT_LOWER = "amount-lower"
    BYTES_LOWER = "bytes-lower"
    ABOVE_DEPOSIT = "above-deposit"
    BAD_SIGNATURE = "bad-signature"


class ReceiptRejected(ValidationError):
    """A receipt that a relay does not accept, and why."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(f"receipt refused ({reason}): {detail}")
        self.reason = reason


def check_not_lower(receipt: Receipt, floor_amount: int, floor_bytes: int) -> None:
    """Refuses a receipt below a floor of amount or bytes: receipts never go back."""
    if receipt.cumulative_amount < floor_amount:
        raise ReceiptRejected(
            RejectReason.AMOUNT_LOWER,
            f"amount {receipt.cumulative_amount} is below {floor_amount} already accepted",
        )
    if receipt.cumulative_bytes < floor_bytes:
        raise ReceiptRejected(
            RejectReason.BYTES_LOWER,
            f"bytes {receipt.cumulative_bytes} are below {floor_bytes} already accepted",
        )


def check_receipt(
    receipt: Receipt,
    *,
    chain_id: str,
    channel_id: bytes,
    channel: Channel,
    newest: Receipt | None,
) -> bool:
    """Whether `receipt` is new (True) or repeats `newest` (False); `ReceiptRejected` if the
    relay must refuse it."""
    if receipt.chain_id != chain_id:
        raise ReceiptRejected(RejectReason.WRONG_CHAIN, f"for chain {receipt.chain_id[:32]!r}")
    if receipt.channel_id != channel_id:
        raise ReceiptRejected(RejectReason.WRONG_CHANNEL, f"for channel {receipt.channel_id.hex()}")
    if receipt == newest:
        return False
    check_not_lower(receipt, *receipt_floor(channel, newest))
    if receipt.cumulative_amount > channel.deposit:
        raise ReceiptRejected(
            RejectReason.ABOVE_DEPOSIT,
            f"amount {receipt.cumulative_amount} exceeds the deposit {channel.deposit}",
        )
    if not receipt.verify(channel.client_public_key):
        raise ReceiptRejected(RejectReason.BAD_SIGNATURE, "not signed by the channel's client")
    return True
