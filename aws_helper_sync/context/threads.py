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
import logging
import threading
import weakref
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue
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


class _Crew:
    """The threads ``run_all`` borrows: each takes a task from one queue and runs it, nothing else.

    A ThreadPoolExecutor built a Future (a Condition and its lock) per task and
    woke its worker through a semaphore; each helper of an 8-group batch cost
    about 60,000 instructions that way, a fifth of the invocation, paid before
    the last group could start. ``run_all`` does its own bookkeeping, so a task
    here is a bare callable. Threads start as tasks need them, up to
    ``max_workers``, and stay; when the crew is garbage collected (replaced by
    a larger one), its idle threads exit.
    """

    def __init__(self, max_workers: int, thread_name_prefix: str, initializer: Callable[[], object]) -> None:
        self._max_workers = max_workers
        self._thread_name_prefix = thread_name_prefix
        self._initializer = initializer
        self._queue: SimpleQueue[Callable[[], object] | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        weakref.finalize(self, _stop_crew, self._queue, self._threads)  # (holds neither the crew nor a thread's work)

    def start(self, task: Callable[[], object], count: int) -> None:
        """Queue ``task`` ``count`` times, starting threads so that up to ``count`` can run at once.

        Fewer when no more threads can be started: the caller of ``run_all`` runs what is left.
        """
        wanted = min(count, self._max_workers)
        if len(self._threads) < wanted:
            with self._lock:
                while len(self._threads) < wanted:
                    thread = threading.Thread(
                        target=_crew_member, args=(self._queue, self._initializer), daemon=True,
                        name=f"{self._thread_name_prefix}_{len(self._threads)}",
                    )
                    try:
                        thread.start()
                    except RuntimeError:  # no thread to be had: the tasks wait for the threads there are
                        break
                    self._threads.append(thread)
        for _ in range(min(count, len(self._threads))):  # (none queued that no thread could take)
            self._queue.put(task)


def _crew_member(queue: SimpleQueue[Callable[[], object] | None], initializer: Callable[[], object]) -> None:
    initializer()
    while True:
        task = queue.get()
        if task is None:  # the crew is gone
            return
        try:
            task()  # (run_all's tasks keep what happened for their caller: they do not raise)
        except BaseException:  # should one raise, its thread stays in the crew
            logging.getLogger(__name__).exception("a run_all task raised")
        del task  # nothing of a finished task is held while waiting for the next


def _stop_crew(queue: SimpleQueue[Callable[[], object] | None], threads: list[threading.Thread]) -> None:
    for _ in threads:
        queue.put(None)


_GROUPS = ProcessPool("aws-helper-sync", _Crew)  # SQS batch mode's state groups


def in_shared_pool() -> bool:
    """True in a thread of the shared pool: work started there runs inline (it must not wait for its own pool)."""
    return _GROUPS.inside()


def shared_pool(workers: int) -> _Crew:
    """The process's threads for ``run_all``, at least ``workers`` of them (``ProcessPool``).

    Different sizes share one crew sized to the largest asked for: ``run_all``
    bounds how many of its threads one call uses, so a smaller ``max_workers``
    is still honoured.
    """
    return _GROUPS.get(workers)


def run_all(calls: Sequence[Callable[[], T]], max_workers: int) -> list[T]:
    """Run every call, at most ``max_workers`` at a time, and return their results in order.

    The calling thread takes calls too, helped by up to ``max_workers - 1``
    threads of the shared pool; so one call, ``max_workers == 1``, or a caller
    that is itself a pool thread (a nested invocation) runs everything inline,
    starting no thread. The caller then waits only for calls that a helper has
    taken (a helper that starts once the calls have run out does nothing): it
    never waits for a thread that is not free, so callers inside pool threads
    cannot deadlock it. Each call runs in its own copy of the caller's context.
    The first exception of a call is raised once every call has finished (a
    KeyboardInterrupt or SystemExit in the calling thread right away).
    """
    count = len(calls)
    outcomes: list[Any] = [None] * count
    failed: list[BaseException] = []
    pending = deque(range(count))  # deque.popleft is thread-safe: each call is taken once
    context = contextvars.copy_context()
    unfinished = [count]
    counting = threading.Lock()
    all_done = threading.Lock()  # held until the last call finishes
    all_done.acquire()

    def run(index: int, helper: bool) -> None:
        try:
            outcomes[index] = context.copy().run(calls[index])
        except Exception as exc:  # noqa: BLE001 - raised in the caller below
            failed.append(exc)
        except BaseException as exc:
            if not helper:
                raise  # in the calling thread: right away
            failed.append(exc)  # in a helper: raised by the caller, not lost with the thread
        finally:
            with counting:
                unfinished[0] -= 1
                last = unfinished[0] == 0
            if last:
                all_done.release()

    def drain(helper: bool = True) -> None:
        while True:
            try:
                index = pending.popleft()
            except IndexError:
                return
            run(index, helper)

    helpers = min(max_workers, count) - 1
    if helpers > 0 and not in_shared_pool():
        shared_pool(helpers).start(drain, helpers)
    if count:
        drain(helper=False)
        all_done.acquire()  # the calls helpers took are finished
    if failed:
        raise failed[0]
    return outcomes
