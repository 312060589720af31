"""Thread pools that carry the constitution-state into their workers.

A plain ThreadPoolExecutor runs tasks in the worker thread's own context: the
submitter's state is lost, and a state set by one task is seen by the next
task on the same worker. ``ContextThreadPoolExecutor`` runs every task in a
copy of the submitting thread's context instead.

    with state_scope("ohio"), ContextThreadPoolExecutor(4) as pool:
        pool.submit(get_state).result()   # "ohio"

``run_all`` runs a few calls concurrently on helper threads of the process (SQS
batch mode's state groups): started on first use, reused by every warm
invocation, fresh in a forked child, and joined by the calling thread itself.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, TypeVar

from .pools import HelperThreads

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


# --- one set of helper threads per process ---

_GROUPS = HelperThreads("aws-helper-sync")  # SQS batch mode's state groups


def in_shared_pool() -> bool:
    """True in a helper thread of ``run_all``: work started there runs inline (it must not wait for its own pool)."""
    return _GROUPS.inside()


class _Calls:
    """The calls of one ``run_all``, taken one at a time by the caller and its helpers."""

    __slots__ = ("base", "calls", "done", "failed", "lock", "outcomes", "pending", "unfinished")

    def __init__(self, calls: Sequence[Callable[[], Any]]) -> None:
        self.calls = calls
        self.base = contextvars.copy_context()  # each call runs in a copy of it: the caller's context
        self.outcomes: list[Any] = [None] * len(calls)
        self.failed: list[BaseException] = []  # in the order they happened
        self.pending = deque(range(len(calls)))  # deque.popleft is thread-safe: each call is taken once
        self.unfinished = len(calls)
        self.lock = threading.Lock()
        self.done = threading.Lock()  # held until the last call has finished
        self.done.acquire()

    def drain(self) -> None:
        """Run calls until none is left (the caller: a KeyboardInterrupt or SystemExit is raised right away)."""
        pending = self.pending
        while True:
            try:
                index = pending.popleft()
            except IndexError:
                return
            try:
                self.outcomes[index] = self.base.copy().run(self.calls[index])
            except Exception as exc:  # noqa: BLE001 - raised in the caller by run_all
                self.failed.append(exc)
            self._finished()

    def help(self) -> None:
        """``drain`` for a helper thread: nothing it runs escapes; a BaseException ends its part."""
        pending = self.pending
        while True:
            try:
                index = pending.popleft()
            except IndexError:
                return  # (also a job taken after every call ran: the caller has not waited for it)
            try:
                self.outcomes[index] = self.base.copy().run(self.calls[index])
            except BaseException as exc:  # noqa: BLE001 - raised in the caller by run_all
                self.failed.append(exc)
                self._finished()
                if not isinstance(exc, Exception):
                    return
            else:
                self._finished()

    def _finished(self) -> None:
        with self.lock:
            self.unfinished -= 1
            last = self.unfinished == 0
        if last:
            self.done.release()


def run_all(calls: Sequence[Callable[[], T]], max_workers: int) -> list[T]:
    """Run every call, at most ``max_workers`` at a time, and return their results in order.

    The calling thread takes calls too, helped by up to ``max_workers - 1``
    helper threads of the process (``HelperThreads``: started on first use,
    reused by every warm invocation, fresh in a forked child). One call,
    ``max_workers == 1``, or a caller that is itself a helper thread (a nested
    invocation) runs everything inline, starting no thread. The caller waits
    only for calls a helper has taken, never for a helper to become free, so
    callers inside helper threads cannot deadlock them. Each call runs in its
    own copy of the caller's context. The first exception of a call is raised
    once every call has finished; a KeyboardInterrupt or SystemExit in the
    calling thread right away, and no call starts after it.
    """
    count = len(calls)
    helpers = min(max_workers, count) - 1
    if helpers <= 0 or in_shared_pool():
        outcomes: list[Any] = [None] * count
        failed: list[Exception] = []
        for index, call in enumerate(calls):
            try:
                outcomes[index] = contextvars.copy_context().run(call)
            except Exception as exc:  # noqa: BLE001 - raised below, once every call has run
                failed.append(exc)
        if failed:
            raise failed[0]
        return outcomes
    run = _Calls(calls)
    _GROUPS.put(run.help, helpers)
    try:
        run.drain()
    except BaseException:
        run.pending.clear()  # the caller gives up: no helper starts another call
        raise
    run.done.acquire()  # every call has finished (the last one released it, maybe this thread)
    run.calls = ()  # a helper that takes its job late finds nothing to run and holds nothing
    if run.failed:
        raise next((exc for exc in run.failed if not isinstance(exc, Exception)), run.failed[0])
    return run.outcomes
