"""Single mode, no-op: each record only reads its state (the per-record framework cost)."""

from aws_helper_sync import get_state
from aws_helper_sync.sqs.consumer_base import SQSConsumer


class BenchNoopConsumer(SQSConsumer):
    def process_record(self, record):
        if get_state() is None:
            raise RuntimeError(f"record {record['messageId']} ran without its state")
