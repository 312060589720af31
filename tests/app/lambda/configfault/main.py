"""lambda_handler("configfault"): a library configuration fault inside process() (issue 11 §4)."""

from aws_helper_sync import Lambda
from tests.registry_support import configuration_fault


class ConfigfaultLambda(Lambda):
    def process(self):
        configuration_fault(self.data["fault"], self)
