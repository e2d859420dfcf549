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
from pacata.chain.state_reader import StateReader

R = TypeVar("R", bound=WireObject)

DEFAULT_SIZE = 1 << 17

# What `dict.get` gives for a key the cache does not hold (None is a value it holds: the key is
# absent from the state). The empty encoding, which no state record has; one that did would
# only be read from the store each time, never wrongly.
_MISSING = b""


class StateCache:
    """A `StateReader` over `base` (the store) keeping decoded records of recent keys."""

    __slots__ = ("_base", "_raw", "_records", "size")

    def __init__(self, base: StateReader, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError("a state cache holds at least one entry")
        self._base = base
        self.size = size
        # Two dicts rather than one of (encoding, record) pairs: bytes and None are not tracked
        # by the cyclic garbage collector, and a pair per key written would be, every block.
        self._raw: dict[bytes, bytes | None] = {}  # key -> stored encoding (None: absent)
        self._records: dict[bytes, WireObject] = {}  # key -> decoded record, for keys of _raw

    def __len__(self) -> int:
        return len(self._raw)

    def __iter__(self) -> Iterator[bytes]:
        """The state keys the cache holds."""
        return iter(list(self._raw))

    def get_state(self, key: bytes) -> bytes | None:
        raw = self._raw.get(key, _MISSING)
        return self._base.get_state(key) if raw is _MISSING else raw

    def read_record(
        self, key: bytes, decode: Callable[[bytes], R]
    ) -> tuple[bytes | None, R | None]:
        """The stored encoding at `key` and the record `decode` makes of it (None, None when
        absent); a `DecodeError` of `decode` propagates and caches nothing."""
        raw = self._raw.get(key, _MISSING)
        if raw is None:
            return None, None
        if raw is _MISSING:
            raw = self._base.get_state(key)
            if raw is None:
                self._put(key, None, None)
                return None, None
        else:
            cached = self._records.get(key)
            # `decode` is a bound classmethod, `Account.decode`: equal for the same class.
            if cached is not None and type(cached).decode == decode:
                return raw, cached  # type: ignore[return-value]
        record = decode(raw)
        self._put(key, raw, record)
        return raw, record

    def committed(
        self, changes: Mapping[bytes, bytes | None], records: Mapping[bytes, WireObject | None]
    ) -> None:
        """A block's `changes` (key -> new encoding) are durable; `records` holds the decoded
        record of each of their keys, as the block's overlay does (`StateOverlay.records`)."""
        raws = self._raw
        decoded = self._records
        for key, raw in changes.items():
            raws[key] = raw
            record = records.get(key)
            if record is None:
                decoded.pop(key, None)
            else:
                decoded[key] = record
        self._trim()

    def reverted(self, previous: Iterable[tuple[bytes, bytes | None]]) -> None:
        """A block was disconnected: its keys hold their `previous` encodings again."""
        for key, raw in previous:
            self._raw[key] = raw
            self._records.pop(key, None)
        self._trim()

    def _put(self, key: bytes, raw: bytes | None, record: WireObject | None) -> None:
        self._raw[key] = raw
        if record is not None:
            self._records[key] = record
        if len(self._raw) > self.size:
            self._trim()

    def _trim(self) -> None:
        raws = self._raw
        if len(raws) > self.size:
            keep = self.size * 3 // 4
            self._raw = dict(islice(raws.items(), len(raws) - keep, None))
            kept = self._raw
            self._records = {key: r for key, r in self._records.items() if key in kept}
