"""The records a DHT node holds, and the ones its owner publishes (Maymounkov & Mazières §2.5).

Rules:

- Values are opaque bytes under 32-byte keys. `validate(key, value)` decides what may be stored
  or returned and `newer(old, new)` whether a value replaces the one held (node records, whose
  key is the node id, plug in here); a validator that raises refuses the value.
- A record expires `record_ttl` after it was last stored. The publisher stores its own values
  again every `republish_interval` at the k nodes then closest (§2.5): this store says which
  and when (`due_for_republish`), the node runs the lookups.
- Bounded by construction: at most `max_records` records; when full, the record farthest from
  our id gives way to a closer key, never one the owner publishes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from pacata.p2p.dht.config import DhtConfig
from pacata.p2p.dht.routing import distance

Validator = Callable[[bytes, bytes], bool]
"""`validate(key, value)`: may `value` be stored and returned under `key`?"""
Newer = Callable[[bytes, bytes], bool]
"""`newer(old, new)`: does `new` replace `old` under the same key?"""


@dataclass(slots=True)
class _Record:
    value: bytes
    expires_at: float


class RecordStore:
    """The records held under their keys, the owner's published values, and the republish
    schedule (see the module rules). Refusals for lack of room are counted in `drops`."""

    def __init__(
        self,
        own_id: bytes,
        config: DhtConfig,
        *,
        validate: Validator,
        newer: Newer,
        drops: Counter[str],
    ) -> None:
        self.own_id = own_id
        self.config = config
        self.validate = validate
        self.newer = newer
        self.drops = drops
        self._records: dict[bytes, _Record] = {}
        self._published: dict[bytes, bytes] = {}
        self._next_republish: float | None = None

    def __len__(self) -> int:
        return len(self._records)

    def clear(self) -> None:
        """Forgets every record held (not what the owner publishes)."""
        self._records.clear()

    def valid(self, key: bytes, value: bytes) -> bool:
        try:
            return bool(self.validate(key, value))
        except Exception:  # a validator that chokes on garbage refuses it
            return False

    def live(self, key: bytes, now: float) -> bytes | None:
        """The value held under `key`, if it has not expired."""
        record = self._records.get(key)
        if record is None:
            return None
        if record.expires_at <= now:
            del self._records[key]
            return None
        return record.value

    def live_items(self, now: float) -> list[tuple[bytes, bytes]]:
        """(key, value) of every record that has not expired, oldest stored first."""
        return [(key, r.value) for key, r in self._records.items() if r.expires_at > now]

    def keep(self, key: bytes, value: bytes, now: float) -> bool:
        """Stores `value` under `key` if it is new, the same, or newer; True if held now."""
        expires_at = now + self.config.record_ttl
        record = self._records.get(key)
        if record is not None:
            if record.value != value and not self._replaces(record.value, value):
                return False
            record.value = value
            record.expires_at = expires_at
            return True
        if len(self._records) >= self.config.max_records and not self._make_room(key, now):
            self.drops["store full"] += 1
            return False
        self._records[key] = _Record(value, expires_at)
        return True

    def expire(self, now: float) -> None:
        for key in [k for k, r in self._records.items() if r.expires_at <= now]:
            del self._records[key]

    def publish(self, key: bytes, value: bytes, now: float) -> None:
        """Holds `value` and keeps it among the owner's values, republished until
        `unpublish`."""
        self._published[key] = value
        self.keep(key, value, now)

    def unpublish(self, key: bytes) -> None:
        self._published.pop(key, None)

    def schedule_republish(self, now: float) -> None:
        """Starts the republish schedule at `now`, the first time only."""
        if self._next_republish is None:
            self._next_republish = now + self.config.republish_interval

    def due_for_republish(self, now: float) -> list[tuple[bytes, bytes]]:
        """The owner's (key, value)s, when a republish is due at `now` (the next one is then
        `republish_interval` later); none otherwise."""
        if self._next_republish is None or self._next_republish > now:
            return []
        self._next_republish = now + self.config.republish_interval
        return list(self._published.items())

    def _replaces(self, old: bytes, new: bytes) -> bool:
        try:
            return bool(self.newer(old, new))
        except Exception:
            return False

    def _make_room(self, key: bytes, now: float) -> bool:
        self.expire(now)
        if len(self._records) < self.config.max_records:
            return True
        own = self.own_id
        farthest = max(self._records, key=lambda k: distance(own, k))
        if distance(own, farthest) <= distance(own, key) or farthest in self._published:
            return False
        del self._records[farthest]
        return True
