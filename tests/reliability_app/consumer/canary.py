"""Single-mode consumer: records that it ran, and writes in the record's state's database."""

from typing import ClassVar

from aws_helper_sync import SQSConsumer, get_state


class CanaryConsumer(SQSConsumer):
    ran: ClassVar[list] = []

    def process_record(self, record):
        type(self).ran.append(get_state())
        self.db[get_state()].injection_canary.insert_one({"entry": "sqs"})
