"""lambda_handler("exiting"): process() exits the runtime (the handler cannot answer: FunctionError)."""

import sys

from aws_helper_sync import Lambda


class ExitingLambda(Lambda):
    def process(self):
        sys.exit(3)
