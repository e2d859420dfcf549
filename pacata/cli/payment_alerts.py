"""Which payments the shell tells the user about: confirmed transfers to one of their accounts
that it had not seen before. A policy apart from the shell's thread and screen, so it is
tested with plain pages.

Rules: an account's first look is silent (what arrived before the shell watched it, or before
the account was added, is history, not news); after that, every confirmed transfer to it not
seen before is told once. A look reads the newest page; if none of it was seen before and there
is more, the watcher reads older pages (`wants_older`) until it meets a seen one or a bound, so
a burst larger than a page is not lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pacata.chain.keys import Address
from pacata.chain.transactions import Transfer

if TYPE_CHECKING:
    from pacata.rpc import AddressTransaction


class PaymentAlerts:
    def __init__(self) -> None:
        self._seen: dict[Address, set[bytes]] = {}

    def wants_older(self, address: Address, page: Sequence[AddressTransaction]) -> bool:
        """Whether a page older than `page` may hold payments not seen yet."""
        seen = self._seen.get(address)
        if seen is None:
            return False  # the first look is silent: there is nothing to catch up on
        return not any(item.txid in seen for item in page if item.confirmed)

    def arrived(
        self, address: Address, items: Sequence[AddressTransaction]
    ) -> list[AddressTransaction]:
        """The confirmed transfers to `address` among `items` to tell about now."""
        first_look = address not in self._seen
        seen = self._seen.setdefault(address, set())
        new = [item for item in items if item.confirmed and item.txid not in seen]
        seen.update(item.txid for item in new)
        if first_look:
            return []
        return [
            item
            for item in new
            if isinstance(item.transaction.payload, Transfer)
            and item.transaction.payload.recipient == address
        ]
