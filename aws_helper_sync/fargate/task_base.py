"""``FargateTask``: the code that runs inside an ECS Fargate container.

    # task/reindex/task.py  ->  TASK_NAME=reindex
    class ReindexTask(FargateTask):
        def execute(self):
            name = self.require_env("collection")
            LandRecordsRepository().ensure_indexes()   # in the database of CONSTITUTION_STATE

``run()`` sets the state from ``CONSTITUTION_STATE`` (required and validated;
or the ``SESSION`` variable that the async framework's newer releases set, the
JSON ``{"state": ...}``; both must agree) and runs ``validate()`` then
``execute()`` in a context of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .. import settings
from ..context.sources import SESSION_ENV, Found, session_state_from_json
from ..entrypoint import EntryPoint, require_state_from, run_lifecycle

STATE_ENV = "CONSTITUTION_STATE"


class FargateTask(EntryPoint):
    """Base class of a Fargate task; ``envs`` override the process environment."""

    def __init__(self, envs: Mapping[str, Any] | None = None) -> None:
        self.envs: dict[str, Any] = dict(envs or {})

    def get_env(self, key: str, default: Any = None) -> Any:
        """``key`` from the explicit envs, then the environment; each upper, lower, then as given."""
        names = list(dict.fromkeys((key.upper(), key.lower(), key)))
        for name in names:
            value = self.envs.get(name)
            if value is not None:
                return value
        for name in names:
            value = settings.env(name)
            if value is not None:
                return value
        return default

    def require_env(self, key: str) -> Any:
        """``get_env(key)``, or a ValueError naming the variable when it is not set."""
        value = self.get_env(key)
        if value is None or value == "":
            raise ValueError(f"{type(self).__name__} needs the environment variable {key.upper()}")
        return value

    def execute(self) -> Any:
        """The task's work."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute()")

    def state_value(self) -> Any:
        """``CONSTITUTION_STATE`` exactly as given (explicit envs, then the environment), or None.

        Unlike ``get_env`` this keeps surrounding blanks: the value becomes a
        database name, so ``"ohio\\n"`` must be refused like everywhere else, not
        silently read as ``"ohio"`` (SPEC §2). Empty still counts as unset.
        """
        return self._raw_env(STATE_ENV)

    def _raw_env(self, name: str) -> Any:
        names = (name, name.lower())
        for candidate in names:
            value = self.envs.get(candidate)
            if value is not None:
                return value
        for candidate in names:
            value = os.environ.get(candidate)
            if value:
                return value
        return None

    def state_sources(self) -> list[Found]:
        """``CONSTITUTION_STATE``, then the ``state`` of ``SESSION`` (JSON, the async framework's
        newer releases; its ``user`` is never read). A malformed ``SESSION`` raises MalformedSessionError."""
        session = self._raw_env(SESSION_ENV)
        return [
            (STATE_ENV, self.state_value()),
            (f"{SESSION_ENV} state", None if session in (None, "") else session_state_from_json(session, SESSION_ENV)),
        ]

    def resolved_state(self) -> str:
        """The task's state from its sources (first found, all must agree), checked like every state."""
        return require_state_from(self.state_sources())

    def run(self) -> Any:
        """Run the task in the state of ``CONSTITUTION_STATE`` (or ``SESSION``); returns what ``execute()`` returns."""
        return run_lifecycle(self, self.resolved_state(), "execute")
