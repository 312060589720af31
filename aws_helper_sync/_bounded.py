"""Caches that request paths fill from what callers send, bounded by starting over when full.

They hold what a few clients repeat (header name sets, route shapes, accepted
states, header-name runs): a full one means something sends junk, and emptying
it is cheaper than tracking which entry to evict. Dict operations are atomic
under the GIL, so threads racing here at worst compute an entry twice.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V, limit: int) -> V:
    """``cache[key] = value`` (returned), after emptying ``cache`` if it holds ``limit`` entries."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value
