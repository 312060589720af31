"""lambda_handler("failing"): process() raises."""

from aws_helper_sync import Lambda


class FailingLambda(Lambda):
    def process(self):
        raise RuntimeError("recorder offline")
