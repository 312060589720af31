"""What every entry-point class shares: ``logger``, ``db``, ``external_db``, the unit of work.

API, Lambda, SQSConsumer and FargateTask inherit ``EntryPoint``; their
handlers run each unit (request, record, state group, task) through
``run_unit`` so that it has exactly its own state and leaks nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from . import settings
from ._bounded import remember
from ._lazy import deferred
from .context import state as state_module
from .context.registry import check_known_state
from .context.sources import Found, first_agreeing
from .context.state import PREDICATE_ALLOW_LIST, InvalidStateError, validate_state
from .context.units import run_in_unit_context
from .database.access import DatabaseAccess
from .loading import hook_result, load_class, to_pascal_case
from .settings import raw_environ

if TYPE_CHECKING:
    import logging
else:  # not at cold start: only the logger property needs it
    logging = deferred(__name__, "logging", "logging")

E = TypeVar("E", bound=type)

_ENTRY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,127}")


class MissingStateError(InvalidStateError):
    """An entry point that needs a constitution-state received none."""


class EntryPoint(DatabaseAccess):
    """Base of the user-facing classes."""

    @property
    def logger(self) -> logging.Logger:
        """A logger named after the concrete class."""
        return logging.getLogger(type(self).__name__)

    def validate(self) -> None:
        """Check the input before the main step; raise ValueError to reject it."""


run_unit = run_in_unit_context
"""``run_unit(state, fn, *args, **kwargs)``: one unit of work in a fresh context with exactly
``state`` (validated) set; the name every entry point uses (no wrapper: it runs per request)."""


def known_state(value: object, source: str | None = None) -> str:
    """``value`` when it may select a database: its spelling and the allow lists
    (``validate_state``), then the state registry (``STATES_COLLECTION``).

    Raises InvalidStateError (bad spelling: 400), UnknownStateError (unknown or
    inactive: 403), StateRegistryUnavailableError (registry unreadable: refused,
    503). Every entry point checks the state it reads through this. With
    ``source`` (where the value was read), a missing value is a MissingStateError
    and each error names ``source``, as ``require_state`` says.

    Without a registry collection, a state that passed is known again at once
    while ``ALLOWED_STATES``, ``STATES_COLLECTION`` and the allow list set in
    code are unchanged (equal to what they were): one lookup instead of the
    checks, for every request of a warm process.
    """
    # read before the checks (a change meanwhile wins); the in-code allow list states are
    # remembered against (PREDICATE_ALLOW_LIST: never)
    allowed, collection = raw_environ(_ALLOWED_KEY), raw_environ(_COLLECTION_KEY)
    allow_list = state_module._allow_lists[1]
    # (a str subclass could change what it compares equal to; equal settings answer the same)
    if type(value) is str and _KNOWN.get(value) == (allowed, collection, allow_list):
        return value
    if source is not None and (value is None or value == ""):
        raise MissingStateError(f"{source} is required (a constitution-state such as 'connecticut')")
    try:
        state = check_known_state(validate_state(value))
    except InvalidStateError as exc:  # UnknownStateError keeps its class (403, not 400)
        if source is None:
            raise
        raise type(exc)(f"{source}: {exc}") from None
    # a registry collection's answers expire (STATES_REFRESH_SECONDS): never remembered here
    if collection is None and allow_list is not PREDICATE_ALLOW_LIST and type(value) is str:
        remember(_KNOWN, value, (allowed, collection, allow_list), _KNOWN_MAX)
    return state


_ALLOWED_KEY, _COLLECTION_KEY = os.fsencode("ALLOWED_STATES"), os.fsencode("STATES_COLLECTION")
# States that passed known_state, each with the raw ALLOWED_STATES and STATES_COLLECTION
# objects and the in-code allow list it was checked under; bounded, whatever callers send.
_KNOWN: dict[str, tuple[object, object, object]] = {}
_KNOWN_MAX = 4096


def require_state(value: object, source: str) -> str:
    """The state read from ``source`` (a header, an event key, a variable), checked by ``known_state``.

    Missing -> MissingStateError, bad -> InvalidStateError, unknown ->
    UnknownStateError; each names ``source`` so the caller knows what to fix.
    Every entry point reads its state through this (the API calls ``known_state``
    with the source itself: the same checks, one call less per request).
    """
    return known_state(value, source)


def require_state_from(sources: Sequence[Found]) -> str:
    """The state of a unit that names it in several places (``(source, value)`` pairs in order of
    precedence; None: absent): first found wins, every found must agree, checked by ``require_state``.

    Nothing found -> MissingStateError naming the first source; two values that
    differ -> ConflictingStateSourcesError naming both (SPEC §14). Used by every
    entry point whose state may also come from a ``session`` or ``context.tenant_id``.
    """
    found = first_agreeing(sources)
    if found is None:
        return require_state(None, sources[0][0])
    return require_state(found[1], found[0])


def lifecycle(entry: EntryPoint, step: str = "process") -> Any:
    """The unit-of-work lifecycle shared by API, Lambda and FargateTask.

    ``entry.validate()`` then ``entry.<step>()``; returns what the step returns.
    Call it inside the unit's own context (``run_unit``), or use
    ``run_lifecycle``. Exceptions propagate: each entry point maps them to its
    own contract (HTTP status, result dict, exit code).
    """
    if type(entry).validate is not _NO_VALIDATION:  # (the base one does nothing: not called)
        validate: Callable[[], object] = entry.validate  # typed -> None, but a subclass may return anything
        checked = validate()
        if checked is not None:  # None is what hooks return: nothing to refuse
            hook_result(entry, "validate", checked)  # refuses a coroutine or generator
    # (the API's and the Lambda's step called as a method: getattr() would look it up again)
    result = entry.process() if step == "process" else getattr(entry, step)()  # type: ignore[attr-defined]
    return result if result is None else hook_result(entry, step, result)


_NO_VALIDATION = EntryPoint.validate


def run_lifecycle(entry: EntryPoint, state: str | None, step: str = "process") -> Any:
    """``lifecycle(entry, step)`` in a fresh context with exactly ``state`` set."""
    return run_unit(state, lifecycle, entry, step)


def check_entry_name(name: object, folder: str) -> str:
    """``name`` when it is safe as a file or folder name under ``<app root>/<folder>/``, else ValueError."""
    if not isinstance(name, str) or not _ENTRY_NAME.fullmatch(name):
        raise ValueError(
            f"invalid {folder} name {name!r}: use letters, digits, '_' and '-' "
            f"(it names what to load under {folder}/ in the app root)"
        )
    return name


def load_entry_class(base: E, folder: str, name: str, filename: str, suffix: str) -> E:
    """Load ``<app root>/<folder>/<name>/<filename>``, class ``<PascalName><suffix>``.

    The name becomes a path, so only letters, digits, ``_`` and ``-`` are accepted.
    """
    check_entry_name(name, folder)
    return load_class(
        settings.app_root() / folder / name / filename,
        base,
        class_name=to_pascal_case(name) + suffix,
        where=f"{folder}/{name}/{filename}",
    )
