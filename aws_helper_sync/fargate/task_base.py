"""``FargateTask``: the code that runs inside an ECS Fargate container.

    # task/reindex/task.py  ->  TASK_NAME=reindex
    class ReindexTask(FargateTask):
        def execute(self):
            name = self.require_env("collection")
            LandRecordsRepository().ensure_indexes()   # in the database of CONSTITUTION_STATE

``run()`` sets the state from ``CONSTITUTION_STATE`` (required and validated)
and runs ``validate()`` then ``execute()`` in a context of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .. import settings
from ..entrypoint import EntryPoint, require_state, run_lifecycle

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
        names = (STATE_ENV, STATE_ENV.lower())
        for name in names:
            value = self.envs.get(name)
            if value is not None:
                return value
        for name in names:
            value = os.environ.get(name)
            if value:
                return value
        return None

    def run(self) -> Any:
        """Run the task in the state of ``CONSTITUTION_STATE``; returns what ``execute()`` returns."""
        state = require_state(self.state_value(), STATE_ENV)
        return run_lifecycle(self, state, "execute")
