"""``fargate_handler``: the container entry point of a Fargate task.

    # Dockerfile: CMD ["python", "-m", "aws_helper_sync.fargate"]
    # or in your own script:
    sys.exit(fargate_handler())          # TASK_NAME=reindex -> task/reindex/task.py, ReindexTask
"""

from __future__ import annotations

import logging

from .. import settings
from ..context.sources import first_agreeing
from ..context.state import InvalidStateError, set_state
from ..entrypoint import load_entry_class, run_unit
from .task_base import FargateTask

logger = logging.getLogger("aws_helper_sync.fargate")


def _run(name: str | None) -> int:
    try:
        if not name:
            raise ValueError("no task name: pass fargate_handler(task_name) or set TASK_NAME")
        task = load_entry_class(FargateTask, "task", name, "task.py", "Task")()
        try:  # label this unit's log lines with the task's state; run() enforces it
            found = first_agreeing(task.state_sources())
            set_state(None if found is None else found[1])
        except InvalidStateError:
            pass
        task.run()
    except Exception:
        logger.exception("Fargate task %r failed", name)
        return 1
    logger.info("Fargate task %r finished", name)
    return 0


def fargate_handler(task_name: str | None = None) -> int:
    """Run ``<app root>/task/<name>/task.py`` (class ``<PascalName>Task``); exit code 0 or 1.

    The name comes from the argument or ``TASK_NAME``. Any failure (no name, no
    such task, no, invalid or unknown ``CONSTITUTION_STATE``, a ``SESSION`` that is
    malformed or disagrees with it, an exception in the task)
    is logged with its traceback and gives 1, so ECS records the task as failed.
    """
    return run_unit(None, _run, task_name or settings.task_name())
