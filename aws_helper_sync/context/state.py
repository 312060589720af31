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
from .._bounded import remember
from ..errors import ConfigurationError

STATE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
RESERVED_STATES = frozenset({"admin", "local", "config"})

_state: ContextVar[str | None] = ContextVar("constitution_state", default=None)

AllowList = Union[str, Iterable[str], Callable[[str], bool], None]
PREDICATE_ALLOW_LIST = object()  # a predicate set in code: its answers may change, never remembered
# (the allow list set in code, the same when its answers cannot change (names; None: none set)
# else PREDICATE_ALLOW_LIST): accepted states are remembered against the second; replaced whole,
# so that a reader never sees the one without the other
_allow_lists: tuple[Callable[[str], bool] | None, object] = (None, None)
_env_allow_cache: tuple[str | None, frozenset[str]] = (None, frozenset())


class InvalidStateError(ValueError):
    """A constitution-state value that must not select a database (the client's 400)."""


class UnknownStateError(InvalidStateError):
    """A well-formed state that the registry does not know, or marks inactive.

    Still an ``InvalidStateError`` so that any code catching that refuses it
    too (fail closed), but entry points map it first: the spelling is fine, the
    caller is not allowed there, so an API answers 403, not 400.
    """


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _spelling_error(value: object) -> str | None:
    """Why ``value`` cannot be a database name, or None when its spelling is fine."""
    if not isinstance(value, str):
        return f"constitution-state must be a string, got {type(value).__name__}"
    if not STATE_PATTERN.fullmatch(value):
        return (
            f"invalid constitution-state {_shown(value)}: expected lowercase ASCII "
            "letters, digits and underscores, starting with a letter, at most 63 characters"
        )
    if value in RESERVED_STATES:
        return f"invalid constitution-state {value!r}: reserved MongoDB database name"
    return None


def _parse_names(raw: str | Iterable[str], where: str) -> frozenset[str]:
    """Each entry of a state list, checked: a bad entry is a ConfigurationError naming it.

    A string is comma separated (surrounding blanks removed); entries are never
    rewritten or skipped, so ``"ohio, Texas"`` fails instead of silently
    allowing only ``ohio``.
    """
    entries = [item.strip() for item in raw.split(",")] if isinstance(raw, str) else list(raw)
    for entry in entries:
        problem = "an empty entry" if entry == "" else _spelling_error(entry)
        if problem is not None:
            raise ConfigurationError(f"{where} has a bad entry {_shown(entry)}: {problem}")
    return frozenset(entries)


def _env_allow_list(raw: str | None) -> frozenset[str] | None:
    """The names of ``ALLOWED_STATES`` (its text ``raw``, as ``settings.allowed_states()`` read it)."""
    global _env_allow_cache
    if raw is None:
        return None
    if _env_allow_cache[0] != raw:
        _env_allow_cache = (raw, _parse_names(raw, "ALLOWED_STATES"))
    return _env_allow_cache[1]


def set_allowed_states(allowed: AllowList) -> None:
    """Narrow the valid states in code: names, a predicate, or None to clear.

    Names are a collection or a comma separated string (as ``ALLOWED_STATES``;
    never its letters); each is checked now, a bad one is a ConfigurationError.
    Takes precedence over the ``ALLOWED_STATES`` environment variable.
    """
    global _allow_lists
    if allowed is None:
        _allow_lists = (None, None)
    elif callable(allowed):  # its answers may change: never remembered in _ACCEPTED
        _allow_lists = (allowed, PREDICATE_ALLOW_LIST)
    else:
        contains = _parse_names(allowed, "set_allowed_states()").__contains__
        _allow_lists = (contains, contains)


def static_allow_list_configured() -> bool:
    """True when ``set_allowed_states`` or ``ALLOWED_STATES`` narrows the states."""
    return _allow_lists[0] is not None or settings.allowed_states() is not None


def validate_state(value: object) -> str:
    """Return ``value`` unchanged when it is a valid state, else raise InvalidStateError.

    Checks the spelling and the static allow lists (``set_allowed_states``,
    ``ALLOWED_STATES``; a state outside them is an UnknownStateError). The
    MongoDB registry (``STATES_COLLECTION``) is checked by the entry points
    (``entrypoint.known_state``), which is where a state arrives from outside.
    """
    in_code, fixed = _allow_lists
    if type(value) is str:  # (a str subclass could change what it compares equal to)
        accepted = _ACCEPTED.get(value)
        if accepted is not None and accepted[0] is in_code and accepted[1] is settings.allowed_states():
            return value
    problem = _spelling_error(value)
    if problem is not None:
        raise InvalidStateError(problem)
    raw = settings.allowed_states()
    if in_code is not None:
        if not in_code(value):  # type: ignore[arg-type]
            raise UnknownStateError(
                f"constitution-state {value!r} is not in the allowed states"
            )
    else:
        env_allowed = _env_allow_list(raw)
        if env_allowed is not None and value not in env_allowed:
            raise UnknownStateError(
                f"constitution-state {value!r} is not in ALLOWED_STATES"
            )
    if type(value) is str and in_code is fixed:
        remember(_ACCEPTED, value, (in_code, raw), _ACCEPTED_MAX)
    return value  # type: ignore[return-value]


# Accepted states, each with the allow lists it was checked against (the set_allowed_states
# names, the ALLOWED_STATES text object): while both are the very same objects, the state
# passes again without the checks. A predicate's answers may change: never remembered.
# Bounded, whatever callers send; only accepted states enter it.
_ACCEPTED: dict[str, tuple[object, str | None]] = {}
_ACCEPTED_MAX = 4096


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
