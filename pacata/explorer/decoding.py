"""A transaction's payload as the rows of its page: every kind decoded (a dispatch table by
payload type, as the ledger's transitions are).

A row is a label, its text, and where it links (an address, a block, a transaction); hashes and
keys are marked as code so they are set in a fixed-width font and can wrap anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pacata.chain.headers import BlockHeader
from pacata.chain.keys import Address
from pacata.chain.transactions import (
    Bond,
    ChannelClose,
    ChannelOpen,
    ChannelSettle,
    ChannelTopup,
    Evidence,
    RelayOffer,
    RelayRegister,
    RelayRetire,
    RelayUpdate,
    Transaction,
    Transfer,
    Unbond,
    named_address,
)
from pacata.chain.transitions import channel_id_of
from pacata.explorer.formatting import count, data_size, pac, rate


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    text: str
    href: str | None = None
    code: bool = False


def address_row(label: str, address: Address) -> Row:
    return Row(label, str(address), f"/address/{address}", code=True)


def _hex_row(label: str, data: bytes, href: str | None = None) -> Row:
    return Row(label, data.hex(), href, code=True)


def channel_row(channel_id: bytes) -> Row:
    return _hex_row("Channel", channel_id, f"/channel/{channel_id.hex()}")


def offer_rows(offer: RelayOffer) -> list[Row]:
    rows = [
        _hex_row("WireGuard key", offer.wireguard_key),
        Row("Endpoints", ", ".join(offer.endpoints), code=True),
    ]
    tiers = zip(offer.prices_per_gib, offer.rate_limits, strict=True)
    for tier, (price, limit) in enumerate(tiers):
        rows.append(Row(f"Tier {tier}", f"{pac(price)} per GiB, rate limit {rate(limit)}"))
    return rows


def _transfer(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, Transfer)
    return [address_row("Recipient", payload.recipient), Row("Amount", pac(payload.amount))]


def _bond(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, Bond)
    return [Row("Bonded", pac(payload.amount)), _hex_row("VRF public key", payload.vrf_public_key)]


def _unbond(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, Unbond)
    return [Row("Unbonded", pac(payload.amount))]


def _relay_offer(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, RelayRegister | RelayUpdate)
    return offer_rows(payload.offer)


def _relay_retire(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, RelayRetire)
    return [Row("Effect", "withdraws the sender's relay offer")]


def _channel_open(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, ChannelOpen)
    return [
        channel_row(channel_id_of(tx.sender, tx.nonce)),
        address_row("Relay", payload.relay),
        Row("Tier", str(payload.tier)),
        Row("Deposit", pac(payload.deposit)),
        Row("Expiry height", count(payload.expiry_height), f"/block/{payload.expiry_height}"),
        _hex_row("Client tunnel key", payload.client_tunnel_key),
    ]


def _channel_topup(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, ChannelTopup)
    return [channel_row(payload.channel_id), Row("Top-up", pac(payload.amount))]


def _channel_settle(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, ChannelSettle)
    receipt = payload.receipt
    return [
        channel_row(receipt.channel_id),
        Row("Receipt chain", receipt.chain_id, code=True),
        Row(
            "Receipt bytes (cumulative)",
            f"{count(receipt.cumulative_bytes)} B ({data_size(receipt.cumulative_bytes)})",
        ),
        Row("Receipt amount (cumulative)", pac(receipt.cumulative_amount)),
        _hex_row("Receipt signature (client)", receipt.signature),
    ]


def _channel_close(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, ChannelClose)
    return [channel_row(payload.channel_id), Row("Effect", "returns the unpaid deposit")]


def _header_rows(which: str, header: BlockHeader) -> list[Row]:
    return [_hex_row(f"{which} header", header.hash), Row(f"{which} slot", count(header.slot))]


def _evidence(tx: Transaction, payload: Any) -> list[Row]:
    assert isinstance(payload, Evidence)
    return [
        address_row("Accused producer", Address.from_public_key(payload.first.producer)),
        *_header_rows("First", payload.first),
        *_header_rows("Second", payload.second),
    ]


_DECODERS: dict[type, Callable[[Transaction, Any], list[Row]]] = {
    Transfer: _transfer,
    Bond: _bond,
    Unbond: _unbond,
    RelayRegister: _relay_offer,
    RelayUpdate: _relay_offer,
    RelayRetire: _relay_retire,
    ChannelOpen: _channel_open,
    ChannelTopup: _channel_topup,
    ChannelSettle: _channel_settle,
    ChannelClose: _channel_close,
    Evidence: _evidence,
}


def payload_rows(tx: Transaction) -> list[Row]:
    """The rows of `tx`'s payload, by its kind."""
    return _DECODERS[type(tx.payload)](tx, tx.payload)


def counterparty(tx: Transaction) -> Address | None:
    """The address a transaction pays or names besides its sender (a list's second column)."""
    return named_address(tx.payload)


def moved_amount(tx: Transaction) -> int | None:
    """What a transaction moves, for a list's amount column (None: nothing simple)."""
    payload = tx.payload
    if isinstance(payload, Transfer | Bond | Unbond | ChannelTopup):
        return payload.amount
    if isinstance(payload, ChannelOpen):
        return payload.deposit
    return None
