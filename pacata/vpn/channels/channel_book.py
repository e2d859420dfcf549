"""What either side of a channel keeps: its terms (id, chain, price per GiB), the chain's
record of it, and the newest receipt; and from them the floors no later receipt may go below
(docs/paid-tunnels.md §Receipts).

Both floors count what the chain has settled as well as the newest receipt, because a settled
receipt was signed by the client too: a relay that lost its store, or a client that lost its
meter, starts from the chain.
"""

from __future__ import annotations

from pacata.chain.receipts import Receipt
from pacata.chain.state import Channel


def receipt_floor(channel: Channel, newest: Receipt | None) -> tuple[int, int]:
    """The (amount, bytes) no later receipt of the channel may be below."""
    if newest is None:
        return channel.paid, channel.settled_bytes
    return (
        max(channel.paid, newest.cumulative_amount),
        max(channel.settled_bytes, newest.cumulative_bytes),
    )


class ChannelBook:
    def __init__(
        self,
        channel_id: bytes,
        channel: Channel,
        chain_id: str,
        price_per_gib: int,
        newest_receipt: Receipt | None,
    ) -> None:
        if price_per_gib < 0:
            raise ValueError("a price is not negative")
        if newest_receipt is not None and (
            newest_receipt.channel_id != channel_id or newest_receipt.chain_id != chain_id
        ):
            raise ValueError("the receipt is for another channel or chain")
        self.channel_id = channel_id
        self.chain_id = chain_id
        self.price_per_gib = price_per_gib
        self._channel = channel
        self._newest = newest_receipt

    @property
    def channel(self) -> Channel:
        return self._channel

    @property
    def newest_receipt(self) -> Receipt | None:
        return self._newest

    @property
    def paid_amount(self) -> int:
        """The most the client has signed for: its newest receipt, or the chain's paid."""
        return receipt_floor(self._channel, self._newest)[0]

    @property
    def receipted_bytes(self) -> int:
        """The client's count in its newest receipt, or the chain's settled bytes."""
        return receipt_floor(self._channel, self._newest)[1]

    def update_channel(self, channel: Channel) -> None:
        """The chain's record of the channel changed (a top-up, a settle)."""
        if (channel.client_public_key, channel.relay) != (
            self._channel.client_public_key,
            self._channel.relay,
        ):
            raise ValueError("the record is of another channel")
        self._channel = channel
