"""Single-mode consumer: writes through a Repository with indexes (state-registry tests)."""

from typing import ClassVar

from aws_helper_sync import SQSConsumer
from tests.registry_support import record_entry


class RegisteredConsumer(SQSConsumer):
    ran: ClassVar[list] = []

    def process_record(self, record):
        record_entry("sqs", type(self).ran)
