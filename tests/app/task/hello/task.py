"""TASK_NAME=hello: records one run in the state's database."""

from aws_helper_sync import FargateTask, get_state


class HelloTask(FargateTask):
    def execute(self):
        self.db[get_state()].task_runs.insert_one({
            "task": "hello",
            "greeting": self.get_env("greeting", "hi"),
            "run_id": self.require_env("run_id"),
            "state": get_state(),
        })
        return "done"
