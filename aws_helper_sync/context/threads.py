"""Thread pools that carry the constitution-state into their workers.

A plain ThreadPoolExecutor runs tasks in the worker thread's own context: the
submitter's state is lost, and a state set by one task is seen by the next
task on the same worker. ``ContextThreadPoolExecutor`` runs every task in a
copy of the submitting thread's context instead.

    with state_scope("ohio"), ContextThreadPoolExecutor(4) as pool:
        pool.submit(get_state).result()   # "ohio"

``run_all`` runs a few calls concurrently on one pool per process (SQS batch
mode's state groups): started on first use, reused by every warm invocation,
replaced in a forked child, and joined by the calling thread itself.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from .pools import ProcessPool

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


# --- one pool per process ---

_GROUPS = ProcessPool("aws-helper-sync", ContextThreadPoolExecutor)  # SQS batch mode's state groups


def in_shared_pool() -> bool:
    """True in a thread of the shared pool: work started there runs inline (it must not wait for its own pool)."""
    return _GROUPS.inside()


def shared_pool(workers: int) -> ThreadPoolExecutor:
    """The process's pool for ``run_all``, with room for at least ``workers`` threads (``ProcessPool``).

    Different sizes share one pool sized to the largest asked for: ``run_all``
    bounds how many of its threads one call uses, so a smaller ``max_workers``
    is still honoured.
    """
    return _GROUPS.get(workers)


def run_all(calls: Sequence[Callable[[], T]], max_workers: int) -> list[T]:
    """Run every call, at most ``max_workers`` at a time, and return their results in order.

    The calling thread takes calls too, helped by up to ``max_workers - 1``
    threads of the shared pool; so one call, ``max_workers == 1``, or a caller
    that is itself a pool thread (a nested invocation) runs everything inline,
    starting no thread. Helpers still queued when the calls have run out are
    cancelled instead of waited for: a caller never waits for a thread that is
    not free, so callers inside pool threads cannot deadlock it. Each call runs
    in its own copy of the caller's context. The first exception of a call is
    raised once every call has finished (a KeyboardInterrupt or SystemExit in
    the calling thread right away, and no call starts after it).
    """
    count = len(calls)
    outcomes: list[Any] = [None] * count
    failed: list[Exception] = []
    pending = deque(range(count))  # deque.popleft is thread-safe: each call is taken once

    def drain() -> None:
        while True:
            try:
                index = pending.popleft()
            except IndexError:
                return
            try:
                outcomes[index] = contextvars.copy_context().run(calls[index])
            except Exception as exc:  # noqa: BLE001 - raised in the caller below
                failed.append(exc)

    helpers = min(max_workers, count) - 1
    futures: list[Future[None]] = []
    if helpers > 0 and not in_shared_pool():
        pool = shared_pool(helpers)
        futures = [pool.submit(drain) for _ in range(helpers)]  # each in a copy of this context
    try:
        drain()
    except BaseException:
        pending.clear()  # the caller gives up (KeyboardInterrupt, SystemExit): no helper starts another call
        raise
    finally:
        for future in futures:
            future.cancel()  # not started yet: nothing left for it
    for future in futures:
        if not future.cancelled():
            future.result()  # started: it finishes the call it took
    if failed:
        raise failed[0]
    return outcomes
