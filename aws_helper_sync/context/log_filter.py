"""A logging filter that stamps each record with the constitution-state.

Attach it to handlers (filters on a logger do not see records propagated from
child loggers):

    handler.addFilter(StateLogFilter())
    # format: "%(levelname)s [%(constitution_state)s] %(message)s"
"""

from __future__ import annotations

import logging

from .state import get_state

NO_STATE = "-"


class StateLogFilter(logging.Filter):
    """Sets ``record.constitution_state`` to the current state (``"-"`` when none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        state = get_state()
        record.constitution_state = state if state is not None else NO_STATE
        return True


def install_state_log_filter(handler: logging.Handler | None = None) -> None:
    """Add the filter to ``handler``, or to every handler of the root logger.

    Never called on import: the library does not configure logging by itself.
    """
    handlers = [handler] if handler is not None else list(logging.getLogger().handlers)
    for target in handlers:
        if not any(isinstance(f, StateLogFilter) for f in target.filters):
            target.addFilter(StateLogFilter())
