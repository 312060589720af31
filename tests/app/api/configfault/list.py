"""GET /configfault?fault=<kind>: a library configuration fault inside process() (issue 11 §4)."""

from aws_helper_sync import API
from tests.registry_support import configuration_fault


class ConfigfaultList(API):
    def process(self):
        configuration_fault(self.query_parameters["fault"], self)
