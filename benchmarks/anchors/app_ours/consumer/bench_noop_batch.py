"""Batch mode, no-op: each state group only reads its state (the fan-out machinery alone)."""

from aws_helper_sync import get_state
from aws_helper_sync.sqs.consumer_base import SQSConsumer


class BenchNoopBatchConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        if get_state() is None:
            raise RuntimeError("a state group ran without its state")
