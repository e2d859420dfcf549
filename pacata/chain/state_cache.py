"""The state at the chain's tip, with recently used records kept decoded in memory.

Reading an account from LevelDB and decoding it costs about 3.4 µs, and a transfer reads two;
the accounts a block touches are mostly those that recent blocks touched. So, as Bitcoin
Core's coins cache does for its outputs, the chain keeps the records it has recently read or
written, decoded, in front of the store's flat state (docs/ledger.md, "State cache").

Rules:

- The cache mirrors the store at the tip, never anything newer: a block's records enter it
  only once the block's batch is durable (`committed`), and a disconnected block's keys take
  their undo values (`reverted`). A record read for a block that then fails is still the
  store's record, so it may stay.
- Records are immutable wire objects, so one decoded record can be handed to every reader. A
  record decoded by one type is only handed to a reader asking for that type; another reader
  decodes the stored bytes itself.
- The cache is bounded: past `size` entries the quarter that entered it first goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import islice
from typing import TypeVar

from pacata.chain.codec import WireObject
from pacata.chain.state import StateReader

R = TypeVar("R", bound=WireObject)

DEFAULT_SIZE = 1 << 17

# A cached entry: the stored encoding (None: absent) and, once known, its decoded record.
_Entry = tuple[bytes | None, WireObject | None]


class StateCache(StateReader):
    """A `StateReader` over `base` (the store) keeping decoded records of recent keys."""

    __slots__ = ("_base", "_entries", "size")

    def __init__(self, base: StateReader, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("a state cache holds at least one entry")
        self._base = base
        self.size = size
        self._entries: dict[bytes, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[bytes]:
        """The state keys the cache holds."""
        return iter(list(self._entries))

    def get_state(self, key: bytes) -> bytes | None:
        entry = self._entries.get(key)
        return self._base.get_state(key) if entry is None else entry[0]

    def read_record(
        self, key: bytes, decode: Callable[[bytes], R]
    ) -> tuple[bytes | None, R | None]:
        """The stored encoding at `key` and the record `decode` makes of it (None, None when
        absent); a `DecodeError` of `decode` propagates and caches nothing."""
        entry = self._entries.get(key)
        if entry is None:
            raw = self._base.get_state(key)
        else:
            raw, cached = entry
            # `decode` is a bound classmethod, `Account.decode`: equal for the same class.
            if raw is None or (cached is not None and type(cached).decode == decode):
                return raw, cached  # type: ignore[return-value]
        record = None if raw is None else decode(raw)
        self._put(key, (raw, record))
        return raw, record

    def committed(
        self, changes: Mapping[bytes, bytes | None], records: Mapping[bytes, WireObject | None]
    ) -> None:
        """A block's `changes` (key -> new encoding) are durable; `records` holds the decoded
        record of each of their keys, as the block's overlay does (`StateOverlay.records`)."""
        entries = self._entries
        for key, raw in changes.items():
            entries[key] = (raw, records.get(key))
        self._trim()

    def reverted(self, previous: Iterable[tuple[bytes, bytes | None]]) -> None:
        """A block was disconnected: its keys hold their `previous` encodings again."""
        entries = self._entries
        for key, raw in previous:
            entries[key] = (raw, None)
        self._trim()

    def _put(self, key: bytes, entry: _Entry) -> None:
        self._entries[key] = entry
        if len(self._entries) > self.size:
            self._trim()

    def _trim(self) -> None:
        entries = self._entries
        if len(entries) > self.size:
            keep = self.size * 3 // 4
            self._entries = dict(islice(entries.items(), len(entries) - keep, None))
