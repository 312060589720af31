"""The state registry: which well-formed states may select a database.

The state arrives from outside (a header, an event, a message) and becomes a
database name. Its spelling is checked by ``validate_state``; this module
answers the second question, "is it a state we serve?", from one of:

- ``set_allowed_states(...)`` or ``ALLOWED_STATES`` (checked in ``validate_state``);
- ``STATES_COLLECTION=<db>.<collection>`` (e.g. ``core.states``): documents
  ``{"name": "ohio", "status": "active"}`` or ``{"name": "ohio", "is_active": true}``.

    STATES_COLLECTION=core.states  STATES_REFRESH_SECONDS=60

The collection is read in ONE query per refresh (all active names), and every
check in between is answered from that set, so a stream of unknown states costs
no query each. When it cannot be read the state is refused (fail closed, see
``StateRegistryUnavailableError``). Reading it creates nothing: no database,
collection or index. With no registry configured any well-formed state is
accepted, and the first check in a process logs one WARNING saying so.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from .. import settings
from .._lazy import deferred_logger
from ..errors import ConfigurationError, StateRegistryUnavailableError
from .state import UnknownStateError, static_allow_list_configured

logger = deferred_logger(__name__, "logger", "aws_helper_sync.registry")

UNGUARDED_WARNING = (
    "no state registry configured (ALLOWED_STATES, set_allowed_states() or STATES_COLLECTION): "
    "any well-formed constitution-state is accepted, and a request for a new one "
    "creates its database"
)

RETRY_AFTER_FAILURE_SECONDS = 1.0
"""After a failed read, checks are refused at once for this long (or the TTL, if shorter)
instead of each waiting for the server again: an outage costs one wait per second, not one per request."""

# {"status": "active"} or {"is_active": true}; when a document has both, both must say active.
ACTIVE_FILTER = {"$or": [{"status": "active"}, {"is_active": True}]}
_PROJECTION = {"_id": 0, "name": 1, "status": 1, "is_active": 1}


def _is_active(document: Mapping[str, Any]) -> bool:
    if "status" in document and document["status"] != "active":
        return False
    if "is_active" in document and document["is_active"] is not True:
        return False
    return "status" in document or "is_active" in document


class MongoStateRegistry:
    """The active names of one registry collection, cached for ``refresh_seconds``.

    Thread-safe: the hit path is a lock-free read of an immutable snapshot; an
    expired snapshot is refreshed by one thread at a time, and threads that
    waited on a failed refresh share its failure instead of each retrying
    (a stuck server would otherwise be waited on once per thread). A failure
    is remembered for ``RETRY_AFTER_FAILURE_SECONDS``: checks in that window
    are refused without a query. An expired list is never served (fail closed).
    """

    def __init__(self, database: str, collection: str, refresh_seconds: float) -> None:
        self.database = database
        self.collection = collection
        self.refresh_seconds = refresh_seconds
        self.queries = 0
        """Registry reads so far (each is one ``find``): for tests and metrics."""
        self._lock = threading.Lock()
        self._snapshot: tuple[float, frozenset[str]] | None = None
        self._failures = 0  # refreshes that failed so far
        self._failed_at: float | None = None

    @property
    def where(self) -> str:
        return f"{self.database}.{self.collection}"

    def active_names(self) -> frozenset[str]:
        """The active state names; raises StateRegistryUnavailableError when they cannot be read."""
        snapshot = self._snapshot
        now = time.monotonic()
        if snapshot is not None and now - snapshot[0] < self.refresh_seconds:
            return snapshot[1]
        failed_at = self._failed_at
        if failed_at is not None and now - failed_at < min(self.refresh_seconds, RETRY_AFTER_FAILURE_SECONDS):
            raise StateRegistryUnavailableError(f"state registry {self.where} unavailable (recent failure)")
        return self._refresh(self._failures)

    def is_known(self, state: str) -> bool:
        return state in self.active_names()

    def expire(self) -> None:
        """Make the next check read the collection again (after adding or retiring a state)."""
        self._snapshot = None
        self._failed_at = None

    def _refresh(self, failures_seen: int) -> frozenset[str]:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and time.monotonic() - snapshot[0] < self.refresh_seconds:
                return snapshot[1]  # another thread refreshed while this one waited
            if self._failures != failures_seen:
                raise StateRegistryUnavailableError(  # ... or failed to, while this one waited
                    f"state registry {self.where} unavailable (refresh failed)"
                )
            self.queries += 1
            try:
                names = self._load()
            except ConfigurationError:
                self._failures += 1
                raise
            except Exception as exc:
                self._failures += 1
                self._failed_at = time.monotonic()
                logger.error("state registry %s could not be read: every state is refused until it can",
                             self.where, exc_info=exc)
                raise StateRegistryUnavailableError(
                    f"state registry {self.where} unavailable: {type(exc).__name__}"
                ) from exc
            self._failed_at = None
            self._snapshot = (time.monotonic(), names)
            return names

    def _load(self) -> frozenset[str]:
        from ..database.mongo_manager import MongoManager

        collection = MongoManager.get_client()[self.database][self.collection]
        names = frozenset(
            document["name"]
            for document in collection.find(ACTIVE_FILTER, _PROJECTION)
            if isinstance(document.get("name"), str) and _is_active(document)
        )
        if not names:
            logger.warning("state registry %s has no active states: every state is refused", self.where)
        return names

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


_lock = threading.Lock()
_current: tuple[tuple[str, str | None], MongoStateRegistry] | None = None
_warned = False


def mongo_registry() -> MongoStateRegistry | None:
    """The registry named by ``STATES_COLLECTION`` (one per setting value), or None."""
    global _current
    raw = settings.env("STATES_COLLECTION")
    if raw is None:
        return None
    key = (raw, settings.env("STATES_REFRESH_SECONDS"))
    current = _current
    if current is not None and current[0] == key:
        return current[1]
    with _lock:
        if _current is not None and _current[0] == key:
            return _current[1]
        location = settings.states_collection()
        assert location is not None
        registry = MongoStateRegistry(*location, settings.states_refresh_seconds())
        _current = (key, registry)
        return registry


def registry_configured() -> bool:
    """True when some registry (allow list or collection) decides which states are known."""
    return static_allow_list_configured() or settings.env("STATES_COLLECTION") is not None


def unguarded_warning() -> str | None:
    """The warning to show (``serve``, the demo) when no registry is configured, else None."""
    return None if registry_configured() else UNGUARDED_WARNING


def check_known_state(state: str) -> str:
    """``state`` when the registry knows it as active (or none is configured), else raise.

    Call it with a state ``validate_state`` accepted (the static allow lists
    are checked there). Unknown or inactive -> UnknownStateError; registry not
    readable -> StateRegistryUnavailableError; bad STATES_COLLECTION -> ConfigurationError.
    """
    global _warned
    registry = mongo_registry()
    if registry is None:
        if not _warned:  # looked at once per process: warned, or guarded by an allow list
            with _lock:
                warn, _warned = not _warned and not static_allow_list_configured(), True
            if warn:
                logger.warning(UNGUARDED_WARNING)
        return state
    if state not in registry.active_names():
        raise UnknownStateError(f"constitution-state {state!r} is not a known active state")
    return state


def reload_state_registry() -> None:
    """Make the next check read ``STATES_COLLECTION`` again instead of waiting for the TTL."""
    current = _current
    if current is not None:
        current[1].expire()


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    current = _current
    if current is not None:
        current[1]._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
