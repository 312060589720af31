"""sqs_handler("config_fault"): a library configuration fault inside process_record (issue 11 §4)."""

from aws_helper_sync import SQSConsumer
from tests.registry_support import configuration_fault


class ConfigFaultConsumer(SQSConsumer):
    def process_record(self, record):
        configuration_fault(self.parse_body(record)["fault"], self)
