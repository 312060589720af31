"""The constitution-state: one ContextVar, validated on every write.

The state becomes a MongoDB database name, so it is validated before it can
enter the context: no code path can put a value there that would address
``admin`` or escape the naming rules.

    with state_scope("connecticut"):
        repo.collection.insert_one(doc)   # lands in database "connecticut"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Union

from .. import settings

STATE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
RESERVED_STATES = frozenset({"admin", "local", "config"})

_state: ContextVar[str | None] = ContextVar("constitution_state", default=None)

AllowList = Union[Iterable[str], Callable[[str], bool], None]
_allow_list_in_code: Callable[[str], bool] | None = None
_env_allow_cache: tuple[str | None, frozenset[str]] = (None, frozenset())


class InvalidStateError(ValueError):
    """A constitution-state value that must not select a database."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _env_allow_list() -> frozenset[str] | None:
    global _env_allow_cache
    raw = settings.allowed_states()
    if raw is None:
        return None
    if _env_allow_cache[0] != raw:
        _env_allow_cache = (raw, frozenset(s.strip() for s in raw.split(",") if s.strip()))
    return _env_allow_cache[1]


def set_allowed_states(allowed: AllowList) -> None:
    """Narrow the valid states in code: a collection of names, a predicate, or None to clear.

    Takes precedence over the ``ALLOWED_STATES`` environment variable.
    """
    global _allow_list_in_code
    if allowed is None:
        _allow_list_in_code = None
    elif callable(allowed):
        _allow_list_in_code = allowed
    else:
        names = frozenset(allowed)
        _allow_list_in_code = names.__contains__


def validate_state(value: object) -> str:
    """Return ``value`` unchanged when it is a valid state, else raise InvalidStateError."""
    if not isinstance(value, str):
        raise InvalidStateError(
            f"constitution-state must be a string, got {type(value).__name__}"
        )
    if not STATE_PATTERN.fullmatch(value):
        raise InvalidStateError(
            f"invalid constitution-state {_shown(value)}: expected lowercase ASCII "
            "letters, digits and underscores, starting with a letter, at most 63 characters"
        )
    if value in RESERVED_STATES:
        raise InvalidStateError(
            f"invalid constitution-state {value!r}: reserved MongoDB database name"
        )
    if _allow_list_in_code is not None:
        if not _allow_list_in_code(value):
            raise InvalidStateError(
                f"constitution-state {value!r} is not in the allowed states"
            )
    else:
        env_allowed = _env_allow_list()
        if env_allowed is not None and value not in env_allowed:
            raise InvalidStateError(
                f"constitution-state {value!r} is not in ALLOWED_STATES"
            )
    return value


def get_state() -> str | None:
    """The current constitution-state, or None."""
    return _state.get()


def set_state(state: str | None) -> None:
    """Set the current state for this context; ``None`` clears it."""
    _state.set(None if state is None else validate_state(state))


def _set_validated_state(state: str | None) -> None:
    """Set a value ``validate_state`` has just accepted, inside a unit's own context.

    For entry points that validated the state while reading it and already run
    in a fresh context (``run_in_unit_context``): validating twice costs a
    request an allow-list lookup for nothing.
    """
    _state.set(state)


@contextmanager
def state_scope(state: str | None) -> Iterator[str | None]:
    """Set ``state`` for the block and restore the previous value on exit, also on errors."""
    token = _state.set(None if state is None else validate_state(state))
    try:
        yield state
    finally:
        _state.reset(token)
