"""lambda_handler("runtime_probe"): what the library sees of the Lambda context, and its MongoDB client."""

import os

from aws_helper_sync import Lambda, MongoManager, get_state


class RuntimeProbeLambda(Lambda):
    def process(self):
        if self.data.get("hold_ms"):  # keep this worker busy, so the next event goes to another
            import time
            time.sleep(self.data["hold_ms"] / 1000)
        probes = self.db[get_state()]["probes"]
        probes.insert_one({"pid": os.getpid()})
        return {
            "pid": os.getpid(),
            "client_pid": MongoManager._pid,  # the process that created the client in use
            "parent_pid": os.environ.get("PRELOAD_PARENT_PID"),
            "remaining_ms": self.context.get_remaining_time_in_millis(),
            "tenant_id": self.context.tenant_id,
            "request_id": self.context.aws_request_id,
            "function_arn": self.context.invoked_function_arn,
            "function_name": self.context.function_name,
            "state": get_state(),
            "probes": probes.count_documents({"pid": os.getpid()}),
        }
