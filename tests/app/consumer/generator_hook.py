"""A consumer whose hook has a stray ``yield``: it would return a generator without running. Refused."""

from aws_helper_sync import SQSConsumer


class GeneratorHookConsumer(SQSConsumer):
    processing_mode = "batch"

    def process_batch(self, records):
        for record in records:
            yield record["messageId"]
