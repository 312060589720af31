"""Batch-mode twin of ``strict``: the same rule, each bad record marked with add_message_failed."""

from aws_helper_sync import SQSConsumer, get_state
from aws_helper_sync.sqs.records import message_id


def problem(content):
    """Why the record is bad, or None (the rule of consumer/strict.py)."""
    if get_state() is None:
        return "record has no constitution-state"
    if not isinstance(content, dict) or not isinstance(content.get("uid"), str):
        return "content must be an object with a string uid"
    n = content.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 1000:
        return "n must be an integer from 0 to 1000"
    return None


class StrictBatchConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        for record in records:
            reason = problem(self.parse_body(record))
            if reason is not None:
                self.add_message_failed(message_id(record), reason)  # Lambda or boto3 shape
