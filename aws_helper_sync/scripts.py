"""Scripts and cron jobs: run one function for many states, each in its own state.

A nightly job usually does the same work for every state. ``for_each_state``
runs those calls on a thread pool, each in a fresh context with exactly its
state set, and collects every outcome: one state failing never stops the others,
and nothing fails silently.

    outcome = for_each_state(["connecticut", "ohio"], rebuild_indexes)
    outcome.raise_for_errors()          # or inspect outcome.results / outcome.errors
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, TypeVar

from .context.state import InvalidStateError, UnknownStateError
from .context.threads import ContextThreadPoolExecutor
from .entrypoint import known_state, run_unit

__all__ = ["DEFAULT_MAX_WORKERS", "StateRunError", "StateRunResults", "for_each_state"]

T = TypeVar("T")

DEFAULT_MAX_WORKERS = 8
"""Default pool size cap (one worker per state up to this), as for SQS batch groups."""

logger = logging.getLogger(__name__)


@dataclass
class StateRunResults(Generic[T]):
    """What ``for_each_state`` returns: each state's result or exception, in input order."""

    results: dict[str, T] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no state failed."""
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raise StateRunError naming every failed state; do nothing when all succeeded."""
        if self.errors:
            raise StateRunError(self)


class StateRunError(RuntimeError):
    """Some states failed; ``.errors`` maps each to its exception, ``.results`` holds the rest."""

    def __init__(self, outcome: StateRunResults[Any]) -> None:
        self.results = outcome.results
        self.errors = outcome.errors
        failed = "; ".join(
            f"{state}: {type(exc).__name__}: {exc}" for state, exc in self.errors.items()
        )
        super().__init__(
            f"{len(self.errors)} of {len(self.errors) + len(self.results)} states failed: {failed}"
        )


def for_each_state(
    states: str | Iterable[str],
    fn: Callable[[str], T],
    *,
    max_workers: int | None = None,
) -> StateRunResults[T]:
    """Call ``fn(state)`` once per state on a thread pool, each call in that state.

    ``states`` is a collection of names; a bare string is one state (never its
    letters). Every state is checked before anything runs, as an entry point
    checks it (spelling, allow lists, state registry): an invalid or duplicated
    state raises ValueError (an unknown one UnknownStateError) and no call is made. Each call runs in a copy of
    the caller's context with its own state set, so it sees the caller's other
    context variables, and the caller's state is untouched afterwards. An
    exception from one call is logged and recorded under its state; the other
    calls carry on. ``max_workers`` defaults to one per state, at most 8.
    """
    ordered = [states] if isinstance(states, str) else list(states)
    bad: list[InvalidStateError] = []
    for state in ordered:
        try:
            known_state(state)
        except InvalidStateError as exc:
            bad.append(exc)
    if bad:  # UnknownStateError only when every refusal is one (a misspelling is the bigger fault)
        error = UnknownStateError if all(isinstance(e, UnknownStateError) for e in bad) else InvalidStateError
        raise error("for_each_state: " + "; ".join(map(str, bad)))
    duplicates = sorted(s for s, n in Counter(ordered).items() if n > 1)
    if duplicates:
        raise ValueError(f"for_each_state: states listed more than once: {', '.join(duplicates)}")
    if max_workers is not None and max_workers < 1:
        raise ValueError(f"for_each_state: max_workers must be at least 1, got {max_workers}")

    outcome: StateRunResults[T] = StateRunResults()
    if not ordered:
        return outcome
    workers = max_workers or min(len(ordered), DEFAULT_MAX_WORKERS)
    pool = ContextThreadPoolExecutor(max_workers=workers, thread_name_prefix="for_each_state")
    try:
        futures: list[tuple[str, Future[T]]] = [
            (state, pool.submit(run_unit, state, fn, state)) for state in ordered
        ]
        for state, future in futures:
            try:
                outcome.results[state] = future.result()
            except Exception as exc:
                logger.error("for_each_state: %s failed", state, exc_info=exc)
                outcome.errors[state] = exc
    finally:
        # On Ctrl-C (or any BaseException) start nothing new, wait for what runs.
        pool.shutdown(wait=True, cancel_futures=True)
    return outcome
