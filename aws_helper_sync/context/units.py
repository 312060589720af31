"""One unit of work (a request, a record, a group, a task) in its own context.

Every entry point runs each unit through ``run_in_unit_context``, so nothing the
unit sets leaks into the next one, and a unit without a state never inherits
one. Kept apart from ``threads`` (which imports ``concurrent.futures``) because
every request runs through it, cold start included.
"""

from __future__ import annotations

import contextvars
from typing import Any, Callable, TypeVar

from .state import _state, validate_state

T = TypeVar("T")


def run_in_unit_context(state: str | None, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one unit of work in its own context with exactly ``state`` set (None: no state).

    Every entry point runs each request, record, group or task through this, so
    nothing the unit sets leaks into the next one, and a unit without a state
    never inherits one.
    """
    context = contextvars.copy_context()
    if state is not None or _state.get() is not None:  # (a copy of a context without one has none)
        context.run(_state.set, None if state is None else validate_state(state))
    return context.run(fn, *args, **kwargs) if kwargs else context.run(fn, *args)  # (cheaper without)


def run_in_validated_unit_context(state: str | None, fn: Callable[..., T], /, *args: Any) -> T:
    """``run_in_unit_context`` for a ``state`` the caller has just validated (``known_state``).

    SQS reads and checks each record's state before running it; checking it a
    second time here cost every record an allow-list lookup for nothing.
    Never pass a value that did not come out of ``validate_state``.
    """
    context = contextvars.copy_context()
    context.run(_state.set, state)
    return context.run(fn, *args)
