"""A bounded least-recently-used map, for what the explorer derives from immutable data (a
block's summary and page by its hash, a confirmed transaction's history row by its id).

Bounded by its number of entries and, given a `weigh`, by the sum of its entries' weights (the
bytes of the pages it holds, whose sizes go from 2 KB to megabytes)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most `capacity` entries, and with `weigh` at most `max_weight` of their weights in
    all (an entry heavier than that is not kept); the least recently used one goes first."""

    def __init__(
        self,
        capacity: int,
        *,
        weigh: Callable[[V], int] | None = None,
        max_weight: int = 0,
    ) -> None:
        if capacity < 1:
            raise ValueError("a cache holds one entry at least")
        if weigh is not None and max_weight < 1:
            raise ValueError("a weighed cache needs a positive max_weight")
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._weigh = weigh
        self.max_weight = max_weight
        self.weight = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entries = self._entries
        value = entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        entries = self._entries
        weigh = self._weigh
        if weigh is None:
            entries[key] = value
            entries.move_to_end(key)
            if len(entries) > self.capacity:
                entries.popitem(last=False)
            return
        weight = weigh(value)
        old = entries.pop(key, None)
        if old is not None:
            self.weight -= weigh(old)
        if weight > self.max_weight:
            return
        entries[key] = value
        self.weight += weight
        while len(entries) > self.capacity or self.weight > self.max_weight:
            self.weight -= weigh(entries.popitem(last=False)[1])

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value

    def clear(self) -> None:
        self._entries.clear()
        self.weight = 0
