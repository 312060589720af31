"""ECS Fargate: ``FargateExecutor`` launches tasks, ``FargateTask`` and ``fargate_handler`` run them.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "FargateExecutor": ".executor",
    "TaskLaunchError": ".executor",
    "FargateTask": ".task_base",
    "fargate_handler": ".handler",
}

__all__ = ["FargateExecutor", "FargateTask", "TaskLaunchError", "fargate_handler"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
