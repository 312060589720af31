"""Batch-mode consumer: records each state group it ran, and writes in that state's database."""

from typing import ClassVar

from aws_helper_sync import SQSConsumer, get_state


class CanaryBatchConsumer(SQSConsumer):
    processing_mode = "batch"
    ran: ClassVar[list] = []

    def process_batch(self, records):
        type(self).ran.append(get_state())
        self.db[get_state()].injection_canary.insert_many([{"entry": "sqs-batch"} for _ in records])
