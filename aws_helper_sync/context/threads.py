"""Thread pools that carry the constitution-state into their workers.

A plain ThreadPoolExecutor runs tasks in the worker thread's own context: the
submitter's state is lost, and a state set by one task is seen by the next
task on the same worker. ``ContextThreadPoolExecutor`` runs every task in a
copy of the submitting thread's context instead.

    with state_scope("ohio"), ContextThreadPoolExecutor(4) as pool:
        pool.submit(get_state).result()   # "ohio"
"""

from __future__ import annotations

import contextvars
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from .state import _state, validate_state

T = TypeVar("T")


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor whose tasks run in a copy of the submitter's context."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


def submit_with_context(
    executor: ThreadPoolExecutor, fn: Callable[..., T], /, *args: Any, **kwargs: Any
) -> Future[T]:
    """Submit ``fn`` to any executor so it runs in a copy of the caller's context."""
    return executor.submit(contextvars.copy_context().run, fn, *args, **kwargs)


def run_in_unit_context(state: str | None, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one unit of work in its own context with exactly ``state`` set (None: no state).

    Every entry point runs each request, record, group or task through this, so
    nothing the unit sets leaks into the next one, and a unit without a state
    never inherits one.
    """
    context = contextvars.copy_context()
    context.run(_state.set, None if state is None else validate_state(state))
    return context.run(fn, *args, **kwargs)
