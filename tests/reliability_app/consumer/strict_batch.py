"""Batch-mode twin of ``strict``: the same rule, each bad record marked with add_message_failed."""

from consumer.strict import problem  # the app root is on sys.path, as on Lambda

from aws_helper_sync import SQSConsumer
from aws_helper_sync.sqs.records import message_id


class StrictBatchConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        for record in records:
            reason = problem(self.parse_body(record))
            if reason is not None:
                self.add_message_failed(message_id(record), reason)  # Lambda or boto3 shape
