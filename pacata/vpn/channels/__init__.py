"""Paid tunnels as a sans-I/O core (docs/paid-tunnels.md): prices, the credit window, the
relay's meter and its verdict, the client's receipts, the "vpn/receipts" messages, and when and
how settles go on chain. No sockets, threads or clocks: every call takes `now` or a height.
"""

from pacata.vpn.channels.client_meter import ClientChannel, ClientPolicy, topup_due
from pacata.vpn.channels.credit import CreditPolicy
from pacata.vpn.channels.messages import (
    MAX_MESSAGE_BYTES,
    SUBPROTOCOL_NAME,
    ReceiptAck,
    ReceiptMessage,
    ReceiptNack,
    ReceiptOffer,
    UsageReport,
    decode_message,
)
from pacata.vpn.channels.pricing import GIB, amount_for_bytes, bytes_for_amount
from pacata.vpn.channels.receipt_rules import ReceiptRejected, RejectReason, check_receipt
from pacata.vpn.channels.relay_answers import answer_offer, usage_report
from pacata.vpn.channels.relay_meter import Persist, ReceiptAccepted, RelayChannel, Verdict
from pacata.vpn.channels.settle_tracker import (
    ForgetChannel,
    ForgetSettle,
    ForgetWhy,
    SaveSettle,
    SettleAction,
    SettleRecord,
    SettleTracker,
    SubmitSettle,
)
from pacata.vpn.channels.settlement import SettlementPolicy, SettleReason, settle_due

__all__ = [
    "GIB",
    "MAX_MESSAGE_BYTES",
    "SUBPROTOCOL_NAME",
    "ClientChannel",
    "ClientPolicy",
    "CreditPolicy",
    "ForgetChannel",
    "ForgetSettle",
    "ForgetWhy",
    "Persist",
    "ReceiptAccepted",
    "ReceiptAck",
    "ReceiptMessage",
    "ReceiptNack",
    "ReceiptOffer",
    "ReceiptRejected",
    "RejectReason",
    "RelayChannel",
    "SaveSettle",
    "SettleAction",
    "SettleReason",
    "SettleRecord",
    "SettleTracker",
    "SettlementPolicy",
    "SubmitSettle",
    "UsageReport",
    "Verdict",
    "amount_for_bytes",
    "answer_offer",
    "bytes_for_amount",
    "check_receipt",
    "decode_message",
    "settle_due",
    "topup_due",
    "usage_report",
]
