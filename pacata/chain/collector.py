"""Python's cyclic garbage collector, paused while a block is decoded or imported.

A block of a few thousand transactions allocates hundreds of thousands of small objects that
reference counting frees again, with no cycles among them. The collector does not know that:
each burst of allocations sets off young collections, and the objects of a block still being
worked on survive them, are promoted, and soon add up to a full collection, which walks every
long-lived object of the node (about 10 % of an import, measured in benchmarks/validate.py).
With the collector paused for the duration, the block's objects are freed before it ever runs;
whatever cycles a block does leave are collected afterwards, as usual.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The collector off for the duration, if it was on; nested pauses are free."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
