"""The explorer's LRU (pacata/explorer/cache.py): bounded by entries, and by weight."""

from __future__ import annotations

from pacata.explorer.cache import LruCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    assert (cache.hits, cache.misses) == (3, 1)


def test_a_weighed_cache_keeps_its_weight_under_the_bound() -> None:
    cache: LruCache[str, bytes] = LruCache(10, weigh=len, max_weight=10)
    cache.put("a", b"xxxx")
    cache.put("b", b"yyyy")
    assert cache.weight == 8
    cache.put("c", b"zzzz")  # 12 > 10: "a" goes
    assert cache.get("a") is None and cache.weight == 8 and len(cache) == 2
    cache.put("b", b"y")  # replaced: its new weight counts, not both
    assert cache.weight == 5
    cache.put("d", b"w" * 11)  # heavier than the bound: not kept, nothing else evicted
    assert cache.get("d") is None and len(cache) == 2 and cache.weight == 5
    cache.clear()
    assert len(cache) == 0 and cache.weight == 0
