"""TASK_NAME=failing: execute() raises."""

from aws_helper_sync import FargateTask


class FailingTask(FargateTask):
    def execute(self):
        raise RuntimeError("index build failed")
