"""ECS Fargate: ``FargateExecutor`` launches tasks, ``FargateTask`` and ``fargate_handler`` run them.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

_LAZY = {
    "FargateExecutor": ".executor",
    "TaskLaunchError": ".executor",
    "FargateTask": ".task_base",
    "fargate_handler": ".handler",
}

__all__ = ["FargateExecutor", "FargateTask", "TaskLaunchError", "fargate_handler"]


if TYPE_CHECKING:
    # The lazy names, spelled out for type checkers (never imported at run time):
    # without them each is Any to mypy and `class X(API)` fails under --strict.
    # tests/test_typing.py keeps this block and _LAZY in step.
    from .executor import FargateExecutor, TaskLaunchError
    from .handler import fargate_handler
    from .task_base import FargateTask
else:
    __getattr__, __dir__ = lazy_exports(__name__, _LAZY)
