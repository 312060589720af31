"""TASK_NAME=canary: records that it ran, and writes in the state's database."""

from typing import ClassVar

from aws_helper_sync import FargateTask, get_state


class CanaryTask(FargateTask):
    ran: ClassVar[list] = []

    def execute(self):
        type(self).ran.append(get_state())
        self.db[get_state()].injection_canary.insert_one({"entry": "fargate"})
