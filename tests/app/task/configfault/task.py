"""TASK_NAME=configfault: a library configuration fault inside execute() (issue 11 §4)."""

from aws_helper_sync import FargateTask
from tests.registry_support import configuration_fault


class ConfigfaultTask(FargateTask):
    def execute(self):
        configuration_fault(self.require_env("fault"), self)
