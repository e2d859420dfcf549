"""What a search finds (`/search?q=`): a height, a block hash, a transaction id, a channel id,
an address, or the start of an address.

Rules:
- The query is trimmed and at most `MAX_QUERY` characters; anything else is not found (the
  page says so, escaped).
- A decimal is a height of the main chain; 64 hex digits are tried as a block hash, a
  transaction id (on the chain, then in the mempool), then a channel id (open in the state, or
  known to the address index).
- A full `pac1…` address goes to its page. A shorter `pac1…` (at least `MIN_PREFIX` characters
  after `pac1`) lists the accounts whose address starts with it: the first characters give the
  first bits of the address, so the accounts are read from that key range of the state only,
  and at most `MAX_PREFIX_SCAN` of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pacata.chain import schema
from pacata.chain.bech32m import CHARSET
from pacata.chain.keys import ADDRESS_SIZE, Address
from pacata.chain.state import Account, Namespace, StateOverlay, state_key
from pacata.errors import DecodeError
from pacata.explorer.source import ExplorerSource

MAX_QUERY = 128
MIN_PREFIX = 2
MAX_PREFIX_MATCHES = 50
MAX_PREFIX_SCAN = 20_000
ADDRESS_PREFIX = "pac1"
ADDRESS_TEXT_SIZE = len(str(Address(bytes(ADDRESS_SIZE))))
_DECIMAL = re.compile(r"[0-9]{1,19}")
_HASH = re.compile(r"[0-9a-fA-F]{64}")
_PARTIAL_ADDRESS = re.compile(f"{ADDRESS_PREFIX}[{CHARSET}]*")


@dataclass(frozen=True, slots=True)
class AddressMatch:
    address: Address
    balance: int


@dataclass(slots=True)
class SearchOutcome:
    """Where to go (`location`), or the matches of an address prefix, or nothing found."""

    location: str | None = None
    matches: list[AddressMatch] = field(default_factory=list)
    # The matches stopped at a bound: there may be more.
    truncated: bool = False
    # Why nothing was found, when nothing was.
    reason: str = ""


def search(source: ExplorerSource, query: str) -> SearchOutcome:
    text = query.strip()
    if not text:
        return SearchOutcome(reason="Type a height, a block hash, a transaction id or an address.")
    if len(text) > MAX_QUERY:
        return SearchOutcome(reason="That is longer than anything the explorer can find.")
    chain = source.chain
    if _DECIMAL.fullmatch(text):
        height = int(text)
        if height <= chain.height:
            return SearchOutcome(location=f"/block/{height}")
        return SearchOutcome(reason=f"The chain's tip is at height {chain.height}.")
    if _HASH.fullmatch(text):
        return _by_hash(source, bytes.fromhex(text))
    lowered = text.lower()
    if lowered.startswith(ADDRESS_PREFIX):
        if len(lowered) == ADDRESS_TEXT_SIZE:
            try:
                address = Address.from_string(lowered)
            except DecodeError as exc:
                return SearchOutcome(reason=f"That is not a valid address ({exc}).")
            return SearchOutcome(location=f"/address/{address}")
        if _PARTIAL_ADDRESS.fullmatch(lowered) and len(lowered) < ADDRESS_TEXT_SIZE:
            return _by_prefix(source, lowered)
    return SearchOutcome(
        reason="Nothing on this chain has that height, hash, transaction id or address."
    )


def _by_hash(source: ExplorerSource, value: bytes) -> SearchOutcome:
    chain = source.chain
    if chain.store.block_info(value) is not None:
        return SearchOutcome(location=f"/block/{value.hex()}")
    if chain.store.tx_location(value) is not None or source.mempool.get(value) is not None:
        return SearchOutcome(location=f"/tx/{value.hex()}")
    index = source.address_index()
    known_channel = index is not None and index.channel(value) is not None
    if known_channel or StateOverlay(chain.state).channel(value) is not None:
        return SearchOutcome(location=f"/channel/{value.hex()}")
    return SearchOutcome(reason="No block, transaction or channel has that hash.")


def _by_prefix(source: ExplorerSource, text: str) -> SearchOutcome:
    characters = text[len(ADDRESS_PREFIX) :]
    if len(characters) < MIN_PREFIX:
        return SearchOutcome(
            reason=f"Type at least {MIN_PREFIX} characters after {ADDRESS_PREFIX} to list "
            "the addresses that start with them."
        )
    bits = "".join(f"{CHARSET.index(c):05b}" for c in characters)
    whole_bytes = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - 7, 8))
    prefix = schema.state_entry_key(state_key(Namespace.ACCOUNT, whole_bytes))
    outcome = SearchOutcome()
    scanned = 0
    for key, value in source.chain.kv.iterate(prefix):
        scanned += 1
        if scanned > MAX_PREFIX_SCAN or len(outcome.matches) == MAX_PREFIX_MATCHES:
            outcome.truncated = True
            break
        raw = key[len(prefix) - len(whole_bytes) :]
        if len(raw) != ADDRESS_SIZE:
            continue
        address = Address(raw)
        if str(address).startswith(text):
            outcome.matches.append(AddressMatch(address, Account.decode(value).balance))
    if not outcome.matches:
        outcome.reason = f"No account's address starts with {text}."
    return outcome
