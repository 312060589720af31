"""TASK_NAME=registered: writes through a Repository with indexes (state-registry tests)."""

from typing import ClassVar

from aws_helper_sync import FargateTask
from tests.registry_support import record_entry


class RegisteredTask(FargateTask):
    ran: ClassVar[list] = []

    def execute(self):
        record_entry("fargate", type(self).ran)
