"""Constitution-state context: the ContextVar, validation, threads, logging.

Only ``state`` is imported eagerly; the thread and logging helpers load on
first use so that ``import aws_helper_sync`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from .state import (
    RESERVED_STATES,
    InvalidStateError,
    UnknownStateError,
    get_state,
    set_allowed_states,
    set_state,
    state_scope,
    validate_state,
)

_LAZY = {
    "ContextThreadPoolExecutor": ".threads",
    "run_in_unit_context": ".units",
    "submit_with_context": ".threads",
    "StateLogFilter": ".log_filter",
    "install_state_log_filter": ".log_filter",
    "reload_state_registry": ".registry",
}

__all__ = [
    "RESERVED_STATES",
    "ContextThreadPoolExecutor",
    "InvalidStateError",
    "StateLogFilter",
    "UnknownStateError",
    "get_state",
    "install_state_log_filter",
    "reload_state_registry",
    "run_in_unit_context",
    "set_allowed_states",
    "set_state",
    "state_scope",
    "submit_with_context",
    "validate_state",
]


if TYPE_CHECKING:
    # The lazy names, spelled out for type checkers (never imported at run time):
    # without them each is Any to mypy and `class X(API)` fails under --strict.
    # tests/test_typing.py keeps this block and _LAZY in step.
    from .log_filter import StateLogFilter, install_state_log_filter
    from .registry import reload_state_registry
    from .threads import ContextThreadPoolExecutor, submit_with_context
    from .units import run_in_unit_context
else:
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
