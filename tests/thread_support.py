"""Many threads on one piece of code at once: the hammer the shared caches and pools get."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Callable


def run_together(target: Callable[[int], object], count: int, timeout: float = 60.0) -> list[BaseException]:
    """Run ``target(index)`` on ``count`` threads released together (a barrier); what they raised.

    An empty list means every thread returned; a thread still running after
    ``timeout`` seconds is reported as a TimeoutError, so a deadlock fails the test.
    """
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait()
        try:
            target(index)
        except BaseException as exc:  # noqa: BLE001 - handed to the test, which asserts on it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    errors.extend(TimeoutError(f"{thread.name} still running after {timeout} s")
                  for thread in threads if thread.is_alive())
    return errors


@contextmanager
def environment_flipping(changes: Sequence[Mapping[str, str]]) -> Iterator[None]:
    """While the block runs, a thread keeps setting the variables of each of ``changes`` in turn.

    The writer of the settings hammers: readers run inside the block, and the
    block's end stops and joins the writer (so the test can then set the final values).
    """
    stop = threading.Event()

    def writer() -> None:
        n = 0
        while not stop.is_set():
            for name, value in changes[n % len(changes)].items():
                os.environ[name] = value
            n += 1

    background = threading.Thread(target=writer)
    background.start()
    try:
        yield
    finally:
        stop.set()
        background.join()
