"""The process's threads for a kind of work: SQS state groups, batch sends.

Each kind is created on first use, grown when a caller asks for more threads,
and forgotten in a forked child (the parent's threads are not there, and a lock
a parent thread held would never be released). Threads start as needed and
stay for the next invocation. ``inside()`` is True in the kind's own threads:
work started there must not wait for them, which could be waiting for it.

- ``ProcessPool``: a ``ThreadPoolExecutor`` (futures), for callers that want
  one result per task (batch sends). A replaced pool's idle threads exit once
  the calls still using it are done.
- ``HelperThreads``: threads that take plain jobs from one queue, for a caller
  that waits for all of its calls itself (``threads.run_all``).

Importing this module starts nothing and imports no ``concurrent.futures``.
"""

from __future__ import annotations

import os
import threading
from queue import SimpleQueue
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor


def _thread_pool(max_workers: int, thread_name_prefix: str,
                 initializer: Callable[[], object]) -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix,
                              initializer=initializer)


class ProcessPool:
    """The process's pool of one kind: ``get(workers)`` returns it with at least ``workers`` threads."""

    def __init__(self, thread_name_prefix: str,
                 executor: Callable[..., ThreadPoolExecutor] = _thread_pool) -> None:
        self.thread_name_prefix = thread_name_prefix
        self._executor = executor
        self._forget()
        _pools.append(self)

    def _forget(self) -> None:
        self.current: tuple[ThreadPoolExecutor | None, int] = (None, 0)  # (pool, its size), replaced whole
        self.lock = threading.Lock()
        self._threads = threading.local()  # .inside is True in this pool's threads

    def get(self, workers: int) -> ThreadPoolExecutor:
        pool, size = self.current
        if pool is not None and size >= workers:
            return pool
        with self.lock:
            pool, size = self.current
            if pool is None or size < workers:
                pool = self._executor(max_workers=workers, thread_name_prefix=self.thread_name_prefix,
                                      initializer=self._mark_thread)
                self.current = (pool, workers)
            return pool

    def inside(self) -> bool:
        """True in a thread of this pool."""
        return getattr(self._threads, "inside", False)

    def _mark_thread(self) -> None:
        self._threads.inside = True


class HelperThreads:
    """Threads of one kind that each take jobs, plain callables, from one shared queue.

    Lighter than a ThreadPoolExecutor for a caller that waits for all of its
    calls itself: putting a job is one ``SimpleQueue.put`` (no Future, no
    Condition), and a thread that finishes a job goes back to the queue without
    waking anybody. With 8 state groups each waiting 20 ms, an executor's
    futures, its idle semaphore and the caller's waits on them cost about
    0.35 ms per invocation; these threads about none (benchmarks/bench_anchors.py,
    the fan-out rows). A job must not raise: it reports its own outcome.
    """

    def __init__(self, thread_name_prefix: str) -> None:
        self.thread_name_prefix = thread_name_prefix
        self._forget()
        _pools.append(self)

    def _forget(self) -> None:
        self.lock = threading.Lock()
        self.jobs: SimpleQueue[Callable[[], object] | None] = SimpleQueue()  # None: the thread that takes it exits
        self.threads: list[threading.Thread] = []  # started so far, in order; replaced whole
        self._threads = threading.local()  # .inside is True in these threads

    def put(self, job: Callable[[], object], count: int) -> None:
        """Have ``count`` of these threads run ``job`` (each once), starting threads as needed; no wait."""
        if len(self.threads) < count:
            self._grow(count)
        jobs = self.jobs
        for _ in range(count):
            jobs.put(job)

    def _grow(self, count: int) -> None:
        with self.lock:
            threads = list(self.threads)
            while len(threads) < count:
                thread = threading.Thread(target=self._serve, args=(self.jobs,), daemon=_DAEMON,
                                          name=f"{self.thread_name_prefix}_{len(threads)}")
                thread.start()
                threads.append(thread)
            self.threads = threads

    def _serve(self, jobs: SimpleQueue[Callable[[], object] | None]) -> None:
        self._threads.inside = True
        while True:
            job = jobs.get()
            if job is None:
                return
            job()
            del job  # (not held while this thread waits for the next one)

    def inside(self) -> bool:
        """True in one of these threads."""
        return getattr(self._threads, "inside", False)

    def stop(self) -> None:
        """Let every thread exit once the jobs queued before are done (interpreter exit), and join them."""
        threads = self.threads
        for _ in threads:
            self.jobs.put(None)
        for thread in threads:
            thread.join()


_pools: list[ProcessPool | HelperThreads] = []


def _stop_helpers() -> None:
    for pool in _pools:
        if isinstance(pool, HelperThreads):
            pool.stop()


# As concurrent.futures does for its workers: at interpreter exit, before the non-daemon threads are
# joined, each thread finishes what it has taken and exits (a call the caller abandoned, e.g. on
# KeyboardInterrupt, is not cut off halfway). Where threading has no such hook, the threads are daemons.
_register_atexit = getattr(threading, "_register_atexit", None)
_DAEMON = _register_atexit is None
if _register_atexit is not None:
    _register_atexit(_stop_helpers)


def _after_fork_in_child() -> None:
    # A fork from inside a pool thread must not mark the child's only thread as one of them either.
    for pool in _pools:
        pool._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
