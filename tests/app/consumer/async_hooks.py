"""A consumer written for the async framework: must be refused when loaded."""

from aws_helper_sync import SQSConsumer


class AsyncHooksConsumer(SQSConsumer):
    async def process_record(self, record):
        return None
