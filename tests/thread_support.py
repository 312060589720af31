"""Many threads on one piece of code at once: the hammer the shared caches and pools get."""

from __future__ import annotations

import threading
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
