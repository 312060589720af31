"""Shared records of the consumers that tests/test_sqs_pool.py writes into a temporary app root."""

from __future__ import annotations

import threading
from contextvars import ContextVar
from typing import Any

MARKER: ContextVar[str | None] = ContextVar("sqs_pool_marker", default=None)  # set by every group

IMPORTS: list[str] = []  # one entry per import of a consumer file
CALLS: list[tuple[str | None, list[str], str | None, int]] = []  # (state, ids, MARKER seen at start, thread ident)
NESTED: list[tuple[str | None, dict[str, Any]]] = []  # (outer state, the nested invocation's response)
NESTED_EVENTS: dict[str | None, dict[str, Any]] = {}  # outer state -> the event its group invokes with
_concurrency = {"now": 0, "max": 0}  # groups inside process_batch at once
_lock = threading.Lock()


def record_call(state: str | None, ids: list[str], leaked: str | None) -> None:
    """A group started (the consumer calls ``group_done`` when it ends)."""
    with _lock:
        CALLS.append((state, ids, leaked, threading.get_ident()))
        _concurrency["now"] += 1
        _concurrency["max"] = max(_concurrency["max"], _concurrency["now"])


def group_done() -> None:
    with _lock:
        _concurrency["now"] -= 1


def record_nested(state: str | None, response: dict[str, Any]) -> None:
    with _lock:
        NESTED.append((state, response))


def max_concurrent() -> int:
    """The most groups that were inside ``process_batch`` at the same time since ``reset``."""
    return _concurrency["max"]


def reset() -> None:
    with _lock:
        IMPORTS.clear()
        CALLS.clear()
        NESTED.clear()
        NESTED_EVENTS.clear()
        _concurrency.update(now=0, max=0)
