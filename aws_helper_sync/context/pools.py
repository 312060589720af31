"""One thread pool per process for a kind of work, as SQS state groups and batch sends need.

A pool is created on first use, replaced by a larger one when a caller asks for
more threads, and forgotten in a forked child (the parent's threads are not
there, and a lock a parent thread held would never be released). Threads start
as needed and stay for the next invocation; a replaced pool's idle threads exit
once the calls still using it are done (a ThreadPoolExecutor's workers stop when
it is garbage collected). ``inside()`` is True in the pool's own threads: work
started there must not wait for the pool, which could be waiting for it.

Importing this module starts nothing and imports no ``concurrent.futures``.
"""

from __future__ import annotations

import os
import threading
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


_pools: list[ProcessPool] = []


def _after_fork_in_child() -> None:
    # A fork from inside a pool thread must not mark the child's only thread as one of them either.
    for pool in _pools:
        pool._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
