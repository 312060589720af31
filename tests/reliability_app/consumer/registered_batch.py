"""Batch-mode consumer: writes through a Repository with indexes (state-registry tests)."""

from typing import ClassVar

from aws_helper_sync import SQSConsumer
from tests.registry_support import record_entry


class RegisteredBatchConsumer(SQSConsumer):
    processing_mode = "batch"
    ran: ClassVar[list] = []

    def process_batch(self, records):
        record_entry("sqs-batch", type(self).ran)
