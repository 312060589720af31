"""ECS Fargate: ``FargateExecutor`` launches tasks, ``FargateTask`` and ``fargate_handler`` run them.

Names load on first use so that importing the package stays cheap.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_LAZY = {
    "FargateExecutor": ".executor",
    "TaskLaunchError": ".executor",
    "FargateTask": ".task_base",
    "fargate_handler": ".handler",
}

__all__ = ["FargateExecutor", "FargateTask", "TaskLaunchError", "fargate_handler"]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
