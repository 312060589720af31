"""TASK_NAME=tally: log how many notes a state holds (FargateTask)."""

from __future__ import annotations

import logging

from aws_helper_sync import FargateTask

from repositories import NoteRepository

logger = logging.getLogger(__name__)


class TallyTask(FargateTask):
    def execute(self) -> int:
        minimum = int(str(self.get_env("minimum", "0")))
        count = NoteRepository().count()
        logger.info("%d notes (minimum %d)", count, minimum)
        return count
