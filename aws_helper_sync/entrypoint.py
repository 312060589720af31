"""What every entry-point class shares: ``logger``, ``db``, ``external_db``, the unit of work.

API, Lambda, SQSConsumer and FargateTask inherit ``EntryPoint``; their
handlers run each unit (request, record, state group, task) through
``run_unit`` so that it has exactly its own state and leaks nothing.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, TypeVar

from .context.threads import run_in_unit_context
from .database.access import DatabaseAccess

T = TypeVar("T")


class EntryPoint(DatabaseAccess):
    """Base of the user-facing classes."""

    @property
    def logger(self) -> logging.Logger:
        """A logger named after the concrete class."""
        return logging.getLogger(type(self).__name__)

    def validate(self) -> None:
        """Check the input before the main step; raise ValueError to reject it."""


def run_unit(state: str | None, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one unit of work in a fresh context with exactly ``state`` (validated) set."""
    return run_in_unit_context(state, fn, *args, **kwargs)
