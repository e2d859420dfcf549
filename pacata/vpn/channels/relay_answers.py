"""What a relay answers on the "vpn/receipts" sub-protocol (docs/paid-tunnels.md §Receipt flow).

    answer = answer_offer(meters, offer, now, persist=store.put_receipt)
    peer.send(answer.encode_message())

Rules:
- An offer for a channel the relay does not meter is refused (`unknown-channel`).
- A new receipt is stored durably (`persist`, a synced write) before it is acknowledged; if
  the write fails, the error goes to the caller and nothing is acknowledged. A repeat of the
  newest receipt is acknowledged again without a write: it is stored already.
- A refused receipt gets a `ReceiptNack` with the reason; the relay keeps what it had.
"""

from __future__ import annotations

from collections.abc import Mapping

from pacata.vpn.channels.messages import ReceiptAck, ReceiptNack, ReceiptOffer, UsageReport
from pacata.vpn.channels.receipt_rules import ReceiptRejected, RejectReason
from pacata.vpn.channels.relay_meter import Persist, RelayChannel


def answer_offer(
    meters: Mapping[bytes, RelayChannel], offer: ReceiptOffer, now: float, persist: Persist
) -> ReceiptAck | ReceiptNack:
    receipt = offer.receipt
    meter = meters.get(receipt.channel_id)
    if meter is None:
        return ReceiptNack(receipt.channel_id, str(RejectReason.UNKNOWN_CHANNEL))
    try:
        meter.accept_receipt(receipt, now, persist)
    except ReceiptRejected as exc:
        return ReceiptNack(receipt.channel_id, str(exc.reason))
    return ReceiptAck(receipt.channel_id, receipt.cumulative_amount)


def usage_report(meter: RelayChannel) -> UsageReport:
    """The relay's count of the channel's bytes, for the client to compare with its own."""
    return UsageReport(meter.channel_id, meter.billed_bytes)
